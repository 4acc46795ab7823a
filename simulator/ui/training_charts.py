"""The Training page's charts and plan labels: time vs cost of the best plans, where a step's time and a GPU's
memory go, and the short plan label every table uses."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from simulator import units

# "exposed" communication includes the compute lost to collectives running under overlap
BREAKDOWN_LABELS = {"compute": "compute", "recompute": "recompute", "tp_comm": "TP comm (exposed + overlap cost)",
                    "cp_comm": "CP comm (exposed + overlap cost)", "ep_comm": "EP comm (exposed)",
                    "pp_comm": "PP send/recv", "bubble": "pipeline bubble",
                    "dp_comm": "DP/FSDP comm (exposed + overlap cost)", "optimizer": "optimizer",
                    "overhead": "fixed step overhead (stack)"}
MEMORY_LABELS = {"weights": "weights", "gradients": "gradients", "optimizer_states": "optimizer states",
                 "activations": "activations", "buffers": "buffers (logits, gathers)"}


def pareto_chart(ok: pd.DataFrame) -> alt.LayerChart | alt.FacetChart:
    data = ok.assign(days=ok["total_time_s"] / units.SECONDS_PER_DAY, cost_musd=ok["cost_usd"] / 1e6,
                     plan=ok.apply(plan_label, axis=1), mfu_pct=ok["mfu"] * 100)
    base = alt.Chart(data).encode(
        x=alt.X("days:Q", title="Wall-clock time (days)", scale=alt.Scale(
            type="log", nice=False, domain=[float(data.get("days_low", data["days"]).min()) / 1.15,
                                            float(data.get("days_high", data["days"]).max()) * 1.15])),
        # from zero: a few percent between plans should look like a few percent
        y=alt.Y("cost_musd:Q", title="Cost (million USD)", scale=alt.Scale(zero=True),
                axis=alt.Axis(format=",.3~g")),
        color=alt.Color("hardware:N", title="Hardware"),
        tooltip=["hardware", "gpus", "plan", alt.Tooltip("days:Q", format=".1f"),
                 alt.Tooltip("cost_musd:Q", format=".2f", title="cost ($M)"),
                 alt.Tooltip("mfu_pct:Q", format=".1f", title="MFU %")],
    )
    lo, hi = float(data["gpus"].min()), float(data["gpus"].max())
    points = base.mark_circle(opacity=0.85).encode(
        size=alt.Size("gpus:Q", title="GPUs", scale=alt.Scale(type="log", domain=[lo, max(hi, lo * 2)], range=[40, 600]),
                      legend=alt.Legend(values=sorted(int(n) for n in data["gpus"].unique()), format=",d")))
    front = base.transform_filter(alt.datum.pareto).mark_line(color="gray", strokeDash=[4, 3]).encode(
        order="days:Q", color=alt.value("gray"))
    layers = [front, points]
    if "days_low" in data:  # the error band of each point: where published runs of its family landed
        layers.insert(0, base.mark_rule(opacity=0.9, strokeWidth=3).encode(x="days_low:Q", x2="days_high:Q"))
    chart = alt.layer(*layers).properties(
        height=360, title="Time vs cost of the best plan per hardware and GPU count (dashed: Pareto front; bars: error "
                          "band)")
    return chart


UNEVEN_NOTE = ("PP…u: the pipeline stages hold unequal layer counts (the layers do not split evenly over pipeline x "
               "virtual stages); the heaviest stage sets the pace.")


def plan_label(r: pd.Series) -> str:
    if not r.get("feasible", False):
        return "-"
    vpp = f"x{int(r['vpp'])}" if r.get("vpp", 1) and r["vpp"] > 1 else ""
    vpp += "u" if r.get("uneven_pp") in (True,) else ""  # stages of unequal layer counts (NaN-safe)
    shard = r.get("fsdp_shard")
    hsdp = f" HSDP{int(shard)}" if shard and shard == shard and shard < r["dp"] * r["cp"] else ""  # NaN-safe
    return (f"TP{int(r['tp'])} PP{int(r['pp'])}{vpp} DP{int(r['dp'])} CP{int(r['cp'])} EP{int(r['ep'])} "
            f"mb{int(r['micro_batch'])} ZeRO-{int(r['zero'])}{hsdp} {r['recompute']} {r['precision']}")


LOW_MFU_ADVICE = {
    "tp_comm": "a smaller tensor-parallel size or TP communication overlap would help",
    "cp_comm": "a smaller context-parallel size would help",
    "ep_comm": "a smaller expert-parallel size or faster scale-out links would help",
    "pp_comm": "fewer pipeline stages would help",
    "bubble": "more micro-batches per step (a larger global batch, fewer GPUs) or interleaved stages would help",
    "dp_comm": "more work per GPU (a larger global batch, fewer GPUs) or a lower ZeRO stage would help",
    "optimizer": "more work per step (a larger global batch) would help",
    "overhead": "more work per step (a larger global batch) amortises the stack's fixed step cost",
    "recompute": "recomputing less (selective or none, if memory allows) would help",
}


def breakdown_charts(rec: pd.Series, capacity_bytes: float) -> None:
    """Two full-width charts with one bar per part (labels on the axis, no legend to clip)."""
    step = pd.DataFrame({"part": [BREAKDOWN_LABELS[k] for k in BREAKDOWN_LABELS],
                         "seconds": [float(rec.get(f"{k}_s", 0.0)) for k in BREAKDOWN_LABELS]})
    step = step[step.seconds > 0].assign(share=lambda d: d.seconds / d.seconds.sum())
    # GiB, as nvidia-smi and units.human_bytes show device memory (an "80 GB" H100 has 79.6 GiB)
    mem = pd.DataFrame({"part": [MEMORY_LABELS[k] for k in MEMORY_LABELS],
                        "GiB": [float(rec.get(f"{k}_bytes", 0.0)) / units.GIB for k in MEMORY_LABELS]})
    mem = mem[mem.GiB > 0]
    st.altair_chart(alt.Chart(step).mark_bar().encode(
        x=alt.X("seconds:Q", title="Seconds per optimizer step"),
        y=alt.Y("part:N", sort="-x", title=None, axis=alt.Axis(labelLimit=320, labelOverlap=False)),
        color=alt.Color("part:N", legend=None),
        tooltip=["part", alt.Tooltip("seconds:Q", format=".3f"), alt.Tooltip("share:Q", format=".1%")],
    ).properties(height=34 * len(step) + 130, title=f"Step time: {rec['step_time_s']:.2f} s"), width="stretch")
    total = mem.GiB.sum()
    cap = capacity_bytes / units.GIB
    stacked = mem.assign(row=f"{total:.0f} of {cap:.0f} GiB")
    bars = alt.Chart(stacked).mark_bar().encode(
        x=alt.X("GiB:Q", title="GiB per GPU (red line: usable capacity)", stack="zero",
                scale=alt.Scale(domain=[0, max(total, cap) * 1.05])),
        y=alt.Y("row:N", title=None), color=alt.Color("part:N", title="Where the memory goes"),
        tooltip=["part", alt.Tooltip("GiB:Q", format=".1f")])
    rule = alt.Chart(pd.DataFrame({"GiB": [cap]})).mark_rule(color="red", strokeWidth=2).encode(x="GiB:Q")
    st.altair_chart((bars + rule).properties(height=200, title="Memory per GPU"), width="stretch")
