"""Benchmark: one simulated year of a 10,000-GPU cluster with 50,000 jobs and node failures.

Target (issue 4): under 20 s per run on this machine (median of 3), memory under 2 GiB. Prints wall time,
simulation events per second and peak resident memory. Not a test: nothing is asserted.

    .venv/bin/python benchmarks/bench_cluster.py [--policy easy] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simulator.cluster.engine import simulate_cluster  # noqa: E402
from simulator.cluster.scenario import scenario_from_dict  # noqa: E402
from simulator.vocab import POLICY_NAMES  # noqa: E402

YEAR_S = 365 * 86400.0
N_JOBS = 50_000

# Job sizes: heavy-tailed like the public traces (median 1 GPU, a few 1,024-GPU runs); mean 20.2 GPUs.
# Run time lognormal, median 1.3 days, sigma 1.2 (mean 2.7 days): offered load ~ 50,000 x 20.2 x 231,000 s /
# (10,000 x 1 year) = 0.74 of capacity before failures, restarts and checkpoints.
SCENARIO = {
    "schema_version": 1, "kind": "cluster_scenario", "id": "bench-10k", "name": "10,000-GPU benchmark",
    "sources": [{"title": "synthetic benchmark workload", "where": "benchmarks/bench_cluster.py", "date": "2026"}],
    "horizon_s": YEAR_S, "warmup_s": 30 * 86400.0, "policy": "easy",
    "pools": [{"id": "h100", "hardware": "h100-sxm-80gb", "nodes": 1250}],
    "generators": [{
        "name": "mix", "jobs_per_day": N_JOBS / 360.0, "n_jobs": N_JOBS, "kind": "training",
        "gpus": {1: 0.4, 2: 0.1, 4: 0.1, 8: 0.2, 16: 0.1, 64: 0.07, 256: 0.025, 1024: 0.005},
        "duration": {"kind": "lognormal", "median_s": 112320.0, "sigma": 1.2},
        "priority_mix": {0: 0.8, 5: 0.2},
    }],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policy", default="easy", choices=POLICY_NAMES)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    sc = scenario_from_dict(SCENARIO)
    times, summary = [], {}
    for seed in range(a.repeat):
        t0 = time.perf_counter()
        summary = simulate_cluster(sc, policy=a.policy, seed=seed).summary
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**30  # ru_maxrss is KiB on Linux
    out = {"policy": a.policy, "gpus": 10_000, "jobs": summary["jobs_submitted"], "simulated_s": summary["end_s"],
           "wall_s_runs": [round(t, 2) for t in times], "wall_s_median": round(med, 2),
           "sim_events": summary["sim_events"], "events_per_s": round(summary["sim_events"] / med),
           "peak_rss_gib": round(rss_gib, 3), "utilization": round(summary["utilization"], 3),
           "node_failures": summary["node_failures"], "interruptions": summary["interruptions"],
           "queue_wait_mean_s": round(summary["queue_wait_mean_s"], 1), "overloaded": summary["overloaded"],
           "target": "median < 20 s, memory < 2 GiB"}
    if a.json:
        print(json.dumps(out, indent=2))
    else:
        for k, v in out.items():
            print(f"{k:>18}: {v}")


if __name__ == "__main__":
    main()
