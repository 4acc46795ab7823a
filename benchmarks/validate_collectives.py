"""Collective model vs published nccl-tests-style data, per family (collective x hardware x fabric x rank
bucket), fit and check sources separately: rows, median |error|, signed median (positive = predicted slower).

    python benchmarks/validate_collectives.py
"""

from __future__ import annotations

import pandas as pd

from simulator.validation import collectives as C


def _fmt(table: pd.DataFrame) -> str:
    return table.drop(columns="split").to_string(index=False, formatters={
        "median_abs_error": "{:.1%}".format, "signed_median": "{:+.1%}".format})


def main() -> int:
    df = C.with_errors(C.load_reference())
    gaps = set(C.KNOWN_GAPS)
    gap_rows = df[df["source_id"].isin(gaps)]
    pd.set_option("display.width", 200)
    for split in ("fit", "check"):
        part = C.family_table(df[(df["split"] == split) & ~df["source_id"].isin(gaps)])
        print(f"\n== {split} sources (target: median |error| <= {C.TARGET:.0%} on check)")
        print(_fmt(part))
    print("\n== known gaps (check sources the profiles cannot express; see KNOWN_GAPS)")
    print(_fmt(C.family_table(gap_rows)))
    for sid, why in C.KNOWN_GAPS.items():
        print(f"  {sid}: {why}")
    check = C.check_families(df)
    bad = check[(~check["known_gap"]) & (check["median_abs_error"] > C.TARGET)]
    print(f"\ncheck families over target: {len(bad)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
