"""What every subcommand shares: the parser that fails in one line, argument types, tables, output files."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import simulator as sim
from simulator import limits
from simulator.errors import SimulatorError

EXIT_USAGE = 2


class SimulatorParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]  # one line, exit 2, no usage dump
        sys.stderr.write(f"simulator: error: {message}\n")
        raise SystemExit(EXIT_USAGE)

    def _get_values(self, action: argparse.Action, arg_strings: list[str]) -> Any:
        # argparse drops a '--' value (`--gpus=--`) and hands the option an empty list instead of calling its type
        if action.option_strings and action.nargs is None and arg_strings == ["--"]:
            self.error(f"argument {'/'.join(action.option_strings)}: expected one argument, got '--'")
        return super()._get_values(action, arg_strings)


def _parse_number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {_shown(text)}") from None


def _shown(text: str) -> str:
    """The argument as typed, cut short: an error line stays one short line whatever was passed."""
    return repr(text) if len(text) <= 40 else f"{text[:40]!r}... ({len(text):,} characters)"


def _parse_integer(text: str) -> int:
    if len(text) > 40:  # past any bound below (and int() of a 5,000-digit string raises its own error)
        raise argparse.ArgumentTypeError(f"expected an integer, got {_shown(text)}")
    try:
        return int(text)  # exact, however large
    except ValueError:
        pass
    try:
        value = float(text)  # 1e3, 64.0
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value != int(value):
        raise argparse.ArgumentTypeError(f"expected an integer, got {_shown(text)}")
    return int(value)


def int_range(low: int, high: int, what: str = "an integer") -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high] (1e3 and 64.0 count as whole; inf, NaN, 1.5 do not)."""
    def parse(text: str) -> int:
        value = _parse_integer(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {what} from {low:,} to {high:,}, got {_shown(text)}")
        return value
    parse.__name__ = what  # argparse names the type in some messages
    return parse


def float_range(low: float, high: float, what: str = "a number", low_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number in [low, high] ((low, high] when `low_open`)."""
    def parse(text: str) -> float:
        value = _parse_number(text)
        ok = (low < value if low_open else low <= value) and value <= high  # NaN fails both
        if not ok:
            bound = f"above {low:g}" if low_open else f"from {low:g}"
            raise argparse.ArgumentTypeError(f"expected {what} {bound} to {high:g}, got {_shown(text)}")
        return value
    parse.__name__ = what
    return parse


# the argument types of the subcommands: every number a user types is finite and within a bound (simulator.limits)
gpus = int_range(1, limits.MAX_GPUS, "a GPU count")
degree = int_range(1, limits.MAX_GPUS, "a parallel size")
replicas = int_range(1, limits.MAX_GPUS, "a replica count")
some_replicas = int_range(0, limits.MAX_GPUS, "a replica count")
tokens = int_range(1, limits.MAX_TOKENS, "a token count")
batch = int_range(1, limits.MAX_BATCH, "a batch size")
batched_tokens = int_range(1, limits.MAX_BATCHED_TOKENS, "a token budget")
requests = int_range(1, limits.MAX_REQUESTS, "a request count")
probe_requests = int_range(1, limits.MAX_PROBE_REQUESTS, "a request count")
train_tokens = float_range(0, limits.MAX_TRAIN_TOKENS, "a token count", low_open=True)
rate = float_range(0, limits.MAX_RATE_PER_S, "requests per second", low_open=True)
positive_int = int_range(1, limits.MAX_TOP, "a positive integer")
count = int_range(0, limits.MAX_TOP, "a count")
seed = int_range(0, limits.MAX_SEED, "a non-negative integer seed")
seconds = float_range(0, limits.MAX_SIM_SECONDS, "seconds", low_open=True)
kernel_dim = int_range(0, limits.MAX_KERNEL_DIM, "a kernel size")
kernel_bytes = float_range(0, limits.MAX_KERNEL_BYTES, "bytes")
workers = int_range(1, limits.MAX_WORKERS, "a worker count")
threads = int_range(1, limits.MAX_WORKERS, "a thread count")
rounds = int_range(1, limits.MAX_ROUNDS, "a number of rounds")
min_time_s = float_range(0, limits.MAX_MIN_TIME_S, "seconds", low_open=True)
error_fraction = float_range(0, limits.MAX_ERROR_FRACTION, "a fraction")


def user_path(what: str) -> Callable[[str], str]:
    """An argparse type for an id or a path: refused in one line when no file system could hold it (longer than
    PATH_MAX, a name past NAME_MAX, a NUL byte), before anything tries to open it."""
    def parse(text: str) -> str:
        try:
            limits.check_ref(what, text)
        except SimulatorError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return text
    parse.__name__ = what
    return parse


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
    try:
        Path(target).expanduser()
    except RuntimeError as exc:  # ~user of no user
        raise SimulatorError(f"{flag} {target!r}: {exc}; give the path without ~") from None
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
