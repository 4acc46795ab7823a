"""Generic SimPy helpers shared by the simulations: RNG streams, time-weighted monitors, record lists.

No domain logic lives here. Clock in seconds; every helper is deterministic given its inputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from simulator.errors import SimulatorError


# ---------------------------------------------------------------- randomness
def seed_sequence(seed: int | np.random.SeedSequence | None) -> np.random.SeedSequence:
    """A SeedSequence from an int seed (None means 0, so runs are reproducible by default)."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if seed is not None and (isinstance(seed, bool) or int(seed) != seed or seed < 0):
        raise SimulatorError(f"seed must be a non-negative integer, got {seed!r}; pass 0, 1, 2, ...")
    return np.random.SeedSequence(0 if seed is None else int(seed))


def rng_streams(seed: int | np.random.SeedSequence | None, names: Sequence[str]) -> dict[str, np.random.Generator]:
    """One independent Generator per named stream (SeedSequence.spawn), so adding draws to one
    stream never shifts another."""
    children = seed_sequence(seed).spawn(len(names))
    return {name: np.random.Generator(np.random.PCG64(child)) for name, child in zip(names, children, strict=True)}


# ---------------------------------------------------------------- time-weighted monitor
class TimeWeightedMonitor:
    """A piecewise-constant level (busy GPUs, queue length) recorded at each change.

    ``set(t, value)`` records the level from time ``t`` on; ``add(t, delta)`` changes it.
    Only the simulation that owns the monitor mutates it, and only within one run.
    """

    __slots__ = ("name", "_t", "_v", "level")

    def __init__(self, name: str, t0_s: float = 0.0, value: float = 0.0) -> None:
        self.name = name
        self._t: list[float] = [float(t0_s)]
        self._v: list[float] = [float(value)]
        self.level = float(value)

    def set(self, t_s: float, value: float) -> None:
        value = float(value)
        if value == self.level:
            return
        if t_s == self._t[-1]:  # several changes at one instant: keep the last
            self._v[-1] = value
        else:
            self._t.append(float(t_s))
            self._v.append(value)
        self.level = value

    def add(self, t_s: float, delta: float) -> None:
        self.set(t_s, self.level + delta)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Change times (s) and the level that holds from each of them."""
        return np.asarray(self._t, dtype=float), np.asarray(self._v, dtype=float)

    def integral(self, start_s: float, end_s: float) -> float:
        """Integral of the level over [start_s, end_s] (level x seconds)."""
        return time_weighted_integral(*self.arrays(), start_s, end_s)

    def mean(self, start_s: float, end_s: float) -> float:
        """Time-weighted mean over [start_s, end_s]; NaN for an empty window."""
        if end_s <= start_s:
            return float("nan")
        return self.integral(start_s, end_s) / (end_s - start_s)

    def maximum(self, start_s: float = -math.inf, end_s: float = math.inf) -> float:
        t, v = self.arrays()
        # the level holding at start_s counts too
        first = max(int(np.searchsorted(t, start_s, side="right")) - 1, 0)
        last = int(np.searchsorted(t, end_s, side="right"))
        return float(v[first:max(last, first + 1)].max())

    def to_frame(self, value_column: str | None = None):
        """The change points as a DataFrame with columns time_s and the monitor's name."""
        import pandas as pd

        t, v = self.arrays()
        return pd.DataFrame({"time_s": t, value_column or self.name: v})


def time_weighted_integral(t_s: np.ndarray, v: np.ndarray, start_s: float, end_s: float) -> float:
    """Integral of a right-continuous step function (level v[i] on [t[i], t[i+1])) over a window."""
    if end_s <= start_s or len(t_s) == 0:
        return 0.0
    edges = np.append(t_s, math.inf)
    lo = np.clip(edges[:-1], start_s, end_s)
    hi = np.clip(edges[1:], start_s, end_s)
    return float(np.sum(v * (hi - lo)))


def level_at(t_s: np.ndarray, v: np.ndarray, at_s: np.ndarray, before: float = math.nan) -> np.ndarray:
    """The level of a step function (v[i] from t_s[i] on) at each time of `at_s`; `before` ahead of its first
    change."""
    idx = np.searchsorted(t_s, at_s, side="right") - 1
    return np.where(idx >= 0, v[np.clip(idx, 0, None)], before)


# ---------------------------------------------------------------- records
class RecordList:
    """Append-only list of event or entity records (dicts with fixed keys) that becomes a DataFrame."""

    __slots__ = ("columns", "_rows")

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = tuple(columns)
        self._rows: list[tuple] = []

    def append(self, *values: Any) -> None:
        if len(values) != len(self.columns):
            raise ValueError(f"record needs {len(self.columns)} values ({', '.join(self.columns)}), got {len(values)}")
        self._rows.append(values)

    def __len__(self) -> int:
        return len(self._rows)

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame.from_records(self._rows, columns=list(self.columns))


# ---------------------------------------------------------------- statistics
def distribution_summary(values: Sequence[float] | np.ndarray, prefix: str, unit: str = "s") -> dict[str, float]:
    """mean, p50, p95, p99 and max of a sample, keyed ``{prefix}_mean_{unit}`` etc.; NaN when empty."""
    x = np.asarray(values, dtype=float)
    keys = ("mean", "p50", "p95", "p99", "max")
    if x.size == 0:
        return {f"{prefix}_{k}_{unit}": float("nan") for k in keys}
    p50, p95, p99 = np.percentile(x, [50, 95, 99])
    return {f"{prefix}_mean_{unit}": float(x.mean()), f"{prefix}_p50_{unit}": float(p50),
            f"{prefix}_p95_{unit}": float(p95), f"{prefix}_p99_{unit}": float(p99),
            f"{prefix}_max_{unit}": float(x.max())}


def growth_trend(t_s: np.ndarray, v: np.ndarray, start_s: float, end_s: float, n_bins: int = 4) -> np.ndarray:
    """Time-weighted mean of a step function over n_bins equal slices of [start_s, end_s]
    (used to tell a queue that keeps growing from one that fluctuates)."""
    edges = np.linspace(start_s, end_s, n_bins + 1)
    width = (end_s - start_s) / n_bins
    return np.array([time_weighted_integral(t_s, v, a, b) / width for a, b in zip(edges[:-1], edges[1:], strict=True)])


# ---------------------------------------------------------------- progress
def progress_process(env: Any, until_s: float, callback: Callable[[float], None], every_s: float):
    """A SimPy process that calls callback(now_s) every `every_s` of simulated time until `until_s`
    (feeds a progress bar from the shell; the core never prints)."""
    while env.now + every_s <= until_s:
        yield env.timeout(every_s)
        callback(env.now)
