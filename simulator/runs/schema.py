"""Scenario files: one what-if question as YAML, shared by the CLI (`simulator run`), the app's export and batch
sweeps. The pydantic schema of each kind (runs.scenario runs them)."""

from __future__ import annotations

from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from simulator.catalog.schema import (
    BatchedTokens,
    BatchSize,
    GpuCount,
    NoBoolNumbers,
    PlanSpec,
    RatePerS,
    Ref,
    RequestCount,
    Seconds,
    Seed,
    TokenCount,
    TrainTokens,
)
from simulator.limits import MAX_NAME_CHARS, MAX_TOKENS
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
    fp8_recipe: str | None = Field(default=None, max_length=MAX_NAME_CHARS)  # None: the stack's default_fp8_recipe


class _ModelOnHardware(_Strict):
    """Fields every model-on-hardware scenario shares (each kind adds `kind` and its own fields)."""

    schema_version: Literal[1] = 1
    name: str = ""
    model: Ref = Field(description="model id or path to a model YAML")
    hardware: Ref = Field(description="accelerator id or path to a profile YAML")


class TrainingScenario(_ModelOnHardware):
    """A training run: with `plan` it is estimated as given, without it the best plan is searched."""

    kind: Literal["training"] = "training"
    gpus: GpuCount
    global_batch: BatchSize
    seq_len: TokenCount
    train_tokens: TrainTokens | None = None
    stack: Ref | None = Field(None, description="software stack id or path (workloads/stacks)")
    price_book: Ref | None = None
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
    scenario: Ref = Field(description="cluster scenario id or path")
    overrides: dict[str, Any] = Field(default_factory=dict)
    policy: PolicyName | None = None
    seed: Seed = 0
    until_s: Seconds | None = None


class DeploymentSpec(_Strict):
    tp: GpuCount = 1
    pp: GpuCount = 1
    ep: GpuCount = 1
    dp_attention: GpuCount = 1
    precision: QuantizationName = "bf16"
    kv_precision: KvPrecision = "bf16"
    engine: EngineName = "vllm"
    max_seqs: BatchSize | None = None
    max_batched_tokens: BatchedTokens | None = None


class InferenceScenario(_ModelOnHardware):
    """A static batch: prefill `batch` prompts, then decode (the `simulator infer` question)."""

    kind: Literal["inference"] = "inference"
    deployment: DeploymentSpec = DeploymentSpec()
    batch: BatchSize = 1
    input_len: TokenCount = 1024
    output_len: TokenCount = 256


class ServingScenario(_ModelOnHardware):
    """Replicas behind a router under an arrival process (the `simulator serve` question)."""

    kind: Literal["serving"] = "serving"
    deployment: DeploymentSpec = DeploymentSpec()
    replicas: GpuCount = 1
    router: RouterName = "least_outstanding"
    rate_per_s: RatePerS = 1.0
    arrival: OpenLoopArrival = "poisson"
    requests: RequestCount = 1000
    input_len: float = Field(1024, ge=1, le=MAX_TOKENS, allow_inf_nan=False)  # a mean (length_dist)
    output_len: float = Field(256, ge=1, le=MAX_TOKENS, allow_inf_nan=False)
    length_dist: LengthDist = "fixed"
    slo_ttft_s: Seconds = 2.0
    slo_tpot_s: Seconds = 0.1
    seed: Seed = 0


def to_yaml(scenario: BaseModel) -> str:
    """The scenario as YAML the CLI and sweeps accept (defaults omitted for readability)."""
    data = scenario.model_dump(exclude_defaults=True)
    data = {"schema_version": 1, "kind": scenario.kind, **data}  # type: ignore[attr-defined]
    return yaml.safe_dump(data, sort_keys=False)
