"""Sweep throughput: a 100,000-scenario analytical training sweep (fixed plans, vectorised per
shard) with the local engine, then the same grid on a 2-worker Dask LocalCluster, compared.

    python benchmarks/bench_sweep.py [--runs 3]
Target (issue 6): under 60 s locally on this 2-core machine; Dask results identical.
"""

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

from simulator.runs.grid import parse_grid
from simulator.runs.sweep import read_results, run_sweep
from simulator.vocab import RECOMPUTE, ZERO_STAGES

GRID = {
    "base": {"kind": "training", "model": "llama3.1-70b", "hardware": "h100-sxm-80gb", "gpus": 1024,
             "global_batch": 1024, "seq_len": 8192, "train_tokens": 15e12, "plan": {"tp": 8, "pp": 4}},
    "axes": {
        "hardware": ["a100-sxm-80gb", "h100-sxm-80gb", "h200-sxm-141gb", "b200-sxm-180gb", "mi300x-192gb"],
        "gpus": {"range": [64, 16384], "scale": "log2"},
        "plan.tp": [1, 2, 4, 8], "plan.pp": [1, 2, 4, 8],
        "plan.micro_batch": [1, 2, 4, 8], "plan.recompute": list(RECOMPUTE),
        "plan.zero": list(ZERO_STAGES), "seq_len": [2048, 4096, 8192],
    },
    "shard_size": 5000,
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--skip-dask", action="store_true")
    args = ap.parse_args()
    grid = parse_grid(GRID)
    print(f"grid: {len(grid):,} scenarios")
    tmp = Path(tempfile.mkdtemp())
    walls = []
    for i in range(args.runs):
        out = tmp / f"local{i}"
        t0 = time.perf_counter()
        rep = run_sweep(grid, out)
        walls.append(time.perf_counter() - t0)
    print(f"local engine: median {statistics.median(walls):.1f} s over {args.runs} runs "
          f"({len(grid) / statistics.median(walls):,.0f} scenarios/s; {rep.failed:,} scenarios are impossible plans)")
    if not args.skip_dask:
        from distributed import LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
            t0 = time.perf_counter()
            run_sweep(grid, tmp / "dask", engine="dask", scheduler=cluster.scheduler_address)
            wall = time.perf_counter() - t0
        same = read_results(tmp / "dask").equals(read_results(tmp / "local0"))
        pd.testing.assert_frame_equal(read_results(tmp / "dask"), read_results(tmp / "local0"))
        print(f"dask LocalCluster (2 workers): {wall:.1f} s; identical to local: {same}")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
