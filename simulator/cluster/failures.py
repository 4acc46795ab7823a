"""Node failures, planned maintenance and repairs of one pool: a Poisson process of node events over the pool's
nodes (thinned: a node that is down cannot fail again), each taking its node down for a repair or maintenance time.

The rates come from the failure model: a named profile (workloads/failures, simulator.catalog.failures) holds what a
published fleet reported; `profile_rate` fits its per-node rate per 1000 node-days on those figures (each a count of
one job's interruptions over a window, or a job mean time to interruption at a size), so a job spanning n nodes is
interrupted n x r / 1000 times a day (Kokolis et al. 2024: MTTF = 1 / (nodes x r_f)); `component_rates` splits that
by component class (GPU, HBM, network, host, software/other) where the source published root causes.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from functools import partial
from typing import Any

import numpy as np

from simulator.catalog.failures import FailureProfile, Observation
from simulator.cluster.analytic import (
    job_interruptions,
    job_mtti_s,
    node_failure_rate_per_s,
    nodes_spanned,
    pooled_rate,
    rate_from_count,
    rate_from_mtti,
)
from simulator.cluster.spec import ReliabilitySpec
from simulator.cluster.state import PoolState


def observation_rate(obs: Observation, gpus_per_node: int) -> float:
    """One published figure as a per-node rate per 1000 node-days (a fleet rate is already one)."""
    if obs.quantity == "interruptions":
        return rate_from_count(obs.value, nodes_spanned(obs.gpus or 0, gpus_per_node), obs.window_days or 0.0)
    if obs.quantity == "job_mtti_s":
        return rate_from_mtti(obs.value, nodes_spanned(obs.gpus or 0, gpus_per_node))
    return obs.value


def fit_rows(profile: FailureProfile, planned: bool = False) -> list[Observation]:
    """The profile's figures its unplanned (or planned) rate is fitted on."""
    return [o for o in profile.observations if o.fit and o.planned == planned]


def profile_rate(profile: FailureProfile, planned: bool = False) -> float | None:
    """The profile's per-node job interruption rate per 1000 node-days, pooled over its fitted figures (None when it
    publishes none, e.g. a component mix only)."""
    rows = fit_rows(profile, planned)
    if not rows:
        return None
    return pooled_rate([observation_rate(o, profile.gpus_per_node) for o in rows])


def component_rates(profile: FailureProfile, failures_per_1000_node_days: float) -> dict[str, float]:
    """The unplanned rate split by component class with the profile's published root-cause shares ({} if none)."""
    return {c: share * failures_per_1000_node_days for c, share in profile.component_shares}


def predict(obs: Observation, gpus_per_node: int, failures_per_1000_node_days: float) -> float:
    """What a per-node rate predicts for a published figure: a count over its window or a job MTTI (seconds)."""
    nodes = nodes_spanned(obs.gpus or 0, gpus_per_node)
    if obs.quantity == "interruptions":
        return job_interruptions(nodes, obs.window_days or 0.0, failures_per_1000_node_days)
    if obs.quantity == "job_mtti_s":
        return job_mtti_s(nodes, failures_per_1000_node_days)
    return failures_per_1000_node_days


class Failures:
    """Draws node failures and maintenance, and repairs; the run reacts through `on_down` and `after_change`."""

    def __init__(self, env: Any, rel: ReliabilitySpec, rng: dict[str, np.random.Generator],
                 on_down: Callable[[PoolState, int, str], None], after_change: Callable[[], None],
                 count_event: Callable[[], None]) -> None:
        self.env = env
        self.rel = rel
        self.rng = rng  # streams "failures:<pool>" and "repairs"
        self.on_down = on_down  # interrupt what ran on the node (pool, node, cause)
        self.after_change = after_change  # reschedule: capacity went or came back
        self.count_event = count_event

    def process(self, pool: PoolState) -> Generator[Any, Any, None]:
        """Node events of one pool for the whole run."""
        spec = pool.spec
        rate = spec.nodes * node_failure_rate_per_s(pool.rate_total)
        if rate <= 0:
            return
        rng = self.rng[f"failures:{pool.id}"]
        planned_share = spec.planned_per_1000_node_days / pool.rate_total
        while True:
            yield self.env.timeout(rng.exponential(1.0 / rate))
            node = int(rng.integers(spec.nodes))
            planned = rng.random() < planned_share
            if pool.up[node]:  # thinning: a node that is down cannot fail again
                self.count_event()
                self.node_down(pool, node, "maintenance" if planned else "failure")

    def repair_s(self, cause: str) -> float:
        """How long a node stays down: the maintenance time, or a fixed or exponential repair time."""
        if cause == "maintenance":
            return self.rel.maintenance_time_s
        if self.rel.repair_distribution == "fixed":
            return self.rel.repair_time_s
        return float(self.rng["repairs"].exponential(self.rel.repair_time_s))

    def node_down(self, pool: PoolState, node: int, cause: str) -> None:
        pool.take_down(node, self.env.now)
        self.on_down(pool, node, cause)
        self.env.timeout(self.repair_s(cause)).callbacks.append(partial(self._node_up, pool, node))
        self.after_change()

    def _node_up(self, pool: PoolState, node: int, _event: Any) -> None:
        self.count_event()
        pool.bring_up(node, self.env.now)
        self.after_change()
