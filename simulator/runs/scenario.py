"""Scenario files: one what-if question as YAML, shared by the CLI (`simulator run`), the app's
export and batch sweeps. Each kind has a pydantic schema and a runner returning a flat record."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, ValidationError

from simulator.catalog import format_validation_error, read_yaml
from simulator.catalog.schema import NoBoolNumbers, PlanSpec
from simulator.errors import DataFileError


class _Strict(NoBoolNumbers):
    model_config = ConfigDict(extra="forbid")


class TrainingOptionsSpec(_Strict):
    attention_kernel: Literal["flash", "flash1", "unfused"] = "flash"
    tp_comm_overlap: bool = False
    dp_overlap: bool = True
    dropout: bool | None = None  # None: as the model file says
    fused_kernels: bool = True
    grad_reduce_fp32: bool = True
    uneven_pp: bool | None = None  # None: searches try unequal stages, a given plan must divide evenly
    framework: Literal["standard", "deepspeed-zero3-2021"] = "standard"  # simulator.core.training.FRAMEWORKS


class _ModelOnHardware(_Strict):
    """Fields every model-on-hardware scenario shares (each kind adds `kind` and its own fields)."""

    schema_version: Literal[1] = 1
    name: str = ""
    model: str = Field(min_length=1, description="model id or path to a model YAML")
    hardware: str = Field(min_length=1, description="accelerator id or path to a profile YAML")


class TrainingScenario(_ModelOnHardware):
    """A training run: with `plan` it is estimated as given, without it the best plan is searched."""

    kind: Literal["training"] = "training"
    gpus: PositiveInt
    global_batch: PositiveInt
    seq_len: PositiveInt
    train_tokens: PositiveFloat | None = None
    price_book: str | None = None
    purchase: Literal["on_demand", "reserved_1y", "reserved_3y", "spot", "owned"] = "on_demand"
    objective: Literal["time", "cost"] = "time"
    precisions: list[Literal["bf16", "fp16", "fp8"]] = ["bf16"]
    plan: PlanSpec | None = None
    options: TrainingOptionsSpec = TrainingOptionsSpec()


def run_training(s: TrainingScenario) -> dict[str, Any]:
    """Evaluate a training scenario; returns the plan record (CLI JSON contract)."""
    from simulator.api.training import estimate_training, plan_training

    opts = s.options.model_dump()
    if s.plan is not None:
        if s.plan.uneven_pp is not None:
            opts["uneven_pp"] = s.plan.uneven_pp
        return estimate_training(s.model, s.hardware, s.gpus, global_batch=s.global_batch, seq_len=s.seq_len,
                                 train_tokens=s.train_tokens, price_book=s.price_book, purchase=s.purchase,
                                 **s.plan.plan_kwargs(), **opts).to_dict()
    res = plan_training(s.model, s.hardware, s.gpus, global_batch=s.global_batch, seq_len=s.seq_len,
                        train_tokens=s.train_tokens, objective=s.objective, precisions=s.precisions,
                        price_book=s.price_book, purchase=s.purchase, option_kw=opts)
    if not len(res.ranking):
        reasons = "; ".join(f"{k} ({v:,} plans)" for k, v in res.reason_counts.items())
        return {"model": s.model, "hardware": s.hardware, "gpus": s.gpus, "feasible": False,
                "reason": f"no plan fits: {reasons}"}
    return res.record(int(res.ranking[0]))


class ClusterRunScenario(_Strict):
    """One cluster simulation: a shipped scenario id or path, optional overrides of its fields
    (dotted keys, e.g. ``failures.enabled``), a policy and a seed."""

    schema_version: Literal[1] = 1
    kind: Literal["cluster"] = "cluster"
    name: str = ""
    scenario: str = Field(min_length=1, description="cluster scenario id or path")
    overrides: dict[str, Any] = Field(default_factory=dict)
    policy: Literal["fifo", "sjf", "priority", "easy"] | None = None
    seed: int = 0
    until_s: PositiveFloat | None = None


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any] | Any, source: str = "<scenario>") -> dict[str, Any]:
    """A copy of a scenario mapping with dotted-key overrides applied (``failures.enabled: false``)."""
    import copy

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


def run_cluster(s: ClusterRunScenario) -> dict[str, Any]:
    """Simulate a cluster scenario with overrides; returns the summary (the `simulator cluster --json` keys)."""
    from simulator.cluster.engine import simulate_cluster
    from simulator.cluster.scenario import SCENARIOS_DIR, scenario_from_dict

    path = Path(s.scenario)
    if not path.is_file():
        path = SCENARIOS_DIR / f"{s.scenario}.yaml"
    if not path.is_file():
        raise DataFileError(f"cluster scenario {s.scenario!r} is neither a shipped id nor an existing file")
    data = apply_overrides(read_yaml(path), s.overrides, str(path))
    scenario = scenario_from_dict(data, f"{path} (with overrides)", base_dir=path.parent)
    result = simulate_cluster(scenario, policy=s.policy, seed=s.seed, until_s=s.until_s)
    rec = result.to_dict()
    out = {k: v for k, v in rec.items() if not isinstance(v, (list, tuple))}
    out["warnings"] = "; ".join(str(w) for w in rec.get("warnings", []))  # flat, so sweeps keep them
    return out


class DeploymentSpec(_Strict):
    tp: PositiveInt = 1
    pp: PositiveInt = 1
    ep: PositiveInt = 1
    precision: str = "bf16"
    kv_precision: str = "bf16"
    engine: str = "vllm"
    max_seqs: PositiveInt | None = None
    max_batched_tokens: PositiveInt | None = None


class InferenceScenario(_ModelOnHardware):
    """A static batch: prefill `batch` prompts, then decode (the `simulator infer` question)."""

    kind: Literal["inference"] = "inference"
    deployment: DeploymentSpec = DeploymentSpec()
    batch: PositiveInt = 1
    input_len: PositiveInt = 1024
    output_len: PositiveInt = 256


def _deployment(d: DeploymentSpec):
    from simulator.core.inference import Deployment

    return Deployment(**d.model_dump())


def run_inference(s: InferenceScenario) -> dict[str, Any]:
    from simulator.catalog import load_hardware, load_model
    from simulator.core.inference import estimate_inference

    return estimate_inference(load_model(s.model), load_hardware(s.hardware), _deployment(s.deployment),
                              batch=s.batch, input_len=s.input_len, output_len=s.output_len).to_dict()


class ServingScenario(_ModelOnHardware):
    """Replicas behind a router under an arrival process (the `simulator serve` question)."""

    kind: Literal["serving"] = "serving"
    deployment: DeploymentSpec = DeploymentSpec()
    replicas: PositiveInt = 1
    router: str = "least_outstanding"
    rate_per_s: PositiveFloat = 1.0
    arrival: Literal["poisson", "gamma"] = "poisson"
    requests: PositiveInt = 1000
    input_len: PositiveFloat = 1024
    output_len: PositiveFloat = 256
    length_dist: str = "fixed"
    slo_ttft_s: PositiveFloat = 2.0
    slo_tpot_s: PositiveFloat = 0.1
    seed: int = 0


def run_serving(s: ServingScenario) -> dict[str, Any]:
    from simulator.catalog import load_hardware, load_model
    from simulator.serving import ServingConfig, make_workload, simulate_serving

    wl = make_workload(s.requests, input_len=s.input_len, output_len=s.output_len, arrival=s.arrival,
                       rate_per_s=s.rate_per_s, length_dist=s.length_dist, seed=s.seed)
    cfg = ServingConfig(deployment=_deployment(s.deployment), replicas=s.replicas, router=s.router,
                        slo_ttft_s=s.slo_ttft_s, slo_tpot_s=s.slo_tpot_s)
    res = simulate_serving(load_model(s.model), load_hardware(s.hardware), cfg, wl, seed=s.seed)
    return {k: v for k, v in res.to_dict().items() if not isinstance(v, (list, tuple, dict))}


# kind -> (schema, runner); the inference, serving and cluster engines add theirs here.
SCENARIO_KINDS: dict[str, tuple[type[BaseModel], Callable[[Any], dict[str, Any]]]] = {
    "training": (TrainingScenario, run_training),
    "cluster": (ClusterRunScenario, run_cluster),
    "inference": (InferenceScenario, run_inference),
    "serving": (ServingScenario, run_serving),
}


def parse_scenario(data: dict[str, Any], source: str = "<scenario>") -> BaseModel:
    """Validate a scenario mapping (any registered kind); errors name the field and the fix."""
    kind = data.get("kind", "training")
    if kind not in SCENARIO_KINDS:
        raise DataFileError(f"{source}: field 'kind' = {kind!r} is not one of {', '.join(SCENARIO_KINDS)}")
    schema, _ = SCENARIO_KINDS[kind]
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise DataFileError(format_validation_error(source, exc)) from None


def load_scenario(path: str | Path) -> BaseModel:
    p = Path(path)
    if not p.is_file():
        from simulator.cluster.scenario import cluster_scenario_ids

        if str(path) in cluster_scenario_ids():  # a shipped cluster scenario id, as `simulator cluster` takes
            return parse_scenario({"kind": "cluster", "scenario": str(path)}, str(path))
        raise DataFileError(f"scenario file {str(path)!r} does not exist (shipped cluster scenario ids: "
                            f"{', '.join(cluster_scenario_ids())})")
    data = read_yaml(p)
    if data.get("kind") == "sweep":
        raise DataFileError(f"{p} is a sweep grid, not one scenario; run it with `simulator sweep {p} --out DIR`")
    if data.get("kind") == "cluster_scenario":  # a cluster description itself: run it with its defaults
        data = {"kind": "cluster", "scenario": str(p)}
    return parse_scenario(data, str(p))


def run_scenario(scenario: BaseModel | dict[str, Any]) -> dict[str, Any]:
    """Run any scenario kind and return its flat result record."""
    if isinstance(scenario, dict):
        scenario = parse_scenario(scenario)
    _, runner = SCENARIO_KINDS[scenario.kind]  # type: ignore[attr-defined]
    return runner(scenario)


def to_yaml(scenario: BaseModel) -> str:
    """The scenario as YAML the CLI and sweeps accept (defaults omitted for readability)."""
    data = scenario.model_dump(exclude_defaults=True)
    data = {"schema_version": 1, "kind": scenario.kind, **data}  # type: ignore[attr-defined]
    return yaml.safe_dump(data, sort_keys=False)
