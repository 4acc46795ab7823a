"""Shared helpers for the pages: cached catalog lookups, uploads, formatting, error display."""

from __future__ import annotations

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
