"""Cluster scenarios as frozen domain types: pools, job lists (explicit, generated, trace), services.

`load_scenario` validates a YAML file (schema_cluster) and returns a `ClusterScenario`; `materialize_jobs`
draws the generated jobs for one seed. Training jobs given as (model, tokens, plan) take their run time from
the training core (`simulator.api.training.estimate_training`) on each pool's hardware.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from simulator.catalog import SCENARIOS_DIR, format_validation_error, load_hardware, load_price_book, read_yaml, resolve
from simulator.cluster.schema import (
    MAX_BATCH_PRIORITY,
    DurationFile,
    GeneratorFile,
    JobFile,
    ScenarioFile,
    TraceFile,
    TrainingPlanFile,
)
from simulator.core import cost as cost_mod
from simulator.core.hardware import Accelerator
from simulator.errors import DataFileError, SimulatorError, UnknownIdError
from simulator.units import SECONDS_PER_DAY, human_count, human_duration

TRACE_REQUIRED = ("job_id", "submit_time", "gpu_num", "duration")
TRACE_OPTIONAL = ("state", "priority", "pool", "user")
# Public-trace states (Helios/Acme Slurm states, Philly Pass/Killed/Failed) -> how the replayed job ends.
TRACE_STATES = {"COMPLETED": "COMPLETED", "PASS": "COMPLETED", "FAILED": "FAILED", "NODE_FAIL": "FAILED",
                "TIMEOUT": "FAILED", "CANCELLED": "CANCELLED", "KILLED": "CANCELLED"}


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
        hour = int(t_s // 3600.0) % 24
        return math.ceil(self.peak_replicas * self.demand_curve[hour] - 1e-9)


@dataclass(frozen=True, slots=True)
class ReliabilitySpec:
    failures_enabled: bool
    repair_time_s: float
    maintenance_time_s: float
    repair_distribution: str
    max_restarts: int | None
    interval_method: str  # daly | young | none
    preemption_overhead_s: float | None  # None: Helios 7/30/60 s by size
    straggler_probability: float
    straggler_slowdown: float


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
    price_book: cost_mod.PriceBook
    owned_book: cost_mod.PriceBook | None
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


# ---------------------------------------------------------------- loading
def cluster_scenario_ids() -> list[str]:
    """Ids of the shipped cluster scenarios (files of kind cluster_scenario)."""
    out = []
    for p in sorted(SCENARIOS_DIR.glob("*.yaml")):
        try:
            if read_yaml(p).get("kind") == "cluster_scenario":
                out.append(p.stem)
        except DataFileError:
            continue
    return out


def load_scenario(ref: str | Path | ClusterScenario) -> ClusterScenario:
    """A cluster scenario by shipped id or path to a YAML file."""
    if isinstance(ref, ClusterScenario):
        return ref
    try:
        path = resolve(ref, SCENARIOS_DIR, "cluster scenario")
    except UnknownIdError:
        raise UnknownIdError(f"unknown cluster scenario id {str(ref)!r}; known ids: "
                             f"{', '.join(cluster_scenario_ids())} (or pass a path to a scenario YAML)") from None
    data = read_yaml(path)
    if data.get("kind") != "cluster_scenario":
        raise DataFileError(f"{path}: field 'kind' = {data.get('kind')!r}; a cluster scenario needs "
                            "'kind: cluster_scenario'")
    return scenario_from_dict(data, str(path), path.parent)


def scenario_from_dict(data: dict[str, Any], source: str = "<dict>", base_dir: Path | None = None) -> ClusterScenario:
    """Validate an in-memory scenario (same keys as the YAML) into a ClusterScenario."""
    try:
        f = ScenarioFile.model_validate(data)
    except ValidationError as exc:
        raise DataFileError(format_validation_error(source, exc)) from None
    if source.endswith((".yaml", ".yml")) and Path(source).parent == SCENARIOS_DIR and f.id != Path(source).stem:
        raise DataFileError(f"{source}: field 'id' = {f.id!r} must equal the file name stem {Path(source).stem!r}")
    book = load_price_book(f.price_book)
    pools = tuple(_pool(f, i, source) for i in range(len(f.pools)))
    owned_needed = any(p.purchase == "owned" for p in pools)
    try:
        owned_book = load_price_book(f.owned_price_book)
    except DataFileError:
        if owned_needed:
            raise
        owned_book = None
    for p in pools:
        if p.purchase == "owned" and (owned_book is None or owned_book.owned_cost(p.hardware.id) is None):
            raise DataFileError(f"{source}: pool {p.id!r} is owned but price book {f.owned_price_book!r} has no "
                                f"'owned' entry for {p.hardware.id!r}; add one or change owned_price_book")
    ck = f.checkpoint
    rel = ReliabilitySpec(
        failures_enabled=f.failures.enabled, repair_time_s=f.failures.repair_time_s,
        maintenance_time_s=f.failures.maintenance_time_s, repair_distribution=f.failures.repair_distribution,
        max_restarts=f.failures.max_restarts, interval_method=ck.interval,
        preemption_overhead_s=None if ck.preemption_overhead == "helios" else float(ck.preemption_overhead),
        straggler_probability=f.stragglers.probability, straggler_slowdown=f.stragglers.slowdown)
    by_id = {p.id: p for p in pools}
    jobs: list[JobSpec] = []
    for i, j in enumerate(f.jobs):
        jobs.extend(_explicit_jobs(j, i, f, by_id, source))
    if f.trace is not None:
        jobs.extend(_trace_jobs(f.trace, f, by_id, source, base_dir or Path(source).parent))
    gens = tuple(_generator(g, i, f, by_id, source) for i, g in enumerate(f.generators))
    services = []
    for i, s in enumerate(f.services):
        pool = by_id[s.pool]
        gpr = s.gpus_per_replica or pool.gpus_per_node
        if gpr > pool.gpus:
            raise DataFileError(f"{source}: services[{i}] ({s.name}) gpus_per_replica = {gpr} exceeds pool "
                                f"{pool.id!r} ({pool.gpus} GPUs)")
        services.append(ServiceSpec(s.name, s.pool, gpr, s.peak(), tuple(s.demand_curve)))
    return ClusterScenario(
        id=f.id, name=f.name, path=source, description=f.description, pools=pools, jobs=tuple(jobs),
        generators=gens, services=tuple(services), reliability=rel, policy=f.policy, price_book=book,
        owned_book=owned_book, horizon_s=f.horizon_s, warmup_s=f.warmup_s, max_scan=f.max_scan,
        idle_power_fraction_of_tdp=f.energy.idle_power_fraction_of_tdp,
        published=f.published.model_dump() if f.published else None,
        sources=tuple(f"{s.title} ({s.where}, {s.date})" for s in f.sources))


def _pool(f: ScenarioFile, i: int, source: str) -> PoolSpec:
    p = f.pools[i]
    try:
        hw = load_hardware(p.hardware)
    except SimulatorError as exc:
        raise DataFileError(f"{source}: pools[{i}] ({p.id}) hardware: {exc}") from None
    fail = f.failures
    rate = p.failures_per_1000_node_days if p.failures_per_1000_node_days is not None \
        else fail.failures_per_1000_node_days
    return PoolSpec(p.id, hw, p.nodes + p.spare_nodes, p.spare_nodes, p.gpus_per_node or hw.gpus_per_node,
                    p.relative_speed, p.purchase or f.purchase, rate if fail.enabled else 0.0,
                    fail.planned_per_1000_node_days if fail.enabled else 0.0)


def _allowed(names: list[str] | None, f: ScenarioFile) -> tuple[str, ...]:
    return tuple(names) if names else tuple(p.id for p in f.pools)


def _check_fits(gpus: int, pools: tuple[str, ...], by_id: dict[str, PoolSpec], what: str) -> None:
    biggest = max(by_id[p].gpus for p in pools)
    if gpus > biggest:
        raise DataFileError(f"{what} asks for {gpus} GPUs but the largest allowed pool has {biggest}; "
                            "lower gpus or add nodes to a pool")


def _ckpt(j: Any, f: ScenarioFile) -> tuple[float, float, float | None]:
    write = f.checkpoint.write_time_s if j.checkpoint_write_s is None else j.checkpoint_write_s
    restart = f.checkpoint.restart_time_s if j.restart_time_s is None else j.restart_time_s
    interval = j.checkpoint_interval_s if j.checkpoint_interval_s is not None else f.checkpoint.interval_s
    if interval is None and f.checkpoint.interval == "none":
        interval = math.inf
    return write, restart, interval


def _explicit_jobs(j: JobFile, i: int, f: ScenarioFile, by_id: dict[str, PoolSpec], source: str) -> list[JobSpec]:
    pools = _allowed(j.pools, f)
    what = f"{source}: jobs[{i}] ({j.name})"
    _check_fits(j.gpus, pools, by_id, what)
    if j.training is None:
        work = tuple(float(j.duration_s) / by_id[p].relative_speed for p in pools)  # type: ignore[arg-type]
    else:
        work = tuple(_training_time_s(j, j.training, by_id[p], what) for p in pools)
    write, restart, interval = _ckpt(j, f)
    return [JobSpec(j.name if j.count == 1 else f"{j.name}#{k}", j.kind, j.gpus,
                    j.submit_s + k * j.interarrival_s, pools, work, j.priority, j.preemptible, j.whole_nodes,
                    write, restart, interval) for k in range(j.count)]


def _training_time_s(j: JobFile, t: TrainingPlanFile, pool: PoolSpec, what: str) -> float:
    """Failure-free run time of a (model, tokens, plan) job on one pool, from the training core."""
    from simulator.api.training import estimate_training

    try:
        res = estimate_training(t.model, pool.hardware, j.gpus, global_batch=t.global_batch, seq_len=t.seq_len,
                                train_tokens=t.train_tokens, uneven_pp=t.uneven_pp, dropout=t.dropout,
                                **t.plan_kwargs())
    except SimulatorError as exc:
        raise DataFileError(f"{what} training plan on pool {pool.id!r}: {exc}") from None
    if not res.feasible:
        raise DataFileError(f"{what} training plan does not fit on pool {pool.id!r} ({pool.hardware.id}): "
                            f"{res.reason}; change tp/pp/zero/recompute or the pool")
    return float(res.total_time_s)


def _distribution(d: DurationFile) -> Distribution:
    if d.kind == "fixed":
        return Distribution("fixed", d.weight, float(d.value_s))  # type: ignore[arg-type]
    if d.kind == "exponential":
        return Distribution("exponential", d.weight, float(d.mean_s))  # type: ignore[arg-type]
    if d.kind == "lognormal":
        return Distribution("lognormal", d.weight, float(d.median_s), float(d.sigma))  # type: ignore[arg-type]
    return Distribution(d.kind, d.weight, float(d.low_s), float(d.high_s))  # type: ignore[arg-type]


def _generator(g: GeneratorFile, i: int, f: ScenarioFile, by_id: dict[str, PoolSpec], source: str) -> GeneratorSpec:
    pools = _allowed(g.pools, f)
    gpus = {g.gpus: 1.0} if isinstance(g.gpus, int) else dict(g.gpus)
    _check_fits(max(gpus), pools, by_id, f"{source}: generators[{i}] ({g.name})")
    if g.n_jobs is None and g.stop_s is None and f.horizon_s is None:
        raise DataFileError(f"{source}: generators[{i}] ({g.name}) is unbounded; set n_jobs, stop_s or the "
                            "scenario's horizon_s")
    prio = g.priority_mix or {g.priority: 1.0}
    durs = g.duration if isinstance(g.duration, list) else [g.duration]
    write, restart, interval = _ckpt(g, f)
    return GeneratorSpec(g.name, g.kind, g.jobs_per_day, g.n_jobs, g.start_s, g.stop_s, tuple(gpus),
                         _norm(gpus.values()), tuple(_distribution(d) for d in durs), tuple(prio),
                         _norm(prio.values()), pools, g.preemptible, g.whole_nodes, write, restart, interval)


def _norm(weights: Any) -> tuple[float, ...]:
    w = np.asarray(list(weights), dtype=float)
    return tuple((w / w.sum()).tolist())


# ---------------------------------------------------------------- trace CSV
def _trace_jobs(t: TraceFile, f: ScenarioFile, by_id: dict[str, PoolSpec], source: str,
                base_dir: Path) -> list[JobSpec]:
    path = (base_dir / t.path).resolve() if not Path(t.path).is_absolute() else Path(t.path)
    default_pools = _allowed(t.pools, f)
    write, restart, interval = f.checkpoint.write_time_s, f.checkpoint.restart_time_s, f.checkpoint.interval_s
    if interval is None and f.checkpoint.interval == "none":
        interval = math.inf
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise DataFileError(f"{source}: trace file {str(path)!r} cannot be read ({exc.strerror}); "
                            "fix trace.path (relative to the scenario file)") from None
    jobs: list[JobSpec] = []
    with handle:
        reader = csv.DictReader(handle)
        cols = [c.strip() for c in (reader.fieldnames or [])]
        missing = [c for c in TRACE_REQUIRED if c not in cols]
        if missing:
            raise DataFileError(f"{path}: missing column(s) {', '.join(missing)}; a cluster trace needs "
                                f"{', '.join(TRACE_REQUIRED)} (optional: {', '.join(TRACE_OPTIONAL)})")
        last = -math.inf
        for row_no, raw in enumerate(reader, start=2):
            row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
            where = f"{path}: row {row_no}"
            submit = _num(row, "submit_time", where) * t.time_scale
            if submit < last:
                raise DataFileError(f"{where}: submit_time {submit:g} is earlier than the previous row ({last:g}); "
                                    "sort the trace by submit_time")
            last = submit
            gpus = _num(row, "gpu_num", where)
            if gpus < 1 or gpus != int(gpus):
                raise DataFileError(f"{where}: gpu_num = {row['gpu_num']!r} must be a whole number >= 1 "
                                    "(drop CPU-only rows)")
            dur = _num(row, "duration", where) * t.time_scale
            if dur < 0:
                raise DataFileError(f"{where}: duration = {row['duration']!r} is negative; durations are seconds >= 0")
            state = row.get("state") or "COMPLETED"
            final = TRACE_STATES.get(state.upper())
            if final is None:
                raise DataFileError(f"{where}: state = {state!r} is not one of {', '.join(sorted(TRACE_STATES))}")
            pools = default_pools
            if row.get("pool"):
                if row["pool"] not in by_id:
                    raise DataFileError(f"{where}: pool = {row['pool']!r} is not a pool of the scenario "
                                        f"({', '.join(by_id)})")
                pools = (row["pool"],)
            _check_fits(int(gpus), pools, by_id, where)
            prio = int(_num(row, "priority", where)) if row.get("priority") else 0
            if abs(prio) > MAX_BATCH_PRIORITY:
                raise DataFileError(f"{where}: priority = {prio} is outside +-{MAX_BATCH_PRIORITY}; inference "
                                    "replicas outrank every batch priority, so rescale the column")
            jobs.append(JobSpec(row["job_id"] or f"row{row_no}", t.kind, int(gpus), submit, pools,
                                tuple(dur / by_id[p].relative_speed for p in pools), prio, t.preemptible, False,
                                write, restart, interval, final, row.get("user", "")))
    if not jobs:
        raise DataFileError(f"{path}: the trace has no rows")
    return jobs


def _num(row: dict[str, str], col: str, where: str) -> float:
    text = row.get(col, "")
    try:
        value = float(text)
    except ValueError:
        raise DataFileError(f"{where}: {col} = {text!r} is not a number") from None
    if not math.isfinite(value):
        raise DataFileError(f"{where}: {col} = {text!r} is not a finite number")
    return value


# ---------------------------------------------------------------- materialising one seed's job list
MAX_GENERATED_JOBS = 2_000_000  # a run this size already takes tens of minutes; beyond it, memory runs out first


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
    if expected > MAX_GENERATED_JOBS:
        raise SimulatorError(
            f"generator {g.name!r} would submit about {human_count(expected)} jobs ({g.jobs_per_day:g} per day for "
            f"{human_duration(stop - g.start_s)}); one run simulates at most {MAX_GENERATED_JOBS:,}: pass a shorter --until or horizon_s, "
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
    comp = rng.choice(len(g.durations), size=n, p=_norm(d.weight for d in g.durations))
    dur = np.empty(n)
    for k, d in enumerate(g.durations):
        mask = comp == k
        dur[mask] = d.sample(rng, int(mask.sum()))
    prio = rng.choice(np.asarray(g.priority_values), size=n, p=np.asarray(g.priority_weights))
    speeds = [scenario.pool(p).relative_speed for p in g.pools]
    return [JobSpec(f"{g.name}-{k}", g.kind, int(gpus[k]), float(t[k]), g.pools,
                    tuple(float(dur[k]) / s for s in speeds), int(prio[k]), g.preemptible, g.whole_nodes,
                    g.checkpoint_write_s, g.restart_s, g.interval_s) for k in range(n)]
