"""`simulator infer | serve | capacity`: thin shells over inference, serving and capacity, and their tables."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

import simulator as sim
from simulator import limits, units
from simulator.cli.common import (
    EXIT_USAGE,
    batch,
    batched_tokens,
    check_output_path,
    count,
    degree,
    float_range,
    int_range,
    print_rows,
    probe_requests,
    rate,
    replicas,
    requests,
    seconds,
    seed,
    some_replicas,
    tokens,
    user_path,
    warn_no_price,
    write_frame,
)
from simulator.cli.training import add_launch_arg, print_launch
from simulator.errors import PlanError
from simulator.vocab import (
    CANDIDATE_TPS,
    CAPACITY_PROBE_REQUESTS,
    COST_OPTIONS,
    DEFAULT_PRICE_BOOK,
    ENGINE_NAMES,
    KV_PRECISIONS,
    QUANTIZATION_NAMES,
    ROUTER_NAMES,
)


def _engine(text: str) -> str:
    """An engine family or family@version; a version not shipped is refused in one line when the deployment is
    checked (simulator.catalog.engines)."""
    if text.split("@")[0] not in ENGINE_NAMES:
        raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from {', '.join(ENGINE_NAMES)}, "
                                         "optionally as NAME@VERSION)")
    return text


def _deployment_args(p: argparse.ArgumentParser, many: bool = False) -> None:
    p.add_argument("--model", required=True, type=user_path("a model id or path"), help="model id (see `simulator list models`) or path to a model YAML")
    p.add_argument("--hardware", required=True, type=user_path("a hardware id or path"), help="accelerator id or path to a profile YAML")
    nargs = "+" if many else None
    p.add_argument("--tp", type=degree, nargs=nargs, default=list(CANDIDATE_TPS) if many else 1, help="tensor parallel size")
    p.add_argument("--pp", type=degree, nargs=nargs, default=[1] if many else 1, help="pipeline parallel size")
    p.add_argument("--precision", nargs=nargs, default=None if many else "bf16", choices=QUANTIZATION_NAMES,
                   help="weights/activations scheme (int8-wo, int4: weight-only)")
    p.add_argument("--kv-precision", nargs=nargs, default=["bf16"] if many else "bf16", choices=KV_PRECISIONS)
    p.add_argument("--engine", default="vllm", type=_engine, metavar="NAME[@VERSION]",
                   help=f"engine family ({', '.join(ENGINE_NAMES)}), its default version, or NAME@VERSION "
                        "(workloads/engines/NAME.yaml: host overheads, scheduler limits, KV-memory rule)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _moe_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ep", type=degree, default=1, help="expert parallel size inside the TP group (MoE)")
    p.add_argument("--dp-attention", type=degree, default=1,
                   help="attention data parallelism: tp/N GPUs per attention group, each with its own sequences and "
                        "KV cache; MoE layers use all tp GPUs (SGLang --enable-dp-attention, TensorRT-LLM "
                        "enable_attention_dp; default 1)")


# speculative decoding and prefix caching: the bounds of simulator.limits, as the scenario files and the API have them
spec_tokens = int_range(1, limits.MAX_SPECULATIVE_TOKENS, "a number of drafted tokens")
acceptance = float_range(0.0, 1.0, "an acceptance rate", low_open=True)
fraction = float_range(0.0, 1.0, "a fraction")
draft_layers = float_range(0.0, limits.MAX_DRAFT_LAYERS, "a number of layers", low_open=True)
prefix_tokens = int_range(0, limits.MAX_TOKENS, "a token count")


def _feature_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("speculative decoding and prefix caching (off unless given)")
    g.add_argument("--num-speculative-tokens", type=spec_tokens, metavar="K",
                   help="tokens a draft proposes per step, verified in one pass (with --acceptance-rate)")
    g.add_argument("--acceptance-rate", type=acceptance, metavar="A",
                   help="probability each drafted token is accepted, in (0, 1]: your draft's figure on your traffic")
    g.add_argument("--draft-model", type=user_path("a draft model id or path"),
                   help="a separate draft model sharing the tokenizer; without it, MTP/EAGLE heads on the target")
    g.add_argument("--draft-tp", type=degree, help="the draft model's tensor parallel size (default the target's)")
    g.add_argument("--draft-layers", type=draft_layers, default=1.0,
                   help="MTP/EAGLE heads: layers of the target's shape per draft step (default 1; 0.5: half a layer)")
    g.add_argument("--prefix-hit-rate", type=fraction, default=0.0, metavar="H",
                   help="share of each prompt served from the prefix cache, in [0, 1] (default 0)")
    g.add_argument("--prefix-tokens", type=prefix_tokens, default=0, metavar="N",
                   help="or a prefix of N tokens every prompt shares (a system prompt)")


def _speculative(a: argparse.Namespace) -> Any:
    """The SpeculativeDecoding the flags ask for (None when none is given)."""
    draft = a.draft_model is not None or a.draft_tp is not None or a.draft_layers != 1.0
    if a.num_speculative_tokens is None and a.acceptance_rate is None and not draft:
        return None
    if a.num_speculative_tokens is None or a.acceptance_rate is None:
        raise PlanError("speculative decoding needs both --num-speculative-tokens K and --acceptance-rate A (the "
                        "share of drafted tokens your draft gets accepted, e.g. 0.7)")
    return sim.SpeculativeDecoding(a.num_speculative_tokens, a.acceptance_rate, draft_model=a.draft_model,
                                   draft_tp=a.draft_tp, draft_layers=a.draft_layers)


def _prefix(a: argparse.Namespace) -> dict[str, Any]:
    return {"prefix_hit_rate": a.prefix_hit_rate, "prefix_tokens": a.prefix_tokens}


def feature_rows(rec: dict[str, Any]) -> list[tuple[str, str]]:
    """Rows for the serving features in use, each figure with where it comes from (none when they are off)."""
    rows = []
    sp = rec.get("speculative")
    if sp:
        draft = (f"draft {sp['draft_model']}" + (f" tp{sp['draft_tp']}" if sp["draft_tp"] else "")
                 if sp["method"] == "draft" else f"MTP/EAGLE heads x{sp['draft_layers']:g} layer(s)")
        rows.append(("speculative", f"k={sp['num_speculative_tokens']}, acceptance {sp['acceptance_rate']:g} "
                                    f"({sp['acceptance_source']}), {draft}: {sp['tokens_per_step']:.3g} tokens per "
                                    "verify step (Leviathan et al. 2023, eq. 1)"))
    pc = rec.get("prefix_cache")
    if pc and "cached_tokens_per_request" in pc:
        what = (f"hit rate {pc['hit_rate']:g}" if pc["hit_rate"] else f"shared prefix {pc['shared_prefix_tokens']:,}")
        rows.append(("prefix cache", f"{pc['cached_tokens_per_request']:,} of {pc['prompt_tokens']:,} prompt tokens "
                                     f"cached per request ({what}, {pc['source']}); {pc['shared_blocks']:,} shared "
                                     "KV blocks held once"))
    elif pc:
        rows.append(("prefix cache", f"{pc['cached_share']:.1%} of prompt tokens cached (mean {pc['cached_tokens_mean']:,.0f}"
                                     f" of {pc['prompt_tokens_mean']:,.0f}; {pc['source']}); "
                                     f"{pc['shared_blocks_per_engine']:,} shared KV blocks per engine"))
    return rows


def register(subparsers) -> None:
    """Add the `infer`, `serve` and `capacity` subcommands to the main parser."""
    i = subparsers.add_parser("infer", help="static-batch inference estimate (prefill, decode, memory)")
    _deployment_args(i)
    _moe_args(i)
    i.add_argument("--batch", type=batch, default=1, help="sequences decoded together (default 1)")
    i.add_argument("--max-batch", type=batch, help="engine cap on sequences per iteration (engine default otherwise; per "
                                                      "attention group with --dp-attention on vLLM and TensorRT-LLM)")
    i.add_argument("--input-len", type=tokens, required=True)
    i.add_argument("--output-len", type=tokens, required=True)
    _feature_args(i)
    add_launch_arg(i, "deployment (max model length: input + output)")
    i.set_defaults(func=cmd_infer)

    s = subparsers.add_parser("serve", help="simulate a serving deployment (SimPy) and summarise latencies")
    _deployment_args(s)
    _moe_args(s)
    s.add_argument("--replicas", type=replicas, default=1)
    s.add_argument("--rate", type=rate, help="requests per second (Poisson unless --arrival says otherwise)")
    s.add_argument("--arrival", default="poisson", type=user_path("an arrival process"), help="poisson | gamma[:CV] | offline (all at t=0)")
    s.add_argument("--concurrency", type=requests, help="closed loop with this many users (instead of --rate)")
    s.add_argument("--requests", type=requests, help="number of requests to simulate (default 1000; with --trace: its "
                                                 "first N requests, default all)")
    s.add_argument("--input-len", type=tokens, default=512)
    s.add_argument("--output-len", type=tokens, default=128)
    s.add_argument("--length-dist", default="fixed", type=user_path("a length distribution"), help="fixed | lognormal[:CV] | sharegpt | cnn_dailymail[:CV] | empirical:FILE")
    s.add_argument("--trace", type=user_path("a trace file"), help="CSV/Parquet with arrival_s, prompt_tokens, output_tokens")
    s.add_argument("--max-batch", type=batch, help="max sequences per iteration (engine default otherwise; per "
                                                      "attention group with --dp-attention on vLLM and TensorRT-LLM)")
    s.add_argument("--max-batched-tokens", type=batched_tokens, help="token budget per iteration (chunked prefill)")
    s.add_argument("--router", default="least_outstanding", choices=ROUTER_NAMES)
    s.add_argument("--prefill-replicas", type=some_replicas, default=0, help="with --decode-replicas: disaggregated P/D")
    s.add_argument("--decode-replicas", type=some_replicas, default=0)
    s.add_argument("--slo-ttft", type=seconds, default=math.inf, help="seconds, for goodput")
    s.add_argument("--slo-tpot", type=seconds, default=math.inf, help="seconds, for goodput")
    s.add_argument("--max-time", type=seconds, help="stop at this simulated time (s)")
    s.add_argument("--seed", type=seed, default=0)
    s.add_argument("--records", type=user_path("a file name"), help="write per-request records to this .csv or .parquet file")
    s.add_argument("--timeseries", type=user_path("a file name"), help="write KV occupancy over time to this .csv or .parquet file")
    _feature_args(s)
    add_launch_arg(s, "deployment, one instance per replica")
    s.set_defaults(func=cmd_serve)

    _register_capacity(subparsers)


def _register_capacity(subparsers) -> None:
    c = subparsers.add_parser("capacity", help="cheapest deployment that holds a latency SLO at a request rate")
    _deployment_args(c, many=True)
    c.add_argument("--rate", type=rate, required=True, help="target requests per second")
    c.add_argument("--slo-ttft-p99", type=seconds, default=2.0, help="seconds")
    c.add_argument("--slo-tpot-p99", type=seconds, default=0.1, help="seconds")
    c.add_argument("--input-len", type=tokens, required=True)
    c.add_argument("--output-len", type=tokens, required=True)
    c.add_argument("--length-dist", default="fixed", type=user_path("a length distribution"), help="fixed | lognormal[:CV] | sharegpt | cnn_dailymail[:CV] | empirical:FILE")
    c.add_argument("--max-batch", type=batch, nargs="+", default=[None], help="max sequences values to try")
    c.add_argument("--disaggregated", nargs="+", default=[], metavar="P:D",
                   help="also try prefill:decode ratios, e.g. 1:1 1:2")
    c.add_argument("--requests", type=probe_requests, default=CAPACITY_PROBE_REQUESTS,
                   help=f"requests per simulated probe (default {CAPACITY_PROBE_REQUESTS}, as the app)")
    c.add_argument("--price-book", type=user_path("a price book id or path"), help=f"price book id or path (default {DEFAULT_PRICE_BOOK})")
    c.add_argument("--purchase", default="on_demand", choices=COST_OPTIONS,
                   help="rental option, or owned: amortised purchase + facility + electricity per busy GPU-hour "
                        "(needs a price book with owned figures, e.g. --price-book owned-colo-2025-03)")
    c.add_argument("--top", type=count, default=5, help="alternatives to list after the cheapest (default 5)")
    c.add_argument("--seed", type=seed, default=0)
    _feature_args(c)
    c.set_defaults(func=cmd_capacity)


def _load(a: argparse.Namespace) -> tuple[Any, Any]:
    return sim.load_model(a.model), sim.load_hardware(a.hardware)


def band_line(band: dict[str, Any] | None) -> str:
    """Where published measurements of the engine, hardware generation and scale landed (simulator.band_words)."""
    return sim.band_words(band) if band else "n/a"


def provenance_line(rec: dict[str, Any]) -> str:
    """The breakdown's terms grouped by where they come from ("linear, attention: measured curve; ...")."""
    kinds: dict[str, list[str]] = {}
    for term, p in rec.get("breakdown_provenance", {}).items():
        if p["kind"] != "none" and rec["decode_breakdown_s"].get(term, 0.0) > 0:
            kinds.setdefault(p["kind"], []).append(term)
    return "; ".join(f"{', '.join(terms)}: {kind}" for kind, terms in kinds.items()) or "n/a"


def infer_rows(rec: dict[str, Any]) -> list[tuple[str, str]]:
    """The `infer` table of an estimate_inference record (also `simulator run` on an inference scenario)."""
    ok = rec["feasible"]
    step = rec.get("decode_step_s", rec["tpot_s"])  # speculative: a verify step yields several tokens
    return [
        ("feasible", f"{rec['feasible']}{'  (' + rec['reason'] + ')' if rec['reason'] else ''}"),
        # latencies of a batch that cannot run would be fiction (the app shows n/a too)
        ("TTFT", units.human_duration(rec["ttft_s"]) if ok else "n/a"),
        ("TPOT", units.human_duration(rec["tpot_s"]) if ok else "n/a"),
        ("error band", band_line(rec.get("error_band"))),
        ("end to end", units.human_duration(rec["e2e_s"]) if ok else "n/a"),
        ("output tokens/s", f"{rec['output_tokens_per_s']:,.0f} ({rec['output_tokens_per_s_per_gpu']:,.0f} per GPU)"
         if ok else "n/a"),
        ("weights per GPU", units.human_bytes(rec["weights_bytes_per_gpu"])),
        ("KV cache per seq", units.human_bytes(rec["kv_cache_bytes_per_seq"])),
        ("max concurrent", f"{rec['max_concurrent_seqs']:,} sequences ({rec['kv_capacity_tokens']:,} KV tokens)"),
        ("decode step", ", ".join(f"{k} {v / step:.0%}" for k, v in rec["decode_breakdown_s"].items()
                                  if v > 0 and step > 0)),
        ("from", provenance_line(rec)),
        *feature_rows(rec),
    ]


def cmd_infer(a: argparse.Namespace) -> int:
    model, hw = _load(a)
    dep = sim.Deployment(tp=a.tp, pp=a.pp, ep=a.ep, dp_attention=a.dp_attention, precision=a.precision,
                         kv_precision=a.kv_precision, engine=a.engine, max_seqs=a.max_batch, speculative=_speculative(a))
    rec = sim.estimate_inference(model, hw, dep, batch=a.batch, input_len=a.input_len, output_len=a.output_len,
                                 **_prefix(a)).to_dict()
    if a.launch is not None:
        rec["launch"] = sim.serving_launch(dep, model=model, hardware=hw, formats=a.launch or None,
                                           max_model_len=a.input_len + a.output_len)
    if a.json:
        print(units.dumps_json(rec))
    else:
        print(f"{model.id} on {dep.gpus} x {hw.id}: {dep.label()}, batch {a.batch}, {a.input_len} in / {a.output_len} out")
        print_rows(infer_rows(rec))
        print_launch(rec.get("launch"))
    if not rec["feasible"]:
        hint = " (raise it with --max-batch)" if a.batch > dep.seq_cap else ""
        sys.stderr.write(f"simulator: infeasible deployment: {rec['reason']}{hint}\n")
        return EXIT_USAGE
    return 0


def _split_opt(text: str) -> tuple[str, str | None]:
    name, _, arg = text.partition(":")
    return name, (arg or None)


def _length_options(text: str) -> tuple[str, float, object]:
    """--length-dist NAME[:ARG] -> (distribution, lognormal cv, empirical lengths table or None)."""
    dist, darg = _split_opt(text)
    empirical = None
    if dist == "empirical":
        if not darg:
            raise PlanError("--length-dist empirical needs a file: empirical:PATH")
        empirical = sim.read_trace(darg)
        sim.workload_from_trace(empirical, darg, need_arrivals=False)  # validates the columns
    try:
        length_cv = float(darg) if darg and dist in ("lognormal", "cnn_dailymail") else 1.0
    except ValueError:
        raise PlanError(f"bad number in --length-dist {text!r}; use lognormal:CV, e.g. lognormal:0.5") from None
    return dist, length_cv, empirical


def _workload(a: argparse.Namespace) -> Any:
    if a.trace:
        if a.rate is not None or a.concurrency is not None:
            raise PlanError("--trace sets the arrival times itself; drop --rate and --concurrency")
        wl = sim.workload_from_trace(sim.read_trace(a.trace), a.trace)
        if a.requests is not None:  # the first N requests of the trace
            if a.requests < 1:
                raise PlanError(f"--requests must be a positive integer, got {a.requests!r}")
            wl = sim.Workload(wl.arrival_s[:a.requests], wl.prompt_tokens[:a.requests], wl.output_tokens[:a.requests])
        return sim.with_prefix(wl, a.prefix_hit_rate, a.prefix_tokens)
    if a.rate is not None and a.concurrency is not None:
        raise PlanError("give either --rate (open loop) or --concurrency (closed loop), not both")
    arrival, cv = _split_opt(a.arrival)
    if a.concurrency is None and arrival != "offline" and a.rate is None:
        raise PlanError("serve needs --rate (requests/s), --concurrency, --arrival offline or --trace")
    dist, length_cv, empirical = _length_options(a.length_dist)
    try:
        arrival_cv = float(cv) if cv else 2.0
    except ValueError:
        raise PlanError(f"bad number in --arrival {a.arrival!r}; use gamma:CV, e.g. gamma:2") from None
    return sim.make_workload(1000 if a.requests is None else a.requests, input_len=a.input_len, output_len=a.output_len,
                         arrival="offline" if a.concurrency else arrival, rate_per_s=a.rate, arrival_cv=arrival_cv,
                         length_dist=dist, length_cv=length_cv, empirical=empirical, seed=a.seed, **_prefix(a))


def _offered(s: dict[str, Any]) -> str:
    """Served beside offered: a short run's throughput sits below the arrival rate while requests are in flight."""
    rate = s.get("offered_requests_per_s")
    return f" of {rate:.2f} offered" if rate and math.isfinite(rate) else ""


def serve_rows(s: dict[str, Any]) -> list[tuple[str, str]]:
    """The `serve` table of a serving summary (also `simulator run` on a serving scenario)."""
    q = lambda k: units.human_duration(s[k])  # noqa: E731
    return [
        ("completed", f"{s['requests_completed']:,} of {s['requests_total']:,} ({s['requests_rejected']} rejected, "
                      f"{s['preemptions']} preemptions)"),
        ("TTFT p50/p90/p99", f"{q('ttft_p50_s')} / {q('ttft_p90_s')} / {q('ttft_p99_s')}"),
        ("TPOT p50/p90/p99", f"{q('tpot_p50_s')} / {q('tpot_p90_s')} / {q('tpot_p99_s')}"),
        ("error band", band_line(s.get("error_band"))),
        ("E2E p50/p90/p99", f"{q('e2e_p50_s')} / {q('e2e_p90_s')} / {q('e2e_p99_s')}"),
        ("throughput", f"{s['throughput_requests_per_s']:.2f} req/s{_offered(s)}, "
                       f"{s['throughput_output_tokens_per_s']:,.0f} output tok/s"),
        ("goodput", f"{s['goodput_requests_per_s']:.2f} req/s ({s['slo_attainment']:.1%} within SLO)"),
        # the share of time an iteration ran, however small its batch: not how busy the GPUs were
        ("iterating / KV", f"{s['gpu_busy_fraction']:.1%} of the time, KV occupancy mean "
                           f"{s['kv_occupancy_mean']:.1%} max {s['kv_occupancy_max']:.1%}"),
        ("simulation", f"{s['sim_events']:,} events, seed {s['seed']}"),
        *feature_rows(s),
    ]


def cmd_serve(a: argparse.Namespace) -> int:
    check_output_path(a.records, "--records")
    check_output_path(a.timeseries, "--timeseries")
    model, hw = _load(a)
    dep = sim.Deployment(tp=a.tp, pp=a.pp, ep=a.ep, dp_attention=a.dp_attention, precision=a.precision,
                         kv_precision=a.kv_precision, engine=a.engine, max_seqs=a.max_batch,
                         max_batched_tokens=a.max_batched_tokens, speculative=_speculative(a))
    if a.concurrency is not None and a.concurrency < 1:
        raise PlanError(f"--concurrency must be a positive number of users, got {a.concurrency!r}")
    if a.rate is not None:
        sim.check_rate(a.rate)
    for flag, value in (("--slo-ttft", a.slo_ttft), ("--slo-tpot", a.slo_tpot)):
        if not value > 0:  # NaN fails too; the default (no target) is inf
            raise PlanError(f"{flag} must be a positive number of seconds, got {value!r}")
    if (a.prefill_replicas > 0) != (a.decode_replicas > 0):
        raise PlanError("disaggregation needs both --prefill-replicas and --decode-replicas")
    if a.prefill_replicas > 0 and a.replicas != 1:
        raise PlanError("--replicas counts colocated replicas; with --prefill-replicas/--decode-replicas drop it")
    cfg = sim.ServingConfig(dep, replicas=a.replicas, router=a.router, prefill_replicas=a.prefill_replicas,
                        decode_replicas=a.decode_replicas, slo_ttft_s=a.slo_ttft, slo_tpot_s=a.slo_tpot,
                        max_time_s=a.max_time)
    launch = None if a.launch is None else sim.serving_launch(  # before the simulation: a bad format fails fast
        dep, model=model, hardware=hw, formats=a.launch or None, disaggregated=cfg.disaggregated,
        replicas=a.prefill_replicas + a.decode_replicas if cfg.disaggregated else a.replicas,
        max_model_len=a.input_len + a.output_len if a.trace is None and a.length_dist == "fixed" else None)
    res = sim.simulate_serving(model, hw, cfg, _workload(a), seed=a.seed, concurrency=a.concurrency)
    if a.records:
        write_frame(res.requests, a.records, "--records")
    if a.timeseries:
        write_frame(res.timeseries, a.timeseries, "--timeseries")
    s = res.summary
    if a.json:  # the same identifying fields as `infer --json`
        print(units.dumps_json({"model": model.id, "hardware": hw.id, "deployment": dep.label(), **s,
                                **({"launch": launch} if launch is not None else {})}))
    else:
        print(f"{model.id} on {s['gpus']} x {hw.id}: {dep.label()}, "
              f"{'disaggregated' if cfg.disaggregated else str(a.replicas) + ' replica(s)'}, router {a.router}")
        print_rows(serve_rows(s))
        print_launch(launch)
    if s["overloaded"]:
        sys.stderr.write(f"simulator: overloaded: {s['overload_reason']}\n")
    if s["requests_rejected"]:
        sys.stderr.write(f"simulator: {s['requests_rejected']} requests rejected: {s['rejection_reason']}\n")
    return 0


def _money(x: float, width: int, digits: int) -> str:
    return f"{x:>{width}.{digits}f}" if x is not None and math.isfinite(x) else f"{'-':>{width}}"


def _ratio(text: str) -> tuple[int, int]:
    try:
        p, d = (int(x) for x in text.split(":"))
    except ValueError:
        raise PlanError(f"--disaggregated expects P:D ratios like 1:2, got {text!r}") from None
    if p < 1 or d < 1:
        raise PlanError(f"--disaggregated ratio {text!r} needs positive counts")
    return p, d


def cmd_capacity(a: argparse.Namespace) -> int:
    model, hw = _load(a)
    dist, length_cv, empirical = _length_options(a.length_dist)
    spec = _speculative(a)
    space = sim.CandidateSpace(tps=tuple(a.tp), pps=tuple(a.pp), precisions=None if a.precision is None else tuple(a.precision),
                           kv_precisions=tuple(a.kv_precision), max_seqs=tuple(a.max_batch), engine=a.engine,
                           speculative=spec)
    plan = sim.plan_capacity(model, hw, rate_per_s=a.rate, slo=sim.SLO(a.slo_ttft_p99, a.slo_tpot_p99),
                         input_len=a.input_len, output_len=a.output_len, length_dist=dist, length_cv=length_cv,
                         empirical=empirical, n_requests=a.requests, space=space,
                         disaggregation=tuple(_ratio(r) for r in a.disaggregated),
                         price_book=a.price_book, purchase=a.purchase, top=a.top + 1, seed=a.seed, **_prefix(a))
    features = {**({"speculative": spec.to_dict()} if spec is not None else {}),
                **({"prefix_cache": {"hit_rate": a.prefix_hit_rate, "shared_prefix_tokens": a.prefix_tokens,
                                     "source": "user-stated"}} if a.prefix_hit_rate or a.prefix_tokens else {})}
    out = {"model": model.id, "hardware": hw.id, **plan.to_dict(), **features}
    if plan.best is not None and not math.isfinite(plan.best["cost_per_hour_usd"]):
        warn_no_price(a.price_book, a.purchase, hw.id, "deployments are ranked by GPU count and costs are left empty")
    if a.json:
        print(units.dumps_json(out))
    else:
        print(f"{model.id} on {hw.id}: {a.rate} req/s, {a.input_len} in / {a.output_len} out, "
              f"SLO p99 TTFT <= {a.slo_ttft_p99} s, p99 TPOT <= {a.slo_tpot_p99} s; each rate probe simulates "
              f"{plan.probe_requests:,} requests (--requests)")
        if spec is not None:
            print(f"  speculative: {spec.describe()}")
        if a.prefix_hit_rate or a.prefix_tokens:
            print(f"  prefix cache: {f'hit rate {a.prefix_hit_rate:g}' if a.prefix_hit_rate else f'shared prefix {a.prefix_tokens:,} tokens'} of each prompt (user-stated)")
        header = f"{'':2}{'deployment':<60} {'GPUs':>5} {'req/s/unit':>10} {'$/h':>9} {'$/M tok':>8}"
        print(header)
        for tag, r in [("*", plan.best)] + [(" ", r) for r in plan.alternatives]:
            if r is not None:
                print(f"{tag:2}{r['deployment']:<60} {r['gpus']:>5} {r['max_rate_per_unit_per_s']:>10.2f} "
                      f"{_money(r['cost_per_hour_usd'], 9, 2)} {_money(r['cost_per_million_tokens_usd'], 8, 3)}")
    if plan.best is None:
        why = "; ".join(f"{k}: {v}" for k, v in list(plan.skipped.items())[:3])
        more = f" (+{len(plan.skipped) - 3} more; --json lists them)" if len(plan.skipped) > 3 else ""
        sys.stderr.write(f"simulator: no deployment meets the SLO ({why}{more}); relax the SLO, or try more tensor "
                         "parallelism (--tp) or another --precision\n")
        return EXIT_USAGE
    return 0
