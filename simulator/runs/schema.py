"""Scenario files: one what-if question as YAML, shared by the CLI (`simulator run`), the app's export and batch
sweeps. The pydantic schema of each kind (runs.scenario runs them)."""

from __future__ import annotations

from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt

from simulator.catalog.schema import NoBoolNumbers, PlanSpec
from simulator.vocab import (
    AttentionKernel,
    CostOption,
    EngineName,
    KvPrecision,
    LengthDist,
    Objective,
    OpenLoopArrival,
    PolicyName,
    Precision,
    QuantizationName,
    RouterName,
)


class _Strict(NoBoolNumbers):
    model_config = ConfigDict(extra="forbid")


class TrainingOptionsSpec(_Strict):
    # None: what the scenario's stack does (workloads/stacks/<id>.yaml engine section)
    attention_kernel: AttentionKernel | None = None
    tp_comm_overlap: bool | None = None
    dp_overlap: bool = True
    dropout: bool | None = None  # None: as the model file says
    fused_kernels: bool | None = None
    grad_reduce_fp32: bool | None = None
    uneven_pp: bool | None = None  # None: searches try unequal stages, a given plan must divide evenly
    compile: bool | None = None  # torch.compile (stacks that offer it)
    fp8_recipe: str | None = None  # None: the stack's default_fp8_recipe


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
    stack: str | None = Field(None, min_length=1, description="software stack id or path (workloads/stacks)")
    price_book: str | None = None
    purchase: CostOption = "on_demand"
    objective: Objective = "time"
    precisions: list[Precision] = ["bf16"]
    plan: PlanSpec | None = None
    options: TrainingOptionsSpec = TrainingOptionsSpec()


class ClusterRunScenario(_Strict):
    """One cluster simulation: a shipped scenario id or path, optional overrides of its fields
    (dotted keys, e.g. ``failures.enabled``), a policy and a seed."""

    schema_version: Literal[1] = 1
    kind: Literal["cluster"] = "cluster"
    name: str = ""
    scenario: str = Field(min_length=1, description="cluster scenario id or path")
    overrides: dict[str, Any] = Field(default_factory=dict)
    policy: PolicyName | None = None
    seed: int = 0
    until_s: PositiveFloat | None = None


class DeploymentSpec(_Strict):
    tp: PositiveInt = 1
    pp: PositiveInt = 1
    ep: PositiveInt = 1
    precision: QuantizationName = "bf16"
    kv_precision: KvPrecision = "bf16"
    engine: EngineName = "vllm"
    max_seqs: PositiveInt | None = None
    max_batched_tokens: PositiveInt | None = None


class InferenceScenario(_ModelOnHardware):
    """A static batch: prefill `batch` prompts, then decode (the `simulator infer` question)."""

    kind: Literal["inference"] = "inference"
    deployment: DeploymentSpec = DeploymentSpec()
    batch: PositiveInt = 1
    input_len: PositiveInt = 1024
    output_len: PositiveInt = 256


class ServingScenario(_ModelOnHardware):
    """Replicas behind a router under an arrival process (the `simulator serve` question)."""

    kind: Literal["serving"] = "serving"
    deployment: DeploymentSpec = DeploymentSpec()
    replicas: PositiveInt = 1
    router: RouterName = "least_outstanding"
    rate_per_s: PositiveFloat = 1.0
    arrival: OpenLoopArrival = "poisson"
    requests: PositiveInt = 1000
    input_len: PositiveFloat = 1024
    output_len: PositiveFloat = 256
    length_dist: LengthDist = "fixed"
    slo_ttft_s: PositiveFloat = 2.0
    slo_tpot_s: PositiveFloat = 0.1
    seed: int = 0


def to_yaml(scenario: BaseModel) -> str:
    """The scenario as YAML the CLI and sweeps accept (defaults omitted for readability)."""
    data = scenario.model_dump(exclude_defaults=True)
    data = {"schema_version": 1, "kind": scenario.kind, **data}  # type: ignore[attr-defined]
    return yaml.safe_dump(data, sort_keys=False)
