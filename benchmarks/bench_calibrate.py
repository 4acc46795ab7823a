"""How long calibration takes: the quick numpy measurement, a fit, a validation and a kernel prediction.

    python benchmarks/bench_calibrate.py [--no-measure]

Timings only (never asserted). The quick suite must stay under 2 minutes on a 2-core machine.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator.calibrate.kernel import predict_kernel  # noqa: E402
from simulator.calibrate.measurements import read_many  # noqa: E402
from simulator.calibrate.validate import validate  # noqa: E402
from simulator.catalog import load_hardware  # noqa: E402

MEAS = ROOT / "hardware_profiles" / "measurements"


def timed(label: str, fn, *args, **kw):
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    print(f"{label:<48}{time.perf_counter() - t0:>9.2f} s")
    return out


def main() -> int:
    hw = load_hardware("host-cpu")
    if "--no-measure" not in sys.argv:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "quick.csv"
            cmd = [sys.executable, "-m", "simulator", "calibrate", "run", "--backend", "numpy", "--suite",
                   "quick", "--threads", "1", "--out", str(path)]
            timed("calibrate run --suite quick --threads 1 (numpy)", subprocess.run, cmd, cwd=ROOT, check=True,
                  capture_output=True)
            m = read_many([path])
            report, _, _ = timed("validate the fresh quick measurement", validate, m, hw)
        g = report["families"]["gemm"]["check"]
        print(f"  fresh quick run: GEMM held-out median {g['median']:.1%}, p90 {g['p90']:.1%} "
              f"(load average at start {m.meta[str(path)].get('load_average_1min_at_start')})")
    committed = sorted(MEAS.glob("host-cpu-*.csv"))[-1]
    timed(f"validate {committed.name} (fit + check)", validate, read_many([committed]), hw)
    timed("validate published/a100-gemm.csv", validate, read_many([MEAS / "published" / "a100-gemm.csv"]),
          load_hardware("a100-sxm-80gb"))
    timed("validate published/h200-allreduce.csv", validate,
          read_many([MEAS / "published" / "h200-allreduce.csv"]), load_hardware("h200-sxm-141gb"))
    h100 = load_hardware("h100-sxm-80gb")
    t0 = time.perf_counter()
    for _ in range(1000):
        predict_kernel(h100, "gemm", m=4096, n=4096, k=4096)
    print(f"{'simulator kernel --op gemm (per call)':<48}{(time.perf_counter() - t0) / 1000 * 1e6:>9.1f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
