"""`simulator train` (one plan) and `simulator plan` (search every plan), and the table of a training record."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import simulator as sim
from simulator import units
from simulator.cli.common import (
    EXIT_USAGE,
    batch,
    degree,
    gpus,
    int_range,
    positive_int,
    progress_bar,
    tokens,
    train_tokens,
    user_path,
    warn_no_price,
)
from simulator.errors import PlanError
from simulator.vocab import (
    ATTENTION_KERNELS,
    COST_OPTIONS,
    DEFAULT_PRICE_BOOK,
    DEFAULT_STACK,
    GRAD_REDUCE,
    OBJECTIVES,
    PP_SCHEDULES,
    PRECISIONS,
    RECOMPUTE,
    ZERO_STAGES,
)

MFU_NOTE = ("MFU counts attention over the full (non-causal) score matrix, as PaLM and Megatron do; causal kernels "
            "compute half of it, so at long sequence lengths MFU can exceed 100%")


def _common(p: argparse.ArgumentParser) -> None:
    """The model, hardware, batch, cost and training-option arguments train and plan share."""
    p.add_argument("--model", required=True, type=user_path("a model id or path"), help="model id (see `simulator list models`) or path to a model YAML")
    p.add_argument("--hardware", required=True, type=user_path("a hardware id or path"), help="accelerator id or path to a profile YAML")
    p.add_argument("--global-batch", type=batch, required=True, help="sequences per optimizer step")
    p.add_argument("--seq-len", type=tokens, required=True, help="tokens per sequence")
    p.add_argument("--train-tokens", type=train_tokens, help="token budget for run totals (e.g. 15e12)")
    p.add_argument("--price-book", type=user_path("a price book id or path"), help=f"price book id or path (default {DEFAULT_PRICE_BOOK})")
    p.add_argument("--purchase", default="on_demand", choices=COST_OPTIONS,
                   help="rental option, or owned: amortised purchase + facility + electricity per busy GPU-hour "
                        "(needs a price book with owned figures, e.g. --price-book owned-colo-2025-03)")
    p.add_argument("--stack", type=user_path("a stack id or path"), help=f"software stack id or path (default {DEFAULT_STACK}; `simulator list stacks`): "
                                   "what the engine fuses and overlaps, its fixed step cost and the plans it runs")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="torch.compile on or off (stacks that offer it: fuses elementwise ops; default off)")
    p.add_argument("--fp8-recipe", help="fp8 scaling recipe of the stack (e.g. tensorwise, rowwise, delayed); "
                                        "default: the stack's")
    p.add_argument("--attention-kernel", choices=ATTENTION_KERNELS, help="default: the stack's")
    p.add_argument("--no-dp-overlap", action="store_true", help="do not overlap the gradient reduction with backward")
    p.add_argument("--tp-comm-overlap", action="store_true", default=None,
                   help="hide TP collectives behind GEMMs (default: as the stack does)")
    dr = p.add_mutually_exclusive_group()
    dr.add_argument("--dropout", dest="dropout", action="store_true", default=None,
                    help="store dropout masks (default: as the model file says)")
    dr.add_argument("--no-dropout", dest="dropout", action="store_false")
    p.add_argument("--grad-reduce", choices=GRAD_REDUCE,
                   help="dtype gradients are accumulated and reduced in (default: the stack's; fp32 is Megatron's "
                        "main_grad, 4 bytes per parameter; bf16 halves gradient memory and DP traffic)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_launch_arg(p, "plan (plan: each listed plan in --json, the best one in the table)")


def add_launch_arg(p: argparse.ArgumentParser, what: str) -> None:
    """`--launch [FORMAT ...]`: also print the launch settings of the result (in --json under "launch")."""
    p.add_argument("--launch", nargs="*", metavar="FORMAT",
                   help=f"also print the command line or config that realises the {what}; with no FORMAT the "
                        "formats of its stack or engine, or name them (an unknown name lists the known ones); in "
                        "--json under 'launch'")


def print_launch(launch: dict[str, str] | None) -> None:
    """The launch settings after a result's table: each format's text, or the one line saying there is none."""
    for text in (launch or {}).values():
        print(f"\n{text}")


def _launch(a: argparse.Namespace, rec: dict[str, Any]) -> dict[str, str]:
    """The launch settings of one training record, with the engine options the command line chose."""
    return sim.training_launch(rec, formats=a.launch or None, model=a.model, hardware=a.hardware,
                               global_batch=a.global_batch, seq_len=a.seq_len, tp_comm_overlap=a.tp_comm_overlap,
                               dp_overlap=not a.no_dp_overlap,
                               grad_reduce_fp32=None if a.grad_reduce is None else a.grad_reduce == "fp32",
                               dropout=a.dropout, train_tokens=a.train_tokens)


def _option_kw(a: argparse.Namespace) -> dict[str, Any]:
    uneven = a.uneven_pp if hasattr(a, "uneven_pp") else not a.even_pp_only
    return {"attention_kernel": a.attention_kernel, "dp_overlap": not a.no_dp_overlap,
            "tp_comm_overlap": a.tp_comm_overlap, "dropout": a.dropout, "uneven_pp": uneven,
            "stack": a.stack, "compile": a.compile, "fp8_recipe": a.fp8_recipe,
            "grad_reduce_fp32": None if a.grad_reduce is None else a.grad_reduce == "fp32"}


def _add_train(sub: Any) -> None:
    t = sub.add_parser("train", help="estimate one training plan")
    _common(t)
    t.add_argument("--gpus", type=gpus, required=True, help="number of accelerators")
    for name, what in (("tp", "tensor"), ("pp", "pipeline"), ("cp", "context"), ("ep", "expert")):
        t.add_argument(f"--{name}", type=degree, default=1, help=f"{what}-parallel size (default 1)")
    t.add_argument("--dp", type=degree, help="data-parallel size (derived from gpus if omitted)")
    t.add_argument("--micro-batch", type=batch, default=1, help="sequences per micro-batch per GPU (default 1)")
    t.add_argument("--zero", type=int_range(0, 3, "a ZeRO stage"), choices=ZERO_STAGES,
                   help="ZeRO stage (3 = FSDP); default: the stack's (1 on Megatron/NeMo, 3 on torchtitan, llm-foundry)")
    t.add_argument("--recompute", choices=RECOMPUTE,
                   help="activation recomputation: selective (Korthikanti et al. 2022), full, op (torchtitan's op-level "
                        "selective checkpointing) or none; default: the stack's (selective where offered, else op, "
                        "else full)")
    t.add_argument("--precision", default="bf16", choices=PRECISIONS, help="GEMM precision (default bf16)")
    t.add_argument("--pp-schedule", default="1f1b", choices=PP_SCHEDULES,
                   help="pipeline schedule (default 1f1b; zb: zero bubble ZB-H1; the stack must offer it)")
    t.add_argument("--vpp", type=degree, help="virtual stages per pipeline rank (interleaved; default 2)")
    t.add_argument("--uneven-pp", action="store_true",
                   help="allow pipeline stages with different layer counts (pp need not divide the layers)")
    sp = t.add_mutually_exclusive_group()
    sp.add_argument("--sequence-parallel", dest="sequence_parallel", action="store_true", default=None,
                    help="shard norms/dropout over TP ranks (default: on when tp > 1)")
    sp.add_argument("--no-sequence-parallel", dest="sequence_parallel", action="store_false")
    t.add_argument("--fsdp-shard", type=degree,
                   help="HSDP: shard the model states over this many data-parallel ranks and replicate across the "
                        "rest (default: shard over all of them)")
    t.set_defaults(func=cmd_train)


def _add_plan(sub: Any) -> None:
    p = sub.add_parser("plan", help="search all plans and print the best")
    _common(p)
    p.add_argument("--gpus", type=gpus, nargs="+", required=True, help="one or more GPU counts")
    p.add_argument("--top", type=positive_int, default=10, help="how many plans to print (default 10)")
    p.add_argument("--objective", default="time", choices=OBJECTIVES,
                   help="rank by wall time (default) or by dollars per token")
    p.add_argument("--precision", nargs="+", default=["bf16"], choices=PRECISIONS,
                   help="precisions to search (default bf16)")
    p.add_argument("--even-pp-only", action="store_true",
                   help="search only pipeline splits with equal layer counts per stage (by default stages may "
                        "differ by one chunk, as Megatron's --decoder-first/last-pipeline-num-layers allow)")
    p.add_argument("--per-gpu-count", action="store_true",
                   help="print the best plan for each GPU count instead, * marking the time/cost Pareto front "
                        "(no other count both faster and cheaper)")
    p.add_argument("--progress", action="store_true", help="show a progress bar on stderr")
    p.set_defaults(func=cmd_plan)


def register(sub: Any) -> None:
    """Add the `train` and `plan` subcommands."""
    _add_train(sub)
    _add_plan(sub)


def fmt_plan(r: dict[str, Any]) -> str:
    """tp8 pp8x4u dp64 ...: pp x virtual stages per rank, `u` when the stages hold unequal layer counts."""
    sched = f"({r['pp_schedule']})" if r["pp"] > 1 and r.get("pp_schedule") in ("gpipe", "zb") else ""
    return (f"tp{r['tp']} pp{r['pp']}{'x' + str(r['vpp']) if r['vpp'] > 1 else ''}{'u' if r.get('uneven_pp') else ''}"
            f"{sched} "
            f"dp{r['dp']} cp{r['cp']} ep{r['ep']} mb{r['micro_batch']} z{r['zero']}"
            f"{_hsdp(r)} {r['recompute']} {r['precision']}")


def _hsdp(r: dict[str, Any]) -> str:
    """'/hsdp8' when the model states shard over fewer ranks than dp x cp (replicated across the rest)."""
    shard = r.get("fsdp_shard")
    return f"/hsdp{shard}" if shard and shard < r["dp"] * r["cp"] else ""


def band_text(r: dict[str, Any]) -> str:
    """The record's error band in words (simulator.band_words), on the line below the step time."""
    return f"\n  error band      {sim.band_words(r['error_band'])}" if r.get("error_band") else ""


def print_training(r: dict[str, Any]) -> None:
    """The table of one training record (`simulator train`, and `simulator run` on a training scenario)."""
    print(f"{r['model']} on {r['gpus']} x {r['hardware']}: {fmt_plan(r)}")
    extras = (["torch.compile"] if r.get("compile") else []) + ([f"fp8 {r['fp8_recipe']}"] if r.get("fp8_recipe") else [])
    print(f"  stack           {r.get('stack', DEFAULT_STACK)}{' (' + ', '.join(extras) + ')' if extras else ''}")
    for note in r.get("notes") or []:
        print(f"  note            {note}")
    print(f"  feasible        {r['feasible']}{'  (' + r['reason'] + ')' if r['reason'] else ''}")
    n_mb = r["n_micro_batches"]
    print(f"  step time       {units.human_duration(r['step_time_s'])}  ({n_mb} micro-batch{'es' if n_mb != 1 else ''})"
          f"{band_text(r)}")
    print(f"  throughput      {r['tokens_per_s']:,.0f} tokens/s  ({r['tokens_per_s_per_gpu']:,.0f} per GPU)")
    print(f"  model TFLOP/s   {r['tflops_per_gpu']:.1f} per GPU   MFU {r['mfu']:.1%}   HFU {r['hfu']:.1%}")
    reserved = r.get("memory_reserved_per_gpu_bytes") or r["memory_per_gpu_bytes"]
    print(f"  memory          {units.human_bytes(r['memory_per_gpu_bytes'])} allocated, {units.human_bytes(reserved)} "
          f"reserved of {units.human_bytes(r['memory_capacity_bytes'])} usable")
    if (r.get("mfu") or 0) > 1:
        print(f"                  ({MFU_NOTE})")
    if r.get("uneven_pp"):
        print("  pipeline        stages hold unequal layer counts (u: the heaviest stage sets the pace)")
    step = r["step_time_s"]
    print("  step breakdown  " + ", ".join(f"{k} {v / step:.1%}" for k, v in r["breakdown"].items() if v > 0))
    print("  memory by part  " + ", ".join(f"{k} {units.human_bytes(v)}" for k, v in r["memory_breakdown"].items() if v > 0))
    if r.get("total_time_s") is not None:
        print(f"  run             {units.human_duration(r['total_time_s'])}, {units.human_count(r['gpu_hours'])} GPU-hours, "
              f"{units.human_energy_kwh(r['energy_kwh'])}, {units.human_mass_kg(r['co2e_kg'])} CO2e, "
              f"{units.human_usd(r['cost_usd']) if r.get('cost_usd') is not None else 'no price'}")


def cmd_train(a: argparse.Namespace) -> int:
    res = sim.estimate_training(
        a.model, a.hardware, a.gpus, global_batch=a.global_batch, seq_len=a.seq_len, tp=a.tp, pp=a.pp, cp=a.cp,
        ep=a.ep, dp=a.dp, micro_batch=a.micro_batch, zero=a.zero, recompute=a.recompute, precision=a.precision,
        pp_schedule=a.pp_schedule, vpp=a.vpp, sequence_parallel=a.sequence_parallel, fsdp_shard=a.fsdp_shard,
        train_tokens=a.train_tokens,
        price_book=a.price_book, purchase=a.purchase, **_option_kw(a))
    rec = res.to_dict()
    if a.launch is not None:
        rec["launch"] = _launch(a, rec)
    if a.json:
        print(units.dumps_json(rec))
    else:
        print_training(rec)
        print_launch(rec.get("launch"))
    if not rec["feasible"]:
        sys.stderr.write(f"simulator: infeasible plan: {rec['reason']}\n")
        return EXIT_USAGE
    if a.train_tokens and rec.get("cost_usd") is None:
        warn_no_price(a.price_book, a.purchase, rec["hardware"])
    return 0


def _search(a: argparse.Namespace) -> Any:
    """The plan search of `simulator plan`, with a progress bar on stderr when asked for."""
    bar = progress_bar(0, "plan") if a.progress else None

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.total = total
            bar.n = done
            bar.refresh()
    try:
        return sim.plan_training(a.model, a.hardware, a.gpus, global_batch=a.global_batch, seq_len=a.seq_len,
                                 train_tokens=a.train_tokens, objective=a.objective, precisions=a.precision,
                                 price_book=a.price_book, purchase=a.purchase,
                                 progress=progress if bar is not None else None, option_kw=_option_kw(a))
    finally:
        if bar is not None:
            bar.close()


def _cost_cell(r: dict[str, Any]) -> str:
    """The run's cost with a token budget, else the price of a million tokens, else '-'."""
    if r.get("cost_usd") is not None:
        return units.human_usd(r["cost_usd"])
    if r.get("usd_per_million_tokens") is not None:
        return f"${r['usd_per_million_tokens']:.3g}/Mtok"
    return "-"


def print_plans(top: list[dict[str, Any]]) -> None:
    """The table of the best plans of a search (`*` marks the time/cost Pareto front)."""
    print(f"{'#':>3} {'gpus':>6} {'plan':<44} {'step':>9} {'MFU':>6} {'mem/GPU':>9} {'run time':>11} {'cost':>11}")
    for i, r in enumerate(top, 1):
        mark = "*" if r.get("pareto") else " "
        run = units.human_duration(r["total_time_s"]) if r.get("total_time_s") else "-"
        print(f"{i:>3}{mark}{r['gpus']:>6} {fmt_plan(r):<44} {units.human_duration(r['step_time_s']):>9} "
              f"{r['mfu']:>6.1%} {units.human_bytes(r['memory_per_gpu_bytes']):>9} {run:>11} {_cost_cell(r):>11}")
    if any(r.get("uneven_pp") for r in top):
        print("u: pipeline stages hold unequal layer counts; estimate such a plan with `simulator train --uneven-pp`")
    if any((r.get("mfu") or 0) > 1 for r in top):
        print(f"note: {MFU_NOTE}")


def cmd_plan(a: argparse.Namespace) -> int:
    unknown = sorted(set(a.launch) - set(sim.launch_formats("training"))) if a.launch else []
    if unknown:  # before the search, not after it (and the launch data is read only when asked for)
        raise PlanError(f"unknown training launch format {', '.join(unknown)}; known: "
                        f"{', '.join(sim.launch_formats('training'))}")
    res = _search(a)
    top = res.best_per_gpu_count() if a.per_gpu_count else res.top(a.top)
    if a.launch is not None:
        for r in top if a.json else top[:1]:
            r["launch"] = _launch(a, r)
    if a.json:
        print(units.dumps_json(top))
    else:
        what = "best per GPU count, * on the time/cost Pareto front" if a.per_gpu_count else f"best {len(top)}"
        print(f"{res.n_plans:,} plans evaluated on the {res.options.stack.label()} stack, {res.n_feasible:,} fit" +
              (f"; {what} by {a.objective}:" if top else ""))
        if top:
            print_plans(top)
            print(f"error band of the best plan: {sim.band_words(top[0].get('error_band'))}")
            print_launch(top[0].get("launch"))
    if a.per_gpu_count:
        for n, why in res.counts_without_plan().items():
            sys.stderr.write(f"simulator: no plan fits on {n:,} GPU{'s' if n != 1 else ''}: {why}\n")
    if top and all(r.get("usd_per_million_tokens") is None for r in top):
        warn_no_price(res.price_book, res.purchase, res.hardware.id)  # the loaded book: a file's id names no shipped book
    if not top:
        sys.stderr.write(f"simulator: no feasible plan among {res.n_plans:,}: {res.reasons_text()}\n")
        return EXIT_USAGE
    return 0
