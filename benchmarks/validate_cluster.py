"""Validate the cluster simulation: the Llama-3-like 54-day run against Meta's published interruption count and
effective training time, and FIFO single-GPU queues against Erlang C (M/M/c). Prints a table with the error per
row, the spread over seeds and the median error.

    .venv/bin/python benchmarks/validate_cluster.py [--seeds 10] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simulator.validation.cluster import format_table, validate_mmc, validate_published  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--mmc-jobs", type=int, default=60_000)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    t0 = time.perf_counter()
    rows = validate_published("pretrain-16k-h100-54d", seeds=a.seeds)
    for servers, rho in ((4, 0.6), (16, 0.8), (1, 0.5)):
        rows += validate_mmc(servers=servers, utilization=rho, n_jobs=a.mmc_jobs, seeds=a.seeds)
    if a.json:
        print(json.dumps([r.to_dict() for r in rows], indent=2))
    else:
        print(format_table(rows))
        print(f"({time.perf_counter() - t0:.0f} s; sources: " + "; ".join(sorted({r.source for r in rows})) + ")")
    return 0 if all(r.passed for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
