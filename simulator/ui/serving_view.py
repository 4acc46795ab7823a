"""The serving simulation on the Inference page (run on demand, then its metrics, latency CDFs and KV occupancy) and
the capacity plan's fleet curves."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

import simulator as sim
from simulator import units
from simulator.ui.common import band_text, book_label, cdf_frame, guarded, run_on_demand


@st.cache_data(show_spinner=False, max_entries=32)
def _serve(model, hw_id: str, dep: sim.Deployment, replicas: int, router: str, slo: tuple[float, float],
           workload: tuple, trace: bytes | None, seed: int) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    prefix = workload[6] if len(workload) > 6 else 0.0  # (n, in, out, arrival, rate, lengths, prefix hit rate)
    wl = sim.with_prefix(parse_request_trace(trace), prefix) if trace is not None else _workload(*workload, seed=seed)
    cfg = sim.ServingConfig(dep, replicas=replicas, router=router, slo_ttft_s=slo[0], slo_tpot_s=slo[1])
    res = sim.simulate_serving(sim.load_model(model), sim.load_hardware(hw_id), cfg, wl, seed=seed)
    return res.summary, res.requests, res.timeseries


def _workload(n: int, input_len: int, output_len: int, arrival: str, rate: float, length_dist: str,
              prefix: float = 0.0, *, seed: int) -> sim.Workload:
    return sim.make_workload(n, input_len=input_len, output_len=output_len, arrival=arrival, rate_per_s=rate,
                             length_dist=length_dist, seed=seed, prefix_hit_rate=prefix)


def parse_request_trace(data: bytes, name: str = "uploaded trace") -> sim.Workload:
    """An uploaded request trace (CSV or Parquet bytes) as a Workload; errors name the column and the fix."""
    return sim.workload_from_trace(sim.read_trace_bytes(data, name), name)


# ----------------------------------------------------------------------------- inputs
def _serving_metrics(s: dict) -> None:
    m = st.columns(4)
    rate = s["offered_requests_per_s"]
    offered = f"{rate:.2f} req/s offered; " if np.isfinite(rate) else ""
    m[0].metric("Served throughput", f"{s['throughput_requests_per_s']:.2f} req/s",
                help=f"{s['throughput_output_tokens_per_s']:,.0f} output tokens/s. Completed requests over the time "
                     f"from the first arrival to the last completion, as vLLM's benchmark_serving reports it: "
                     f"{offered}in a short run the requests still in flight after the last arrival pull it below the "
                     "offered rate without any overload (see the overload check above).")
    m[1].metric("Within SLO", f"{s['slo_attainment']:.1%}",
                help=f"goodput {s['goodput_requests_per_s']:.2f} req/s meeting both targets")
    m[2].metric("KV occupancy", f"{s['kv_occupancy_mean']:.0%} mean", help=f"max {s['kv_occupancy_max']:.0%}")
    # not "GPU busy": an engine iterating on a batch of one counts, so a fleet with headroom reads near 100%
    m[3].metric("Time iterating", f"{s['gpu_busy_fraction']:.0%}",
                help=f"share of the time the engines were running an iteration (any batch, however small: not how "
                     f"full the batches were; KV occupancy says that). {s['requests_completed']:,} of "
                     f"{s['requests_total']:,} completed, {s['preemptions']} preemptions")
    pct = pd.DataFrame({name: [units.human_duration(s[f"{key}_{q}_s"]) for q in ("mean", "p50", "p90", "p99")]
                        for name, key in (("TTFT", "ttft"), ("TPOT", "tpot"), ("end to end", "e2e"))},
                       index=["mean", "p50", "p90", "p99"])
    st.dataframe(pct, width="stretch", placeholder="—")


def _latency_cdfs(req: pd.DataFrame, slo: tuple[float, float]) -> None:
    done = req[req["completion_s"].notna()]
    ttft, tpot = slo
    c1, c2 = st.columns(2)
    for col, name, values, target in ((c1, "TTFT", done["ttft_s"].to_numpy(float), ttft),
                                      (c2, "TPOT", done["tpot_s"].dropna().to_numpy(float), tpot)):
        if not values.size:
            continue
        cdf = cdf_frame(values * 1e3)
        line = alt.Chart(cdf).mark_line(interpolate="step-after").encode(
            x=alt.X("value:Q", title=f"{name} (ms)"), y=alt.Y("share:Q", title="Share of requests", axis=alt.Axis(format="%")),
            tooltip=[alt.Tooltip("value:Q", format=",.1f", title="ms"), alt.Tooltip("share:Q", format=".0%")])
        drawn = target * 1e3 <= cdf.value.max() * 1.5
        rule = alt.Chart(pd.DataFrame({"x": [target * 1e3]})).mark_rule(color="red", strokeDash=[5, 3]).encode(x="x:Q")
        where = "red: p99 target" if drawn else f"p99 target {units.human_duration(target)} is off the scale"
        title = f"{name} CDF ({where})"
        col.altair_chart((line + rule if drawn else line).properties(height=260, title=title), width="stretch")


def _kv_chart(ts: pd.DataFrame) -> None:
    step = max(len(ts) // 2000, 1)
    kv = ts.iloc[::step].assign(engine=lambda d: "engine " + d["engine"].astype(str))
    st.altair_chart(alt.Chart(kv).mark_line(interpolate="step-after").encode(
        x=alt.X("time_s:Q", title="Simulated time (s)"),
        y=alt.Y("kv_occupancy:Q", title="KV cache blocks in use", axis=alt.Axis(format="%")),
        color=alt.Color("engine:N", title=None, legend=None if kv["engine"].nunique() == 1 else alt.Legend()),
        tooltip=[alt.Tooltip("time_s:Q", format=".2f"), alt.Tooltip("kv_occupancy:Q", format=".1%"), "engine"],
    ).properties(height=240, title="KV cache occupancy over time"), width="stretch")


def serving_section(inp: dict) -> None:
    """The serving-simulation section: what runs, a button, and its results."""
    st.subheader("Serving simulation")
    dep = inp["dep"]
    what = ("the uploaded trace" if inp["trace_mode"] else
            f"{inp['n_requests']:,} requests ({inp['arrival']} arrivals at {inp['rate']:g}/s, {inp['length_dist']} "
            "lengths)")
    st.caption(f"Simulates {what} on {inp['replicas']} replica(s) of {dep.label()} with iteration-level batching, "
               "chunked prefill and a paged KV cache (SimPy).")
    if inp["trace_mode"] and inp["trace"] is None:
        st.info("Upload a request trace in the sidebar (Serving simulation), or switch back to a synthetic workload.")
        return
    workload = (inp["n_requests"], inp["input_len"], inp["output_len"], inp["arrival"], inp["rate"],
                inp["length_dist"], inp.get("prefix", 0.0))
    sig = (inp["model_id"], inp["model_text"], inp["hw_id"], dep, inp["replicas"], inp["router"], inp["slo"],
           workload[-1:] if inp["trace_mode"] else workload, inp["trace"], inp["seed"])
    got = run_on_demand("inf-serve", sig, "Run the serving simulation", _serve, inp["model"], inp["hw_id"], dep,
                         inp["replicas"], inp["router"], inp["slo"], workload,
                         inp["trace"] if inp["trace_mode"] else None, inp["seed"], running="Simulating requests")
    if got is None:
        return
    s, req, ts = got
    if s["overloaded"]:
        st.warning(f"Overloaded: {s['overload_reason']}. Latencies grow with the run length; add replicas, raise TP "
                   "or lower the rate.")
    _serving_metrics(s)
    _latency_cdfs(req, inp["slo"])
    _kv_chart(ts)
    st.caption(f"{s['sim_events']:,} simulation events, seed {s['seed']}. {band_text(s.get('error_band'))}")
    if dep.speculative is not None:
        st.caption(f"Speculative decoding: {dep.speculative.describe()}; each verify step's accepted tokens are drawn "
                   "per sequence (seeded)")
    if "prefix_cache" in s:
        pc = s["prefix_cache"]
        st.caption(f"Prefix cache: {pc['cached_share']:.1%} of prompt tokens cached ({pc['source']}); "
                   f"{pc['shared_blocks_per_engine']:,} shared KV blocks per engine")
    c1, c2 = st.columns(2)
    c1.download_button("Per-request records (CSV)", req.to_csv(index=False).encode(), "serving_requests.csv",
                       "text/csv", key="inf-req-csv")
    c2.download_button("KV occupancy time series (CSV)", ts.to_csv(index=False).encode(), "serving_timeseries.csv",
                       "text/csv", key="inf-ts-csv")


def capacity_curves(plan: dict, rows: pd.DataFrame, inp: dict) -> None:
    """GPUs and $/M tokens of each deployment found against the request rate, with spare capacity (headroom)."""
    headroom_pct = st.slider("Headroom (spare capacity, %)", 0, 100, 20, 5, key="inf-headroom",
                             help="Fleets sized for rate x (1 + headroom): room for bursts, failures and growth")
    rates = np.geomspace(inp["rate"] / 10, inp["rate"] * 10, 41)
    curve = guarded(sim.capacity_curve, rows.to_dict("records"), rates, headroom_pct / 100,
                    plan["usd_per_gpu_hour"], plan["tokens_per_request"])
    if curve is None or curve.empty:
        return
    base = alt.Chart(curve).encode(
        x=alt.X("rate_per_s:Q", title="Request rate (requests/s)", scale=alt.Scale(type="log")),
        color=alt.Color("deployment:N", title=None, legend=alt.Legend(orient="bottom", columns=1, labelLimit=400)))
    target = alt.Chart(pd.DataFrame({"rate_per_s": [inp["rate"]]})).mark_rule(color="gray", strokeDash=[4, 3]).encode(
        x="rate_per_s:Q")
    gpus = base.mark_line(interpolate="step-after").encode(
        y=alt.Y("gpus:Q", title="GPUs"), tooltip=["deployment", alt.Tooltip("rate_per_s:Q", format=".3g"), "gpus"])
    charts = [(gpus + target).properties(height=260, title=f"Fleet GPUs with {headroom_pct}% headroom")]
    if curve["cost_per_million_tokens_usd"].notna().any():
        usd = base.mark_line().encode(
            y=alt.Y("cost_per_million_tokens_usd:Q", title="$ per million tokens", scale=alt.Scale(zero=True)),
            tooltip=["deployment", alt.Tooltip("rate_per_s:Q", format=".3g"),
                     alt.Tooltip("cost_per_million_tokens_usd:Q", format="$.3f")])
        charts.append((usd + target).properties(height=260, title="Cost per million tokens (input + output)"))
    cols = st.columns(len(charts))
    for col, chart in zip(cols, charts, strict=True):
        col.altair_chart(chart, width="stretch")
    st.caption(f"Each deployment's fleet at rates from {rates[0]:.3g} to {rates[-1]:.3g} requests/s (dashed: the "
               f"target): whole replicas of the rate one holds within the SLO, so the cost per token falls in steps "
               f"as replicas fill up. Prices: {book_label(inp['price_book'])}, {inp['purchase']}.")
