"""Inference services in a cluster run: replicas that follow a daily demand curve, placed on free GPUs first and
then by preempting batch jobs (cluster.policies.plan_replicas); the serving level and the demand over time."""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import Any

from simulator.cluster.policies import SERVICE_PRIORITY, RunningEntry, plan_replicas
from simulator.cluster.spec import ServiceSpec
from simulator.cluster.state import PoolState, ServiceState
from simulator.simkit import TimeWeightedMonitor
from simulator.units import SECONDS_PER_HOUR


class Services:
    """The replicas of every service (negative ids in `running`, newest most negative)."""

    def __init__(self, env: Any, specs: tuple[ServiceSpec, ...], pools: dict[str, PoolState],
                 running: dict[int, RunningEntry], preempt: Callable[[int], None]) -> None:
        self.env = env
        self.all = [ServiceState(s) for s in specs]
        self.pools = pools
        self.running = running
        self.preempt = preempt  # stop a batch job so a replica can take its GPUs
        self.owner: dict[int, ServiceState] = {}
        self.next_replica = -1
        self.serving = TimeWeightedMonitor("serving_gpus")
        self.demand = TimeWeightedMonitor("serving_demand_gpus")

    def process(self, svc: ServiceState, count_event: Callable[[], None],
                schedule: Callable[[], None]) -> Generator[Any, Any, None]:
        """Reconcile a service with its demand at the start of every hour."""
        while True:
            count_event()
            self.reconcile(svc)
            schedule()
            yield self.env.timeout(SECONDS_PER_HOUR - self.env.now % SECONDS_PER_HOUR)

    def reconcile(self, svc: ServiceState) -> None:
        """Drop replicas above the demand, or add replicas up to it (free GPUs first, then preempting batch jobs)."""
        now = self.env.now
        spec = svc.spec
        pool = self.pools[spec.pool]
        want = spec.replicas_at(now)
        have = len(svc.replicas)
        if want < have:
            for rid in sorted(svc.replicas)[: have - want]:  # newest replicas have the most negative ids
                self.drop(rid, lost=False)
        elif want > have:
            n, victims = plan_replicas(pool.view(), self.running, want - have, spec.gpus_per_replica)
            for jid in victims:
                self.preempt(jid)
            whole = spec.gpus_per_replica >= pool.gpn
            for _ in range(n):
                self._add(svc, pool, whole, now)
        self.levels(now)

    def _add(self, svc: ServiceState, pool: PoolState, whole: bool, now: float) -> None:
        gpr = svc.spec.gpus_per_replica
        rid = self.next_replica
        self.next_replica -= 1
        nodes = pool.allocate(gpr, whole, rid)
        svc.replicas[rid] = (nodes, now)
        self.owner[rid] = svc
        self.running[rid] = RunningEntry(rid, gpr, pool.id, SERVICE_PRIORITY, now, math.inf, False, nodes)
        pool.alloc.add(now, gpr)

    def drop(self, rid: int, lost: bool) -> None:
        """Remove a replica (demand fell, or its node failed: lost)."""
        svc = self.owner.pop(rid)
        pool = self.pools[svc.spec.pool]
        nodes, start = svc.replicas.pop(rid)
        svc.gpu_s += svc.spec.gpus_per_replica * (self.env.now - start)
        pool.release(nodes, rid)
        del self.running[rid]
        pool.alloc.add(self.env.now, -svc.spec.gpus_per_replica)
        svc.losses += int(lost)
        self.levels(self.env.now)

    def levels(self, now: float) -> None:
        self.serving.set(now, sum(len(s.replicas) * s.spec.gpus_per_replica for s in self.all))
        self.demand.set(now, sum(s.spec.replicas_at(now) * s.spec.gpus_per_replica for s in self.all))

    def close(self, now: float) -> None:
        """At the end of the run: count the GPU-seconds of the replicas still up."""
        for svc in self.all:
            svc.gpu_s += sum(svc.spec.gpus_per_replica * (now - start) for _, start in svc.replicas.values())
