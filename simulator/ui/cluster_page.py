"""Cluster simulation page: a shipped or uploaded cluster scenario (or a trace replay) with the app's settings,
utilisation and queue over time, queue-wait CDF, goodput, cost and energy, policies side by side, rent vs buy."""

from __future__ import annotations

import hashlib
from typing import Any

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

import simulator as sim
from simulator import units, vocab
from simulator.ui.cluster_settings import (
    DYNAMIC_NAMES,
    HOUR,
    LABELS,
    SOURCES,
    STATIC,
    loaded_settings,
    reference_ids,
    run_file_settings,
    scenario_settings,
)
from simulator.ui.common import catalog, cdf_frame, download_buttons, fmt_usd, guarded, run_on_demand
from simulator.ui.report import report_button
from simulator.ui.workspace import ab_section, current, foreign_references, notices, publish, scenario_loader, start
from simulator.vocab import POLICY_NAMES

RENT_OPTIONS = list(vocab.PURCHASE_OPTIONS)
INTERVALS = list(vocab.CHECKPOINT_INTERVALS)
DAY = units.SECONDS_PER_DAY


# ----------------------------------------------------------------------------- parsing and building
@st.cache_data(show_spinner=False, max_entries=32)
def _raw(kind: str, source: str) -> dict[str, Any]:
    """The scenario mapping: a shipped id's file, or uploaded YAML text."""
    if kind == "id":
        return sim.cluster_scenario_data(source)
    return sim.parse_cluster_scenario_text(source)


def _key(kind: str, source: str) -> str:
    return source if kind == "id" else "up-" + hashlib.sha1(source.encode()).hexdigest()[:10]


@st.cache_data(show_spinner=False, max_entries=32)
def _simulate(kind: str, source: str, overrides: tuple, trace: bytes | None, policy: str, seed: int,
              until_s: float | None) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    sc = sim.build_cluster_scenario(_raw(kind, source), overrides, trace, "scenario with the app's settings")
    bar = st.progress(0.0, text=f"Simulating {sc.gpus:,} GPUs ({policy})")
    res = sim.simulate_cluster(sc, policy=policy, seed=seed, until_s=until_s,
                               progress=lambda f: bar.progress(f, text=f"Simulated {f:.0%} ({policy})"))
    bar.empty()
    return res.summary, res.jobs, res.timeseries()


def _scalars(summary: dict) -> dict:
    """The summary's single values (per-pool figures and warnings left out): one table row."""
    return {k: v for k, v in summary.items() if not isinstance(v, (dict, list))}


# ----------------------------------------------------------------------------- inputs
def _source() -> tuple[str, str, str | None] | None:
    """(kind, source, file name): a shipped id, or the text of the scenario definition loaded above."""
    mode = st.radio("Scenario", SOURCES, horizontal=True, key="cl-src", label_visibility="collapsed")
    if mode == "Shipped":
        return "id", st.selectbox("Scenario", sim.cluster_scenario_ids(), key="cl-id"), None
    text = st.session_state.get("cl-loaded")
    if text is None:
        st.info("Load a scenario definition (kind: cluster_scenario) under 'Load a scenario file' above, or switch "
                "back to the shipped scenarios.")
        return None
    return "yaml", text, st.session_state.get("_loaded_name_cluster")


def _failure_inputs(f: Any, k: str) -> list[tuple[str, Any, Any]]:
    """(dotted key, value chosen, file's value) for the failure settings (widget values: ui.cluster_settings)."""
    fl = f.failures
    enabled = st.checkbox("Node failures and maintenance", key=f"cl-fail-{k}")
    c1, c2 = st.columns(2)
    rate = c1.number_input("Failures / 1000 node-days", min_value=0.0, max_value=1e4, step=0.5, key=f"cl-rate-{k}",
                           disabled=not enabled,
                           help="Unplanned; Llama 3 (Meta 2024): 3.79. Other published fleets: workloads/failures")
    planned = c2.number_input("Maintenance / 1000 node-days", min_value=0.0, max_value=1e4, step=0.1,
                              key=f"cl-planned-{k}", disabled=not enabled)
    repair_h = st.number_input("Mean repair time (h)", min_value=0.01, max_value=1e4, step=1.0, key=f"cl-repair-{k}",
                               disabled=not enabled)
    return [("failures.enabled", bool(enabled), fl.enabled),
            ("failures.failures_per_1000_node_days", float(rate), float(fl.failures_per_1000_node_days)),
            ("failures.planned_per_1000_node_days", float(planned), float(fl.planned_per_1000_node_days)),
            ("failures.repair_time_s", float(repair_h) * HOUR, float(fl.repair_time_s))]


def _checkpoint_inputs(f: Any, k: str) -> list[tuple[str, Any, Any]]:
    """(dotted key, value chosen, file's value) for the checkpoint settings."""
    ck = f.checkpoint
    c1, c2 = st.columns(2)
    write_s = c1.number_input("Write (s)", min_value=0.0, max_value=1e6, step=10.0, key=f"cl-write-{k}")
    restart_s = c2.number_input("Restart (s)", min_value=0.0, max_value=1e6, step=60.0, key=f"cl-restart-{k}")
    c1, c2 = st.columns(2)
    interval = c1.selectbox("Interval rule", INTERVALS, key=f"cl-int-{k}",
                            help="daly/young: optimal for each job's mean time to interruption; none: no "
                                 "checkpoints (a failure loses everything)")
    fixed_h = c2.number_input("Fixed interval (h)", min_value=0.0, max_value=1e4, step=0.5, key=f"cl-fixed-{k}",
                              help="0: use the rule")
    return [("checkpoint.write_time_s", float(write_s), float(ck.write_time_s)),
            ("checkpoint.restart_time_s", float(restart_s), float(ck.restart_time_s)),
            ("checkpoint.interval", interval, ck.interval),
            ("checkpoint.interval_s", fixed_h * HOUR if fixed_h > 0 else None, ck.interval_s)]


def _scenario_file(kind: str, source: str) -> tuple[Any, str] | None:
    """The validated scenario file and its widget key suffix; a loaded definition's references are checked first."""
    raw = guarded(_raw, kind, source)
    if raw is None:
        return None
    if kind != "id":
        bad = foreign_references(raw, reference_ids())
        if bad:
            st.error("This scenario file cannot be read here: " + "; ".join(bad[:3]))
            return None
    f = guarded(sim.ClusterScenarioFile.model_validate, raw)
    return None if f is None else (f, _key(kind, source))


def _inputs() -> dict | None:
    with st.sidebar:
        st.header("Cluster")
        scenario_loader("cluster", loaded_settings, {"cluster": "a run of a shipped scenario (what this page "
                                                                "exports)", "cluster_scenario": "a scenario"},
                        run_file_settings)
        start("cluster", STATIC, ignore=DYNAMIC_NAMES)
        src = _source()
        got = None if src is None else _scenario_file(src[0], src[1])
        if src is None or got is None:
            publish(STATIC)
            notices("cluster")
            return None
        kind, source, file_name = src
        f, k = got
        dynamic = scenario_settings(f, k)
        start("cluster-scenario", dynamic, ignore=[s.name for s in STATIC])
        with st.expander("Replace the jobs with a trace CSV"):
            st.caption("Columns job_id, submit_time, gpu_num, duration (seconds; optional state, priority, pool, "
                       "user), sorted by submit_time. Runs on this scenario's pools.")
            up_trace = st.file_uploader("Job trace", type=["csv"], key="cl-trace")
            trace = up_trace.getvalue() if up_trace is not None else None
        policy = st.selectbox("Scheduling policy", list(POLICY_NAMES), key=f"cl-policy-{k}",
                              help="fifo; sjf: shortest job first; priority: with preemption; easy: FIFO with EASY "
                                   "backfilling")
        c1, c2 = st.columns(2)
        horizon_d = c1.number_input("Horizon (days)", min_value=0.0, max_value=36_500.0, step=1.0,
                                    key=f"cl-horizon-{k}",
                                    help="0: until every job has ended (scenarios with inference services need a "
                                         "horizon: they run forever)")
        seed = c2.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key="cl-seed")
        st.header("Failures")
        wanted = _failure_inputs(f, k)
        st.header("Checkpoints")
        wanted += _checkpoint_inputs(f, k)
    publish([*STATIC, *dynamic])
    notices("cluster")
    notices("cluster-scenario")
    if horizon_d == 0:  # run until every job has ended, whatever horizon the file sets
        wanted.append(("horizon_s", None, f.horizon_s))
    overrides = tuple((key, v) for key, v, default in wanted if not _same(v, default))
    return dict(kind=kind, source=source, key=k, file_name=file_name, file=f, overrides=overrides, trace=trace,
                trace_name=up_trace.name if up_trace is not None else None, policy=policy, seed=int(seed),
                until_s=horizon_d * DAY if horizon_d > 0 else None, settings=[*STATIC, *dynamic])


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1.0)
    return a == b


# ----------------------------------------------------------------------------- sections
def _header(inp: dict) -> None:
    f = inp["file"]
    st.subheader(f.name)
    with st.expander("About this scenario"):
        st.write(f.description or "(no description)")
        for s in f.sources:
            st.caption(f"Source: {s.title} ({s.where}, {s.date})")
    pools = pd.DataFrame([{"pool": p.id, "hardware": p.hardware, "nodes": p.nodes, "spare nodes": p.spare_nodes,
                           "purchase": p.purchase or f.purchase} for p in f.pools])
    st.dataframe(pools, hide_index=True, width="stretch", placeholder="—")
    if inp["trace"] is not None:
        st.caption(f"Jobs: the uploaded trace {inp['trace_name']} replaces the scenario's jobs and generators.")


def _metrics(s: dict) -> None:
    m = st.columns(4)
    m[0].metric("Utilization", _pct(s["utilization"]), help="allocated GPU-time / installed GPU-time in the window")
    m[1].metric("Goodput", _pct(s["goodput"]),
                help="productive / allocated GPU-time (restarts, checkpoint writes and lost work excluded)")
    m[2].metric("Queue wait (mean)", _dur(s["queue_wait_mean_s"]), help=f"p95 {_dur(s['queue_wait_p95_s'])}")
    m[3].metric("Cost", fmt_usd(s["cost_usd"]), help=f"{fmt_usd(s['cost_idle_usd'])} of it idle capacity; whole run, "
                                                   f"price book {s['price_book']}")
    m = st.columns(4)
    m[0].metric("Productive utilization", _pct(s["utilization_productive"]))
    m[1].metric("Effective training time", _pct(s["effective_training_time_ratio"]),
                help="training and fine-tuning: productive time / wall time since first start (Meta's ETTR)")
    m[2].metric("Jobs completed", f"{s['jobs_completed']:,}",
                help=f"{s['jobs_failed']:,} failed, {s['jobs_cancelled']:,} cancelled, {s['jobs_running_at_end']:,} "
                     f"running and {s['jobs_queued_at_end']:,} queued at the end")
    m[3].metric("Energy", units.human_energy_kwh(s["energy_kwh"]),
                help=f"{units.human_mass_kg(s['co2e_kg'])} CO2e (facility energy x grid intensity)")
    st.caption(f"{s['installed_gpus']:,} GPUs, policy {s['policy']}, seed {s['seed']}, simulated "
               f"{_dur(s['end_s'])} (statistics from {_dur(s['window_start_s'])}): {s['interruptions']:,} "
               f"interruptions, {s['preemptions']:,} preemptions, {s['gpu_hours_lost']:,.0f} GPU-hours lost to "
               f"failures, offered load {s['offered_load'] or 0:.2f}; {s['sim_events']:,} events.")
    for w in s["warnings"]:
        st.warning(w)


def _pct(v: float | None) -> str:
    return "n/a" if v is None or pd.isna(v) else f"{v:.1%}"


def _dur(v: float | None) -> str:
    if v is None or pd.isna(v):
        return "n/a"
    return "0 s" if v == 0 else units.human_duration(v)


def _time_charts(s: dict, ts: pd.DataFrame) -> None:
    days = ts.assign(day=ts["time_s"] / DAY)
    gpu_cols = {"allocated_gpus": "allocated", "up_gpus": "up (not failed)"}
    if ts["serving_demand_gpus"].max() > 0:
        gpu_cols.update(serving_gpus="serving replicas", serving_demand_gpus="serving demand")
    long = days.melt(id_vars=["day"], value_vars=list(gpu_cols), var_name="series", value_name="gpus")
    long["series"] = long["series"].map(gpu_cols)
    lines = alt.Chart(long).mark_line(interpolate="step-after").encode(
        x=alt.X("day:Q", title="Day"), y=alt.Y("gpus:Q", title="GPUs"),
        color=alt.Color("series:N", title=None),
        tooltip=[alt.Tooltip("day:Q", format=".2f"), "series", alt.Tooltip("gpus:Q", format=",.0f")])
    layers = lines
    if s["window_start_s"] > 0:
        layers = lines + alt.Chart(pd.DataFrame({"day": [s["window_start_s"] / DAY]})).mark_rule(
            color="gray", strokeDash=[4, 3]).encode(x="day:Q")
    c1, c2 = st.columns(2)
    c1.altair_chart(layers.properties(height=280, title=f"GPUs over time (of {s['installed_gpus']:,}; dashed: end of "
                                                        "warm-up)"), width="stretch")
    c2.altair_chart(alt.Chart(days).mark_area(interpolate="step-after", opacity=0.6).encode(
        x=alt.X("day:Q", title="Day"), y=alt.Y("queued_jobs:Q", title="Jobs waiting",
                                              axis=alt.Axis(format="d", tickMinStep=1)),
        tooltip=[alt.Tooltip("day:Q", format=".2f"), alt.Tooltip("queued_jobs:Q", format=",.0f"),
                 alt.Tooltip("queued_gpus:Q", format=",.0f", title="GPUs requested")],
    ).properties(height=280, title="Queue length"), width="stretch")


def _wait_cdf(waits: dict[str, np.ndarray]) -> alt.Chart | None:
    """Empirical CDF of the queue waits of jobs that waited at all (log minutes); the rest started at once."""
    frames = []
    for label, w in waits.items():
        w = w[~np.isnan(w) & (w > 0)]
        if w.size:
            cdf = cdf_frame(w)
            frames.append(pd.DataFrame({"wait_min": np.maximum(cdf["value"] / 60.0, 1e-3), "share": cdf["share"],
                                        "run": label}))
    if not frames:
        return None
    df = pd.concat(frames, ignore_index=True)
    label = ("datum.value < 1 ? format(datum.value * 60, '.0f') + ' s' : datum.value < 60 ? "
             "format(datum.value, '.0f') + ' min' : datum.value < 1440 ? format(datum.value / 60, '.0f') + ' h' : "
             "format(datum.value / 1440, '.0f') + ' d'")
    ticks = [v for v in (1 / 60, 10 / 60, 1, 10, 60, 600, 1440, 14400) if df.wait_min.min() / 3 <= v <= df.wait_min.max() * 3]
    return alt.Chart(df).mark_line(interpolate="step-after").encode(
        x=alt.X("wait_min:Q", title="Queue wait (log scale)", scale=alt.Scale(type="log"),
                axis=alt.Axis(values=ticks, labelExpr=label)),
        y=alt.Y("share:Q", title="Share of the jobs that waited", axis=alt.Axis(format="%")),
        color=alt.Color("run:N", title=None, legend=None if len(waits) == 1 else alt.Legend()),
        tooltip=["run", alt.Tooltip("wait_min:Q", format=",.1f", title="minutes"),
                 alt.Tooltip("share:Q", format=".0%")])


def _pool_table(s: dict) -> pd.DataFrame:
    rows = []
    for pid, p in s["pools"].items():
        rows.append({"pool": pid, "hardware": p["hardware"], "GPUs": p["gpus"], "purchase": p["purchase"],
                     "utilization %": (p["utilization"] or 0) * 100, "node failures": p["node_failures"],
                     "$/GPU-hour": p["usd_per_gpu_hour"], "cost ($)": p["cost_usd"], "energy (MWh)": p["energy_kwh"] / 1e3})
    return pd.DataFrame(rows)


def _compare_policies(inp: dict) -> pd.DataFrame:
    rows, waits = [], []
    bar = st.progress(0.0, text="Comparing policies")
    for i, pol in enumerate(POLICY_NAMES):
        s, jobs, _ = _simulate(inp["kind"], inp["source"], inp["overrides"], inp["trace"], pol, inp["seed"],
                               inp["until_s"])
        rows.append({"policy": pol, **_scalars(s)})
        waits.append(sim.window_waits(jobs, s))
        bar.progress((i + 1) / len(POLICY_NAMES), text=f"Simulated {i + 1} of {len(POLICY_NAMES)} policies")
    bar.empty()
    return pd.DataFrame(rows).assign(waits=waits)


def _comparison_section(inp: dict) -> None:
    st.subheader("Policies side by side")
    st.caption(f"The same scenario, settings and seed ({inp['seed']}) under each scheduling policy.")
    sig = (inp["kind"], inp["source"], inp["overrides"], inp["trace"], inp["seed"], inp["until_s"])
    label = f"Compare {', '.join(POLICY_NAMES[:-1])} and {POLICY_NAMES[-1]}"
    df = run_on_demand("cl-compare", sig, label, _compare_policies, inp, running="Simulating each policy")
    if df is None:
        return
    view = pd.DataFrame({
        "policy": df["policy"], "utilization %": df["utilization"] * 100, "goodput %": df["goodput"] * 100,
        "started at once %": [100 * sim.started_at_once(w) for w in df["waits"]],
        "wait mean (h)": df["queue_wait_mean_s"] / 3600, "wait p95 (h)": df["queue_wait_p95_s"] / 3600,
        "JCT mean (h)": df["jct_mean_s"] / 3600, "completed": df["jobs_completed"], "queued at end": df["jobs_queued_at_end"],
        "preemptions": df["preemptions"], "cost ($M)": df["cost_usd"] / 1e6, "energy (MWh)": df["energy_kwh"] / 1e3})
    st.dataframe(view.style.format(precision=2, na_rep="—", thousands=","), hide_index=True, width="stretch", placeholder="—")
    bars = view.melt(id_vars=["policy"], value_vars=["wait mean (h)", "wait p95 (h)", "JCT mean (h)"],
                     var_name="metric", value_name="hours")
    c1, c2 = st.columns(2)
    bars = bars.dropna(subset=["hours"])
    if bars["hours"].gt(0).any():
        # each metric on its own axis: minutes of waiting stay visible beside hours of completion time
        c1.altair_chart(alt.Chart(bars).mark_bar().encode(
            x=alt.X("hours:Q", title="Hours"), y=alt.Y("policy:N", title=None), color=alt.Color("policy:N", legend=None),
            row=alt.Row("metric:N", title=None), tooltip=["policy", "metric", alt.Tooltip("hours:Q", format=",.2f")],
        ).properties(height=90, title="Waits and job completion times (each on its own scale)").resolve_scale(
            x="independent"), width="stretch")
    else:
        c1.caption("No job waited and none completed in the window under any policy, so there are no waits or "
                   "completion times to compare.")
    cdf = _wait_cdf(dict(zip(df["policy"], df["waits"], strict=True)))
    if cdf is not None:
        c2.altair_chart(cdf.properties(height=330, title="Queue-wait CDF of the jobs that waited, per policy"),
                        width="stretch")
    download_buttons(df.drop(columns=["waits"]), "cluster_policies", "cl-cmp")


def _rent_vs_buy_section(inp: dict, s: dict) -> None:
    st.subheader("Rent or buy")
    f = inp["file"]
    pools = list(s["pools"])
    books = catalog()["prices"]
    c1, c2, c3 = st.columns(3)
    pid = c1.selectbox("Pool", pools, key=f"cl-rvb-pool-{inp['key']}")
    p = s["pools"][pid]
    option = c2.selectbox("Rent as", RENT_OPTIONS, key=f"cl-rvb-option-{inp['key']}-{pid}",
                          index=RENT_OPTIONS.index(p["purchase"]) if p["purchase"] in RENT_OPTIONS else 0,
                          help="hourly options bill busy hours only; reserved ones bill every hour")
    years = c3.number_input("Years (0 = amortisation period)", min_value=0.0, max_value=50.0, value=0.0, step=1.0,
                            key=f"cl-rvb-years-{inp['key']}")
    c1, c2, c3 = st.columns(3)
    rent_book = c1.selectbox("Rental prices", books, key=f"cl-rvb-rent-{inp['key']}",
                             index=books.index(f.price_book) if f.price_book in books else 0)
    owned_book = c2.selectbox("Purchase prices", books, key=f"cl-rvb-own-{inp['key']}",
                              index=books.index(f.owned_price_book) if f.owned_price_book in books else 0)
    util_pct = c3.slider("Utilization (%)", 0, 100, value=round(min(max(p["utilization"] or 0.0, 0.0), 1.0) * 100),
                         step=1, key=f"cl-rvb-util-{inp['key']}-{pid}-{round(p['utilization'] or 0, 3)}",
                         help="Share of hours the GPUs are busy; defaults to this run's utilization of the pool")
    util = util_pct / 100  # fractions inside, percent on display
    kw = dict(owned_book=owned_book, rent_book=rent_book, option=option, years=years if years > 0 else None)
    r = guarded(sim.rent_vs_buy, p["hardware"], p["gpus"], utilization=util, **kw)
    if r is None:
        return
    m = st.columns(4)
    m[0].metric(f"Renting ({option})", fmt_usd(r.rented_total_usd), help=f"{fmt_usd(r.rent_usd_per_gpu_hour)} per "
                                                                          "GPU-hour")
    m[1].metric("Owning", fmt_usd(r.owned_total_usd),
                help=f"capex {fmt_usd(r.owned_capex_usd_per_gpu)} per GPU amortised, plus electricity when busy")
    be = r.break_even_utilization
    m[2].metric("Break-even utilization", "n/a" if np.isnan(be) else _pct(be) if np.isfinite(be) else "never",
                help="owning is cheaper above this share of busy hours; only for hourly rental (on_demand, spot), "
                     "since reserved capacity is billed every hour")
    m[3].metric("Cheaper", r.cheaper.capitalize())
    if np.isnan(be):
        st.caption(f"No break-even utilization for {option}: reserved capacity is billed every hour, busy or not, "
                   "so renting costs the same at any utilization; compare the two totals instead.")
    grid = np.round(np.linspace(0.0, 1.0, 21), 2)
    rows = []
    for u in grid:
        g = sim.rent_vs_buy(p["hardware"], p["gpus"], utilization=float(u), **kw)
        rows += [{"utilization": u, "option": f"rent ({option})", "musd": g.rented_total_usd / 1e6},
                 {"utilization": u, "option": "own", "musd": g.owned_total_usd / 1e6}]
    lines = alt.Chart(pd.DataFrame(rows)).mark_line().encode(
        x=alt.X("utilization:Q", title="Utilization (share of hours busy)", axis=alt.Axis(format="%")),
        y=alt.Y("musd:Q", title=f"Total over {r.years:.1f} years (million USD)"),
        color=alt.Color("option:N", title=None),
        tooltip=["option", alt.Tooltip("utilization:Q", format=".0%"), alt.Tooltip("musd:Q", format=",.2f")])
    here = alt.Chart(pd.DataFrame({"utilization": [util]})).mark_rule(color="gray", strokeDash=[4, 3]).encode(
        x="utilization:Q")
    st.caption(f"{p['gpus']:,} x {p['hardware']}: rent vs own over the utilization range (dashed: chosen utilization)")
    st.altair_chart((lines + here).properties(height=280), width="stretch")


def _export_section(inp: dict) -> None:
    st.subheader("Take this run to the CLI")
    overrides = dict(inp["overrides"])
    notes = []
    if inp["trace"] is not None:
        overrides.update(jobs=[], generators=[], trace={"path": inp["trace_name"] or "trace.csv"})
        notes.append("trace.path is read relative to the scenario file's folder: put the CSV there or write its "
                     "absolute path")
    if inp["kind"] == "id":
        ref, name = inp["source"], inp["source"]
    else:
        ref, name = inp["file_name"] or "my-cluster-scenario.yaml", inp["file"].id
        notes.append(f"'scenario: {ref}' is your uploaded file: keep it next to this YAML or write its path")
    spec = guarded(sim.ClusterRunScenario, name=f"{name} ({inp['policy']}, app settings)", scenario=ref,
                   overrides=overrides, policy=inp["policy"], seed=inp["seed"], until_s=inp["until_s"])
    if spec is None:
        return
    st.download_button("Export this run as a scenario YAML (for `simulator run` and sweeps)", sim.scenario_to_yaml(spec),
                       "cluster_run.yaml", "application/x-yaml", key="cl-export")
    for n in notes:
        st.caption(n)


def render() -> None:
    st.title("Cluster simulation")
    st.caption("Pools of nodes shared by gang-scheduled jobs (and inference services), with node failures, "
               "checkpoint/restart and scheduling policies, simulated event by event (SimPy). Utilization, waits, "
               "goodput, cost and energy come from the simulated run; job run times from the training core.")
    inp = _inputs()
    if inp is None:
        st.info("Upload a valid cluster scenario YAML (see the message in the sidebar), or pick a shipped one.")
        return
    _header(inp)
    got = guarded(_simulate, inp["kind"], inp["source"], inp["overrides"], inp["trace"], inp["policy"], inp["seed"],
                  inp["until_s"])
    if got is not None:
        s, jobs, ts = got
        _metrics(s)
        _time_charts(s, ts)
        c1, c2 = st.columns(2)
        waits = sim.window_waits(jobs, s)
        cdf = _wait_cdf({s["policy"]: waits})
        if cdf is not None:
            c1.altair_chart(cdf.properties(height=280, title="Queue-wait CDF (jobs submitted after warm-up that "
                                                             "waited)"), width="stretch")
        if np.any(~np.isnan(waits)):
            n = int(np.sum(~np.isnan(waits)))
            which = "after warm-up " if inp["file"].warmup_s > 0 else ""
            c1.caption(f"{sim.started_at_once(waits):.0%} of the {n:,} job{'s' if n != 1 else ''} submitted {which}"
                       "started as soon as submitted.")
        else:
            c1.caption("No job was submitted after the warm-up, so there is no queue wait to show.")
        c2.dataframe(_pool_table(s).style.format(precision=1, na_rep="—", thousands=","), hide_index=True,
                     width="stretch", placeholder="—")
        with st.expander(f"Per-job records ({len(jobs):,} jobs)"):
            st.dataframe(jobs.head(2000), hide_index=True, width="stretch", placeholder="—")
            download_buttons(jobs, "cluster_jobs", "cl-jobs")
        c1, c2 = st.columns(2)
        c1.download_button("Time series (CSV)", ts.to_csv(index=False).encode(), "cluster_timeseries.csv", "text/csv",
                           key="cl-ts-csv")
        c2.download_button("Summary (CSV)", pd.DataFrame([_scalars(s)]).to_csv(index=False).encode(), "cluster_summary.csv", "text/csv", key="cl-sum-csv")
        st.divider()
        _rent_vs_buy_section(inp, s)
    st.divider()
    _comparison_section(inp)
    st.divider()
    _export_section(inp)
    if got is not None:
        st.divider()
        headline = _headline(got[0])
        labels = {x.key: LABELS.get(x.name, x.name) for x in inp["settings"]}
        ab_section("cluster", inp["settings"], headline, labels)
        _report(inp, got[0], headline, labels)


def _headline(s: dict) -> dict[str, str]:
    """The run's answers in a few formatted figures (the A/B table and the report)."""
    return {"utilization": _pct(s["utilization"]), "goodput": _pct(s["goodput"]),
            "queue wait mean": _dur(s["queue_wait_mean_s"]), "queue wait p95": _dur(s["queue_wait_p95_s"]),
            "effective training time": _pct(s["effective_training_time_ratio"]),
            "interruptions": f"{s['interruptions']:,}", "jobs completed": f"{s['jobs_completed']:,}",
            "cost": fmt_usd(s["cost_usd"]), "energy": units.human_energy_kwh(s["energy_kwh"])}


def _report(inp: dict, s: dict, headline: dict[str, str], labels: dict[str, str]) -> None:
    """The one-page report: inputs, assumptions (price book and its date, failure rates), answer, pools."""
    f = inp["file"]
    book = sim.load_price_book(s["price_book"]) if s["price_book"] in catalog()["prices"] else None
    inputs = {labels[k]: v for k, v in current(inp["settings"]).items()}
    where = inp["source"] if inp["kind"] == "id" else (inp["file_name"] or "loaded file")
    assumptions = {"scenario": f"{f.name} ({where})",
                   "price book": f"{book.name} ({book.id}), prices of {book.price_date}" if book else s["price_book"],
                   "failures": (f"profile {f.failures.profile}" if getattr(f.failures, "profile", None) else
                                "rates as written in the scenario"),
                   "policy": s["policy"], "seed": s["seed"]}
    report_button("cluster", f"Cluster simulation: {f.name}", inputs=inputs, assumptions=assumptions,
                  answer=headline, tables=[("Pools", _pool_table(s))])
