"""Time kernels and write measurement CSVs (units in column names, environment metadata on top).

Method (after Bekman's mamf-finder, ml-engineering compute/accelerator/benchmarks): warm-up calls,
then repeated timed calls with device synchronisation, a cache flush before each call where it
matters (a buffer larger than the last-level cache is overwritten outside the timed region), and
the median with its spread (min, quartiles, max) recorded per case.

Only the standard library and numpy are imported here (torch lazily by its backend), so
``python -m simulator calibrate run --backend torch`` works on a machine with torch and numpy alone.
"""

from __future__ import annotations

import csv
import datetime as _dt
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Protocol

import numpy as np

from simulator.calibrate.kernels import Case
from simulator.errors import SimulatorError

FORMAT = "simulator-calibrate-measurements/1"
CASE_COLUMNS = [f.name for f in fields(Case) if f.name != "flush"]
STAT_COLUMNS = ["reps", "time_s", "time_s_min", "time_s_p25", "time_s_p75", "time_s_max", "time_s_best_round"]
COLUMNS = CASE_COLUMNS + STAT_COLUMNS


class BackendUnavailable(SimulatorError):
    """The requested backend (library or device) is not present; the CLI exits 2 with this message."""


@dataclass(frozen=True, slots=True)
class Timing:
    """How long to spend on one case: at least `min_reps` timed calls, then more until `min_time_s`
    of kernel time has accumulated or `max_reps` is reached."""

    warmup: int = 2
    min_reps: int = 8
    max_reps: int = 32
    min_time_s: float = 0.1
    # The suite is walked this many times, each pass taking a share of every case's repetitions, so a
    # burst of load from other processes spreads over many cases instead of spoiling a few.
    rounds: int = 4


class Backend(Protocol):
    name: str

    def environment(self) -> dict[str, str]: ...
    def suite(self, name: str) -> list[Case]: ...
    def prepare(self, case: Case) -> Callable[[], object]: ...
    def time_call(self, fn: Callable[[], object]) -> float: ...
    def flush(self) -> None: ...
    def release(self) -> None: ...


def summarize(rounds_s: list[list[float]]) -> dict[str, float]:
    """Median and spread of repeated timings (median: robust to the odd preempted call), plus
    `time_s_best_round`, the lowest of the per-round medians: on a shared machine a burst of other
    work slows whole rounds, and other processes only ever add time (cf. the Python timeit docs on
    why the fastest repeat is the informative one)."""
    t = np.asarray([x for r in rounds_s for x in r], dtype=float)
    best = min(float(np.median(r)) for r in rounds_s if r)
    return {"reps": int(t.size), "time_s": float(np.median(t)), "time_s_min": float(t.min()),
            "time_s_p25": float(np.percentile(t, 25)), "time_s_p75": float(np.percentile(t, 75)),
            "time_s_max": float(t.max()), "time_s_best_round": best}


def time_case(backend: Backend, case: Case, timing: Timing, share: float = 1.0, warmup: int | None = None) -> list[float]:
    """Warm up, then time repeated calls of one prepared kernel; `share` of the case's repetitions."""
    fn = backend.prepare(case)
    warmup = timing.warmup if warmup is None else warmup
    min_reps = max(1, round(timing.min_reps * share))
    max_reps = max(min_reps, round(timing.max_reps * share))
    try:
        for _ in range(warmup):
            fn()
        times: list[float] = []
        while len(times) < max_reps:
            if case.flush:
                backend.flush()
            times.append(backend.time_call(fn))
            if len(times) >= min_reps and sum(times) >= timing.min_time_s * share:
                break
        return times
    finally:
        backend.release()


def base_environment(backend: str, suite: str) -> dict[str, str]:
    """Host facts every measurement file carries (the backend adds device and library versions)."""
    env = {
        "format": FORMAT,
        "backend": backend,
        "suite": suite,
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "os": f"{platform.system()} {platform.release()}",
        "cpu_model": cpu_model(),
        "cpu_count": str(os.cpu_count()),
        "units": "time_s seconds; flop count; bytes bytes (SI); sizes m n k seq_len head_dim in elements",
    }
    load = getattr(os, "getloadavg", None)
    if load is not None:
        env["load_average_1min_at_start"] = f"{load()[0]:.2f}"
    return env


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (Linux) or platform as a fallback."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            info = f.read()
    except OSError:
        return platform.processor() or platform.machine()
    fields_: dict[str, str] = {}
    for line in info.splitlines():
        if ":" in line:
            key, _, value = line.partition(":")
            fields_.setdefault(key.strip(), value.strip())
    name = fields_.get("model name", platform.machine())
    family, model = fields_.get("cpu family"), fields_.get("model")
    return f"{name} (family {family} model {model})" if family and model else name


def run_suite(backend: Backend, suite: str, timing: Timing, families: set[str] | None = None,
              progress: Callable[[int, int, Case], None] | None = None,
              cases: list[Case] | None = None) -> tuple[dict[str, str], list[dict[str, object]]]:
    """Time every case of a suite; returns (environment metadata, one row per case)."""
    todo = cases if cases is not None else backend.suite(suite)
    if families:
        have = {c.family for c in todo}
        if families - have:
            raise SimulatorError(f"--families {', '.join(sorted(families - have))}: not in the {suite} suite of this "
                                 f"backend; choose from {', '.join(sorted(have))}")
        todo = [c for c in todo if c.family in families]
    env = backend.environment()
    env["suite"] = suite if not families else f"{suite} ({', '.join(sorted(families))})"
    env["timing"] = (f"{timing.rounds} interleaved rounds over the suite; per case warmup {timing.warmup} (1 in later rounds), "
                     f"reps {timing.min_reps}-{timing.max_reps} in all until {timing.min_time_s:g} s; median recorded")
    local = [c for c in todo if c.world_size <= 1]
    shared = [c for c in todo if c.world_size > 1]
    rows: list[dict[str, object]] = []
    t0 = time.perf_counter()
    rounds = max(1, timing.rounds)
    times: list[list[list[float]]] = [[] for _ in local]
    for r in range(rounds):
        for i, case in enumerate(local):
            if progress is not None:
                progress(r * len(local) + i, rounds * len(local), case)
            times[i].append(time_case(backend, case, timing, 1.0 / rounds, None if r == 0 else 1))
    rows += [_row(case, summarize(t)) for case, t in zip(local, times, strict=True)]
    if shared:
        run_collectives = getattr(backend, "run_collectives", None)
        if run_collectives is None:
            raise BackendUnavailable(f"backend {backend.name} cannot run collectives")
        rows += run_collectives(shared, timing)
    env["suite_wall_s"] = f"{time.perf_counter() - t0:.1f}"
    return env, rows


def _row(case: Case, stats: dict[str, float]) -> dict[str, object]:
    d = asdict(case)
    d.pop("flush")
    d["causal"] = int(bool(d["causal"]))
    d.update(stats)
    return d


def write_csv(path: str | Path, env: dict[str, str], rows: list[dict[str, object]]) -> Path:
    """Write `# key: value` metadata lines, then the CSV header and rows (column names carry units)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        for key, value in env.items():
            f.write(f"# {key}: {str(value).replace(chr(10), ' ')}\n")
        extra = [k for k in (rows[0] if rows else {}) if k not in COLUMNS]
        writer = csv.DictWriter(f, fieldnames=COLUMNS + extra)
        writer.writeheader()
        for r in rows:
            writer.writerow({k: _fmt(v) for k, v in r.items()})
    return path


def _fmt(v: object) -> object:
    if isinstance(v, float):
        return f"{v:.6g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.6e}"
    return v
