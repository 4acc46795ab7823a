"""Validation page: predicted vs published, per row, so users can judge how far to trust the numbers."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

import simulator as sim
from simulator.ui.common import download_buttons, guarded


@st.cache_data(show_spinner="Evaluating the published training runs, each stack refitted without each source")
def _training_table() -> pd.DataFrame:
    return sim.training_leave_one_source_out()


def _family_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per family (stack | generation | scale): rows, sources, median |error|, median signed error, the 80% band, and
    whether predictions of the family get that band (calibrated) or borrow a wider one."""
    g = df.groupby("family")["error"]
    out = pd.DataFrame({"rows": g.size(), "sources": df.groupby("family")["source"].nunique(),
                        "median |error| %": 100 * df.groupby("family")["abs_error"].median(),
                        "median signed %": 100 * g.median(), "p10 %": 100 * g.quantile(0.1),
                        "p90 %": 100 * g.quantile(0.9)})
    out["band used"] = ["its own" if sim.band_is_usable(r.rows, r.sources) else "wider (calibrated: false)"
                        for r in out.itertuples()]
    return out.reset_index()


def render() -> None:
    st.title("Validation")
    st.subheader("Training throughput, per software stack")
    df = guarded(_training_table)
    if df is None:
        return
    st.caption("Every published run, predicted leave-one-source-out: a stack's fitted figures (compute scale and "
               "fixed step overhead, workloads/stacks/<id>.yaml) are refitted without the row's source document "
               "before predicting it, so no row is scored by a fit that saw it. Positive error: the model is "
               "optimistic (the run was slower than predicted). The error band every estimate carries is the "
               "10th-90th percentile of its family below.")
    m = st.columns(4)
    m[0].metric("Published runs", len(df), help=f"{df['source'].nunique()} source documents, {df['stack'].nunique()} stacks")
    m[1].metric("Median |error|", f"{df['abs_error'].median():.1%}")
    m[2].metric("Median signed error", f"{df['error'].median():+.1%}", help="positive: the model is optimistic")
    cover = sim.band_coverage(df)
    m[3].metric("80% band coverage", f"{cover:.0%}", help="share of runs inside the band their family gets "
                                                         "without their own source (target 75-85%)")
    lim = [float(min(df.measured_step_s.min(), df.predicted_step_s.min())),
           float(max(df.measured_step_s.max(), df.predicted_step_s.max()))]
    diag = alt.Chart(pd.DataFrame({"x": lim, "y": lim})).mark_line(color="gray", strokeDash=[4, 3]).encode(x="x", y="y")
    scatter = alt.Chart(df).mark_point(filled=True, size=50).encode(
        x=alt.X("measured_step_s:Q", title="Measured step time (s)", scale=alt.Scale(type="log")),
        y=alt.Y("predicted_step_s:Q", title="Predicted step time (s)", scale=alt.Scale(type="log")),
        color=alt.Color("stack:N", title="Stack"),
        shape=alt.Shape("feasible:N", title="Predicted to fit"),
        tooltip=["row_id", "stack", "hardware", "n_gpus", "source", alt.Tooltip("error:Q", format="+.1%")])
    st.altair_chart((diag + scatter).properties(height=420, title="Below the dashed line: optimistic"),
                    width="stretch")
    fam = _family_table(df)
    st.dataframe(fam.style.format(precision=1), hide_index=True, width="stretch", placeholder="—",
                 height=36 * (len(fam) + 1) + 4)
    st.caption("A band needs 5 runs from two source documents; families with fewer borrow their stack's (or every "
               "run's) band and say so. llm-foundry's table is 216 of the 350 runs: read the families, not only "
               "the headline.")
    with st.expander("Every row"):
        st.dataframe(df.assign(error_pct=df["error"] * 100).drop(columns=["error", "abs_error"]).style.format(
            precision=3, na_rep="—"), hide_index=True, width="stretch", placeholder="—")
        download_buttons(df, "training_validation", "val")
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
    render_fused_moe()


@st.cache_data(show_spinner="Fitting the fused-MoE figures once per held-out kernel group")
def _moe_tables() -> tuple[pd.DataFrame, pd.DataFrame, str]:
    errors = sim.moe_kernel_held_out()
    return errors, sim.moe_kernel_groups(errors), sim.moe_kernel_headline(errors)


def render_fused_moe() -> None:
    """The fused-MoE layer figures (expert weights' memory scale, per-layer overhead): each kernel family on one GPU
    predicted by the fit on the others, against the plain GEMM curve."""
    st.subheader("Fused MoE layers")
    st.caption("Published timings of whole fused-MoE layers (routing, sort, two grouped GEMMs, activation, combine; "
               "simulator/validation/data/moe_kernel_reference.csv). Two figures, fitted in log time: the expert "
               "weights' memory scale and a fixed time per MoE layer. Each group (a kernel family on one GPU) is "
               "predicted by the fit on the other groups.")
    tables = guarded(_moe_tables)
    if tables is None:
        return
    errors, groups, headline = tables
    st.caption(headline)
    names = {"memory_scale": "fit: memory scale", "overhead_us": "fit: layer overhead (us)",
             "median_abs_error": "held-out median |error| %", "signed_median": "held-out signed %",
             "plain_median_abs_error": "GEMM curve alone |error| %", "plain_signed_median": "GEMM curve alone signed %"}
    shown = groups.assign(**{c: 100 * groups[c] for c in groups.columns if "median" in c}).rename(columns=names)
    formats = {c: "{:.1f}" for c in shown.columns if c.endswith("%") or c.endswith("(us)")}
    st.dataframe(shown.style.format({**formats, "fit: memory scale": "{:.3f}"}), hide_index=True, width="stretch",
                 placeholder="—")
    pts = pd.concat([errors.assign(model="fit on the other groups", predicted_us=errors["time_us"] * (1 + errors["held"])),
                     errors.assign(model="GEMM curve alone", predicted_us=errors["time_us"] * (1 + errors["plain"]))])
    lim = [float(pts[["time_us", "predicted_us"]].min().min()), float(pts[["time_us", "predicted_us"]].max().max())]
    diag = alt.Chart(pd.DataFrame({"x": lim, "y": lim})).mark_line(color="gray", strokeDash=[4, 3]).encode(x="x", y="y")
    dots = alt.Chart(pts).mark_point(size=40).encode(
        x=alt.X("time_us:Q", title="Measured layer time (us)", scale=alt.Scale(type="log")),
        y=alt.Y("predicted_us:Q", title="Predicted (us)", scale=alt.Scale(type="log")),
        color=alt.Color("group:N", title="Kernel group"), shape=alt.Shape("model:N", title="Prediction"),
        tooltip=["group", "precision", "n_experts", "d_ff_shard", "tokens", "time_us", "model",
                 alt.Tooltip("predicted_us:Q", format=".1f")])
    st.altair_chart((diag + dots).properties(height=380, title="Fused MoE layers, held out: below the line is fast"),
                    width="stretch")
    render_engine_moe()


@st.cache_data(show_spinner="Checking TensorRT-LLM's own fused-MoE modules")
def _engine_moe_tables() -> tuple[pd.DataFrame, str]:
    errors = sim.moe_kernel_engine_errors()
    return sim.moe_kernel_engine_rows(errors), sim.moe_kernel_engine_headline(errors)


def render_engine_moe() -> None:
    """An engine's own fused-MoE modules (TensorRT-LLM's, aiconfigurator's kernel database) against the fused-MoE
    figures, and, for the block-scaled quantizations the engine profile slows, with its fitted terms."""
    st.markdown("**TensorRT-LLM's own fused-MoE modules**")
    st.caption("Timings of TensorRT-LLM's fused-MoE module (routing to finalize, CUDA graphs, balanced routing) from "
               "aiconfigurator's kernel database, for the expert shapes of the shipped MoE models. They never fit the "
               "two figures above. For block-scaled weights (fp8 block scales, nvfp4) the engine's grouped GEMMs "
               "compute slower than the figures, most for narrow experts, and each layer pays a fixed extra time: "
               "TensorRT-LLM 1.0's profile carries both (workloads/engines/trtllm.yaml, kernels.moe_compute_slowdown), "
               "each GPU here predicted by the terms fitted on the other GPUs.")
    tables = guarded(_engine_moe_tables)
    if tables is None:
        return
    rows, headline = tables
    st.caption(headline)
    names = {"median_abs_error": "figures alone |error| %", "signed_median": "figures alone signed %",
             "plain_median_abs_error": "GEMM curve alone |error| %", "plain_signed_median": "GEMM curve alone signed %",
             "terms_median_abs_error": "with engine terms |error| %", "terms_signed_median": "with engine terms signed %",
             "terms_from": "terms fitted on"}
    first = ["group", "precision", "kernel", "rows", "median_abs_error", "signed_median", "terms_median_abs_error",
             "terms_signed_median", "terms_from"]
    rows = rows[[c for c in first if c in rows.columns] + [c for c in rows.columns if c not in first]]
    shown = rows.assign(**{c: 100 * rows[c] for c in rows.columns if "median" in c}).rename(columns=names)
    st.dataframe(shown.style.format({c: "{:.1f}" for c in shown.columns if c.endswith("%")}, na_rep="—"),
                 hide_index=True, width="stretch")
