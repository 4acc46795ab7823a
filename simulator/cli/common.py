"""What every subcommand shares: the parser that fails in one line, argument types, tables, output files."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import simulator as sim
from simulator.errors import SimulatorError

EXIT_USAGE = 2


class SimulatorParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]  # one line, exit 2, no usage dump
        sys.stderr.write(f"simulator: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def integer(text: str) -> int:
    try:
        return int(text)  # exact, however large
    except ValueError:
        pass
    try:
        value = float(text)  # 1e3, 64.0
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value != int(value):
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}")
    return int(value)


def _integer_at_least(text: str, minimum: int, expected: str) -> int:
    value = integer(text)
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    return _integer_at_least(text, 1, "a positive integer")


def count(text: str) -> int:
    return _integer_at_least(text, 0, "0 or more")


def seed(text: str) -> int:
    return _integer_at_least(text, 0, "a non-negative integer seed")


def non_negative(text: str) -> float:
    value = number(text)
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a finite number, 0 or more, got {text!r}")
    return value


def seconds(text: str) -> float:
    value = number(text)
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def print_rows(rows: list[tuple[str, str]]) -> None:
    """A two-column table: labels left-aligned to the widest, then values."""
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")


OUTPUT_SUFFIXES = (".csv", ".parquet", "")


def check_output_path(target: str | None, flag: str) -> None:
    """Fail before a long run, not after it, when an output file cannot be written."""
    if target is None:
        return
    if Path(target).suffix not in OUTPUT_SUFFIXES:
        raise SimulatorError(f"{flag} {target!r}: use a .csv or .parquet file name")
    if Path(target).expanduser().is_dir():
        raise SimulatorError(f"{flag} {target!r} is a folder; give a file name in it (e.g. {target}/out.csv)")
    folder = Path(target).expanduser().resolve().parent
    if not folder.is_dir():
        raise SimulatorError(f"{flag} {target!r}: cannot write: the folder {folder} does not exist; create it or choose "
                             "another path")


def write_frame(frame: Any, target: str, flag: str) -> None:
    """A DataFrame to a .csv (or extensionless) or .parquet file; one-line errors naming the flag."""
    check_output_path(target, flag)
    path = Path(target)
    try:
        if path.suffix == ".parquet":
            frame.to_parquet(path, index=False)
        else:
            frame.to_csv(path, index=False)
    except OSError as exc:
        raise SimulatorError(f"{flag} {target!r}: cannot write ({exc.strerror or exc}); check that the folder exists "
                             "and is writable") from None
    except ImportError as exc:
        raise SimulatorError(f"{flag} {target!r}: parquet needs pyarrow ({exc}); use .csv instead") from None


def warn_no_price(price_book: Any, purchase: str, hardware_id: str, effect: str = "costs are left out") -> None:
    """One stderr line when the price book (an id, a path, a loaded book; None: the default) has no price for the
    hardware."""
    book_id = sim.load_price_book(price_book).id
    fix = ("pass a --price-book with owned figures (e.g. owned-colo-2025-03)" if purchase == "owned"
           else "pass another --price-book or --purchase")
    sys.stderr.write(f"simulator: warning: price book {book_id!r} has no {purchase} price for {hardware_id}, so "
                     f"{effect}; {fix}\n")


def progress_bar(total: int, unit: str) -> Any:
    """A tqdm bar on stderr (tqdm is imported only when one is asked for)."""
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, file=sys.stderr, smoothing=0.1)
