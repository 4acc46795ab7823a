"""The job list of one run: explicit and trace jobs plus the draws of each generator (Poisson arrivals, GPU counts,
run-time mixtures, priorities) for one seed."""

from __future__ import annotations

import math

import numpy as np

from simulator.cluster.spec import ClusterScenario, GeneratorSpec, JobSpec, normalised
from simulator.errors import SimulatorError
from simulator.limits import MAX_JOBS
from simulator.units import SECONDS_PER_DAY, human_count, human_duration


def materialize_jobs(scenario: ClusterScenario, rng: np.random.Generator, until_s: float | None) -> tuple[JobSpec, ...]:
    """All jobs of one run, sorted by submit time (stable); generated jobs drawn from `rng`."""
    drawn: list[JobSpec] = list(scenario.jobs)
    for g in scenario.generators:
        drawn.extend(_draw(g, scenario, rng, until_s))
    drawn.sort(key=lambda j: j.submit_s)
    return tuple(drawn)


def _draw(g: GeneratorSpec, scenario: ClusterScenario, rng: np.random.Generator,
          until_s: float | None) -> list[JobSpec]:
    # horizon_s is the default --until: an explicit --until, longer or shorter, sets how long jobs arrive
    stop = min(x for x in (g.stop_s, until_s if until_s is not None else scenario.horizon_s, math.inf) if x is not None)
    if g.n_jobs is None and math.isinf(stop):
        raise SimulatorError(f"generator {g.name!r} is unbounded: set n_jobs or stop_s, or pass --until")
    mean_gap_s = SECONDS_PER_DAY / g.jobs_per_day
    expected = g.n_jobs if g.n_jobs is not None else (stop - g.start_s) / mean_gap_s
    if expected > MAX_JOBS:
        raise SimulatorError(
            f"generator {g.name!r} would submit about {human_count(expected)} jobs ({g.jobs_per_day:g} per day for "
            f"{human_duration(stop - g.start_s)}); one run simulates at most {MAX_JOBS:,}: pass a shorter --until or horizon_s, "
            f"or set the generator's stop_s or n_jobs")
    if g.n_jobs is not None:
        t = g.start_s + np.cumsum(rng.exponential(mean_gap_s, g.n_jobs))
    else:
        expect = int((stop - g.start_s) / mean_gap_s * 1.2) + 16
        t = g.start_s + np.cumsum(rng.exponential(mean_gap_s, expect))
        while t[-1] < stop:
            t = np.concatenate([t, t[-1] + np.cumsum(rng.exponential(mean_gap_s, expect))])
    t = t[t < stop]
    n = len(t)
    gpus = rng.choice(np.asarray(g.gpus_values), size=n, p=np.asarray(g.gpus_weights))
    comp = rng.choice(len(g.durations), size=n, p=normalised(d.weight for d in g.durations))
    dur = np.empty(n)
    for k, d in enumerate(g.durations):
        mask = comp == k
        dur[mask] = d.sample(rng, int(mask.sum()))
    prio = rng.choice(np.asarray(g.priority_values), size=n, p=np.asarray(g.priority_weights))
    speeds = [scenario.pool(p).relative_speed for p in g.pools]
    return [JobSpec(f"{g.name}-{k}", g.kind, int(gpus[k]), float(t[k]), g.pools,
                    tuple(float(dur[k]) / s for s in speeds), int(prio[k]), g.preemptible, g.whole_nodes,
                    g.checkpoint_write_s, g.restart_s, g.interval_s) for k in range(n)]
