"""`simulator validate`: predictions against the shipped published measurements (what `make validate` prints)."""

from __future__ import annotations

import argparse
import datetime
from typing import Any

import simulator as sim
from simulator.cli.common import int_range, user_path
from simulator.vocab import VALIDATION_PARTS


def register(sub: Any) -> None:
    """Add the `validate` subcommand."""
    p = sub.add_parser("validate", help="check the predictions against the shipped published measurements")
    p.add_argument("parts", nargs="*", metavar="PART", help=f"which parts (default: all): {', '.join(VALIDATION_PARTS)}")
    p.add_argument("--rows", action="store_true", help="also print every training/inference row")
    p.add_argument("--csv", type=user_path("a file name"), help="also write the training leave-one-source-out table to this CSV file")
    p.add_argument("--fit", action="store_true", help="re-fit the inference engines' host terms on the fit rows first")
    p.add_argument("--seeds", type=int_range(1, 100, "a seed count"), default=10, help="cluster simulation seeds (default 10)")
    p.add_argument("--readme", type=user_path("a file name"), metavar="PATH",
                   help="also write each part's summary lines into PATH's <!-- validate:start --> block (make "
                        "validate: README.md)")
    p.set_defaults(func=cmd_validate)


def cmd_validate(a: argparse.Namespace) -> int:
    """Print each part's tables as it finishes; exit 0 when it ran (a missed target is printed, not an error)."""
    if a.seeds < 1 or a.seeds > 100:
        raise sim.SimulatorError("--seeds must be between 1 and 100")
    reports = sim.validation_report(a.parts or VALIDATION_PARTS, rows=a.rows, csv=a.csv, fit=a.fit, seeds=a.seeds,
                                    emit=lambda text: print(text, flush=True))
    if a.readme:
        sim.write_validation_readme(a.readme, reports, datetime.date.today().isoformat())
        print(f"wrote the summary lines into {a.readme}")
    return 0
