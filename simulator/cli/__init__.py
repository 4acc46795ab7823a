"""The `simulator` command: one small function per subcommand; every subcommand has --json."""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

from simulator import units
from simulator.errors import SimulatorError

EXIT_USAGE = 2
# Modules exposing register(subparsers) -> adds their subcommands; each sets `func` returning an exit code.
EXTENSIONS: tuple[str, ...] = ("simulator.cli.serving", "simulator.cli.cluster", "simulator.cli.calibrate")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        sys.stderr.write(f"simulator: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _int(text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value != int(value):
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}")
    return int(value)


def _positive_int(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model id (see `simulator list models`) or path to a model YAML")
    p.add_argument("--hardware", required=True, help="accelerator id or path to a profile YAML")
    p.add_argument("--global-batch", type=_int, required=True, help="sequences per optimizer step")
    p.add_argument("--seq-len", type=_int, required=True, help="tokens per sequence")
    p.add_argument("--train-tokens", type=_float, help="token budget for run totals (e.g. 15e12)")
    p.add_argument("--price-book", help="price book id or path (default hyperscaler-2025-03)")
    p.add_argument("--purchase", default="on_demand", choices=["on_demand", "reserved_1y", "reserved_3y", "spot", "owned"],
                   help="rental option, or owned: amortised purchase + facility + electricity per busy GPU-hour "
                        "(needs a price book with owned figures, e.g. --price-book owned-colo-2025-03)")
    p.add_argument("--attention-kernel", default="flash", choices=["flash", "flash1", "unfused"])
    from simulator.core.training import FRAMEWORKS

    p.add_argument("--framework", default="standard",
                   help=f"how ZeRO-3/FSDP collectives run: {' | '.join(FRAMEWORKS)} (default standard: NCCL "
                        "rates, prefetched behind compute; the others carry measured terms, see the README)")
    p.add_argument("--no-dp-overlap", action="store_true", help="do not overlap the gradient reduction with backward")
    p.add_argument("--tp-comm-overlap", action="store_true", help="hide TP collectives behind GEMMs")
    dr = p.add_mutually_exclusive_group()
    dr.add_argument("--dropout", dest="dropout", action="store_true", default=None,
                    help="store dropout masks (default: as the model file says)")
    dr.add_argument("--no-dropout", dest="dropout", action="store_false")
    p.add_argument("--grad-reduce", default="fp32", choices=["fp32", "bf16"],
                   help="dtype gradients are accumulated and reduced in (default fp32, Megatron's main_grad: "
                        "4 bytes per parameter; bf16 halves gradient memory and DP traffic)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _option_kw(a: argparse.Namespace) -> dict[str, Any]:
    uneven = a.uneven_pp if hasattr(a, "uneven_pp") else not a.even_pp_only
    return {"attention_kernel": a.attention_kernel, "dp_overlap": not a.no_dp_overlap,
            "tp_comm_overlap": a.tp_comm_overlap, "dropout": a.dropout, "uneven_pp": uneven,
            "framework": a.framework, "grad_reduce_fp32": a.grad_reduce == "fp32"}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ai-compute-planner")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="simulator", description="Compute cost and capacity planner for large AI models.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="estimate one training plan")
    _common(t)
    t.add_argument("--gpus", type=_int, required=True, help="number of accelerators")
    for name, what in (("tp", "tensor"), ("pp", "pipeline"), ("cp", "context"), ("ep", "expert")):
        t.add_argument(f"--{name}", type=_int, default=1, help=f"{what}-parallel size (default 1)")
    t.add_argument("--dp", type=_int, help="data-parallel size (derived from gpus if omitted)")
    t.add_argument("--micro-batch", type=_int, default=1, help="sequences per micro-batch per GPU (default 1)")
    t.add_argument("--zero", type=_int, default=1, choices=[0, 1, 2, 3], help="ZeRO stage (3 = FSDP); default 1")
    t.add_argument("--recompute", default="selective", choices=["none", "selective", "full"],
                   help="activation recomputation (default selective, Korthikanti et al. 2022)")
    t.add_argument("--precision", default="bf16", choices=["bf16", "fp16", "fp8"], help="GEMM precision (default bf16)")
    t.add_argument("--pp-schedule", default="1f1b", choices=["1f1b", "interleaved"], help="pipeline schedule (default 1f1b)")
    t.add_argument("--vpp", type=_int, help="virtual stages per pipeline rank (interleaved; default 2)")
    t.add_argument("--uneven-pp", action="store_true",
                   help="allow pipeline stages with different layer counts (pp need not divide the layers)")
    sp = t.add_mutually_exclusive_group()
    sp.add_argument("--sequence-parallel", dest="sequence_parallel", action="store_true", default=None,
                    help="shard norms/dropout over TP ranks (default: on when tp > 1)")
    sp.add_argument("--no-sequence-parallel", dest="sequence_parallel", action="store_false")
    t.set_defaults(func=cmd_train)

    p = sub.add_parser("plan", help="search all plans and print the best")
    _common(p)
    p.add_argument("--gpus", type=_int, nargs="+", required=True, help="one or more GPU counts")
    p.add_argument("--top", type=_positive_int, default=10, help="how many plans to print (default 10)")
    p.add_argument("--objective", default="time", choices=["time", "cost"],
                   help="rank by wall time (default) or by dollars per token")
    p.add_argument("--precision", nargs="+", default=["bf16"], choices=["bf16", "fp16", "fp8"],
                   help="precisions to search (default bf16)")
    p.add_argument("--even-pp-only", action="store_true",
                   help="search only pipeline splits with equal layer counts per stage (by default stages may "
                        "differ by one chunk, as Megatron's --decoder-first/last-pipeline-num-layers allow)")
    p.add_argument("--per-gpu-count", action="store_true",
                   help="print the best plan for each GPU count instead, * marking the time/cost Pareto front "
                        "(no other count both faster and cheaper)")
    p.add_argument("--progress", action="store_true", help="show a progress bar on stderr")
    p.set_defaults(func=cmd_plan)

    for module in EXTENSIONS:  # subcommands of the other engines register themselves
        try:
            importlib.import_module(module).register(sub)
        except ImportError:  # e.g. a GPU box with only numpy + torch: keep the subcommands that can run
            continue

    rn = sub.add_parser("run", help="run a scenario YAML: training, serving, cluster (or a cluster_scenario file "
                                    "with its defaults), as `kind:` says")
    rn.add_argument("scenario", help="path to a scenario YAML file")
    rn.add_argument("--json", action="store_true")
    rn.set_defaults(func=cmd_run)

    sw = sub.add_parser("sweep", help="run a grid of scenarios into Parquet shards (resumable)")
    sw.add_argument("grid", help="grid YAML (base scenario + axes)")
    sw.add_argument("--out", required=True, help="output folder of Parquet shards (read it with simulator.read_results)")
    sw.add_argument("--resume", action="store_true", help="continue a sweep, skipping finished shards")
    sw.add_argument("--engine", default="local", choices=["local", "dask"])
    sw.add_argument("--workers", type=_int, help="local worker processes (default: 1 for training grids, one per "
                                                  "CPU for simulations)")
    sw.add_argument("--scheduler", help="Dask scheduler address (engine dask); default: a LocalCluster")
    sw.add_argument("--no-progress", action="store_true")
    sw.add_argument("--json", action="store_true", help="print the summary as JSON")
    sw.set_defaults(func=cmd_sweep)

    ls = sub.add_parser("list", help="list shipped hardware, models, price books or cluster scenarios")
    ls.add_argument("what", choices=["hardware", "models", "prices", "scenarios"])
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)
    return parser


def _fmt_plan(r: dict[str, Any]) -> str:
    """tp8 pp8x4u dp64 ...: pp x virtual stages per rank, `u` when the stages hold unequal layer counts."""
    return (f"tp{r['tp']} pp{r['pp']}{'x' + str(r['vpp']) if r['vpp'] > 1 else ''}{'u' if r.get('uneven_pp') else ''} "
            f"dp{r['dp']} cp{r['cp']} ep{r['ep']} mb{r['micro_batch']} z{r['zero']} {r['recompute']} {r['precision']}")


MFU_NOTE = ("MFU counts attention over the full (non-causal) score matrix, as PaLM and Megatron do; causal kernels "
            "compute half of it, so at long sequence lengths MFU can exceed 100%")


def _print_record(r: dict[str, Any]) -> None:
    print(f"{r['model']} on {r['gpus']} x {r['hardware']}: {_fmt_plan(r)}")
    print(f"  feasible        {r['feasible']}{'  (' + r['reason'] + ')' if r['reason'] else ''}")
    n_mb = r["n_micro_batches"]
    print(f"  step time       {units.human_duration(r['step_time_s'])}  ({n_mb} micro-batch{'es' if n_mb != 1 else ''})")
    print(f"  throughput      {r['tokens_per_s']:,.0f} tokens/s  ({r['tokens_per_s_per_gpu']:,.0f} per GPU)")
    print(f"  model TFLOP/s   {r['tflops_per_gpu']:.1f} per GPU   MFU {r['mfu']:.1%}   HFU {r['hfu']:.1%}")
    print(f"  memory          {units.human_bytes(r['memory_per_gpu_bytes'])} of {units.human_bytes(r['memory_capacity_bytes'])} usable")
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


def _warn_no_price(price_book: str | None, purchase: str, hardware_id: str, effect: str = "costs are left out") -> None:
    """One stderr line when the price book (an id or path; None: the default) has no price for the hardware."""
    from simulator.catalog import load_price_book

    book_id = load_price_book(price_book).id
    fix = ("pass a --price-book with owned figures (e.g. owned-colo-2025-03)" if purchase == "owned"
           else "pass another --price-book or --purchase")
    sys.stderr.write(f"simulator: warning: price book {book_id!r} has no {purchase} price for {hardware_id}, so "
                     f"{effect}; {fix}\n")


def cmd_train(a: argparse.Namespace) -> int:
    from simulator.api.training import estimate_training

    res = estimate_training(
        a.model, a.hardware, a.gpus, global_batch=a.global_batch, seq_len=a.seq_len, tp=a.tp, pp=a.pp, cp=a.cp,
        ep=a.ep, dp=a.dp, micro_batch=a.micro_batch, zero=a.zero, recompute=a.recompute, precision=a.precision,
        pp_schedule=a.pp_schedule, vpp=a.vpp, sequence_parallel=a.sequence_parallel, train_tokens=a.train_tokens,
        price_book=a.price_book, purchase=a.purchase, **_option_kw(a))
    rec = res.to_dict()
    if a.json:
        print(units.dumps_json(rec))
    else:
        _print_record(rec)
    if not rec["feasible"]:
        sys.stderr.write(f"simulator: infeasible plan: {rec['reason']}\n")
        return EXIT_USAGE
    if a.train_tokens and rec.get("cost_usd") is None:
        _warn_no_price(a.price_book, a.purchase, rec["hardware"])
    return 0


def cmd_plan(a: argparse.Namespace) -> int:
    from simulator.api.training import plan_training

    bar = None
    progress = None
    if a.progress:
        from tqdm import tqdm

        bar = tqdm(total=0, unit="plan", file=sys.stderr)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()
    try:
        res = plan_training(a.model, a.hardware, a.gpus, global_batch=a.global_batch, seq_len=a.seq_len,
                            train_tokens=a.train_tokens, objective=a.objective, precisions=a.precision,
                            price_book=a.price_book, purchase=a.purchase, progress=progress,
                            option_kw=_option_kw(a))
    finally:
        if bar is not None:
            bar.close()
    top = res.best_per_gpu_count() if a.per_gpu_count else res.top(a.top)
    if a.json:
        print(units.dumps_json(top))
    else:
        what = "best per GPU count, * on the time/cost Pareto front" if a.per_gpu_count else f"best {len(top)}"
        print(f"{res.n_plans:,} plans evaluated, {res.n_feasible:,} fit" +
              (f"; {what} by {a.objective}:" if top else ""))
    if top and not a.json:
        header = f"{'#':>3} {'gpus':>6} {'plan':<44} {'step':>9} {'MFU':>6} {'mem/GPU':>9} {'run time':>11} {'cost':>11}"
        print(header)
        for i, r in enumerate(top, 1):
            mark = "*" if r.get("pareto") else " "
            run = units.human_duration(r["total_time_s"]) if r.get("total_time_s") else "-"
            if r.get("cost_usd") is not None:
                usd = units.human_usd(r["cost_usd"])
            elif r.get("usd_per_million_tokens") is not None:  # no token budget: the price of a million tokens
                usd = f"${r['usd_per_million_tokens']:.3g}/Mtok"
            else:
                usd = "-"
            print(f"{i:>3}{mark}{r['gpus']:>6} {_fmt_plan(r):<44} {units.human_duration(r['step_time_s']):>9} "
                  f"{r['mfu']:>6.1%} {units.human_bytes(r['memory_per_gpu_bytes']):>9} {run:>11} {usd:>11}")
        if any(r.get("uneven_pp") for r in top):
            print("u: pipeline stages hold unequal layer counts; estimate such a plan with `simulator train --uneven-pp`")
        if any((r.get("mfu") or 0) > 1 for r in top):
            print(f"note: {MFU_NOTE}")
    if a.per_gpu_count:
        for n, why in res.counts_without_plan().items():
            sys.stderr.write(f"simulator: no plan fits on {n:,} GPU{'s' if n != 1 else ''}: {why}\n")
    if top and all(r.get("usd_per_million_tokens") is None for r in top):
        _warn_no_price(res.price_book.id, res.purchase, res.hardware.id)
    if not top:
        reasons = "; ".join(f"{k} ({v:,} plans)" for k, v in res.reason_counts.items())
        sys.stderr.write(f"simulator: no feasible plan among {res.n_plans:,}: {reasons}\n")
        return EXIT_USAGE
    return 0


def cmd_run(a: argparse.Namespace) -> int:
    from simulator.runs.scenario import load_scenario, run_scenario

    scenario = load_scenario(a.scenario)
    rec = run_scenario(scenario)
    if a.json:
        print(units.dumps_json(rec, default=str))
    elif "breakdown" in rec and "step_time_s" in rec:
        _print_record(rec)
    elif "installed_gpus" in rec and "utilization" in rec:  # a cluster run: the `simulator cluster` table
        from simulator.cli.cluster import _print_text

        _print_text(rec)
    elif "decode_breakdown_s" in rec:  # an inference scenario: the `simulator infer` table
        from simulator.cli.serving import _print, infer_rows

        print(f"{rec['model']} on {rec['gpus']} x {rec['hardware']}: tp{rec['tp']} pp{rec['pp']} {rec['precision']} "
              f"kv-{rec['kv_precision']} {rec['engine']}, batch {rec['batch']}, {rec['input_len']} in / "
              f"{rec['output_len']} out")
        _print(infer_rows(rec))
    elif "ttft_p99_s" in rec and "sim_events" in rec:  # a serving scenario: the `simulator serve` table
        from simulator.cli.serving import _print, serve_rows

        print(f"{scenario.model} on {rec['gpus']} x {scenario.hardware}: serving simulation, {rec['engines']} engine(s)")
        _print(serve_rows(rec))
    else:
        for k, v in rec.items():
            print(f"{k:>28}  {v}")
    if rec.get("feasible") is False:
        sys.stderr.write(f"simulator: infeasible: {rec.get('reason', '')}\n")
        return EXIT_USAGE
    return 0


def cmd_sweep(a: argparse.Namespace) -> int:
    from simulator.runs.sweep import load_grid, run_sweep

    grid = load_grid(a.grid)
    bar = None
    progress = None
    if not a.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=len(grid), unit="scenario", file=sys.stderr, smoothing=0.1)

        def progress(done: int, total: int) -> None:
            bar.n = done
            bar.refresh()
    try:
        rep = run_sweep(grid, a.out, resume=a.resume, engine=a.engine, workers=a.workers, scheduler=a.scheduler,
                        progress=progress)
    except KeyboardInterrupt:
        done = bar.n if bar is not None else None
        sys.stderr.write(f"simulator: interrupted{f' after {done:,} of {len(grid):,} scenarios' if done else ''}; "
                         f"finished shards are kept in {a.out}: rerun with --resume to continue\n")
        return 130
    finally:
        if bar is not None:
            bar.close()
    summary = {"out": str(rep.out), "scenarios": rep.scenarios, "computed": rep.computed, "skipped": rep.skipped,
               "failed": rep.failed}
    print(json.dumps(summary) if a.json else
          f"{rep.scenarios:,} scenarios -> {rep.out} ({rep.computed:,} computed, {rep.skipped:,} already done, "
          f"{rep.failed:,} failed)")
    return min(rep.failed, 100)  # exit code = number of failed scenarios (capped at 100)


def cmd_list(a: argparse.Namespace) -> int:
    from simulator import catalog
    from simulator.cluster.scenario import cluster_scenario_ids

    ids = {"hardware": catalog.hardware_ids, "models": catalog.model_ids, "prices": catalog.price_book_ids,
           "scenarios": cluster_scenario_ids}[a.what]()
    if a.json or a.what not in ("hardware", "models"):
        print(json.dumps(ids) if a.json else "\n".join(ids))
        return 0
    if a.what == "hardware":  # the id first, so `cut -d' ' -f1` still gives the ids
        from simulator.catalog.reports import hardware_table

        book = catalog.load_price_book()
        print(f"{'id':<16} {'memory':>9} {'HBM':>9} {'bf16':>12} {'fp8':>12} {'TDP':>6} {'NVLink':>7} "
              f"{'$/GPU-h':>8}  name")
        for r in hardware_table().itertuples():
            price = book.gpu_hour_usd(r.id)
            fp8 = "-" if math.isnan(r.fp8_TFLOPs) else units.human_flops(r.fp8_TFLOPs * units.TFLOP)
            print(f"{r.id:<16} {units.human_bytes(r.memory_GiB * units.GIB):>9} "
                  f"{units.human_rate(r.HBM_TB_per_s * units.TB):>9} {units.human_flops(r.bf16_TFLOPs * units.TFLOP):>12} "
                  f"{fp8:>12} {r.TDP_W:>5.0f}W {r.scale_up_domain:>7} "
                  f"{'-' if math.isnan(price) else f'{price:.2f}':>8}  {r.name}")
        print(f"NVLink: GPUs in one scale-up domain; $/GPU-h: on-demand in {book.id}")
        return 0
    print(f"{'id':<16} {'params':>8} {'active':>8} {'layers':>6} {'d_model':>7} {'heads':>9} {'context':>8}  kind")
    for m in map(catalog.load_model, ids):
        total, active = m.total_params(), m.active_matmul_params()
        kind = (f"MoE {m.moe.n_experts} experts, top-{m.moe.top_k}" if m.moe else "dense") + (
            ", MLA" if m.mla else (", GQA" if m.n_kv_heads < m.n_heads else ""))
        c = m.context_window_tokens  # context windows come in powers of two: 131072 reads 128k
        ctx = "-" if not c else (f"{c // 1024}k" if c % 1024 == 0 else units.human_count(c))
        print(f"{m.id:<16} {units.human_count(total):>8} {units.human_count(active) if m.moe else '':>8} "
              f"{m.n_layers:>6} {m.d_model:>7} {f'{m.n_heads}/{m.n_kv_heads}':>9} {ctx:>8}  {kind}")
    print("params: all weights; active: per token (MoE); heads: query/KV heads")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_parser(build_parser(), argv)


def run_parser(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Parse, dispatch to the subcommand and turn errors into one line on stderr (exit 2)."""
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except SimulatorError as exc:
        sys.stderr.write(f"simulator: error: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("simulator: interrupted\n")
        return 130
    except BrokenPipeError:  # e.g. `simulator list models | head`
        sys.stderr.close()
        return 0
