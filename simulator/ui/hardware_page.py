"""Hardware page: spec table with sources, roofline plots, cost per effective PFLOP-hour."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

import simulator as sim
from simulator import vocab
from simulator.ui.common import catalog, download_buttons, guarded


@st.cache_data(show_spinner=False)
def _spec_table() -> pd.DataFrame:
    return sim.hardware_table()


@st.cache_data(show_spinner=False)
def _roofline(hw_ids: tuple[str, ...], dtype: str) -> pd.DataFrame:
    return sim.roofline_curves(hw_ids, dtype)


def _spec_section() -> bool:
    """The spec table, each profile's sources and the downloads; False when the table cannot be built."""
    st.caption("Every accelerator profile shipped with the planner: datasheet figures (dense peaks only), links, "
               "and the efficiency curves measured on kernels. Each profile's sources are listed below the table.")
    df = guarded(_spec_table)
    if df is None:
        return False
    show = df.drop(columns=["sources"]).set_index("id")  # the id stays pinned while scrolling right
    st.dataframe(show.style.format(precision=2, na_rep="—", thousands=","), width="stretch",
                 column_config={"host_cpu": st.column_config.TextColumn("host_cpu", width="large")}, placeholder="—")
    st.caption("memory_GiB is the device memory as nvidia-smi reports it (an \"80 GB\" H100 shows 79.6 GiB); "
               "host_speed is the host CPU's speed over a DGX A100 host, which divides the serving-engine overheads "
               "measured there.")
    with st.expander("Sources of each profile"):
        for hw_id, sources in zip(df["id"], df["sources"], strict=True):
            st.markdown(f"**{hw_id}**\n" + "\n".join(f"- {src}" for src in sources.split(" | ")))
    download_buttons(df, "hardware_profiles", "hw")
    return True


def render() -> None:
    st.title("Hardware")
    if not _spec_section():
        return

    st.subheader("Roofline")
    ids = catalog()["hardware"]
    c1, c2 = st.columns([3, 1])
    picked = c1.multiselect("Profiles", ids, default=[i for i in ("a100-sxm-80gb", "h100-sxm-80gb", "b200-sxm-180gb")
                                                        if i in ids])
    dtype = c2.selectbox("Data type", ["bf16", "fp8", "fp4", "fp32"])
    if not picked:
        st.info("Pick one or more profiles to draw their rooflines.")
    else:
        missing = [h for h in picked if dtype not in sim.load_hardware(h).peak_flop_per_s]
        if missing:
            st.caption(f"No {dtype} peak in: {', '.join(missing)} (not drawn).")
        curves = guarded(_roofline, tuple(picked), dtype)
        if curves is not None and len(curves):
            chart = alt.Chart(curves).mark_line().encode(
                x=alt.X("intensity_flop_per_byte:Q", title="Arithmetic intensity (FLOP/byte)", scale=alt.Scale(type="log")),
                y=alt.Y("tflops:Q", title="Attainable TFLOP/s", scale=alt.Scale(type="log")),
                color=alt.Color("hardware:N"),
                strokeDash=alt.StrokeDash("curve:N", title=None, scale=alt.Scale(
                    domain=["datasheet", "calibrated GEMM"], range=[[1, 0], [5, 3]])),
                tooltip=["hardware", "curve", alt.Tooltip("intensity_flop_per_byte:Q", format=".1f"),
                         alt.Tooltip("tflops:Q", format=".0f")])
            st.altair_chart(chart.properties(height=380), width="stretch")
            st.caption("Solid: the datasheet roofline (peak, HBM bandwidth). Dashed: the calibrated soft roofline the "
                       "planner uses for GEMMs (efficiency caps and p-norm transition, square GEMMs of growing size).")

    st.subheader("Cost per effective PFLOP-hour")
    books = catalog()["prices"]
    book = st.selectbox("Price book", books, index=books.index(vocab.DEFAULT_PRICE_BOOK) if vocab.DEFAULT_PRICE_BOOK in books
                        else 0)
    cost = guarded(sim.effective_cost_table, book)
    if cost is not None and len(cost):
        # side-by-side bars per purchase option (stacking would add prices that are alternatives)
        order = cost.sort_values("usd_per_effective_pflop_hour").drop_duplicates("hardware")["hardware"].tolist()
        st.altair_chart(alt.Chart(cost).mark_bar().encode(
            x=alt.X("usd_per_effective_pflop_hour:Q", title="USD per effective bf16 PFLOP-hour", stack=None),
            y=alt.Y("hardware:N", sort=order, title=None), yOffset="purchase:N", color="purchase:N",
            tooltip=["hardware", "purchase", alt.Tooltip("usd_per_gpu_hour:Q", format=".2f"),
                     alt.Tooltip("usd_per_effective_pflop_hour:Q", format=".2f")])
            .properties(height=max(260, 22 * len(cost))), width="stretch")
        st.caption("GPU-hour price / (bf16 peak x calibrated large-GEMM efficiency); owned: amortised purchase, "
                   "facility and electricity per busy GPU-hour. Hardware without a price in the book is omitted.")
    elif cost is not None:
        st.info(f"{book} has no prices for the shipped hardware; pick another price book.")
