"""Scenario files: one what-if question as YAML, shared by the CLI (`simulator run`), the app's export and batch
sweeps. The pydantic schema of each kind (runs.scenario runs them)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from simulator.catalog.engines import engine_versions
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
from simulator.limits import MAX_DRAFT_LAYERS, MAX_GPUS, MAX_NAME_CHARS, MAX_SPECULATIVE_TOKENS, MAX_TOKENS
from simulator.vocab import (
    ENGINE_NAMES,
    AttentionKernel,
    CostOption,
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


def _engine_ref(text: str) -> str:
    """An engine family, or family@version of a version shipped in workloads/engines/<family>.yaml."""
    family, sep, version = text.partition("@")
    if family not in ENGINE_NAMES:
        raise ValueError(f"engine {family!r} is not one of {', '.join(ENGINE_NAMES)} (optionally as NAME@VERSION)")
    if sep and version not in engine_versions(family):
        raise ValueError(f"engine {family} has no version {version!r}; shipped versions: "
                         f"{', '.join(engine_versions(family))} (`simulator list engines`)")
    return text


EngineRef = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS), AfterValidator(_engine_ref)]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
PrefixTokens = Annotated[int, Field(ge=0, le=MAX_TOKENS)]


class SpeculativeSpec(_Strict):
    """Speculative decoding (core.inference.speculative.SpeculativeDecoding): a draft model, or without one MTP/EAGLE
    heads of draft_layers target-shaped layers; k drafted tokens, each accepted with probability acceptance_rate."""

    num_speculative_tokens: Annotated[int, Field(ge=1, le=MAX_SPECULATIVE_TOKENS)]
    acceptance_rate: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
    draft_model: Ref | None = None
    draft_tp: GpuCount | None = None
    draft_layers: Annotated[float, Field(gt=0, le=MAX_DRAFT_LAYERS, allow_inf_nan=False)] = 1.0
    acceptance_source: str = Field("user-stated", min_length=1, max_length=MAX_NAME_CHARS)


class DeploymentSpec(_Strict):
    tp: GpuCount = 1
    pp: GpuCount = 1
    ep: GpuCount = 1
    dp_attention: GpuCount = 1
    precision: QuantizationName = "bf16"
    kv_precision: KvPrecision = "bf16"
    engine: EngineRef = "vllm"  # a family (its default version) or family@version
    engine_version: str | None = Field(default=None, min_length=1, max_length=MAX_NAME_CHARS)  # or the version on its own
    max_seqs: BatchSize | None = None
    max_batched_tokens: BatchedTokens | None = None
    speculative: SpeculativeSpec | None = None

    @model_validator(mode="after")
    def _version_shipped(self) -> DeploymentSpec:
        if self.engine_version is not None:
            if "@" in self.engine:
                raise ValueError("give the engine version once: engine: NAME@VERSION or engine_version: VERSION")
            _engine_ref(f"{self.engine}@{self.engine_version}")
        return self


class InferenceScenario(_ModelOnHardware):
    """A static batch: prefill `batch` prompts, then decode (the `simulator infer` question)."""

    kind: Literal["inference"] = "inference"
    deployment: DeploymentSpec = DeploymentSpec()
    batch: BatchSize = 1
    input_len: TokenCount = 1024
    output_len: TokenCount = 256
    prefix_hit_rate: Fraction = 0.0  # share of each prompt served from the prefix cache
    prefix_tokens: PrefixTokens = 0  # or: a prefix every prompt shares


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
    length_cv: float = Field(1.0, gt=0, le=100.0, allow_inf_nan=False)  # lognormal lengths' coefficient of variation
    slo_ttft_s: Seconds = 2.0
    slo_tpot_s: Seconds = 0.1
    seed: Seed = 0
    # prefill/decode disaggregation: both > 0 replace `replicas` (serving.ServingConfig)
    prefill_replicas: int = Field(0, ge=0, le=MAX_GPUS)
    decode_replicas: int = Field(0, ge=0, le=MAX_GPUS)
    decode_deployment: DeploymentSpec | None = None  # default: `deployment`
    prefix_hit_rate: Fraction = 0.0
    prefix_tokens: PrefixTokens = 0

    @model_validator(mode="after")
    def _disaggregation(self) -> ServingScenario:
        if (self.prefill_replicas > 0) != (self.decode_replicas > 0):
            raise ValueError("disaggregation needs both prefill_replicas and decode_replicas (or neither)")
        if self.decode_deployment is not None and not self.prefill_replicas:
            raise ValueError("decode_deployment needs prefill_replicas and decode_replicas")
        return self


def to_yaml(scenario: BaseModel) -> str:
    """The scenario as YAML the CLI and sweeps accept (defaults omitted for readability)."""
    data = scenario.model_dump(exclude_defaults=True)
    data = {"schema_version": 1, "kind": scenario.kind, **data}  # type: ignore[attr-defined]
    return yaml.safe_dump(data, sort_keys=False)
