"""Inference and serving page: static-batch estimate, latency-throughput curves, the cheapest deployment under an
SLO (capacity planning) and a SimPy serving simulation on demand."""

from __future__ import annotations

import time
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

import simulator as sim
from simulator import units, vocab
from simulator.ui.common import (
    band_text,
    book_label,
    book_summary,
    catalog,
    download_buttons,
    fmt_usd,
    guarded,
    model_picker,
    price_book_picker,
    resolve_model,
    run_on_demand,
    ui_message,
)
from simulator.ui.inference_settings import (
    DEFAULT_MODEL,
    KINDS,
    LABELS,
    LENGTH_DISTS,
    MAX_TOKENS,
    SETTINGS,
    TP_CHOICES,
    feature_captions,
    feature_inputs,
    scenario_settings,
    speculative_fields,
)
from simulator.ui.report import report_button
from simulator.ui.serving_view import capacity_curves, serving_section
from simulator.ui.workspace import ab_section, current, notices, publish, scenario_loader, start

CURVE_BATCHES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048]
PART_LABELS = {"linear": "linear layers (GEMMs)", "attention": "attention", "elementwise": "norms, activations, RoPE",
               "tp_comm": "TP all-reduce", "pp_comm": "PP send/recv", "lm_head": "LM head",
               "overhead": "engine overhead (host)"}


# ----------------------------------------------------------------------------- cached computations
@st.cache_data(show_spinner=False, max_entries=128)
def _static(model, hw_id: str, dep: sim.Deployment, batch: int, input_len: int, output_len: int,
            prefix: float = 0.0) -> dict:
    return sim.estimate_inference(sim.load_model(model), sim.load_hardware(hw_id), dep, batch=batch,
                                  input_len=input_len, output_len=output_len, prefix_hit_rate=prefix).to_dict()


@st.cache_data(show_spinner=False, max_entries=64)
def _curves(model, hw_id: str, tps: tuple[int, ...], precisions: tuple[str, ...], kv_precision: str, engine: str,
            input_len: int, output_len: int, spec: Any = None, prefix: float = 0.0) -> tuple[pd.DataFrame, dict[str, str]]:
    """Static-batch estimates over batch sizes for each (TP, precision): one latency-throughput curve each."""
    m, hw = sim.load_model(model), sim.load_hardware(hw_id)
    rows, skipped = [], {}
    for prec in precisions:
        for tp in tps:
            dep = sim.Deployment(tp=tp, precision=prec, kv_precision=kv_precision, engine=engine, speculative=spec)
            label = f"TP{tp} {prec}"
            for b in CURVE_BATCHES:
                if b > dep.seq_cap:
                    break
                try:
                    r = sim.estimate_inference(m, hw, dep, batch=b, input_len=input_len, output_len=output_len,
                                               prefix_hit_rate=prefix)
                except sim.SimulatorError as exc:
                    skipped[label] = str(exc)
                    break
                if not r.feasible:
                    if b == 1:
                        skipped[label] = r.reason
                    break
                rows.append({"deployment": label, "tp": tp, "precision": prec, "gpus": dep.gpus, "batch": b,
                             "ttft_ms": r.ttft_s * 1e3, "tpot_ms": r.tpot_s * 1e3, "e2e_s": r.e2e_s,
                             "output_tokens_per_s": r.output_tokens_per_s,
                             "output_tokens_per_s_per_gpu": r.output_tokens_per_s_per_gpu})
    return pd.DataFrame(rows), skipped


@st.cache_data(show_spinner=False, max_entries=16)
def _capacity(model, hw_id: str, rate: float, slo: tuple[float, float], input_len: int, output_len: int,
              length_dist: str, n_requests: int, kv_precision: str, engine: str, price_book: str | sim.PriceBook, purchase: str,
              seed: int, spec: Any = None, prefix: float = 0.0) -> dict:
    space = sim.CandidateSpace(kv_precisions=(kv_precision,), engine=engine, speculative=spec)
    t0 = time.perf_counter()
    plan = sim.plan_capacity(model, hw_id, rate_per_s=rate, slo=sim.SLO(*slo), input_len=input_len,
                             output_len=output_len, length_dist=length_dist, n_requests=n_requests, space=space,
                             price_book=price_book, purchase=purchase, top=3, seed=seed, prefix_hit_rate=prefix)
    return {**plan.to_dict(), "elapsed_s": time.perf_counter() - t0}


def _deployment_inputs() -> dict[str, Any]:
    model_id, text = model_picker("inf", DEFAULT_MODEL)
    model = resolve_model(model_id, text)
    hw_id = st.selectbox("Hardware", catalog()["hardware"], key="inf-hw")
    c1, c2 = st.columns(2)
    precision = c1.selectbox("Precision", list(vocab.QUANTIZATION_NAMES), key="inf-prec",
                             help="; ".join(f"{k}: {q.description}" for k, q in sim.QUANTIZATIONS.items()))
    tp = c2.selectbox("Tensor parallel", TP_CHOICES, key="inf-tp")
    c1, c2 = st.columns(2)
    ep = c1.selectbox("Expert parallel", TP_CHOICES, key="inf-ep",
                      help="Mixture-of-experts models: the TP GPUs split the experts this many ways (each expert "
                           "group TP-shards its experts over tp / ep GPUs); must divide TP and the expert count")
    dpa = c2.selectbox("Attention DP", TP_CHOICES, key="inf-dpa",
                       help="Attention data parallelism: the TP GPUs form this many groups of tp / groups GPUs that "
                            "each run attention and dense layers for their own requests (the MoE layers span all "
                            "TP GPUs); must divide TP")
    c1, c2 = st.columns(2)
    kv_precision = c1.selectbox("KV cache", list(vocab.KV_PRECISIONS), key="inf-kv")
    engine = c2.selectbox("Engine", list(vocab.ENGINE_NAMES), key="inf-engine",
                          help="Host overheads and scheduler defaults of the engine family. Host overheads are seconds "
                               "on a DGX A100 host, divided by the hardware profile's host CPU speed (Hardware page)")
    return dict(model=model, model_id=model_id, model_text=text, hw_id=hw_id, precision=precision, tp=tp, ep=ep,
                dp_attention=dpa, kv_precision=kv_precision, engine=engine)


def _request_inputs(hw_id: str) -> dict[str, Any]:
    c1, c2 = st.columns(2)
    input_len = c1.number_input("Input tokens", min_value=1, max_value=MAX_TOKENS, step=128, key="inf-in")
    output_len = c2.number_input("Output tokens", min_value=1, max_value=MAX_TOKENS, step=64, key="inf-out")
    batch = st.number_input("Static batch (sequences)", min_value=1, max_value=100_000, step=8, key="inf-batch",
                            help="For the static-batch estimate: every prompt prefilled together, then decoded")
    rate = st.number_input("Request rate (requests/s)", max_value=1e6, step=1.0, key="inf-rate",
                           help="Poisson arrivals for the serving simulation and the capacity plan")
    st.header("Latency SLO")
    c1, c2 = st.columns(2)
    slo_ttft = c1.number_input("p99 TTFT (s)", max_value=86_400.0, step=0.5, key="inf-slo-ttft")
    slo_tpot = c2.number_input("p99 TPOT (ms)", max_value=86_400_000.0, step=10.0, key="inf-slo-tpot")
    book = price_book_picker("inf", [hw_id])
    purchase = st.selectbox("Purchase option", list(vocab.COST_OPTIONS), key="inf-purchase",
                            help="owned: amortised purchase, facility and electricity per busy GPU-hour (pick a "
                                 "price book with owned figures, such as owned-colo-2025-03)")
    return dict(batch=int(batch), input_len=int(input_len), output_len=int(output_len), rate=float(rate),
                slo=(float(slo_ttft), float(slo_tpot) / 1e3), price_book=book, purchase=purchase)


def _simulation_inputs() -> dict[str, Any]:
    source = st.radio("Workload", ["Synthetic", "Trace CSV"], horizontal=True, key="inf-wl")
    trace = None
    if source == "Trace CSV":
        up = st.file_uploader("Trace (arrival_s, prompt_tokens, output_tokens)", type=["csv", "parquet"],
                              key="inf-trace")
        trace = up.getvalue() if up is not None else None
    n_requests = st.number_input("Requests", min_value=10, max_value=100_000, step=100, key="inf-n")
    arrival = st.selectbox("Arrivals", list(vocab.OPEN_LOOP_ARRIVALS), key="inf-arrival",
                           help="gamma: bursty, coefficient of variation 2")
    length_dist = st.selectbox("Lengths", LENGTH_DISTS, key="inf-dist",
                               help="fixed: the token counts above; lognormal: cv 1 around them; sharegpt: the "
                                    "ShareGPT sample the vLLM and SGLang serving benchmarks draw (about 223 in / 199 "
                                    "out), ignoring the lengths above")
    replicas = st.number_input("Replicas", min_value=1, max_value=256, key="inf-replicas")
    router = st.selectbox("Router", list(vocab.ROUTER_NAMES), key="inf-router")
    seed = st.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key="inf-seed")
    return dict(n_requests=int(n_requests), arrival=arrival, length_dist=length_dist, replicas=int(replicas),
                router=router, seed=int(seed), trace=trace, trace_mode=source == "Trace CSV")


def _inputs() -> dict | None:
    with st.sidebar:
        st.header("Deployment")
        scenario_loader("inference", SETTINGS, KINDS, scenario_settings)
        start("inference", SETTINGS)
        d = _deployment_inputs()
        st.header("Requests")
        r = _request_inputs(d["hw_id"])
        with st.expander("Serving simulation"):
            sim_inputs = _simulation_inputs()
        feat = feature_inputs()
    publish(SETTINGS)
    notices("inference")
    if d["model"] is None:
        st.info("Load a valid model file (see the message in the sidebar), or pick one from the catalog.")
        return None
    dep = sim.Deployment(tp=int(d["tp"]), ep=int(d["ep"]), dp_attention=int(d["dp_attention"]),
                         precision=d["precision"], kv_precision=d["kv_precision"], engine=d["engine"],
                         speculative=feat["speculative"])
    return dict(model=d["model"], model_id=d["model_id"], model_text=d["model_text"], hw_id=d["hw_id"], dep=dep,
                prefix=feat["prefix_hit_rate"], **r, **sim_inputs)


def _price_per_gpu_hour(book: str, hw_id: str, purchase: str) -> float:
    return sim.busy_gpu_hour_usd(sim.load_price_book(book), sim.load_hardware(hw_id), purchase)


# ----------------------------------------------------------------------------- sections
def _static_section(inp: dict) -> dict | None:
    dep = inp["dep"]
    st.subheader(f"Static batch: {inp['batch']} x ({inp['input_len']:,} in + {inp['output_len']:,} out) tokens on "
                 f"{dep.gpus} x {inp['hw_id']}")
    rec = guarded(_static, inp["model"], inp["hw_id"], dep, inp["batch"], inp["input_len"], inp["output_len"],
                  inp["prefix"])
    if rec is None:
        return None
    domain = sim.load_hardware(inp["hw_id"]).scale_up_domain_gpus
    if dep.tp * dep.pp > domain:
        st.caption(f"{dep.tp * dep.pp} GPUs per replica span more than one {domain}-GPU scale-up domain: collectives "
                   "that leave it run on the scale-out network (see tp_comm in the decode step below).")
    if not rec["feasible"]:
        st.warning(ui_message(f"This deployment does not serve the batch: {rec['reason']}. Raise the tensor parallel "
                              "size, use a smaller precision or KV cache, or lower the batch."))
    ok = rec["feasible"]  # latencies of a batch that cannot run would be fiction: shown as n/a
    m = st.columns(4)
    m[0].metric("TTFT", units.human_duration(rec["ttft_s"]) if ok else "n/a",
                help="prefill of the whole batch in one iteration")
    m[1].metric("TPOT", units.human_duration(rec["tpot_s"]) if ok else "n/a",
                help="mean decode step while the context grows")
    m[2].metric("Throughput", f"{rec['output_tokens_per_s']:,.0f} tok/s" if ok else "n/a",
                help=f"output tokens per second ({rec['output_tokens_per_s_per_gpu']:,.0f} per GPU), prefill included")
    price = _price_per_gpu_hour(inp["price_book"], inp["hw_id"], inp["purchase"])
    per_h = price * dep.gpus
    per_m = sim.usd_per_million_tokens(per_h, rec["output_tokens_per_s"])
    m[3].metric("$ / M output tokens", fmt_usd(per_m) if ok else "n/a",
                help=f"{fmt_usd(per_h)}/h for {dep.gpus} GPUs ({book_label(inp['price_book'])}, {inp['purchase']}), kept busy "
                     "with this batch back to back")
    m = st.columns(4)
    m[0].metric("Max concurrent sequences", f"{rec['max_concurrent_seqs']:,}",
                help=f"of {inp['input_len'] + inp['output_len']:,} tokens each that fit in the paged KV cache")
    m[1].metric("KV cache capacity", f"{units.human_count(rec['kv_capacity_tokens'])} tokens",
                help=f"{units.human_bytes(rec['kv_cache_bytes_per_seq'])} per sequence")
    m[2].metric("Weights per GPU", units.human_bytes(rec["weights_bytes_per_gpu"]))
    m[3].metric("End to end", units.human_duration(rec["e2e_s"]) if ok else "n/a")
    for text in [f"Engine {dep.engine}: {band_text(rec.get('error_band'))}", *feature_captions(rec, dep)]:
        st.caption(text)  # and speculative decoding, prefix caching: their figures and sources
    _memory_and_step_charts(rec)
    return rec


def _memory_and_step_charts(rec: dict) -> None:
    """Memory per GPU against HBM, and where a mid-generation decode step goes."""
    # GiB, as nvidia-smi and units.human_bytes show device memory (an "80 GB" H100 has 79.6 GiB)
    cap = rec["memory_capacity_bytes"] / units.GIB
    mem = pd.DataFrame({"part": ["weights", "activation workspace", "KV cache budget"],
                        "GiB": [rec["weights_bytes_per_gpu"] / units.GIB, rec["workspace_bytes_per_gpu"] / units.GIB,
                                max(rec["kv_budget_bytes_per_gpu"], 0.0) / units.GIB]})
    total = float(mem.GiB.sum())
    bars = alt.Chart(mem.assign(row=f"{total:.0f} of {cap:.0f} GiB")).mark_bar().encode(
        x=alt.X("GiB:Q", title="GiB per GPU (red line: HBM capacity)", stack="zero",
                scale=alt.Scale(domain=[0, max(total, cap) * 1.05])),
        y=alt.Y("row:N", title=None),
        color=alt.Color("part:N", title=None),
        tooltip=["part", alt.Tooltip("GiB:Q", format=".1f")])
    rule = alt.Chart(pd.DataFrame({"GiB": [cap]})).mark_rule(color="red", strokeWidth=2).encode(x="GiB:Q")
    labels = {**PART_LABELS, "draft": "speculative draft"}  # the draft's forward passes (speculative decoding only)
    prov = rec.get("breakdown_provenance", {})
    parts = pd.DataFrame({"part": [labels[k] for k in labels],
                          "ms": [rec["decode_breakdown_s"].get(k, 0.0) * 1e3 for k in labels],
                          "source": [prov.get(k, {}).get("kind", "") for k in labels],
                          "basis": [prov.get(k, {}).get("basis", "") for k in labels]})
    parts = parts[parts.ms > 0]
    c1, c2 = st.columns(2)
    c1.altair_chart((bars + rule).properties(height=150, title="Memory per GPU"), width="stretch")
    c2.altair_chart(alt.Chart(parts).mark_bar().encode(
        x=alt.X("ms:Q", title="ms per decode step (mid-generation)"),
        y=alt.Y("part:N", sort="-x", title=None, axis=alt.Axis(labelLimit=260, labelOverlap=False)),
        color=alt.Color("source:N", title="comes from"),
        tooltip=["part", alt.Tooltip("ms:Q", format=".3f"), "source", "basis"],
    ).properties(height=34 * len(parts) + 40, title="Where a decode step goes"), width="stretch")


def _curve_section(inp: dict) -> None:
    st.subheader("Latency vs throughput per deployment")
    hw = sim.load_hardware(inp["hw_id"])
    supported = [p for p, q in sim.QUANTIZATIONS.items() if q.compute_dtype in hw.peak_flop_per_s]
    default_prec = [p for p in dict.fromkeys([inp["dep"].precision, "bf16", "fp8"]) if p in supported]
    c1, c2 = st.columns(2)
    tps = c1.multiselect("Tensor parallel sizes", TP_CHOICES, default=[2, 4, 8], key="inf-curve-tp")
    # one selection per hardware and main precision: options change with the hardware, and Streamlit would
    # otherwise keep a selection pruned on a device without fp8 after switching back
    precs = c2.multiselect("Precisions", supported, default=default_prec,
                           key=f"inf-curve-prec-{inp['hw_id']}-{inp['dep'].precision}")
    if not tps or not precs:
        st.info("Pick at least one tensor parallel size and precision.")
        return
    if inp["dep"].ep > 1 or inp["dep"].dp_attention > 1:
        st.caption("These curves shard experts and attention over each TP group (no expert or attention data "
                   "parallelism); the estimate above and the serving simulation use the sidebar's split.")
    got = guarded(_curves, inp["model"], inp["hw_id"], tuple(sorted(tps)), tuple(precs), inp["dep"].kv_precision,
                  inp["dep"].engine, inp["input_len"], inp["output_len"], inp["dep"].speculative, inp["prefix"])
    if got is None:
        return
    df, skipped = got
    if df.empty:
        st.warning("None of these deployments holds one sequence: " + "; ".join(f"{k}: {v}" for k, v in skipped.items()))
        return
    slo_ms = inp["slo"][1] * 1e3
    base = alt.Chart(df).encode(
        x=alt.X("output_tokens_per_s_per_gpu:Q", title="Output tokens/s per GPU", scale=alt.Scale(type="log")),
        y=alt.Y("tpot_ms:Q", title="TPOT (ms per output token)"),
        color=alt.Color("deployment:N", title="Deployment"),
        tooltip=["deployment", "batch", alt.Tooltip("tpot_ms:Q", format=".1f", title="TPOT (ms)"),
                 alt.Tooltip("ttft_ms:Q", format=",.0f", title="TTFT (ms)"),
                 alt.Tooltip("output_tokens_per_s:Q", format=",.0f", title="tok/s"),
                 alt.Tooltip("output_tokens_per_s_per_gpu:Q", format=",.0f", title="tok/s/GPU")])
    lines = base.mark_line(point=True).encode(order="batch:Q")
    rule = alt.Chart(pd.DataFrame({"y": [slo_ms]})).mark_rule(color="red", strokeDash=[5, 3]).encode(y="y:Q")
    drawn = slo_ms <= df.tpot_ms.max() * 1.5
    st.altair_chart((lines + rule if drawn else lines).properties(
        height=380, title="Static batches of 1, 2, 4 ... sequences (points) until the KV cache or the engine's max "
                          "sequences is full"), width="stretch")
    st.caption(f"Each point is a static batch ({inp['input_len']:,} in / {inp['output_len']:,} out); to the right "
               f"trades latency for throughput. The p99 TPOT target is {slo_ms:g} ms"
               f"{' (red dashed line)' if drawn else ', above every point drawn'}.")
    if skipped:
        with st.expander(f"Deployments not drawn ({len(skipped)})"):
            for k, v in skipped.items():
                st.write(f"**{k}**: {v}")
    download_buttons(df, "latency_throughput", "inf-curve")


def _adopt_fleet(tp: int, precision: str, replicas: int) -> None:
    """Button callback: set the sidebar deployment to the capacity planner's answer (before widgets are built)."""
    st.session_state.update({"inf-tp": tp, "inf-prec": precision, "inf-replicas": replicas})


def _capacity_section(inp: dict) -> dict | None:
    st.subheader("Cheapest deployment that holds the SLO")
    ttft, tpot = inp["slo"]
    st.caption(f"Searches TP {'/'.join(map(str, vocab.CANDIDATE_TPS))} x {'/'.join(vocab.CANDIDATE_PRECISIONS)} on {inp['hw_id']}: the highest Poisson rate one replica holds "
               f"with p99 TTFT <= {ttft:g} s and p99 TPOT <= {tpot * 1e3:g} ms (bisection over simulated runs), then "
               f"replicas for {inp['rate']:g} requests/s and their price. Each rate probe simulates "
               f"{vocab.CAPACITY_PROBE_REQUESTS:,} requests, as `simulator capacity` does by default (so both give the "
               f"same answer); a search takes 1-10 s on two cores.")
    sig = (inp["model_id"], inp["model_text"], inp["hw_id"], inp["rate"], inp["slo"], inp["input_len"],
           inp["output_len"], inp["length_dist"], inp["dep"].kv_precision, inp["dep"].engine, inp["price_book"],
           inp["purchase"], inp["seed"], inp["dep"].speculative, inp["prefix"])
    n_probe = vocab.CAPACITY_PROBE_REQUESTS
    plan = run_on_demand("inf-capacity", sig, "Find the cheapest deployment", _capacity, inp["model"], inp["hw_id"],
                          inp["rate"], inp["slo"], inp["input_len"], inp["output_len"], inp["length_dist"], n_probe,
                          inp["dep"].kv_precision, inp["dep"].engine, inp["price_book"], inp["purchase"], inp["seed"],
                          inp["dep"].speculative, inp["prefix"], running="Simulating candidate deployments at rising request rates")
    if plan is None:
        return None
    st.caption(f"Searched in {plan['elapsed_s']:.0f} s, {plan['probe_requests']:,} requests per probe.")
    best = plan["best"]
    if best is None:
        st.error("No deployment meets the SLO at any rate: relax the latency targets or shorten the requests.")
    else:
        st.success(f"**{best['units']} x {best['deployment']}** ({best['gpus']} GPUs) serves {inp['rate']:g} "
                   f"requests/s within the SLO.")
        if not best.get("disaggregated") and int(best["tp"]) in TP_CHOICES and int(best["units"]) <= 256:
            st.button("Use this fleet in the sidebar (then run the serving simulation below)", key="inf-adopt",
                      on_click=_adopt_fleet, args=(int(best["tp"]), best["precision"], int(best["units"])))
        m = st.columns(4)
        m[0].metric("Fleet GPUs", f"{best['gpus']:,}", help=f"{best['units']} replicas of {best['gpus_per_unit']} GPUs")
        m[1].metric("Fleet cost per hour", fmt_usd(best["cost_per_hour_usd"]))
        m[2].metric("Fleet $ / M tokens", fmt_usd(best["cost_per_million_tokens_usd"]), help="input + output tokens")
        m[3].metric("Fleet $ / M output tokens", fmt_usd(best["cost_per_million_output_tokens_usd"]))
        if "verified_ttft_p99_s" in best:
            st.caption(f"Verified at the full rate behind the router: p99 TTFT "
                       f"{units.human_duration(best['verified_ttft_p99_s'])}, p99 TPOT "
                       f"{units.human_duration(best['verified_tpot_p99_s'])} "
                       f"({'meets' if best['verified_meets_slo'] else 'misses'} the SLO). One replica holds "
                       f"{best['max_rate_per_unit_per_s']:.2f} requests/s.")
    rows = pd.DataFrame([r for r in [best, *plan["alternatives"]] if r is not None])
    if len(rows):
        show = rows[["deployment", "gpus", "units", "max_rate_per_unit_per_s", "cost_per_hour_usd",
                     "cost_per_million_tokens_usd", "cost_per_million_output_tokens_usd", "ttft_p99_s_at_max_rate",
                     "tpot_p99_s_at_max_rate"]].copy()
        show["tpot_ms"] = show.pop("tpot_p99_s_at_max_rate") * 1e3  # in the unit of the SLO input
        st.dataframe(show, hide_index=True, width="stretch", column_config={
            "max_rate_per_unit_per_s": st.column_config.NumberColumn("req/s per replica", format="%.2f"),
            "cost_per_hour_usd": st.column_config.NumberColumn("$/h", format="%.2f"),
            "cost_per_million_tokens_usd": st.column_config.NumberColumn("$/M tokens", format="%.3f"),
            "cost_per_million_output_tokens_usd": st.column_config.NumberColumn("$/M output tokens", format="%.3f"),
            "ttft_p99_s_at_max_rate": st.column_config.NumberColumn("p99 TTFT at max (s)", format="%.3f"),
            "tpot_ms": st.column_config.NumberColumn("p99 TPOT at max (ms)", format="%.1f")}, placeholder="—")
        download_buttons(rows, "capacity_plan", "inf-cap")
    if plan["skipped"]:
        with st.expander(f"Deployments skipped ({len(plan['skipped'])})"):
            for k, v in plan["skipped"].items():
                st.write(f"**{k}**: {v}")
    if len(rows):
        capacity_curves(plan, rows, inp)
    return plan


def _export_section(inp: dict) -> None:
    st.subheader("Take this question to the CLI")
    if inp["model_id"] is None:
        st.caption("Scenario export needs a catalog model (an uploaded file has no path the CLI could read).")
        return
    dep = inp["dep"]
    spec = sim.DeploymentSpec(tp=dep.tp, ep=dep.ep, dp_attention=dep.dp_attention, precision=dep.precision,
                              kv_precision=dep.kv_precision, engine=dep.engine,
                              speculative=speculative_fields(dep.speculative))
    name = f"{inp['model_id']} on {dep.gpus} x {inp['hw_id']}"
    c1, c2 = st.columns(2)
    infer = guarded(sim.InferenceScenario, name=name, model=inp["model_id"], hardware=inp["hw_id"], deployment=spec,
                    batch=inp["batch"], input_len=inp["input_len"], output_len=inp["output_len"],
                    prefix_hit_rate=inp["prefix"])
    if infer is not None:
        c1.download_button("Static batch as scenario YAML", sim.scenario_to_yaml(infer), "inference_scenario.yaml",
                           "application/x-yaml", key="inf-export-infer")
    if inp["trace_mode"]:
        c2.caption("A serving scenario carries a synthetic workload; switch to it to export.")
        return
    try:
        serve = sim.ServingScenario(name=name, model=inp["model_id"], hardware=inp["hw_id"], deployment=spec,
                                replicas=inp["replicas"], router=inp["router"], rate_per_s=inp["rate"],
                                arrival=inp["arrival"], requests=inp["n_requests"], input_len=inp["input_len"],
                                output_len=inp["output_len"], length_dist=inp["length_dist"],
                                slo_ttft_s=inp["slo"][0], slo_tpot_s=inp["slo"][1], seed=inp["seed"],
                                prefix_hit_rate=inp["prefix"])
    except Exception:  # noqa: BLE001 - an invalid rate or SLO is already reported above
        c2.caption("Fix the request rate and SLO (positive numbers) to export the serving scenario.")
        return
    c2.download_button("Serving run as scenario YAML", sim.scenario_to_yaml(serve), "serving_scenario.yaml", "application/x-yaml",
                       key="inf-export-serve")
    st.caption("Run with `simulator run FILE.yaml`, or list it in a sweep.")
    with st.expander("Launch settings for this deployment (the engine's own arguments, to copy)"):
        out = guarded(sim.serving_launch, inp["dep"], model=inp["model"], hardware=inp["hw_id"],
                      max_model_len=inp["input_len"] + inp["output_len"], replicas=inp["replicas"])
        for name, text in (out or {}).items():
            st.markdown(f"**{name}**")
            st.code(text, language="bash")


def _check_request_inputs(inp: dict) -> bool:
    """Rate and SLO must be positive: say so once, in words, and skip the parts that need them."""
    rate_ok = guarded(sim.check_rate, inp["rate"]) is not None
    slo_ok = guarded(sim.SLO, *inp["slo"]) is not None
    return rate_ok and slo_ok


def render() -> None:
    st.title("Inference and serving")
    st.caption("What one deployment delivers (static batch, roofline with calibrated efficiencies and engine "
               "overheads), which deployment holds a latency SLO most cheaply, and how a fleet behaves under load "
               "(SimPy serving simulation).")
    inp = _inputs()
    if inp is None:
        return
    rec = _static_section(inp)
    _curve_section(inp)
    st.divider()
    requests_ok = _check_request_inputs(inp)
    plan = None
    if requests_ok or inp["trace_mode"]:
        if requests_ok:
            plan = _capacity_section(inp)
            st.divider()
        serving_section(inp)
    st.divider()
    _export_section(inp)
    st.divider()
    headline = _headline(inp, rec, plan)
    ab_section("inference", SETTINGS, headline, LABELS)
    _report(inp, rec, plan, headline)


def _headline(inp: dict, rec: dict | None, plan: dict | None) -> dict[str, str]:
    """The answers in a few formatted figures (the A/B table and the report)."""
    dep, ok = inp["dep"], bool(rec and rec["feasible"])
    split = f"{f' ep{dep.ep}' if dep.ep > 1 else ''}{f' dp-attn{dep.dp_attention}' if dep.dp_attention > 1 else ''}"
    out = {"deployment": f"tp{dep.tp}{split} {dep.precision} kv-{dep.kv_precision} {dep.engine} on {inp['hw_id']}",
           "static batch TTFT": units.human_duration(rec["ttft_s"]) if ok and rec else "n/a",
           "static batch TPOT": units.human_duration(rec["tpot_s"]) if ok and rec else "n/a",
           "static batch throughput": f"{rec['output_tokens_per_s']:,.0f} tok/s" if ok and rec else "n/a",
           "max concurrent sequences": f"{rec['max_concurrent_seqs']:,}" if rec else "n/a"}
    best = (plan or {}).get("best")
    if best:
        out.update({"cheapest fleet at the rate": f"{best['units']} x {best['deployment']} ({best['gpus']} GPUs)",
                    "fleet $ / M tokens": fmt_usd(best["cost_per_million_tokens_usd"]),
                    "one replica holds": f"{best['max_rate_per_unit_per_s']:.2f} req/s"})
    elif plan is None:
        out["cheapest fleet at the rate"] = "not searched (press 'Find the cheapest deployment')"
    return out


def _report(inp: dict, rec: dict | None, plan: dict | None, headline: dict[str, str]) -> None:
    """The one-page report: inputs, assumptions (engine, price book and its date, band), answers, alternatives."""
    inputs = {LABELS[k]: v for k, v in current(SETTINGS).items()}
    inputs["model"] = inp["model_id"] or f"uploaded file ({inp['model'].name})"
    assumptions = {"engine": f"{inp['dep'].engine} (host overheads and scheduler defaults of the engine family)",
                   "price book": book_summary(inp["price_book"], inp["purchase"]),
                   "error band": band_text(rec.get("error_band")) if rec else "n/a",
                   "capacity probes": f"{vocab.CAPACITY_PROBE_REQUESTS:,} simulated requests per rate probe"}
    tables = []
    if plan and plan.get("best"):
        alts = pd.DataFrame([r for r in [plan["best"], *plan["alternatives"]] if r is not None])
        tables.append(("Deployments that hold the SLO (cheapest first)",
                       alts[["deployment", "gpus", "units", "max_rate_per_unit_per_s", "cost_per_hour_usd",
                             "cost_per_million_tokens_usd"]]))
    report_button("inference", f"Inference: {inputs['model']} on {inp['hw_id']}", inputs=inputs,
                  assumptions=assumptions, answer=headline, tables=tables)
