"""Run a scenario of any kind: validate it (runs.schema), run it, return its typed result (`evaluate_scenario`) or
its record (`run_scenario`, what sweeps store)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from simulator.api.inference import estimate_inference
from simulator.api.training import estimate_training, plan_training
from simulator.catalog import existing_file, load_hardware, load_model, read_yaml, validate_file
from simulator.cluster.engine import simulate_cluster
from simulator.cluster.metrics import ClusterResult
from simulator.cluster.scenario import build_scenario, cluster_scenario_ids, scenario_data, scenario_path
from simulator.core.inference import Deployment, InferenceResult
from simulator.core.inference.speculative import SpeculativeDecoding
from simulator.core.training.result import TrainingResult
from simulator.errors import BadValueError, DataFileError, OutputError, SimulatorError, file_fields
from simulator.limits import check_ref
from simulator.runs.schema import (
    ClusterRunScenario,
    DeploymentSpec,
    InferenceScenario,
    ServingScenario,
    TrainingScenario,
)
from simulator.serving import ServingConfig, ServingResult, make_workload, simulate_serving
from simulator.serving.config import resolve_draft

Result = TrainingResult | InferenceResult | ServingResult | ClusterResult


def training_result(s: TrainingScenario) -> TrainingResult:
    """A training scenario: its plan estimated, or (without a plan) the best plan searched."""
    opts = {**s.options.model_dump(), "stack": s.stack}
    if s.plan is not None:
        if s.plan.uneven_pp is not None:
            opts["uneven_pp"] = s.plan.uneven_pp
        return estimate_training(s.model, s.hardware, s.gpus, global_batch=s.global_batch, seq_len=s.seq_len,
                                 train_tokens=s.train_tokens, price_book=s.price_book, purchase=s.purchase,
                                 **s.plan.plan_kwargs(), **opts)
    res = plan_training(s.model, s.hardware, s.gpus, global_batch=s.global_batch, seq_len=s.seq_len,
                        train_tokens=s.train_tokens, objective=s.objective, precisions=s.precisions,
                        price_book=s.price_book, purchase=s.purchase, option_kw=opts)
    return TrainingResult(res.to_record())


def cluster_result(s: ClusterRunScenario) -> ClusterResult:
    """Simulate a cluster scenario (a shipped id or a path) with its overrides applied."""
    path = scenario_path(s.scenario)
    scenario = build_scenario(scenario_data(path), tuple(s.overrides.items()), name=f"{path} (with overrides)" if s.overrides else str(path),
                              base_dir=path.parent)
    return simulate_cluster(scenario, policy=s.policy, seed=s.seed, until_s=s.until_s)


def run_cluster(s: ClusterRunScenario) -> dict[str, Any]:
    """Simulate a cluster scenario with overrides; returns the summary (the `simulator cluster --json` keys, warnings
    joined into one text)."""
    return cluster_result(s).to_record()


def _deployment(d: DeploymentSpec) -> Deployment:
    """A scenario's deployment, its speculative draft model loaded."""
    data = d.model_dump()
    spec = data.pop("speculative")
    return resolve_draft(Deployment(**data, speculative=None if spec is None else SpeculativeDecoding(**spec)))


def inference_result(s: InferenceScenario) -> InferenceResult:
    """The API's estimate (with its error band and the latency ranges it gives) of an inference scenario."""
    return estimate_inference(load_model(s.model), load_hardware(s.hardware), _deployment(s.deployment),
                              batch=s.batch, input_len=s.input_len, output_len=s.output_len,
                              prefix_hit_rate=s.prefix_hit_rate, prefix_tokens=s.prefix_tokens)


def serving_result(s: ServingScenario) -> ServingResult:
    wl = make_workload(s.requests, input_len=s.input_len, output_len=s.output_len, arrival=s.arrival,
                       rate_per_s=s.rate_per_s, length_dist=s.length_dist, length_cv=s.length_cv, seed=s.seed,
                       prefix_hit_rate=s.prefix_hit_rate, prefix_tokens=s.prefix_tokens)
    cfg = ServingConfig(deployment=_deployment(s.deployment), replicas=s.replicas, router=s.router,
                        slo_ttft_s=s.slo_ttft_s, slo_tpot_s=s.slo_tpot_s, prefill_replicas=s.prefill_replicas,
                        decode_replicas=s.decode_replicas,
                        decode_deployment=None if s.decode_deployment is None else _deployment(s.decode_deployment))
    return simulate_serving(load_model(s.model), load_hardware(s.hardware), cfg, wl, seed=s.seed)


# kind -> (schema, runner)
SCENARIO_RUNNERS: dict[str, tuple[type[BaseModel], Callable[[Any], Result]]] = {
    "training": (TrainingScenario, training_result),
    "cluster": (ClusterRunScenario, cluster_result),
    "inference": (InferenceScenario, inference_result),
    "serving": (ServingScenario, serving_result),
}


def parse_scenario(data: dict[str, Any], source: str = "<scenario>") -> BaseModel:
    """Validate a scenario mapping (any registered kind); errors name the field and the fix."""
    kind = data.get("kind", "training")
    if not isinstance(kind, str) or kind not in SCENARIO_RUNNERS:
        raise DataFileError(f"{source}: field 'kind' = {kind!r} is not one of {', '.join(SCENARIO_RUNNERS)}")
    schema, _ = SCENARIO_RUNNERS[kind]
    return validate_file(schema, data, source)


def load_scenario(path: str | Path) -> BaseModel:
    """A scenario file (or a shipped cluster scenario id) validated as its kind."""
    try:
        check_ref("scenario file", path)
    except BadValueError as exc:  # before the file system is asked (it raises OSError/TypeError for these)
        raise DataFileError(str(exc)) from None
    if not Path(path).is_file() and str(path) in cluster_scenario_ids():  # a shipped id, as `simulator cluster` takes
        return parse_scenario({"kind": "cluster", "scenario": str(path)}, str(path))
    p = existing_file(path, "scenario file",
                      f"pass an existing file or a shipped cluster scenario id ({', '.join(cluster_scenario_ids())})")
    data = read_yaml(p)
    if data.get("kind") == "sweep":
        raise DataFileError(f"{p} is a sweep grid, not one scenario; run it with `simulator sweep {p} --out DIR`")
    if data.get("kind") == "cluster_scenario":  # a cluster description itself: run it with its defaults
        data = {"kind": "cluster", "scenario": str(p)}
    return parse_scenario(data, str(p))


def evaluate_scenario(scenario: BaseModel | dict[str, Any] | str | Path, source: str | None = None) -> Result:
    """Run any scenario kind (a file path, a shipped cluster scenario id, a mapping or a parsed scenario) and return
    its typed result (its `kind` says which). An error in a file's scenario names the file (`source`) and the
    file's fields (deployment.tp, not --tp)."""
    if isinstance(scenario, str | Path):
        source = str(scenario)
        scenario = load_scenario(scenario)
    elif isinstance(scenario, dict):
        scenario = parse_scenario(scenario)
    elif not isinstance(scenario, tuple(schema for schema, _ in SCENARIO_RUNNERS.values())):
        raise DataFileError(f"a scenario is a file path, a mapping or a parsed scenario, got {type(scenario).__name__}")
    _, runner = SCENARIO_RUNNERS[scenario.kind]  # type: ignore[attr-defined]
    try:
        with file_fields():  # a bad setting is named by its field in the file, not by a command-line flag
            return runner(scenario)
    except SimulatorError as exc:  # one line that names the file, as a schema error does (not an output folder's)
        if source is None or isinstance(exc, OutputError) or str(exc).startswith(f"{source}:"):
            raise
        exc.args = (f"{source}: {exc}", *exc.args[1:])
        raise


def run_scenario(scenario: BaseModel | dict[str, Any] | str | Path) -> dict[str, Any]:
    """Run any scenario kind and return its result record (`to_record()`: one row of a sweep)."""
    return evaluate_scenario(scenario).to_record()
