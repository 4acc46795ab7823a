"""Failure profiles (workloads/failures/<id>.yaml): what a published fleet reported about job interruptions, each
figure with its source, as frozen types for the cluster failure model (simulator.cluster.failures fits the rates).

A profile holds the fleet (GPU generation, node size, setting, period), the published figures (`observations`: a
count of interruptions of one job over a window, a job mean time to interruption at a size, or a fleet's node
failure rate), the root causes it published by component class (`causes`) and the recovery figures it gave
(checkpoint write, lost work, health-check period...). A figure without its source is refused at load."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from simulator import limits
from simulator.catalog.paths import ROOT, resolve, shipped_ids
from simulator.catalog.schema import Entity, Strict
from simulator.catalog.stacks import Sourced
from simulator.catalog.yamlio import read_yaml, validate_file
from simulator.errors import DataFileError, UnknownIdError

FAILURES_DIR = ROOT / "workloads" / "failures"

# Component classes of a root cause: GPU die (SRAM, system processor, thermal, SDC included), its HBM, the network
# (NVLink, NIC, switch, cable, InfiniBand/RoCE), the rest of the host (CPU, memory, SSD, PSU, chassis, unplanned host
# maintenance) and software/other (bugs, dependencies, watchdog timeouts of unknown cause).
Component = Literal["gpu", "hbm", "network", "host", "software"]
COMPONENT_CLASSES: tuple[str, ...] = ("gpu", "hbm", "network", "host", "software")
# interruptions: events of one job over a window; job_mtti_s: a job's mean time to interruption at a size;
# node_failures_per_1000_node_days: a fleet's node failure rate (not what one job sees; never fitted on by default)
Quantity = Literal["interruptions", "job_mtti_s", "node_failures_per_1000_node_days"]

# Every figure is finite and bounded (simulator.limits, each bound with its reason): an `.inf` count made an infinite
# rate, and an infinite cause count NaN shares.
Figure = Annotated[float, Field(gt=0, allow_inf_nan=False)]  # bounded by the rate it implies (FailureProfileFile)
Seconds = Annotated[float, Field(gt=0, le=limits.MAX_SIM_SECONDS, allow_inf_nan=False)]
Days = Annotated[float, Field(gt=0, le=limits.MAX_SIM_SECONDS / 86400.0, allow_inf_nan=False)]
Gpus = Annotated[int, Field(gt=0, le=limits.MAX_GPUS)]
GpusPerNode = Annotated[int, Field(gt=0, le=limits.MAX_GPUS_PER_NODE)]
Count = Annotated[float, Field(gt=0, le=limits.MAX_FAILURE_COUNT, allow_inf_nan=False)]
CheckpointBytes = Annotated[float, Field(gt=0, le=limits.MAX_CHECKPOINT_BYTES, allow_inf_nan=False)]
Ratio = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]


def _implied_rate(quantity: str, value: float, gpus: int | None, window_days: float | None,
                 gpus_per_node: int) -> float:
    """The per-node failure rate per 1000 node-days a figure implies (as cluster.failures.observation_rate fits it:
    1000 events / (nodes x days), 1000 x 1 day / (nodes x MTTI), or the fleet rate itself)."""
    nodes = -(-(gpus or 0) // gpus_per_node)
    if quantity == "interruptions":
        return 1000.0 * value / (nodes * (window_days or 0.0))
    if quantity == "job_mtti_s":
        return 1000.0 * 86400.0 / (nodes * value)
    return value


class ObservationRow(Strict):
    """One published figure of the fleet and where it is stated."""

    quantity: Quantity
    value: Figure
    gpus: Gpus | None = None  # the job's size (interruptions, job_mtti_s)
    window_days: Days | None = None  # the window a count covers (interruptions)
    planned: bool = False  # planned maintenance (firmware, configuration) rather than unexpected interruptions
    fit: bool = True  # the profile's job interruption rate is fitted on this row
    check: bool = False  # the figure the leave-one-source-out validation predicts from the other fleets
    scope: str = Field(min_length=3)  # what was counted
    source: str = Field(min_length=3)

    @model_validator(mode="after")
    def _shape(self) -> ObservationRow:
        need = {"interruptions": ("gpus", "window_days"), "job_mtti_s": ("gpus",),
                "node_failures_per_1000_node_days": ()}[self.quantity]
        missing = [k for k in need if getattr(self, k) is None]
        if missing:
            raise ValueError(f"quantity {self.quantity!r} needs {', '.join(missing)}")
        if self.quantity == "job_mtti_s" and self.value > limits.MAX_SIM_SECONDS:
            raise ValueError(f"value {self.value:g} s: a job mean time to interruption is at most "
                             f"{limits.MAX_SIM_SECONDS:g} s (a century, simulator.limits); fix the value")
        if self.check and (self.planned or self.quantity == "node_failures_per_1000_node_days"):
            raise ValueError("a check row is an unplanned job figure (interruptions or job_mtti_s)")
        return self


class CauseRow(Strict):
    """One root cause as the source names it, its component class, and its count or share."""

    cause: str = Field(min_length=2)
    component: Component
    count: Count | None = None
    share: float | None = Field(default=None, gt=0, le=1)
    source: str = Field(min_length=3)

    @model_validator(mode="after")
    def _one(self) -> CauseRow:
        if (self.count is None) == (self.share is None):
            raise ValueError("give exactly one of count or share")
        return self


class RecoveryFigures(Strict):
    """Published recovery figures of the fleet (each optional; only what the source states)."""

    checkpoint_write_s: Sourced[Seconds] | None = None
    checkpoint_bytes: Sourced[CheckpointBytes] | None = None
    max_lost_work_s: Sourced[Seconds] | None = None
    restart_time_s: Sourced[Seconds] | None = None
    repair_time_s: Sourced[Seconds] | None = None
    health_check_interval_s: Sourced[Seconds] | None = None
    effective_training_time_ratio: Sourced[Ratio] | None = None  # productive share of the run's time, (0, 1]


class FailureProfileFile(Entity):
    kind: Literal["failure_profile"]
    description: str = Field(min_length=3)
    generation: Sourced[str]  # GPU generation, e.g. A100, H100
    gpus_per_node: Sourced[GpusPerNode]
    setting: Sourced[str]  # on-premises or cloud, production or research, what automation
    period: Sourced[str]
    observations: list[ObservationRow] = Field(min_length=1)
    causes: list[CauseRow] = Field(default_factory=list)
    causes_note: str = ""  # why no component breakdown is given (required when `causes` is empty)
    recovery: RecoveryFigures = RecoveryFigures()

    @model_validator(mode="after")
    def _consistent(self) -> FailureProfileFile:
        if not self.causes and len(self.causes_note) < 3:
            raise ValueError("give causes (component classes) or causes_note saying why the source has none")
        if len({c.count is None for c in self.causes}) > 1:
            raise ValueError("causes mix counts and shares; give all as counts or all as shares")
        if sum(r.check for r in self.observations) > 1:
            raise ValueError("at most one observation is the check row")
        bound = limits.MAX_FAILURES_PER_1000_NODE_DAYS
        for i, r in enumerate(self.observations):
            rate = _implied_rate(r.quantity, r.value, r.gpus, r.window_days, self.gpus_per_node.value)
            if not rate <= bound:
                raise ValueError(f"field 'observations.{i}.value' = {r.value:g} ({r.quantity}) implies {rate:.3g} node "
                                 f"failures per 1000 node-days, more than any fleet (at most {bound:g}, the bound a "
                                 "cluster scenario's failures_per_1000_node_days has; simulator.limits); fix the value")
        return self


@dataclass(frozen=True, slots=True)
class Observation:
    quantity: str
    value: float
    gpus: int | None
    window_days: float | None
    planned: bool
    fit: bool
    check: bool
    scope: str
    source: str


@dataclass(frozen=True, slots=True)
class FailureProfile:
    """A fleet's published failure figures (rates are fitted from them in simulator.cluster.failures)."""

    id: str
    name: str
    description: str
    generation: str
    gpus_per_node: int
    setting: str
    period: str
    observations: tuple[Observation, ...]
    component_shares: tuple[tuple[str, float], ...]  # (class, share of unexpected interruptions); () if unpublished
    causes_note: str
    recovery: tuple[tuple[str, float, str], ...]  # (figure, value, source)
    sources: tuple[str, ...]
    path: str


def failure_profile_ids() -> list[str]:
    """Ids of the shipped failure profiles."""
    return shipped_ids(FAILURES_DIR)


def _shares(causes: list[CauseRow]) -> tuple[tuple[str, float], ...]:
    """Shares of each component class (counts or shares normalised to one), in COMPONENT_CLASSES order."""
    weight = {c: 0.0 for c in COMPONENT_CLASSES}
    for row in causes:
        weight[row.component] += float(row.count if row.count is not None else row.share)  # type: ignore[arg-type]
    total = sum(weight.values())
    return tuple((c, w / total) for c, w in weight.items()) if total > 0 else ()


@lru_cache(maxsize=32)
def _read(path_str: str, mtime: float) -> FailureProfile:
    path = Path(path_str)
    f: FailureProfileFile = validate_file(FailureProfileFile, read_yaml(path), path)
    if path.parent == FAILURES_DIR and f.id != path.stem:
        raise DataFileError(f"{path}: field 'id' = {f.id!r} must equal the file name stem {path.stem!r}")
    obs = tuple(Observation(r.quantity, float(r.value), r.gpus, r.window_days, r.planned, r.fit, r.check, r.scope,
                            r.source) for r in f.observations)
    recovery = tuple((k, float(v.value), v.source) for k in RecoveryFigures.model_fields
                     if (v := getattr(f.recovery, k)) is not None)
    return FailureProfile(
        id=f.id, name=f.name, description=f.description, generation=f.generation.value,
        gpus_per_node=f.gpus_per_node.value, setting=f.setting.value, period=f.period.value, observations=obs,
        component_shares=_shares(f.causes), causes_note=f.causes_note, recovery=recovery,
        sources=tuple(f"{s.title} ({s.where}, {s.date})" for s in f.sources), path=str(path))


def load_failure_profile(ref: str | Path | FailureProfile) -> FailureProfile:
    """A failure profile by shipped id or path to a YAML file."""
    if isinstance(ref, FailureProfile):
        return ref
    try:
        path = resolve(ref, FAILURES_DIR, "failure profile")
    except UnknownIdError:
        raise UnknownIdError(f"unknown failure profile {str(ref)!r}; shipped profiles: "
                             f"{', '.join(failure_profile_ids())} (or pass a path to a failure profile YAML)") from None
    return _read(str(path), path.stat().st_mtime)


def load_failure_profiles() -> list[FailureProfile]:
    """Every shipped failure profile, in id order."""
    return [load_failure_profile(i) for i in failure_profile_ids()]
