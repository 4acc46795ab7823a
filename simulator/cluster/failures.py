"""Node failures, planned maintenance and repairs of one pool: a Poisson process of node events over the pool's
nodes (thinned: a node that is down cannot fail again), each taking its node down for a repair or maintenance time."""

from __future__ import annotations

from collections.abc import Callable, Generator
from functools import partial
from typing import Any

import numpy as np

from simulator.cluster.analytic import node_failure_rate_per_s
from simulator.cluster.spec import ReliabilitySpec
from simulator.cluster.state import PoolState


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
