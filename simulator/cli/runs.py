"""`simulator run` (one scenario file, printed by its kind) and `simulator sweep` (a grid into Parquet shards)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import simulator as sim
from simulator import units
from simulator.cli.cluster import print_cluster
from simulator.cli.common import EXIT_USAGE, progress_bar, user_path, workers
from simulator.cli.serving import infer_rows, print_rows, serve_rows
from simulator.cli.training import print_training
from simulator.vocab import SWEEP_ENGINES


def register(sub: Any) -> None:
    """Add the `run` and `sweep` subcommands."""
    rn = sub.add_parser("run", help="run a scenario YAML: training, serving, cluster (or a cluster_scenario file "
                                    "with its defaults), as `kind:` says")
    rn.add_argument("scenario", type=user_path("a scenario file"), help="path to a scenario YAML file")
    rn.add_argument("--json", action="store_true")
    rn.set_defaults(func=cmd_run)

    sw = sub.add_parser("sweep", help="run a grid of scenarios into Parquet shards (resumable)")
    sw.add_argument("grid", type=user_path("a grid file"), help="grid YAML (base scenario + axes)")
    sw.add_argument("--out", required=True, type=user_path("a folder"), help="output folder of Parquet shards (read it with simulator.read_results)")
    sw.add_argument("--resume", action="store_true", help="continue a sweep, skipping finished shards")
    sw.add_argument("--engine", default="local", choices=SWEEP_ENGINES)
    sw.add_argument("--workers", type=workers, help="local worker processes (default: 1 for training grids, one per "
                                                     "CPU for simulations; engine dask: the local cluster's processes)")
    sw.add_argument("--scheduler", help="Dask scheduler address (engine dask); default: a LocalCluster")
    sw.add_argument("--no-progress", action="store_true")
    sw.add_argument("--json", action="store_true", help="print the summary as JSON")
    sw.add_argument("--strict", action="store_true", help="exit 1 when any scenario failed (default: exit 0 once the "
                                                         "sweep ran; failures are rows with an `error`, summarised)")
    sw.set_defaults(func=cmd_sweep)


def _print_training(result: Any, scenario: Any) -> None:
    rec = result.to_dict()
    if "breakdown" in rec:
        print_training(rec)
    else:  # a search where no plan fits: the record is the reason
        print(f"{rec['model']} on {rec['gpus']} x {rec['hardware']}: {rec['reason']}")


def _print_inference(result: Any, scenario: Any) -> None:
    rec = result.to_dict()
    split = (f" ep{rec['ep']}" if rec.get("ep", 1) > 1 else "") + (
        f" dp-attn{rec['dp_attention']}" if rec.get("dp_attention", 1) > 1 else "")
    print(f"{rec['model']} on {rec['gpus']} x {rec['hardware']}: tp{rec['tp']} pp{rec['pp']}{split} {rec['precision']} "
          f"kv-{rec['kv_precision']} {rec['engine']}, batch {rec['batch']}, {rec['input_len']} in / "
          f"{rec['output_len']} out")
    print_rows(infer_rows(rec))


def _print_serving(result: Any, scenario: Any) -> None:
    s = result.to_record()
    s.update({k: result.summary[k] for k in ("speculative", "prefix_cache") if k in result.summary})  # their sources
    print(f"{scenario.model} on {s['gpus']} x {scenario.hardware}: serving simulation, {s['engines']} engine(s)")
    print_rows(serve_rows(s))


def _print_cluster(result: Any, scenario: Any) -> None:
    print_cluster(result.to_dict())


PRINTERS = {"training": _print_training, "inference": _print_inference, "serving": _print_serving,
            "cluster": _print_cluster}


def cmd_run(a: argparse.Namespace) -> int:
    scenario = sim.load_scenario(a.scenario)
    result = sim.evaluate_scenario(scenario, source=a.scenario)
    rec = result.to_record()
    if a.json:
        print(units.dumps_json(rec, default=str))
    else:
        PRINTERS[result.kind](result, scenario)
    if rec.get("feasible") is False:
        sys.stderr.write(f"simulator: infeasible: {rec.get('reason', '')}\n")
        return EXIT_USAGE
    return 0


def cmd_sweep(a: argparse.Namespace) -> int:
    grid = sim.load_grid(a.grid)
    bar = None
    progress = None
    if not a.no_progress:
        bar = progress_bar(len(grid), "scenario")

        def progress(done: int, total: int) -> None:
            bar.n = done
            bar.refresh()
    try:
        rep = sim.run_sweep(grid, a.out, resume=a.resume, engine=a.engine, workers=a.workers, scheduler=a.scheduler,
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
               "failed": rep.failed, "failures": rep.failures}
    if a.json:
        print(json.dumps(summary))
    else:
        print(f"{rep.scenarios:,} scenarios -> {rep.out} ({rep.computed:,} computed, {rep.skipped:,} already done, "
              f"{rep.failed:,} failed)")
        _print_failures(rep.failures)
    return 1 if a.strict and rep.failed else 0  # the sweep ran: failed scenarios are rows, not an error


def _print_failures(failures: dict[str, int], shown: int = 5) -> None:
    """The commonest reasons scenarios failed, with counts (the `error` column holds each row's)."""
    for reason, n in list(failures.items())[:shown]:
        print(f"  {n:>8,} x {reason}")
    rest = list(failures.values())[shown:]
    if rest:
        print(f"  {sum(rest):>8,} x {len(rest)} other reasons (the `error` column of the results)")
