"""Cluster scenarios from YAML (schema) to frozen domain types (spec): pools with their hardware and prices, explicit
jobs (a duration, or a model + tokens + plan timed by the training core), trace jobs (trace), generators and inference
services. `materialize_jobs` (jobs) draws the generated jobs of one seed."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from simulator.catalog import (
    SCENARIOS_DIR,
    load_hardware,
    load_model,
    load_price_book,
    load_stack,
    parse_yaml_text,
    read_yaml,
    resolve,
    validate_file,
)
from simulator.catalog.failures import load_failure_profile
from simulator.cluster.schema import DurationFile, GeneratorFile, JobFile, ScenarioFile, TrainingPlanFile
from simulator.cluster.spec import (
    ClusterScenario,
    Distribution,
    GeneratorSpec,
    JobSpec,
    PoolSpec,
    ReliabilitySpec,
    ServiceSpec,
    normalised,
)
from simulator.cluster.trace import UPLOADED_TRACE, allowed_pools, check_fits, trace_jobs
from simulator.core.training.estimate import PlanArgs, estimate_plan, make_options
from simulator.errors import DataFileError, SimulatorError, UnknownIdError


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


def scenario_path(ref: str | Path) -> Path:
    """The file of a cluster scenario by shipped id or path; UnknownIdError lists the shipped ids."""
    try:
        return resolve(ref, SCENARIOS_DIR, "cluster scenario")
    except UnknownIdError:
        raise UnknownIdError(f"unknown cluster scenario id {str(ref)!r}; known ids: "
                             f"{', '.join(cluster_scenario_ids())} (or pass a path to a scenario YAML)") from None


def scenario_data(ref: str | Path) -> dict[str, Any]:
    """The mapping of a cluster scenario file by shipped id or path, as written (scenario_from_dict validates it)."""
    path = scenario_path(ref)
    data = read_yaml(path)
    if data.get("kind") != "cluster_scenario":
        raise DataFileError(f"{path}: field 'kind' = {data.get('kind')!r}; a cluster scenario needs "
                            "'kind: cluster_scenario'")
    return data


def load_scenario(ref: str | Path | ClusterScenario) -> ClusterScenario:
    """A cluster scenario by shipped id or path to a YAML file."""
    if isinstance(ref, ClusterScenario):
        return ref
    path = scenario_path(ref)
    return scenario_from_dict(scenario_data(path), str(path), path.parent)


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any] | Any, source: str = "<scenario>") -> dict[str, Any]:
    """A copy of a scenario mapping with dotted-key overrides applied (``failures.enabled: false``)."""
    out = copy.deepcopy(data)
    items = overrides.items() if isinstance(overrides, dict) else overrides
    for dotted, value in items:
        node = out
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise DataFileError(f"override {dotted!r}: {part!r} is not a mapping in {source}")
        node[leaf] = value
    return out


def parse_scenario_text(text: str, name: str = "uploaded scenario") -> dict[str, Any]:
    """Validate a cluster scenario given as YAML text (an upload); returns its mapping (errors name the field)."""
    data = parse_yaml_text(text, name)
    if data.get("kind") != "cluster_scenario":
        raise DataFileError(f"{name}: field 'kind' = {data.get('kind')!r}; a cluster scenario needs "
                            "'kind: cluster_scenario' (see workloads/scenarios/research-1k-h100.yaml)")
    scenario_from_dict(copy.deepcopy(data), name, base_dir=SCENARIOS_DIR)
    return data


def build_scenario(data: dict[str, Any], overrides: tuple[tuple[str, Any], ...] = (), trace_csv: bytes | None = None,
                   name: str = "scenario", base_dir: Path = SCENARIOS_DIR) -> ClusterScenario:
    """A ClusterScenario from a mapping with dotted-key overrides and, optionally, a job trace (CSV bytes) that
    replaces the job mix (explicit jobs and generators) and runs on the scenario's pools."""
    data = apply_overrides(data, overrides, name)
    if trace_csv is None:
        return scenario_from_dict(data, name, base_dir=base_dir)
    try:
        text = trace_csv.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataFileError("uploaded trace: not UTF-8 text; upload the trace as a CSV file") from None
    data.update(jobs=[], generators=[], trace={"path": UPLOADED_TRACE})
    return scenario_from_dict(data, name, base_dir=base_dir, trace_text=text)


def scenario_from_dict(data: dict[str, Any], source: str = "<dict>", base_dir: Path | None = None,
                       trace_text: str | None = None) -> ClusterScenario:
    """Validate an in-memory scenario (same keys as the YAML) into a ClusterScenario; `trace_text`: the trace's CSV
    text, read instead of the file its `trace.path` names."""
    f = validate_file(ScenarioFile, data, Path(source) if source.endswith((".yaml", ".yml")) else source)
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
        repair_time_s=f.failures.repair_time_s,
        maintenance_time_s=f.failures.maintenance_time_s, repair_distribution=f.failures.repair_distribution,
        max_restarts=f.failures.max_restarts, interval_method=ck.interval,
        preemption_overhead_s=None if ck.preemption_overhead == "helios" else float(ck.preemption_overhead),
        straggler_probability=f.stragglers.probability, straggler_slowdown=f.stragglers.slowdown,
        failure_profile=_profile_id(f))
    by_id = {p.id: p for p in pools}
    jobs: list[JobSpec] = []
    for i, j in enumerate(f.jobs):
        jobs.extend(_explicit_jobs(j, i, f, by_id, source))
    if f.trace is not None:
        jobs.extend(trace_jobs(f.trace, f, by_id, source, base_dir or Path(source).parent, trace_text))
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
        sources=tuple(f"{s.title} ({s.where}, {s.date})" for s in f.sources) + _profile_sources(f))


def _profile_id(f: ScenarioFile) -> str | None:
    return load_failure_profile(f.failures.profile).id if f.failures.profile else None


def _profile_sources(f: ScenarioFile) -> tuple[str, ...]:
    """The named failure profile's sources, so a run records where its failure rates came from."""
    if not f.failures.profile:
        return ()
    prof = load_failure_profile(f.failures.profile)
    return tuple(f"failure profile {prof.id}: {s}" for s in prof.sources)


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


def _ckpt(j: Any, f: ScenarioFile) -> tuple[float, float, float | None]:
    return f.checkpoint.for_job(j.checkpoint_write_s, j.restart_time_s, j.checkpoint_interval_s)


def _explicit_jobs(j: JobFile, i: int, f: ScenarioFile, by_id: dict[str, PoolSpec], source: str) -> list[JobSpec]:
    pools = allowed_pools(j.pools, f)
    what = f"{source}: jobs[{i}] ({j.name})"
    check_fits(j.gpus, pools, by_id, what)
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
    try:
        options = make_options(t.seq_len, t.global_batch, uneven_pp=t.uneven_pp, dropout=t.dropout,
                               stack=load_stack(t.stack))
        rec = estimate_plan(load_model(t.model), pool.hardware, j.gpus, PlanArgs(**t.plan_kwargs()), options,
                            book=load_price_book(None), train_tokens=t.train_tokens)
    except SimulatorError as exc:
        raise DataFileError(f"{what} training plan on pool {pool.id!r}: {exc}") from None
    if not rec.feasible:
        raise DataFileError(f"{what} training plan does not fit on pool {pool.id!r} ({pool.hardware.id}): "
                            f"{rec.reason}; change tp/pp/zero/recompute or the pool")
    return float(rec.total_time_s)


def _distribution(d: DurationFile) -> Distribution:
    if d.kind == "fixed":
        return Distribution("fixed", d.weight, float(d.value_s))  # type: ignore[arg-type]
    if d.kind == "exponential":
        return Distribution("exponential", d.weight, float(d.mean_s))  # type: ignore[arg-type]
    if d.kind == "lognormal":
        return Distribution("lognormal", d.weight, float(d.median_s), float(d.sigma))  # type: ignore[arg-type]
    return Distribution(d.kind, d.weight, float(d.low_s), float(d.high_s))  # type: ignore[arg-type]


def _generator(g: GeneratorFile, i: int, f: ScenarioFile, by_id: dict[str, PoolSpec], source: str) -> GeneratorSpec:
    pools = allowed_pools(g.pools, f)
    gpus = {g.gpus: 1.0} if isinstance(g.gpus, int) else dict(g.gpus)
    check_fits(max(gpus), pools, by_id, f"{source}: generators[{i}] ({g.name})")
    if g.n_jobs is None and g.stop_s is None and f.horizon_s is None:
        raise DataFileError(f"{source}: generators[{i}] ({g.name}) is unbounded; set n_jobs, stop_s or the "
                            "scenario's horizon_s")
    prio = g.priority_mix or {g.priority: 1.0}
    durs = g.duration if isinstance(g.duration, list) else [g.duration]
    write, restart, interval = _ckpt(g, f)
    return GeneratorSpec(g.name, g.kind, g.jobs_per_day, g.n_jobs, g.start_s, g.stop_s, tuple(gpus),
                         normalised(gpus.values()), tuple(_distribution(d) for d in durs), tuple(prio),
                         normalised(prio.values()), pools, g.preemptible, g.whole_nodes, write, restart, interval)
