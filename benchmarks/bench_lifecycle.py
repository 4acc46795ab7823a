"""Lifecycle planning speed: one family (llama3), one hardware (H100 for training and serving) and 20 demand points
from 1e10 to 1e13 tokens a day at Llama 3.1 8B's quality (target: under 10 s, median of 3 runs, each a fresh planner).
The serving simulations every point needs run first, a model per worker process (`simulator lifecycle`'s default:
one per CPU); each point then reuses the training plans and per-unit rates, so the other points are arithmetic. CPU
seconds (all processes) are printed beside the wall clock: on a shared machine the wall clock measures the others'
load. One run with the shipped compression methods follows, timed but without a target.

    python benchmarks/bench_lifecycle.py [--repeats 3] [--no-compression]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import simulator as sim  # noqa: E402

QUESTION = {"reference_model": "llama3.1-8b", "reference_tokens": 15e12, "family": "llama3",
            "train_hardware": "h100-sxm-80gb", "serve_hardware": "h100-sxm-80gb"}
DEMAND = [float(x) for x in np.logspace(10, 13, 20)]
TARGET_S = 10.0


def cpu_s() -> float:
    """CPU seconds of this process and its finished worker processes."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run(compression: tuple[str, ...], workers: int) -> tuple[float, float, float, object]:
    """(seconds for the whole sweep, seconds to its first point priced, CPU seconds, the sweep)."""
    c0, t0 = cpu_s(), time.perf_counter()
    planner = sim.lifecycle_planner(compression=compression, workers=workers, **QUESTION)
    demands = [sim.LifecycleDemand(1024, 256, tokens_per_day=d) for d in DEMAND]
    planner.warm(demands)  # the serving simulations every point needs, a model per worker process
    first = planner.plan(demands[0])
    t1 = time.perf_counter()
    sweep = sim.LifecycleSweep([first] + [planner.plan(d) for d in demands[1:]])
    return time.perf_counter() - t0, t1 - t0, cpu_s() - c0, sweep


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-compression", action="store_true", help="skip the timed run with compression methods")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help="processes for the serving simulations (default: the CPUs; `simulator lifecycle`'s default)")
    a = ap.parse_args(argv)
    times, firsts, cpus = [], [], []
    for i in range(a.repeats):
        total, first, cpu, sweep = run((), a.workers)
        times.append(total)
        firsts.append(first)
        cpus.append(cpu)
        chosen = sweep.chosen_frame()  # type: ignore[attr-defined]
        print(f"  run {i}: {total:5.2f} s, {cpu:.2f} CPU s (to the first point priced {first:.2f} s, the other 19 "
              f"{total - first:.2f} s); chosen {chosen['params'].iloc[0] / 1e9:.1f}B at 1e10 tokens/day -> "
              f"{chosen['params'].iloc[-1] / 1e9:.1f}B at 1e13")
    med = statistics.median(times)
    print(f"median {med:.2f} s over {a.repeats} runs (target < {TARGET_S:g} s): {'PASS' if med < TARGET_S else 'FAIL'}; "
          f"{statistics.median(cpus):.1f} CPU s in {a.workers} processes; 20 demand points 1e10-1e13 tokens/day, "
          f"llama3 sizes on h100-sxm-80gb; the 19 points after the first {med - statistics.median(firsts):.2f} s")
    if not a.no_compression:
        total, first, cpu, _ = run(sim.DEFAULT_COMPRESSION, a.workers)
        print(f"lifecycle with compression ({', '.join(sim.DEFAULT_COMPRESSION)}): {total:.1f} s, {cpu:.1f} CPU s for the "
              "same 20 points (one run, no target)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
