"""Print predicted vs published training throughput, row by row, with the error summary.

    python benchmarks/validate_training.py [--csv out.csv]
"""

import argparse

import pandas as pd

from simulator.core.training import FRAMEWORKS
from simulator.validation import training as validation


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--csv", help="also write the table to this CSV file")
    args = ap.parse_args()
    everything = validation.validate()
    pd.set_option("display.width", 200)
    pd.set_option("display.max_rows", 500)
    cols = ["row_id", "hardware", "n_gpus", "metric", "value", "measured_step_s", "predicted_step_s", "error", "feasible",
            "split"]
    print(everything[cols].to_string(index=False, formatters={"error": "{:+.1%}".format,
                                                       "measured_step_s": "{:.4g}".format,
                                                       "predicted_step_s": "{:.4g}".format}))
    print()
    fit = everything[everything.split == "fit"]
    df = everything[everything.split == "check"]
    print(f"{len(fit)} rows fitted framework terms (simulator.core.training.FRAMEWORKS) and are left out below: "
          f"{', '.join(fit.row_id)}")
    for name, fw in FRAMEWORKS.items():
        if fw.fitted_on:
            loo = validation.framework_leave_one_out(name)
            print(f"{name}, leave-one-out over its {len(loo)} rows: median |error| {loo.error.abs().median():.1%}, "
                  f"max {loo.error.abs().max():.1%}")
    print()
    by = validation.family_summary(df)
    print(by.to_string(float_format="{:.1%}".format))
    s = validation.summary(df)
    print(f"\nall {s['rows']} check rows: median |error| {s['median_abs_error']:.1%}, p90 {s['p90_abs_error']:.1%}, "
          f"max {s['max_abs_error']:.1%}, mean signed {s['mean_signed_error']:+.1%}; "
          f"rows within 25%: {(df.abs_error <= 0.25).mean():.0%}; "
          f"rows that ran but are predicted not to fit: {(~df.feasible).sum()}")
    hold = validation.validate(validation.HOLDOUT_H100_CSV)
    h = validation.summary(hold)
    print(f"out of sample, llm-foundry H100 BF16 table ({h['rows']} rows): median |error| {h['median_abs_error']:.1%}, "
          f"max {h['max_abs_error']:.1%}, mean signed {h['mean_signed_error']:+.1%} (looked at, never fitted)")
    if args.csv:
        everything.to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
