"""Lifecycle page: training plus serving cost over a model's life against inference demand, for the models of a family
that reach one quality (and their compressed variants); the crossover where a smaller, longer-trained or compressed
model becomes the cheapest, with the error bands of the training and serving predictions behind each cost."""

from __future__ import annotations

from typing import Any

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

import simulator as sim
from simulator import vocab
from simulator.ui.common import catalog, download_buttons, fmt_usd, run_on_demand

DEFAULT_METHODS = ("fp8", "minitron")


def _target_inputs() -> dict[str, Any]:
    st.subheader("Quality")
    c1, c2, c3 = st.columns(3)
    laws, families = sim.scaling_law_ids(), sim.model_family_ids()
    law = c1.selectbox("Scaling law", laws, index=laws.index("hoffmann2022") if "hoffmann2022" in laws else 0,
                       help="a published fit of L(N, D) = E + A/N^alpha + B/D^beta (workloads/scaling_laws/)")
    family = c2.selectbox("Model family", families, index=families.index("llama3") if "llama3" in families else 0,
                          help="how candidate shapes scale with their parameter count; the fit must cover it")
    how = c3.radio("Target", ["match a model", "a loss"], horizontal=True)
    out: dict[str, Any] = {"scaling_law": law, "family": family}
    if how == "a loss":
        e = sim.load_scaling_law(law).e_nats
        out["target_loss"] = st.number_input(f"Target loss (nats per token, above the fit's E = {e:g})",
                                             min_value=0.01, max_value=20.0, value=round(e + 0.26, 3), step=0.01)
    else:
        m1, m2 = st.columns(2)
        models = catalog()["models"]
        out["reference_model"] = m1.selectbox("Reference model", models, index=models.index("llama3.1-8b")
                                              if "llama3.1-8b" in models else 0)
        out["reference_tokens"] = m2.number_input("its training tokens (trillions)", 0.01, 1000.0, 15.0, 0.5) * 1e12
    return out


def _train_serve_inputs() -> dict[str, Any]:
    hw = catalog()["hardware"]
    books = catalog()["prices"]
    h100 = hw.index("h100-sxm-80gb") if "h100-sxm-80gb" in hw else 0
    book = books.index(vocab.DEFAULT_PRICE_BOOK) if vocab.DEFAULT_PRICE_BOOK in books else 0
    st.subheader("Training and serving")
    c1, c2, c3 = st.columns(3)
    out: dict[str, Any] = {
        "train_hardware": c1.selectbox("Training hardware", hw, index=h100),
        "train_gpus": int(c2.number_input("Training GPUs", 8, 1_000_000, 1024, 64)),
        "train_price_book": c3.selectbox("Training price book", books, index=book),
    }
    d1, d2, d3 = st.columns(3)
    out["serve_hardware"] = d1.selectbox("Serving hardware", hw, index=h100)
    out["engine"] = d2.selectbox("Engine", list(vocab.ENGINE_NAMES), index=list(vocab.ENGINE_NAMES).index("vllm"))
    out["serve_price_book"] = d3.selectbox("Serving price book", books, index=book)
    s1, s2, s3, s4 = st.columns(4)
    out["input_len"] = int(s1.number_input("Prompt tokens", 1, 1_000_000, 1024, 128))
    out["output_len"] = int(s2.number_input("Output tokens", 1, 1_000_000, 256, 32))
    ttft = s3.number_input("SLO p99 TTFT (s)", 0.01, 600.0, 2.0, 0.5)
    tpot = s4.number_input("SLO p99 TPOT (s)", 0.001, 10.0, 0.1, 0.01)
    out["slo"] = (float(ttft), float(tpot))
    return out


def _demand_inputs() -> dict[str, Any]:
    st.subheader("Demand and options")
    c1, c2, c3, c4 = st.columns(4)
    lo = c1.number_input("Lowest demand (log10 tokens a day)", 6.0, 17.0, 9.0, 0.5)
    hi = c2.number_input("Highest demand (log10 tokens a day)", 6.0, 18.0, 13.0, 0.5)
    points = int(c3.number_input("Demand points", 2, 60, 12, 1))
    months = c4.number_input("Deployment (months)", 0.5, 1200.0, 12.0, 1.0)
    m1, m2 = st.columns([3, 1])
    methods = m1.multiselect("Compression methods", sim.compression_method_ids(),
                             default=[m for m in DEFAULT_METHODS if m in sim.compression_method_ids()],
                             help="each with its published quality cost (workloads/scaling_laws/compression/)")
    candidates = int(m2.number_input("Model sizes", 1, 12, 4, 1))
    with st.expander("Search settings"):
        requests = int(st.number_input("Requests per capacity probe", 10, 10_000, sim.LIFECYCLE_PROBE_REQUESTS, 50,
                                       help="as `simulator capacity --requests`; fewer is quicker and rougher"))
    return {"demand": tuple(float(x) for x in np.logspace(min(lo, hi), max(lo, hi), points)),
            "deployment_months": float(months), "compression": tuple(methods), "candidates": candidates,
            "probe_requests": requests}


def _sweep(settings: tuple) -> tuple[pd.DataFrame, pd.DataFrame, list[str], dict[str, Any]]:
    """The lifecycle sweep of the settings (a tuple of (name, value) pairs): every option's costs per demand, the
    chosen option per demand, the notes and the question as planned."""
    kw = dict(settings)
    demand = kw.pop("demand")
    kw["slo"] = sim.SLO(*kw.pop("slo"))
    sweep = sim.lifecycle_sweep(tokens_per_day=list(demand), **kw)
    return sweep.to_frame(), sweep.chosen_frame(), sweep.plans[0].notes, sweep.plans[0].inputs


def crossover_chart(frame: pd.DataFrame, shown: list[str]) -> alt.LayerChart | alt.FacetChart:
    """Total cost over the deployment against demand, one line per option, its error band shaded, the cheapest option
    at each demand marked."""
    data = frame[frame["option"].isin(shown) & frame["total_cost_usd"].notna()].assign(
        total_musd=lambda d: d["total_cost_usd"] / 1e6, low_musd=lambda d: d["total_cost_low_usd"] / 1e6,
        high_musd=lambda d: d["total_cost_high_usd"] / 1e6)
    x = alt.X("tokens_per_day:Q", title="Inference demand (tokens a day)", scale=alt.Scale(type="log"),
              axis=alt.Axis(format="~e"))
    y_scale = alt.Scale(type="log")
    base = alt.Chart(data).encode(x=x, color=alt.Color("option:N", title="Option", sort=shown))
    band = base.mark_area(opacity=0.12).encode(y=alt.Y("low_musd:Q", scale=y_scale), y2="high_musd:Q")
    lines = base.mark_line().encode(
        y=alt.Y("total_musd:Q", title="Training + serving cost (million USD)", scale=y_scale),
        tooltip=["option", alt.Tooltip("tokens_per_day:Q", format=".3~e"),
                 alt.Tooltip("total_musd:Q", format=".3g", title="total ($M)"),
                 alt.Tooltip("low_musd:Q", format=".3g", title="band low ($M)"),
                 alt.Tooltip("high_musd:Q", format=".3g", title="band high ($M)")])
    chosen = base.transform_filter(alt.datum.chosen).mark_point(size=90, filled=True, color="black").encode(
        y="total_musd:Q", shape=alt.value("diamond"))
    return alt.layer(band, lines, chosen).properties(
        height=420, title="Cost over the deployment against demand (shaded: error bands; diamonds: the cheapest)")


def trend_chart(chosen: pd.DataFrame) -> alt.HConcatChart:
    """The chosen model's size and training tokens against demand (Sardana et al. 2023's result)."""
    data = chosen.dropna(subset=["params"]).assign(params_b=lambda d: d["params"] / 1e9,
                                                   tokens_t=lambda d: d["train_tokens"] / 1e12)
    x = alt.X("tokens_per_day:Q", title="Inference demand (tokens a day)", scale=alt.Scale(type="log"),
              axis=alt.Axis(format="~e"))
    size = alt.Chart(data).mark_line(point=True).encode(x=x, y=alt.Y("params_b:Q", title="Parameters (billions)"),
                                                        tooltip=["option", alt.Tooltip("params_b:Q", format=".2f")])
    tokens = alt.Chart(data).mark_line(point=True, color="#d62728").encode(
        x=x, y=alt.Y("tokens_t:Q", title="Training tokens (trillions)"),
        tooltip=["option", alt.Tooltip("tokens_t:Q", format=".3g")])
    return alt.hconcat(size.properties(title="Cheapest model's size", height=260, width=330),
                       tokens.properties(title="... and its training tokens", height=260, width=330))


def _results(frame: pd.DataFrame, chosen: pd.DataFrame, notes: list[str], inputs: dict[str, Any]) -> None:
    st.markdown(f"**Target:** {inputs['target']}, loss {inputs['target_loss']:.4f} nats per token under "
                f"{inputs['scaling_law']}; {inputs['family']} family.")
    winners = list(dict.fromkeys(chosen["option"].dropna()))
    bases = [o for o in frame[frame["kind"] == "base"]["option"].unique()]
    options = list(dict.fromkeys(frame["option"]))
    shown = st.multiselect("Options to draw", options, default=list(dict.fromkeys(bases + winners)))
    if shown:
        st.altair_chart(crossover_chart(frame, shown), width="stretch")
    st.caption("Bands: the training cost moves with the step time, so it spans the training stack's error band; the "
               "serving fleet spans the engine's (where published runs landed against such predictions, 10th-90th "
               "percentile); the total adds the two ends, as if both erred the same way. Losses come from the fit; "
               "compressed options carry their methods' published quality costs.")
    st.altair_chart(trend_chart(chosen), width="stretch")
    table = chosen.assign(total=chosen["total_cost_usd"].map(fmt_usd), params_b=chosen["params"] / 1e9,
                          tokens_t=chosen["train_tokens"] / 1e12)
    st.dataframe(table[["tokens_per_day", "option", "kind", "params_b", "tokens_t", "serve_gpus", "total"]],
                 hide_index=True, width="stretch", placeholder="—",
                 column_config={"tokens_per_day": st.column_config.NumberColumn("tokens/day", format="%.3g"),
                                "params_b": st.column_config.NumberColumn("params (B)", format="%.2f"),
                                "tokens_t": st.column_config.NumberColumn("train tokens (T)", format="%.3g")})
    for note in notes:
        st.caption(f"Note: {note}")
    download_buttons(frame, "lifecycle_options", "lifecycle")


def render() -> None:
    st.title("Lifecycle")
    st.caption("Training and serving cost over a model's life at one quality: the models of a family that reach it "
               "(from the compute-optimal size down to ones trained on far more tokens), each trained by the "
               "training planner and served by the capacity planner at the SLO, plus compressed variants. As demand "
               "grows, the cheapest model gets smaller and is trained longer (Sardana et al. 2023).")
    settings = {**_target_inputs(), **_train_serve_inputs(), **_demand_inputs()}
    sig = tuple(sorted(settings.items()))
    result = run_on_demand("lifecycle", sig, "Plan the lifecycle", _sweep, sig,
                           running="Planning every candidate's training and serving (tens of seconds)...")
    if result is None:
        st.info("Set the question and press **Plan the lifecycle**: each model size gets a training plan search and "
                "capacity searches, so a plan takes tens of seconds; the demand points after the first are quick.")
        return
    _results(*result)
