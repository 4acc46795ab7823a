"""Predicted vs published training runs, per software stack, leave-one-source-out; peak memory; error-band coverage.

    python benchmarks/validate_training.py [--csv out.csv] [--rows]
"""

import argparse
import warnings

import pandas as pd

from simulator.catalog import stack_file, stack_ids
from simulator.validation import bands
from simulator.validation import training as validation


def _families(df: pd.DataFrame) -> pd.DataFrame:
    g = df.groupby("family")
    return pd.DataFrame({"rows": g.size(), "sources": g["source"].nunique(), "median_abs_error": g["abs_error"].median(),
                         "median_signed_error": g["error"].median(), "p10": g["error"].quantile(0.1),
                         "p90": g["error"].quantile(0.9)})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--csv", help="also write the leave-one-source-out table to this CSV file")
    ap.add_argument("--rows", action="store_true", help="print every row")
    args = ap.parse_args()
    warnings.simplefilter("ignore", RuntimeWarning)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_rows", 500)
    df = validation.leave_one_source_out()
    if args.rows:
        print(df[["row_id", "stack", "hardware", "n_gpus", "measured_step_s", "predicted_step_s", "error",
                  "feasible"]].to_string(index=False, formatters={"error": "{:+.1%}".format}))
    print("Training step time, leave-one-source-out (each stack refitted without the row's source document);")
    print("error = measured / predicted - 1 (positive: the model is optimistic). Family: stack | generation | scale.\n")
    print(_families(df).to_string(float_format="{:.1%}".format))
    s = validation.summary(df)
    print(f"\nall {s['rows']} published runs ({df['source'].nunique()} source documents): median |error| "
          f"{s['median_abs_error']:.1%}, median signed {df['error'].median():+.1%}, p90 |error| "
          f"{s['p90_abs_error']:.1%}; 80% error-band coverage {bands.coverage(df):.0%} (target 75-85%)")
    thumb = validation.rule_of_thumb()
    print(f"the peer rule of thumb (50% of the 16-bit peak for every run) on the same runs: median |error| "
          f"{thumb.abs_error.median():.1%}, median signed {thumb.error.median():+.1%}, p90 |error| "
          f"{thumb.abs_error.quantile(0.9):.1%}")
    bad = df[~df.feasible]
    print(f"published runs predicted not to fit: {len(bad)}" + (f" ({', '.join(bad.row_id)})" if len(bad) else ""))
    print("\nfitted stack figures (make fit-stacks):")
    for sid in stack_ids():
        f = stack_file(sid)
        if f.fitted_sources:
            print(f"  {sid:<14} compute_efficiency_scale {f.figures.compute_efficiency_scale.value:.4g}, "
                  f"step_overhead_s {f.figures.step_overhead_s.value:.4g} ({len(f.fitted_sources)} sources)")
        if f.figures.zero3_bytes_per_s.value is not None:
            loo = validation.zero3_leave_one_out(sid)
            print(f"  {sid:<14} ZeRO-3 terms, leave-one-out over its {len(loo)} rows: median |error| "
                  f"{loo.error.abs().median():.1%}, max {loo.error.abs().max():.1%}")
    mem = validation.validate_memory()
    print("\nPeak memory per GPU (error = predicted / measured - 1):")
    print(mem.groupby(["stack", "kind"]).agg(rows=("error", "size"), median_abs_error=("abs_error", "median"),
                                             median_signed_error=("error", "median")).to_string(
        float_format="{:.1%}".format))
    print(f"all {len(mem)} memory rows: median |error| {mem.abs_error.median():.1%}, "
          f"median signed {mem.error.median():+.1%}")
    if args.csv:
        df.to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
