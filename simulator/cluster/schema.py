"""Pydantic models mirroring a cluster scenario YAML (`kind: cluster_scenario`), used only at the file boundary.

Defaults carry their source in a comment; every time is in seconds, every rate names its unit.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Field, PositiveInt, model_validator

from simulator import limits
from simulator.catalog.failures import load_failure_profile
from simulator.catalog.schema import (
    BatchSize,
    Entity,
    GpuCount,
    PlanSpec,
    Ref,
    Seconds,
    Strict,
    TokenCount,
    TrainTokens,
)
from simulator.cluster.failures import profile_rate
from simulator.cluster.policies import SERVICE_PRIORITY
from simulator.errors import SimulatorError
from simulator.units import SECONDS_PER_HOUR
from simulator.vocab import (
    DEFAULT_PRICE_BOOK,
    CheckpointInterval,
    CostOption,
    JobKind,
    PolicyName,
    RepairDistribution,
)

# positive and finite: an infinite duration, rate or interval would never end (or overflow the engine)
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
NodeCount = Annotated[int, Field(gt=0, le=limits.MAX_NODES)]
FailureRate = Annotated[float, Field(ge=0, le=limits.MAX_FAILURES_PER_1000_NODE_DAYS, allow_inf_nan=False)]
JobCount = Annotated[int, Field(gt=0, le=limits.MAX_JOBS)]
MAX_BATCH_PRIORITY = SERVICE_PRIORITY - 1  # inference replicas outrank every job

# Without a profile: Llama 3 405B, 54-day snapshot on 16,384 H100 (2,048 nodes): 419 unexpected + 47 planned
# interruptions (Meta, "The Llama 3 Herd of Models", via cluster_cost_reliability.md section 3.1-3.2, derived rates):
# 419 / (2048 x 54) x 1000 = 3.79 and 47 / (2048 x 54) x 1000 = 0.425 per 1000 node-days, rounded; the profile
# workloads/failures/meta-llama3-h100-2024.yaml holds the counts and their root causes.
DEFAULT_FAILURES_PER_1000_NODE_DAYS = 3.79
DEFAULT_PLANNED_PER_1000_NODE_DAYS = 0.425
# BLOOM-176B: 2.3 TB checkpoint written in 40 s on GPFS (stas00/ml-engineering; reference section 3.1).
DEFAULT_CHECKPOINT_WRITE_S = 40.0
# Restart/recovery of an LLM job: 5-10 min (reference section 6, unverified); 10 min also matches the default
# NCCL-style watchdog timeout that detects a dead rank (reference section 3.4).
DEFAULT_RESTART_S = 600.0
# Node repair: "node replacement ... can take hours" (OPT-175B logbook, reference section 3.1); no published
# mean, so 4 h exponential is an assumption to sweep.
DEFAULT_REPAIR_S = 4 * SECONDS_PER_HOUR
DEFAULT_MAINTENANCE_S = SECONDS_PER_HOUR  # assumption: planned maintenance keeps a node out for an hour



class PoolFile(Strict):
    id: str = Field(min_length=1)
    hardware: Ref
    nodes: NodeCount
    spare_nodes: int = Field(default=0, ge=0, le=limits.MAX_NODES)  # extra installed nodes (schedulable; they absorb failures)
    gpus_per_node: int | None = Field(None, gt=0, le=limits.MAX_GPUS_PER_NODE)  # default: the profile's node size
    relative_speed: float = Field(1.0, gt=0, le=limits.MAX_RELATIVE_SPEED, allow_inf_nan=False)  # divides plain `duration_s` jobs (Gavel-style throughput ratio)
    purchase: CostOption | None = None
    failures_per_1000_node_days: FailureRate | None = None  # overrides failures.* for this pool

    @model_validator(mode="after")
    def _size(self) -> PoolFile:
        gpus = (self.nodes + self.spare_nodes) * (self.gpus_per_node or 1)
        if gpus > limits.MAX_GPUS:
            raise ValueError(f"{self.nodes + self.spare_nodes:,} nodes x {self.gpus_per_node} GPUs = {gpus:,} GPUs, "
                             f"more than the {limits.MAX_GPUS:,} one pool may hold")
        return self


class FailuresFile(Strict):
    enabled: bool = True
    # A failure profile (workloads/failures id or path): a published fleet's figures, whose fitted per-node rates fill
    # the two rates below unless they are given (a given rate overrides the profile's).
    profile: str | None = Field(default=None, min_length=1)
    failures_per_1000_node_days: FailureRate = DEFAULT_FAILURES_PER_1000_NODE_DAYS
    planned_per_1000_node_days: FailureRate = DEFAULT_PLANNED_PER_1000_NODE_DAYS
    repair_time_s: Seconds = DEFAULT_REPAIR_S
    maintenance_time_s: Seconds = DEFAULT_MAINTENANCE_S
    repair_distribution: RepairDistribution = "exponential"
    max_restarts: PositiveInt | None = None  # a job interrupted more often than this is marked FAILED

    @model_validator(mode="before")
    @classmethod
    def _from_profile(cls, data: Any) -> Any:
        """Rates not written take the named profile's: its fitted unplanned rate (refused when it publishes none) and
        its planned rate (0 when it publishes none)."""
        if not isinstance(data, dict) or not isinstance(data.get("profile"), str) or not data["profile"]:
            return data
        try:
            prof = load_failure_profile(data["profile"])
        except SimulatorError as exc:
            raise ValueError(str(exc)) from None
        out = dict(data)
        if "failures_per_1000_node_days" not in out:
            rate = profile_rate(prof)
            if rate is None:
                raise ValueError(f"failure profile {prof.id!r} publishes no job interruption rate (only a component "
                                 "mix); give failures_per_1000_node_days or choose another profile")
            out["failures_per_1000_node_days"] = rate
        out.setdefault("planned_per_1000_node_days", profile_rate(prof, planned=True) or 0.0)
        return out


class CheckpointFile(Strict):
    write_time_s: NonNegativeFloat = DEFAULT_CHECKPOINT_WRITE_S
    restart_time_s: NonNegativeFloat = DEFAULT_RESTART_S
    interval: CheckpointInterval = "daly"  # 'none': no checkpoints, a failure loses everything
    interval_s: PositiveFloat | None = None  # fixed interval (compute seconds), overrides `interval`
    # Overhead paid on resuming a preempted job: 'helios' (7/30/60 s by size) or seconds.
    preemption_overhead: Literal["helios"] | NonNegativeFloat = "helios"

    def for_job(self, write_s: float | None = None, restart_s: float | None = None,
                interval_s: float | None = None) -> tuple[float, float, float | None]:
        """(write, restart, interval) seconds of a job, its own values first; interval None: by the rule
        (`interval`, e.g. Daly), inf: never checkpoint."""
        interval = interval_s if interval_s is not None else self.interval_s
        if interval is None and self.interval == "none":
            interval = math.inf
        return (self.write_time_s if write_s is None else write_s,
                self.restart_time_s if restart_s is None else restart_s, interval)


class StragglersFile(Strict):
    probability: float = Field(default=0.0, ge=0, le=1)  # chance a job segment runs slow
    slowdown: NonNegativeFloat = 0.2  # extra run time of a slow segment (0.2 = 20 % slower)


class EnergyFile(Strict):
    # Idle draw as a share of TDP for allocated-but-idle capacity; 0 counts only allocated GPU time (Epoch).
    idle_power_fraction_of_tdp: float = Field(default=0.0, ge=0, le=1)


class DurationFile(Strict):
    kind: Literal["fixed", "exponential", "lognormal", "loguniform", "uniform"]
    weight: PositiveFloat = 1.0  # mixture weight when a list of distributions is given
    value_s: PositiveFloat | None = None
    mean_s: PositiveFloat | None = None
    median_s: PositiveFloat | None = None
    sigma: PositiveFloat | None = None
    low_s: PositiveFloat | None = None
    high_s: PositiveFloat | None = None

    @model_validator(mode="after")
    def _params(self) -> DurationFile:
        need = {"fixed": ("value_s",), "exponential": ("mean_s",), "lognormal": ("median_s", "sigma"),
                "loguniform": ("low_s", "high_s"), "uniform": ("low_s", "high_s")}[self.kind]
        missing = [k for k in need if getattr(self, k) is None]
        if missing:
            raise ValueError(f"duration kind {self.kind!r} needs {', '.join(missing)}")
        if self.low_s is not None and self.high_s is not None and self.low_s >= self.high_s:
            raise ValueError(f"low_s ({self.low_s}) must be below high_s ({self.high_s})")
        return self


class _JobCommon(Strict):
    name: str = Field(min_length=1)
    kind: JobKind = "training"
    pools: list[str] | None = None  # allowed pools in preference order; default all
    priority: int = Field(default=0, ge=-MAX_BATCH_PRIORITY, le=MAX_BATCH_PRIORITY)
    preemptible: bool = True
    whole_nodes: bool = False  # round the gang up to whole nodes
    checkpoint_write_s: NonNegativeFloat | None = None
    restart_time_s: NonNegativeFloat | None = None
    checkpoint_interval_s: PositiveFloat | None = None


class TrainingPlanFile(PlanSpec):
    """A training run whose duration comes from the training core (estimate_training)."""

    model: Ref
    train_tokens: TrainTokens
    global_batch: BatchSize
    seq_len: TokenCount
    uneven_pp: bool = False  # pipeline stages with unequal layer counts (e.g. 126 layers on PP16)
    dropout: bool | None = None  # None: as the model file says
    stack: Ref | None = None  # software stack id or path (None: the default stack)


class JobFile(_JobCommon):
    gpus: GpuCount
    submit_s: NonNegativeFloat = 0.0
    count: JobCount = 1
    interarrival_s: NonNegativeFloat = 0.0  # copies are submitted this far apart
    duration_s: PositiveFloat | None = None  # run time at relative_speed 1, without failures or checkpoints
    training: TrainingPlanFile | None = None

    @model_validator(mode="after")
    def _one_duration(self) -> JobFile:
        if (self.duration_s is None) == (self.training is None):
            raise ValueError("give exactly one of duration_s (seconds) or training (model, tokens and plan)")
        return self


class GeneratorFile(_JobCommon):
    """A Poisson stream of jobs drawn from distributions (Gavel/Philly-style workload generator)."""

    jobs_per_day: PositiveFloat
    n_jobs: JobCount | None = None  # stop after this many (else at stop_s or the scenario horizon)
    start_s: NonNegativeFloat = 0.0
    stop_s: PositiveFloat | None = None
    gpus: GpuCount | dict[GpuCount, PositiveFloat]  # a count, or {count: weight}
    duration: DurationFile | list[DurationFile]
    priority_mix: dict[int, PositiveFloat] | None = None  # {priority: weight}; overrides `priority`

    @model_validator(mode="after")
    def _priorities(self):
        bad = [p for p in (self.priority_mix or {}) if abs(p) > MAX_BATCH_PRIORITY]
        if bad:
            raise ValueError(f"priority_mix keys {bad} are outside +-{MAX_BATCH_PRIORITY} (inference replicas "
                             "outrank every batch priority)")
        return self


class TraceFile(Strict):
    """A CSV in the public-trace style: job_id, submit_time, gpu_num, duration [, state, priority, pool, user]
    with times in seconds, sorted by submit_time (Helios/Acme column names)."""

    path: Ref  # relative to the scenario file
    pools: list[str] | None = None
    time_scale: PositiveFloat = 1.0  # multiply submit times and durations (e.g. to change the load)
    kind: JobKind = "batch"
    preemptible: bool = True


class ServiceFile(Strict):
    """An inference service that reserves GPUs following a daily demand curve; it preempts batch jobs."""

    name: str = Field(min_length=1)
    pool: str = Field(min_length=1)
    gpus_per_replica: GpuCount | None = None  # default: one node
    peak_replicas: GpuCount | None = None
    # Or size the peak from traffic: ceil(peak_requests_per_s / replica_requests_per_s), where the per-replica
    # rate is what one replica sustains under the SLO (e.g. from `simulator` capacity planning).
    peak_requests_per_s: PositiveFloat | None = None
    replica_requests_per_s: PositiveFloat | None = None
    demand_curve: list[float] = Field(min_length=24, max_length=24)  # share of peak for each hour of the day

    @model_validator(mode="after")
    def _curve(self) -> ServiceFile:
        bad = [i for i, v in enumerate(self.demand_curve) if not 0.0 <= v <= 1.0]
        if bad:
            raise ValueError(f"demand_curve values must be within [0, 1]; hour(s) {bad} are not")
        rates = (self.peak_requests_per_s, self.replica_requests_per_s)
        by_count = self.peak_replicas is not None and rates == (None, None)
        by_rate = self.peak_replicas is None and None not in rates
        if not (by_count or by_rate):
            raise ValueError("give peak_replicas, or both peak_requests_per_s and replica_requests_per_s")
        if by_rate and not self.peak_requests_per_s / self.replica_requests_per_s <= limits.MAX_GPUS:  # type: ignore[operator]
            raise ValueError(f"peak_requests_per_s / replica_requests_per_s needs more than {limits.MAX_GPUS:,} "
                             "replicas")
        return self

    def peak(self) -> int:
        """Replicas at the daily peak."""
        if self.peak_replicas is not None:
            return self.peak_replicas
        return math.ceil(self.peak_requests_per_s / self.replica_requests_per_s - 1e-9)  # type: ignore[operator]


class PublishedFile(Strict):
    """Published outcomes this scenario should reproduce (validation)."""

    interruptions: PositiveFloat | None = None
    effective_training_time_ratio: float | None = Field(default=None, gt=0, le=1)
    tolerance: float = Field(default=0.15, gt=0, lt=1)
    source: str = Field(min_length=1)


class ScenarioFile(Entity):
    kind: Literal["cluster_scenario"]
    description: str = ""
    horizon_s: PositiveFloat | None = None  # default --until
    warmup_s: NonNegativeFloat = 0.0  # excluded from utilisation and queue statistics
    policy: PolicyName = "fifo"
    price_book: Ref = DEFAULT_PRICE_BOOK
    owned_price_book: Ref = "owned-colo-2025-03"  # for `purchase: owned` pools and rent-vs-buy
    purchase: CostOption = "on_demand"
    max_scan: int = Field(512, gt=0, le=limits.MAX_JOBS)
    pools: list[PoolFile] = Field(min_length=1)
    failures: FailuresFile = FailuresFile()
    checkpoint: CheckpointFile = CheckpointFile()
    stragglers: StragglersFile = StragglersFile()
    energy: EnergyFile = EnergyFile()
    jobs: list[JobFile] = Field(default_factory=list)
    generators: list[GeneratorFile] = Field(default_factory=list)
    trace: TraceFile | None = None
    services: list[ServiceFile] = Field(default_factory=list)
    published: PublishedFile | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ScenarioFile:
        ids = [p.id for p in self.pools]
        if len(set(ids)) != len(ids):
            raise ValueError(f"pool ids must be unique, got {ids}")
        known = set(ids)
        for where, items in (("jobs", self.jobs), ("generators", self.generators)):
            for i, j in enumerate(items):
                for p in j.pools or ():
                    if p not in known:
                        raise ValueError(f"{where}[{i}] ({j.name}) names pool {p!r}; known pools: {sorted(known)}")
        for p in (self.trace.pools or ()) if self.trace else ():
            if p not in known:
                raise ValueError(f"trace names pool {p!r}; known pools: {sorted(known)}")
        for i, s in enumerate(self.services):
            if s.pool not in known:
                raise ValueError(f"services[{i}] ({s.name}) names pool {s.pool!r}; known pools: {sorted(known)}")
        if not (self.jobs or self.generators or self.trace or self.services):
            raise ValueError("a scenario needs at least one of jobs, generators, trace or services")
        if self.horizon_s is not None and self.warmup_s >= self.horizon_s:
            raise ValueError(f"warmup_s ({self.warmup_s:g}) must be below horizon_s ({self.horizon_s:g}), or nothing "
                             "is measured; shorten the warm-up or lengthen the horizon")
        if self.horizon_s is not None and self.horizon_s > limits.MAX_SIM_SECONDS:
            raise ValueError(f"horizon_s {self.horizon_s:.3g} is beyond the 100 years one run simulates "
                             f"({limits.MAX_SIM_SECONDS:.3g} s)")
        return self
