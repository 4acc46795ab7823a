"""A cluster scenario as frozen domain types: node pools, jobs as submitted, job generators, inference services and
the reliability settings (built from YAML by cluster.scenario)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulator.core.cost import PriceBook
from simulator.core.hardware import Accelerator
from simulator.units import SECONDS_PER_HOUR


@dataclass(frozen=True, slots=True)
class PoolSpec:
    id: str
    hardware: Accelerator
    nodes: int  # installed nodes, spares included
    spare_nodes: int
    gpus_per_node: int
    relative_speed: float
    purchase: str
    failures_per_1000_node_days: float
    planned_per_1000_node_days: float

    @property
    def gpus(self) -> int:
        return self.nodes * self.gpus_per_node


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One job as submitted (the engine numbers jobs by their position in submit order)."""

    name: str
    kind: str
    gpus: int
    submit_s: float
    pools: tuple[str, ...]
    work_s: tuple[float, ...]  # failure-free run time in each allowed pool (same order as pools)
    priority: int
    preemptible: bool
    whole_nodes: bool
    checkpoint_write_s: float
    restart_s: float
    interval_s: float | None  # None: Young/Daly from the job's MTTI
    final_state: str = "COMPLETED"  # trace replay: how the job ends when it runs to the end
    user: str = ""


@dataclass(frozen=True, slots=True)
class Distribution:
    """One run-time distribution (seconds); `sample` is vectorised."""

    kind: str
    weight: float
    a: float  # value_s | mean_s | median_s | low_s
    b: float = 0.0  # sigma | high_s

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.kind == "fixed":
            return np.full(n, self.a)
        if self.kind == "exponential":
            return rng.exponential(self.a, n)
        if self.kind == "lognormal":
            return self.a * np.exp(self.b * rng.standard_normal(n))
        if self.kind == "loguniform":
            return np.exp(rng.uniform(math.log(self.a), math.log(self.b), n))
        return rng.uniform(self.a, self.b, n)


@dataclass(frozen=True, slots=True)
class GeneratorSpec:
    name: str
    kind: str
    jobs_per_day: float
    n_jobs: int | None
    start_s: float
    stop_s: float | None
    gpus_values: tuple[int, ...]
    gpus_weights: tuple[float, ...]
    durations: tuple[Distribution, ...]
    priority_values: tuple[int, ...]
    priority_weights: tuple[float, ...]
    pools: tuple[str, ...]
    preemptible: bool
    whole_nodes: bool
    checkpoint_write_s: float
    restart_s: float
    interval_s: float | None


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    name: str
    pool: str
    gpus_per_replica: int
    peak_replicas: int
    demand_curve: tuple[float, ...]  # share of peak per hour of day, hour 0 = simulation start

    def replicas_at(self, t_s: float) -> int:
        """Replicas wanted at time t: ceil(peak x curve[hour of day])."""
        hour = int(t_s // SECONDS_PER_HOUR) % 24
        return math.ceil(self.peak_replicas * self.demand_curve[hour] - 1e-9)


@dataclass(frozen=True, slots=True)
class ReliabilitySpec:
    repair_time_s: float
    maintenance_time_s: float
    repair_distribution: str
    max_restarts: int | None
    interval_method: str  # daly | young | none
    preemption_overhead_s: float | None  # None: Helios 7/30/60 s by size
    straggler_probability: float
    straggler_slowdown: float
    failure_profile: str | None = None  # the failure profile (workloads/failures) the pools' rates came from


@dataclass(frozen=True, slots=True)
class ClusterScenario:
    id: str
    name: str
    path: str
    description: str
    pools: tuple[PoolSpec, ...]
    jobs: tuple[JobSpec, ...]  # explicit and trace jobs (ids assigned by materialize_jobs)
    generators: tuple[GeneratorSpec, ...]
    services: tuple[ServiceSpec, ...]
    reliability: ReliabilitySpec
    policy: str
    price_book: PriceBook
    owned_book: PriceBook | None
    horizon_s: float | None
    warmup_s: float
    max_scan: int
    idle_power_fraction_of_tdp: float
    published: dict[str, Any] | None
    sources: tuple[str, ...] = ()

    def pool(self, pool_id: str) -> PoolSpec:
        return next(p for p in self.pools if p.id == pool_id)

    @property
    def gpus(self) -> int:
        return sum(p.gpus for p in self.pools)


def normalised(weights: Any) -> tuple[float, ...]:
    """Weights scaled to sum to one (the probabilities of a mixture)."""
    w = np.asarray(list(weights), dtype=float)
    return tuple((w / w.sum()).tolist())
