"""`simulator lifecycle`: training and inference cost over a model's life (a thin shell over simulator.plan_lifecycle
and simulator.lifecycle_sweep) and its table."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import simulator as sim
from simulator import limits, units
from simulator.cli.common import (
    EXIT_USAGE,
    batch,
    degree,
    float_range,
    gpus,
    int_range,
    probe_requests,
    progress_bar,
    seconds,
    seed,
    tokens,
    train_tokens,
    user_path,
    workers,
)
from simulator.vocab import CANDIDATE_TPS, COST_OPTIONS, DEFAULT_PRICE_BOOK, ENGINE_NAMES, PRECISIONS

loss = float_range(0, limits.MAX_LOSS_NATS, "a loss in nats per token", low_open=True)
per_day = float_range(0, limits.MAX_TOKENS_PER_DAY, "tokens a day", low_open=True)
requests_per_day = float_range(0, limits.MAX_REQUESTS_PER_DAY, "requests a day", low_open=True)
months = float_range(0, limits.MAX_DEPLOYMENT_MONTHS, "months", low_open=True)
candidate_count = int_range(1, limits.MAX_LIFECYCLE_CANDIDATES, "a number of model sizes")


def _cpus() -> int:
    """CPUs this process may use, at most 8."""
    try:
        return max(1, min(8, len(os.sched_getaffinity(0))))
    except AttributeError:  # no affinity call on this platform
        return max(1, min(8, os.cpu_count() or 1))


def _target_args(p: argparse.ArgumentParser) -> None:
    t = p.add_argument_group("quality target (one of)")
    t.add_argument("--target-loss", type=loss, help="loss in nats per token under the fit (above its irreducible E)")
    t.add_argument("--reference-model", type=user_path("a model id or path"),
                   help="match this model's predicted loss (with --reference-tokens)")
    t.add_argument("--reference-tokens", type=train_tokens, help="tokens the reference model was trained on (15e12)")
    t.add_argument("--scaling-law", default="hoffmann2022", type=user_path("a scaling-law id or path"),
                   help="the fit (workloads/scaling_laws/: hoffmann2022, besiroglu2024) or a path to your own")
    t.add_argument("--family", default="llama3", type=user_path("a model family id or path"),
                   help="how candidate shapes scale (workloads/scaling_laws/families/); the fit must cover it")
    t.add_argument("--candidates", type=candidate_count, default=6,
                   help="model sizes from the smallest that reaches the target to the compute-optimal (default 6)")
    t.add_argument("--compression", nargs="*", type=user_path("a compression method id or path"),
                   help="compression methods to compare (workloads/scaling_laws/compression/; default fp8 int4-awq "
                        "distill minitron); give the flag alone for none")


def _train_args(p: argparse.ArgumentParser) -> None:
    t = p.add_argument_group("training")
    t.add_argument("--train-hardware", default="h100-sxm-80gb", type=user_path("a hardware id or path"))
    t.add_argument("--train-gpus", type=gpus, default=1024, help="GPUs of the training cluster (default 1024)")
    t.add_argument("--global-batch", type=batch, default=1024, help="sequences per step (default 1024)")
    t.add_argument("--seq-len", type=tokens, default=4096, help="tokens per training sequence (default 4096)")
    t.add_argument("--train-price-book", type=user_path("a price book id or path"),
                   help=f"default {DEFAULT_PRICE_BOOK}")
    t.add_argument("--train-purchase", default="on_demand", choices=COST_OPTIONS)
    t.add_argument("--train-precision", nargs="+", default=["bf16"], choices=PRECISIONS,
                   help="GEMM precisions the plan search may use (default bf16)")
    t.add_argument("--stack", type=user_path("a stack id or path"), help="training software stack (default the planner's)")


def _serve_args(p: argparse.ArgumentParser) -> None:
    s = p.add_argument_group("serving and demand")
    s.add_argument("--serve-hardware", default="h100-sxm-80gb", type=user_path("a hardware id or path"))
    s.add_argument("--engine", default="vllm", choices=ENGINE_NAMES)
    s.add_argument("--serve-price-book", type=user_path("a price book id or path"), help=f"default {DEFAULT_PRICE_BOOK}")
    s.add_argument("--serve-purchase", default="on_demand", choices=COST_OPTIONS)
    s.add_argument("--tp", type=degree, nargs="+", default=list(CANDIDATE_TPS), help="tensor-parallel sizes to try")
    d = s.add_mutually_exclusive_group(required=True)
    d.add_argument("--tokens-per-day", type=per_day, nargs="+",
                   help="prompt + output tokens served a day; several values sweep the demand")
    d.add_argument("--requests-per-day", type=requests_per_day, help="requests served a day")
    s.add_argument("--input-len", type=tokens, default=1024, help="prompt tokens of a request (default 1024)")
    s.add_argument("--output-len", type=tokens, default=256, help="output tokens of a request (default 256)")
    s.add_argument("--slo-ttft-p99", type=seconds, default=2.0, help="seconds (default 2)")
    s.add_argument("--slo-tpot-p99", type=seconds, default=0.1, help="seconds (default 0.1)")
    s.add_argument("--deployment-months", type=months, default=12.0, help="months the model is served (default 12)")
    s.add_argument("--requests", type=probe_requests, help="requests each capacity probe simulates (default 200; "
                                                             "`simulator capacity --requests` to compare)")
    s.add_argument("--seed", type=seed, default=0)
    s.add_argument("--workers", type=workers, default=_cpus(),
                   help=f"processes running the serving simulations of different models at once (default {_cpus()}, "
                        "the CPUs this process may use, at most 8)")


def register(subparsers: Any) -> None:
    """Add the `lifecycle` subcommand."""
    p = subparsers.add_parser("lifecycle", help="training + serving cost over a model's life: model size x training "
                                                "tokens (and compression) at a target quality")
    _target_args(p)
    _train_args(p)
    _serve_args(p)
    p.add_argument("--top", type=int_range(1, limits.MAX_TOP, "a number of rows"), default=12,
                   help="options in the table (default 12)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="a progress bar on stderr (default: when stderr is a terminal)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_lifecycle)


def _kwargs(a: argparse.Namespace) -> dict[str, Any]:
    kw: dict[str, Any] = {
        "target_loss": a.target_loss, "reference_model": a.reference_model, "reference_tokens": a.reference_tokens,
        "family": a.family, "scaling_law": a.scaling_law, "train_hardware": a.train_hardware,
        "train_gpus": a.train_gpus, "global_batch": a.global_batch, "seq_len": a.seq_len,
        "train_price_book": a.train_price_book, "train_purchase": a.train_purchase,
        "train_precisions": tuple(a.train_precision), "stack": a.stack, "serve_hardware": a.serve_hardware,
        "engine": a.engine, "serve_price_book": a.serve_price_book, "serve_purchase": a.serve_purchase,
        "input_len": a.input_len, "output_len": a.output_len, "slo": sim.SLO(a.slo_ttft_p99, a.slo_tpot_p99),
        "deployment_months": a.deployment_months, "candidates": a.candidates, "tps": tuple(a.tp), "seed": a.seed,
        "workers": a.workers}
    if a.compression is not None:
        kw["compression"] = tuple(a.compression)
    if a.requests is not None:
        kw["probe_requests"] = a.requests
    return kw


def _money(x: Any) -> str:
    return units.human_usd(x) if isinstance(x, (int, float)) and x == x else "-"


def print_plan(plan: Any, top: int) -> None:
    """The table of a lifecycle plan: the question, then the options cheapest first (* the chosen one)."""
    i, d = plan.inputs, plan.demand
    print(f"target: {i['target']} -> loss {i['target_loss']:.4f} nats/token under {i['scaling_law']}; family "
          f"{i['family']}")
    print(f"demand: {d['tokens_per_day']:.3g} tokens/day ({d['rate_per_s']:.3g} req/s of {i['input_len']} in + "
          f"{i['output_len']} out) for {i['deployment_months']:g} months = {d['lifetime_tokens']:.3g} tokens; serving "
          f"on {i['serve_hardware']} ({i['engine']}), SLO p99 TTFT {i['slo_ttft_p99_s']:g} s, TPOT "
          f"{i['slo_tpot_p99_s']:g} s; training on {i['train_gpus']:,} x {i['train_hardware']}")
    print(f"  {'option':<46} {'params':>7} {'loss':>7} {'train':>9} {'days':>6} {'GPUs':>6} {'serve':>9} "
          f"{'total':>9}  {'band (train + serve)':<21}")
    for r in plan.options[:top]:
        mark = "*" if plan.chosen is not None and r["option"] == plan.chosen["option"] else " "
        lo_hi = r.get("total_cost_range_usd")
        band = f"{_money(lo_hi[0])}-{_money(lo_hi[1])}" if lo_hi else ""
        loss_txt = f"{r['predicted_loss']:.4f}" if r["predicted_loss"] is not None else "?"
        if not r["feasible"]:
            print(f"{mark} {r['option'][:46]:<46} {r['params'] / 1e9:>6.1f}B {loss_txt:>7}  {r['reason'][:70]}")
            continue
        print(f"{mark} {r['option'][:46]:<46} {r['params'] / 1e9:>6.1f}B {loss_txt:>7} {_money(r['train_cost_usd']):>9} "
              f"{r['train_days']:>6.1f} {r['serve_gpus']:>6,} {_money(r['serve_cost_usd']):>9} "
              f"{_money(r['total_cost_usd']):>9}  {band}")
    if len(plan.options) > top:
        print(f"  ... {len(plan.options) - top} more (--top, or --json for every option)")


def _progress(a: argparse.Namespace, unit: str) -> tuple[Any, Any]:
    show = a.progress if a.progress is not None else sys.stderr.isatty()
    if not show:
        return None, None
    bar = progress_bar(0, unit)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()
    return bar, progress


def cmd_lifecycle(a: argparse.Namespace) -> int:
    kw = _kwargs(a)
    sweep = a.tokens_per_day is not None and len(a.tokens_per_day) > 1
    bar, progress = _progress(a, "demand" if sweep else "option")
    try:
        if sweep:
            result = sim.lifecycle_sweep(tokens_per_day=a.tokens_per_day, progress=progress, **kw)
            plans = result.plans
        else:
            tpd = a.tokens_per_day[0] if a.tokens_per_day else None
            plans = [sim.plan_lifecycle(tokens_per_day=tpd, requests_per_day=a.requests_per_day, progress=progress,
                                        **kw)]
    finally:
        if bar is not None:
            bar.close()
    if a.json:
        print(units.dumps_json([p.to_dict() for p in plans] if sweep else plans[0].to_dict()))
    else:
        for p in plans:
            print_plan(p, a.top if not sweep else min(a.top, 5))
            print()
        for note in plans[0].notes:
            print(f"note: {note}")
    for p in plans:
        if p.chosen is None:
            sys.stderr.write(f"simulator: no option reaches the target at {p.demand['tokens_per_day']:.3g} tokens/day "
                             "(every one is infeasible or unpriced); see the reasons in the table or --json\n")
            return EXIT_USAGE
    return 0
