"""Validation page: predicted vs published, per row, so users can judge how far to trust the numbers."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from simulator import validation
from simulator.ui.common import download_buttons, guarded


@st.cache_data(show_spinner="Evaluating the published training runs")
def _training_table() -> pd.DataFrame:
    return validation.validate()


def render() -> None:
    st.title("Validation")
    st.caption("Predictions against published measurements. Nothing in the model was fitted on these rows: "
               "efficiencies come from kernel microbenchmarks recorded in the hardware profiles.")
    st.subheader("Training throughput")
    df = guarded(_training_table)
    if df is None:
        return
    s = validation.summary(df)
    m = st.columns(4)
    m[0].metric("Published runs", s["rows"])
    m[1].metric("Median |error|", f"{s['median_abs_error']:.1%}")
    m[2].metric("Within 25%", f"{(df.abs_error <= 0.25).mean():.0%}")
    m[3].metric("Mean signed error", f"{s['mean_signed_error']:+.1%}", help="positive: the model is optimistic")
    pts = df.assign(measured_tokens_scale=1.0 / df.measured_step_s, predicted_tokens_scale=1.0 / df.predicted_step_s)
    lim = [float(min(pts.measured_step_s.min(), pts.predicted_step_s.min())),
           float(max(pts.measured_step_s.max(), pts.predicted_step_s.max()))]
    diag = alt.Chart(pd.DataFrame({"x": lim, "y": lim})).mark_line(color="gray", strokeDash=[4, 3]).encode(x="x", y="y")
    scatter = alt.Chart(pts).mark_circle(size=50).encode(
        x=alt.X("measured_step_s:Q", title="Measured step time (s)", scale=alt.Scale(type="log")),
        y=alt.Y("predicted_step_s:Q", title="Predicted step time (s)", scale=alt.Scale(type="log")),
        color=alt.Color("family:N", title="Source"),
        tooltip=["row_id", "hardware", "n_gpus", alt.Tooltip("error:Q", format="+.1%")])
    st.altair_chart((diag + scatter).properties(height=420), width="stretch")
    fam = df.groupby("family").agg(rows=("error", "size"), median_abs_error=("abs_error", "median"),
                                   max_abs_error=("abs_error", "max")).reset_index()
    fam = fam.assign(median_abs_error=fam.median_abs_error * 100, max_abs_error=fam.max_abs_error * 100).rename(
        columns={"median_abs_error": "median |error| %", "max_abs_error": "max |error| %"})
    st.dataframe(fam.style.format(precision=1), hide_index=True, width="stretch")
    with st.expander("Every row"):
        from simulator.plans import describe_reasons

        rows = df.assign(reason=df["reason"].map(lambda c: describe_reasons(int(c)) or "fits"),
                         error_pct=df["error"] * 100).drop(columns=["error", "abs_error"])
        st.dataframe(rows.style.format(precision=3, na_rep="—"), hide_index=True, width="stretch")
        download_buttons(df, "training_validation", "val")
