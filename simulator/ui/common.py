"""Shared helpers for the pages: cached catalog lookups, uploads, formatting, error display."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

import simulator as sim
from simulator import units


@st.cache_resource
def catalog() -> dict[str, list[str]]:
    """Shipped ids, read once per server."""
    return {"hardware": sim.hardware_ids(), "models": sim.model_ids(), "prices": sim.price_book_ids()}


def ui_message(text: str) -> str:
    """Core messages name CLI flags ('--rate', '--precision'); on a page the setting's plain name reads better."""
    return re.sub(r"(?<![\w-])--([a-z][a-z0-9-]*)", lambda m: m.group(1).replace("-", " "), text)


def show_error(exc: Exception) -> None:
    """A SimulatorError becomes a readable message; anything else too, never a traceback."""
    st.error(ui_message(str(exc)) if isinstance(exc, sim.SimulatorError) else f"Unexpected problem: {exc}")


def guarded(fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    """Run fn; on error show the message in the page and return None (the rest keeps working)."""
    try:
        return fn(*args, **kw)
    except Exception as exc:  # noqa: BLE001 - the UI must never show a traceback
        show_error(exc)
        return None


def model_picker(key: str, default: str = "llama3.1-70b") -> tuple[str | None, str | None]:
    """Catalog model or an uploaded file: a model YAML or a Hugging Face config.json. Returns (model id, uploaded
    text)."""
    ids = catalog()["models"]
    source = st.radio("Model", ["Catalog", "Upload file"], horizontal=True, key=f"{key}-src",
                      label_visibility="collapsed")
    if source == "Catalog":
        st.session_state.setdefault(f"{key}-id", default if default in ids else ids[0])  # a link may have set it
        return st.selectbox("Model", ids, key=f"{key}-id"), None
    up = st.file_uploader("Model YAML (same keys as workloads/models/*.yaml) or a Hugging Face config.json",
                          type=["yaml", "yml", "json"], key=f"{key}-up")
    if up is None:
        st.info("Upload a model file, or switch back to the catalog.")
        return None, None
    return None, up.getvalue().decode("utf-8", errors="replace")


@st.cache_data(show_spinner=False)
def load_uploaded_model(text: str) -> sim.TransformerSpec:
    """A JSON object without `kind` is a Hugging Face config.json; anything else is read as a model YAML."""
    if text.lstrip().startswith("{") and not re.search(r'"kind"\s*:', text):
        return sim.model_from_hf_text(text, "uploaded config.json")
    return sim.model_from_yaml_text(text, "uploaded model")


def resolve_model(model_id: str | None, text: str | None) -> sim.TransformerSpec | str | None:
    if text is not None:
        return guarded(load_uploaded_model, text)
    return model_id


def download_buttons(df: pd.DataFrame, name: str, key: str) -> None:
    c1, c2 = st.columns(2)
    c1.download_button("Download CSV", df.to_csv(index=False).encode(), f"{name}.csv", "text/csv", key=f"{key}-csv")
    buf = io.BytesIO()
    try:
        df.to_parquet(buf, index=False)
        c2.download_button("Download Parquet", buf.getvalue(), f"{name}.parquet", "application/octet-stream",
                           key=f"{key}-pq")
    except Exception:  # noqa: BLE001 - pyarrow missing or a column it cannot store
        pass


def fmt_days(s: float | None) -> str:
    return "n/a" if s is None or pd.isna(s) else units.human_duration(s)


def fmt_usd(v: float | None) -> str:
    return "no price" if v is None or pd.isna(v) else units.human_usd(v)


def run_on_demand(key: str, sig: tuple, label: str, fn, *args: Any, running: str) -> Any:
    """A button that runs fn(*args) and keeps its result (or error) while the inputs stay the same."""
    if st.button(label, key=f"{key}-btn", type="primary"):
        with st.status(running, expanded=False) as status:
            try:
                st.session_state[key] = (sig, fn(*args), None)
                status.update(label="Done", state="complete")
            except Exception as exc:  # noqa: BLE001 - shown in the page, never as a traceback
                st.session_state[key] = (sig, None, exc)
                status.update(label="Failed", state="error")
    stored = st.session_state.get(key)
    if stored is None:
        return None
    if stored[0] != sig:
        st.caption("The inputs changed since the last run: press the button to update.")
        return None
    if stored[2] is not None:
        show_error(stored[2])
        return None
    return stored[1]


def cdf_frame(values: np.ndarray, points: int = 200) -> pd.DataFrame:
    """An empirical CDF to draw: `points` + 1 quantiles of the values (column value) and their shares (share)."""
    q = np.linspace(0.0, 1.0, points + 1)
    return pd.DataFrame({"value": np.quantile(values, q), "share": q})


def band_text(band: dict | None) -> str:
    """An error band in words (simulator.band_words), as a sentence."""
    text = sim.band_words(band)
    return text[0].upper() + text[1:] + "."


CUSTOM_BOOK = "custom (set here)"


def price_book_picker(key: str, hardware: list[str]) -> str | sim.PriceBook:
    """A shipped price book, or prices typed in the app (per GPU-hour for each chosen accelerator, purchase price,
    electricity, PUE, grid intensity) starting from the default book's figures, without writing a file."""
    choice = st.selectbox("Price book", [*catalog()["prices"], CUSTOM_BOOK], key=f"{key}-book")
    if choice != CUSTOM_BOOK:
        return choice
    base, colo = sim.load_price_book(None), sim.load_price_book("owned-colo-2025-03")
    usd: dict[str, dict[str, float]] = {}
    owned = {}
    with st.expander("Custom prices (this session; the report lists them)", expanded=True):
        for hw in hardware:
            rent = base.gpu_hour_usd(hw)
            usd[hw] = {"on_demand": st.number_input(f"{hw}: $ per GPU-hour (rented)", 0.0, 1_000.0,
                                                    value=round(rent, 2) if np.isfinite(rent) else 2.0, step=0.1,
                                                    key=f"{key}-usd-{hw}")}
            own = colo.owned_cost(hw)
            if own is not None:
                capex = st.number_input(f"{hw}: purchase $ per GPU (owned)", 0.0, 10_000_000.0,
                                        value=float(own.purchase_usd_per_gpu), step=1_000.0, key=f"{key}-capex-{hw}")
                owned[hw] = dataclasses.replace(own, purchase_usd_per_gpu=capex)
        c1, c2, c3 = st.columns(3)
        kwh = c1.number_input("Electricity $/kWh", 0.0, 10.0, value=base.electricity_usd_per_kwh, step=0.01,
                              key=f"{key}-kwh")
        pue = c2.number_input("PUE", 1.0, 5.0, value=base.pue, step=0.05, key=f"{key}-pue")
        grid = c3.number_input("kg CO2e/kWh", 0.0, 2.0, value=base.grid_kg_co2e_per_kwh, step=0.01,
                               key=f"{key}-grid")
        st.caption("Owned hardware keeps the owned-colo-2025-03 book's server, network, storage, amortisation and "
                   "facility figures; only the purchase price is yours.")
    return sim.PriceBook("custom", "custom prices set in the app", dt.date.today().isoformat(), float(kwh), float(pue),
                         float(grid), usd, owned)


def book_label(book: str | sim.PriceBook) -> str:
    """How a price book is named in text: its id, or 'custom prices' for one set in the app."""
    return book if isinstance(book, str) else ("custom prices" if book.id == "custom" else book.id)


def book_summary(book: str | sim.PriceBook, purchase: str) -> str:
    """The price book behind a figure, with its date (the report's assumptions)."""
    b = sim.load_price_book(book)
    if b.id == "custom":
        prices = ", ".join(f"{hw} ${p['on_demand']:.2f}/GPU-h" for hw, p in b.usd_per_gpu_hour.items())
        return (f"custom prices set in the app on {b.price_date}: {prices}; electricity ${b.electricity_usd_per_kwh}/kWh,"
                f" PUE {b.pue}; {purchase}")
    return f"{b.name} ({b.id}), prices of {b.price_date}, {purchase}"
