"""Compare inference predictions with published engine measurements (simulator/validation/data/inference_reference.csv).

    python benchmarks/validate_inference.py            # table per block, fit and check rows apart
    python benchmarks/validate_inference.py --fit      # re-fit the engine host terms on the fit rows,
                                                       # then each host's speed on its fit-host rows
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from simulator.catalog import load_hardware
from simulator.core.inference import ENGINES
from simulator.validation.inference import (
    FIT_PARAMS,
    TARGETS,
    fit_engine,
    fit_host_speed,
    load_rows,
    summary,
    validate,
)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fit", action="store_true", help="re-fit the host terms of each family that has fit rows")
    ap.add_argument("--rows", action="store_true", help="print every row")
    a = ap.parse_args(argv)
    df = load_rows()
    engines = dict(ENGINES)
    if a.fit:
        for family in sorted(set(df.loc[df["split"] == "fit", "engine"])):
            prof = fit_engine(df, family)
            engines[family] = prof
            print(f"fitted {family}: " + ", ".join(f"{p}={getattr(prof, p):.4g}" for p in FIT_PARAMS))
        for hardware in sorted(set(df.loc[df["split"] == "fit-host", "hardware"])):
            speed = fit_host_speed(df, hardware, engines)
            print(f"fitted {hardware} host speed_vs_reference={speed:.3f} (profile holds "
                  f"{load_hardware(hardware).host_speed:.3f}; the table below uses the profile)")
    t0 = time.perf_counter()
    table = validate(df, engines)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_rows", 500)
    if a.rows:
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(summary(table).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    check = table[table["split"] == "check"]
    print(f"\ncheck rows: {len(check)}, median |error| {check['error'].abs().median():.3f}, "
          f"max {check['error'].abs().max():.3f}  ({time.perf_counter() - t0:.1f} s)")
    for block, target in TARGETS.items():
        e = check.loc[check["block"] == block, "error"].abs()
        print(f"target {block}: median {e.median():.3f} (target {target:.2f}) over {len(e)} check rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
