"""Validation page: predicted vs published, per row, so users can judge how far to trust the numbers."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

import simulator as sim
from simulator.ui.common import download_buttons, guarded


@st.cache_data(show_spinner="Evaluating the published training runs")
def _training_table() -> pd.DataFrame:
    return sim.validate_training()


def render() -> None:
    st.title("Validation")
    st.subheader("Training throughput")
    everything = guarded(_training_table)
    if everything is None:
        return
    df = everything[everything.split == "check"]
    n_fit = int((everything.split == "fit").sum())
    st.caption("Predictions against published measurements. Nothing in the model was fitted on the check rows: "
               f"efficiencies come from kernel microbenchmarks recorded in the hardware profiles. The {n_fit} rows "
               "that fitted the DeepSpeed-2021 ZeRO-3 framework terms are drawn as crosses and left out of the figures.")
    s = sim.training_validation_summary(df)
    m = st.columns(4)
    m[0].metric("Check rows", s["rows"], help=f"published runs, less the {n_fit} framework fit rows")
    m[1].metric("Median |error|", f"{s['median_abs_error']:.1%}")
    m[2].metric("Within 25%", f"{(df.abs_error <= 0.25).mean():.0%}")
    m[3].metric("Mean signed error", f"{s['mean_signed_error']:+.1%}", help="positive: the model is optimistic")
    lim = [float(min(everything.measured_step_s.min(), everything.predicted_step_s.min())),
           float(max(everything.measured_step_s.max(), everything.predicted_step_s.max()))]
    diag = alt.Chart(pd.DataFrame({"x": lim, "y": lim})).mark_line(color="gray", strokeDash=[4, 3]).encode(x="x", y="y")
    scatter = alt.Chart(everything).mark_point(filled=True, size=50).encode(
        x=alt.X("measured_step_s:Q", title="Measured step time (s)", scale=alt.Scale(type="log")),
        y=alt.Y("predicted_step_s:Q", title="Predicted step time (s)", scale=alt.Scale(type="log")),
        color=alt.Color("family:N", title="Source"),
        shape=alt.Shape("split:N", title="Row", scale=alt.Scale(domain=["check", "fit"], range=["circle", "cross"])),
        tooltip=["row_id", "split", "hardware", "n_gpus", alt.Tooltip("error:Q", format="+.1%")])
    st.altair_chart((diag + scatter).properties(height=420), width="stretch")
    fam = sim.training_family_summary(df).reset_index()
    fam = fam.assign(**{c: fam[c] * 100 for c in ("median_abs_error", "mean_signed_error", "max_abs_error")}).rename(
        columns={"median_abs_error": "median |error| %", "mean_signed_error": "mean signed error %",
                 "max_abs_error": "max |error| %"})
    st.dataframe(fam.style.format(precision=1), hide_index=True, width="stretch", placeholder="—")
    with st.expander("Every row"):
        rows = everything.assign(reason=everything["reason"].map(lambda c: sim.describe_plan_reasons(int(c)) or "fits"),
                                 error_pct=everything["error"] * 100).drop(columns=["error", "abs_error"])
        st.dataframe(rows.style.format(precision=3, na_rep="—"), hide_index=True, width="stretch", placeholder="—")
        download_buttons(everything, "training_validation", "val")
    render_inference_and_kernels()


@st.cache_data(show_spinner="Evaluating the published inference measurements (about 10 s)")
def _inference_table() -> pd.DataFrame:
    return sim.validate_inference()


@st.cache_data(show_spinner="Fitting and checking kernel calibrations")
def _kernel_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    summary, points = [], []
    for hw_id, path, report, rows in sim.validate_kernels(allow_other_device=True):
        for fam, entry in report["families"].items():
            summary.append({"profile": hw_id, "file": path.name, "family": fam, "fit rows": entry["n_fit"],
                            "check rows": entry["n_check"], "held-out MAPE %": 100 * report["mape"].get(fam, float("nan"))})
        points.append(rows.assign(profile=hw_id, file=path.name))
    return pd.DataFrame(summary), pd.concat(points, ignore_index=True)


def render_inference_and_kernels() -> None:
    st.subheader("Inference latency and throughput")
    st.caption("TensorRT-LLM, gpt-fast, FasterTransformer and vLLM measurements: batch-1 decode, prefill vs prompt "
               "length, max-load throughput. Only engine host terms are fitted (on DGX-A100 rows marked 'fit'), and each "
               "other host's CPU speed (on rows marked 'fit-host'); 'check' rows never enter a fit.")
    if st.button("Run the inference validation (about 10 s)", key="val-infer") or st.session_state.get("val-infer-done"):
        st.session_state["val-infer-done"] = True
        df = guarded(_inference_table)
        if df is not None:
            by = sim.inference_validation_summary(df)
            by = by[by["split"] == "check"].drop(columns="split").set_index("block")
            st.dataframe((by.assign(median_abs_error=by["median_abs_error"] * 100, max_abs_error=by["max_abs_error"] * 100)
                          .rename(columns={"median_abs_error": "median |error| %", "max_abs_error": "max |error| %"})
                          .style.format(precision=1)), width="stretch", placeholder="—")
            download_buttons(df, "inference_validation", "vinf")

    st.subheader("Kernels (calibration)")
    st.caption("Each efficiency curve is fitted on half of the shape families of a measurement file and checked on "
               "the other half (host-cpu: measured on this kind of machine; GPUs: published kernel timings).")
    tables = guarded(_kernel_tables)
    if tables is None:
        return
    summary, points = tables
    st.dataframe(summary.style.format(precision=1, na_rep="—"), hide_index=True, width="stretch", placeholder="—")
    check = points[points["split"] == "check"]
    lim = [float(check[["time_s", "predicted_s"]].min().min()), float(check[["time_s", "predicted_s"]].max().max())]
    diag = alt.Chart(pd.DataFrame({"x": lim, "y": lim})).mark_line(color="gray", strokeDash=[4, 3]).encode(x="x", y="y")
    dots = alt.Chart(check).mark_circle(size=40).encode(
        x=alt.X("time_s:Q", title="Measured kernel time (s)", scale=alt.Scale(type="log")),
        y=alt.Y("predicted_s:Q", title="Predicted (s)", scale=alt.Scale(type="log")),
        color=alt.Color("profile:N"), shape="family:N",
        tooltip=["profile", "family", "shape_family", alt.Tooltip("error:Q", format="+.1%")])
    st.altair_chart((diag + dots).properties(height=380, title="Held-out kernels: predicted vs measured"),
                    width="stretch")
