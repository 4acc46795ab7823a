"""Held-out kernel-prediction error: the committed host-cpu measurement and the published GPU sweeps.

    python benchmarks/validate_kernels.py            # table
    python benchmarks/validate_kernels.py --json     # per-file reports

Each file is split by shape family (message size for single-sweep collectives), fitted on one half
with the same functions the training estimates use, and scored on the other half. Targets (issue 7):
host-cpu GEMM median <= 10 %, p90 <= 20 %; published GPU GEMM median <= 10 %; collectives median <= 15 %.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import simulator as sim  # noqa: E402

TARGETS = {"gemm": 0.10, "allreduce": 0.15, "memory": None, "attention": None}


def main() -> int:
    reports = []
    print(f"{'profile':<16}{'file':<28}{'family':<12}{'form':<12}{'n fit':>6}{'n chk':>6}{'median':>8}{'p90':>8}"
          f"{'max':>8}{'as-is med':>10}{'target':>8}")
    for profile, path, report, _ in sim.validate_kernels():
        reports.append(report)
        for fam, e in report["families"].items():
            c = e["check"]
            target = TARGETS.get(fam)
            ok = "" if target is None else ("ok" if c["median"] <= target else "MISS")
            print(f"{profile:<16}{path.name:<28}{fam:<12}{e.get('form', '-'):<12}{e['n_fit']:>6}{e['n_check']:>6}"
                  f"{c['median']:>8.1%}{c['p90']:>8.1%}{c['max']:>8.1%}{e['profile_check']['median']:>10.1%}"
                  f"{ok:>8}")
    if "--json" in sys.argv:
        print(json.dumps(reports, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
