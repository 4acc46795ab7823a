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

from simulator.calibrate.measurements import read_many  # noqa: E402
from simulator.calibrate.validate import validate  # noqa: E402
from simulator.catalog import load_hardware  # noqa: E402

MEAS = ROOT / "hardware_profiles" / "measurements"
TARGETS = {"gemm": 0.10, "allreduce": 0.15, "memory": None, "attention": None}


def cases() -> list[tuple[str, Path]]:
    host = sorted(MEAS.glob("host-cpu-*.csv"))
    out = [("host-cpu", host[-1])] if host else []
    pub = MEAS / "published"
    out += [("a100-sxm-80gb", pub / "a100-gemm.csv"), ("h100-sxm-80gb", pub / "h100-gemm.csv"),
            ("a100-sxm-80gb", pub / "a100-allreduce.csv"), ("a100-sxm-80gb", pub / "a100-allreduce-cross.csv"),
            ("h200-sxm-141gb", pub / "h200-allreduce.csv")]
    return out


def main() -> int:
    reports = []
    print(f"{'profile':<16}{'file':<28}{'family':<12}{'form':<12}{'n fit':>6}{'n chk':>6}{'median':>8}{'p90':>8}"
          f"{'max':>8}{'as-is med':>10}{'target':>8}")
    for profile, path in cases():
        report, _, _ = validate(read_many([path]), load_hardware(profile))
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
