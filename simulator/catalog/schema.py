"""Pydantic models mirroring the YAML data files exactly (used only at the file boundary).

Every numeric key carries its unit in its name and holds an SI value. Unknown keys are
rejected so a typo in a profile is an error, not a silently ignored setting.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from simulator import limits
from simulator.errors import BadValueError
from simulator.vocab import Activation, AttentionKind, PipelineSchedule, Precision, Recompute, ZeroStage


def _fits_file_system(text: str) -> str:
    """An id or path no file system refuses for its length (limits.MAX_PATH_CHARS, MAX_NAME_CHARS), without NULs."""
    try:
        limits.check_ref("the id or path", text)
    except BadValueError as exc:
        raise ValueError(str(exc)) from None
    return text


# Bounded field types the scenario schemas share with the CLI flags (simulator.limits): finite and within range.
Ref = Annotated[str, Field(min_length=1, max_length=limits.MAX_PATH_CHARS), AfterValidator(_fits_file_system)]
GpuCount = Annotated[int, Field(gt=0, le=limits.MAX_GPUS)]  # GPUs, parallel degrees, replicas
BatchSize = Annotated[int, Field(gt=0, le=limits.MAX_BATCH)]
TokenCount = Annotated[int, Field(gt=0, le=limits.MAX_TOKENS)]
BatchedTokens = Annotated[int, Field(gt=0, le=limits.MAX_BATCHED_TOKENS)]
RequestCount = Annotated[int, Field(gt=0, le=limits.MAX_REQUESTS)]
Seed = Annotated[int, Field(ge=0, le=limits.MAX_SEED)]
TrainTokens = Annotated[float, Field(gt=0, le=limits.MAX_TRAIN_TOKENS, allow_inf_nan=False)]
RatePerS = Annotated[float, Field(gt=0, le=limits.MAX_RATE_PER_S, allow_inf_nan=False)]
Seconds = Annotated[float, Field(gt=0, le=limits.MAX_SIM_SECONDS, allow_inf_nan=False)]

# Model architecture figures (bounds and their reasons: simulator.limits).
Layers = Annotated[int, Field(gt=0, le=limits.MAX_LAYERS)]
Width = Annotated[int, Field(gt=0, le=limits.MAX_MODEL_WIDTH)]  # d_model, head sizes, MLA ranks
Heads = Annotated[int, Field(gt=0, le=limits.MAX_HEADS)]
FfnWidth = Annotated[int, Field(gt=0, le=limits.MAX_FFN_WIDTH)]
Experts = Annotated[int, Field(gt=0, le=limits.MAX_EXPERTS)]


def _at_least(low: float, what: str) -> AfterValidator:
    """A floor above zero (zero and below get pydantic's 'greater than 0'); `what`: the unit and the reason."""
    def check(value: float) -> float:
        if value < low:
            raise ValueError(f"must be at least {low:g} {what}")
        return value
    return AfterValidator(check)


# Accelerator figures: finite, and neither so large nor so small that the times dividing by them stop meaning anything.
_TIMES_DIVIDE = "(times divide by it; simulator.limits)"
PeakRate = Annotated[float, Field(gt=0, le=limits.MAX_PEAK_FLOP_PER_S, allow_inf_nan=False),
                     _at_least(limits.MIN_PEAK_FLOP_PER_S, f"FLOP/s {_TIMES_DIVIDE}")]
DeviceBytes = Annotated[float, Field(gt=0, le=limits.MAX_DEVICE_BYTES, allow_inf_nan=False),
                        _at_least(limits.MIN_DEVICE_BYTES, "bytes (no accelerator holds less; simulator.limits)")]
BytesPerS = Annotated[float, Field(gt=0, le=limits.MAX_BYTES_PER_S, allow_inf_nan=False),
                      _at_least(limits.MIN_BYTES_PER_S, f"bytes/s {_TIMES_DIVIDE}")]
Latency = Annotated[float, Field(ge=0, le=limits.MAX_LATENCY_S, allow_inf_nan=False)]
PositiveLatency = Annotated[float, Field(gt=0, le=limits.MAX_LATENCY_S, allow_inf_nan=False)]
_EFFICIENCY_FLOOR = _at_least(limits.MIN_EFFICIENCY, _TIMES_DIVIDE)
Efficiency1 = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False), _EFFICIENCY_FLOOR]  # a share of a spec figure
Efficiency12 = Annotated[float, Field(gt=0, le=1.2, allow_inf_nan=False), _EFFICIENCY_FLOOR]  # bus/memory: may pass 1
UsdPerGpuHour = Annotated[float, Field(gt=0, le=limits.MAX_USD_PER_GPU_HOUR, allow_inf_nan=False)]


class NoBoolNumbers(BaseModel):
    """Base for file schemas: a YAML `true`/`false` is refused where a number is expected."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """YAML reads `true` as a boolean, which pydantic would quietly take as the number 1."""
        if isinstance(value, bool) and info.field_name is not None:
            ann = cls.model_fields[info.field_name].annotation
            if ann is not bool and bool not in get_args(ann):
                raise ValueError("expected a number, got a boolean (true/false)")
        return value


class Strict(NoBoolNumbers):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(Strict):
    """Provenance of a figure: what was read, where, and when."""

    title: str = Field(min_length=1)
    where: str = Field(min_length=1)
    date: str = Field(min_length=4)


class Entity(Strict):
    schema_version: Literal[1]
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    sources: list[Source] = Field(min_length=1)


# ---------------------------------------------------------------- hardware profiles


class PeakFlops(Strict):
    """Dense (never sparse) peak FLOP/s (or OP/s for integer types) per device."""

    fp32: PeakRate
    tf32: PeakRate | None = None
    bf16: PeakRate
    fp16: PeakRate
    fp8: PeakRate | None = None
    int8: PeakRate | None = None
    int4: PeakRate | None = None
    fp4: PeakRate | None = None


class Memory(Strict):
    hbm_bytes: DeviceBytes
    hbm_bandwidth_bytes_per_s: BytesPerS
    # Memory the runtime, CUDA context and allocator fragmentation take away from the user.
    reserved_bytes: float = Field(ge=0, le=limits.MAX_DEVICE_BYTES, allow_inf_nan=False)

    @model_validator(mode="after")
    def _reserve(self) -> Memory:
        if self.reserved_bytes >= self.hbm_bytes:
            raise ValueError(f"reserved_bytes ({self.reserved_bytes:.3g}) must be below hbm_bytes ({self.hbm_bytes:.3g}); "
                             "it is the memory the runtime keeps, typically 1-3e9")
        return self


class Power(Strict):
    tdp_w: float = Field(gt=0, le=limits.MAX_TDP_W, allow_inf_nan=False)
    # Share of TDP drawn on average during training (Epoch AI convention: 0.75 for GPUs).
    average_utilization_of_tdp: float = Field(default=0.75, gt=0, le=1)
    # Server power over GPU power (CPUs, NICs, fans; Epoch AI: 1.82 for H100 servers).
    server_to_gpu_power_ratio: float = Field(default=1.8, ge=1, le=limits.MAX_SERVER_POWER_RATIO)


class CollectiveRegime(Strict):
    """One latency-bandwidth regime of a link (like one NCCL protocol): collective time is the fastest
    regime's alpha-beta time (simulator/calibrate/fit.py regime_time_s; microbench_anchors 3.3)."""

    latency_s: Latency
    bus_efficiency: Efficiency12


class Link(Strict):
    """One tier of the network as seen by one device; bandwidth is per device, one direction."""

    bandwidth_bytes_per_s_unidir: BytesPerS
    # Base latency of one collective call (launch + first hop), the alpha of an alpha-beta model.
    latency_s: PositiveLatency
    # Extra latency per ring step (NCCL tuning model per-hop latency).
    hop_latency_s: Latency = 1.0e-6
    # Achieved bus bandwidth of large collectives over the spec figure (nccl-tests busbw / spec).
    bus_efficiency: Efficiency12 = 0.8
    # Share of compute throughput lost while a collective on this link overlaps compute (the SMs its
    # kernels occupy; Calculon's processor_usage). 0 = contention not modelled.
    overlap_compute_penalty: float = Field(default=0.0, ge=0, lt=1)
    # Optional: fitted small/medium/large-message regimes (latency_s, bus_efficiency pairs) and their sources.
    regimes: list[CollectiveRegime] | None = Field(default=None, max_length=limits.MAX_LINK_REGIMES)
    regimes_fitted_on: list[str] | None = None
    # Optional: in-network all-reduce (NVLS on the NVSwitch, SHARP on the scale-out switch) as one regime whose
    # bus_efficiency is algbw / bandwidth (simulator.core.comm); absent = the fabric has none.
    in_network: CollectiveRegime | None = None
    # Optional: latency of one level of NCCL's tree between domains (absent: hop_latency_s).
    tree_hop_latency_s: Latency | None = None
    # Optional: bytes of one pipeline chunk of that tree (each level waits for one chunk to arrive).
    tree_chunk_bytes: float = Field(default=0.0, ge=0, le=limits.MAX_DEVICE_BYTES, allow_inf_nan=False)
    # Optional: all-to-all busbw over bandwidth at large sizes (absent: bus_efficiency).
    alltoall_efficiency: Efficiency12 | None = None
    # Whether serving engines run their own all-reduce kernels over this link (NVLink). Without NVLink they use NCCL:
    # TensorRT-LLM's AUTO strategy at every size (allreduceOp.cpp), vLLM/SGLang beyond two GPUs (custom_all_reduce.py:
    # "not supported on more than two PCIe-only GPUs"; the engine files' pcie_max_gpus says how many keep it).
    engine_allreduce: bool = True
    # Where the optional collective fields above come from.
    collectives_fitted_on: list[str] | None = None


class Host(Strict):
    """The node's host CPU, whose single-thread speed sets how fast a serving engine's host-side work runs.

    Engine host terms (inference.ENGINES) are seconds on the reference host, a DGX A100 (2x AMD EPYC 7742);
    `speed_vs_reference` divides them (1.5 means host work takes 1/1.5 of the reference time).
    """

    cpu: str = Field(min_length=1)
    speed_vs_reference: Annotated[float, Field(gt=0, le=limits.MAX_HOST_SPEED),
                                  _at_least(limits.MIN_HOST_SPEED, _TIMES_DIVIDE)]
    fitted_on: list[str] = Field(min_length=1)


class Node(Strict):
    gpus_per_node: int = Field(gt=0, le=limits.MAX_GPUS_PER_NODE)
    # Devices in one scale-up domain (NVLink/ICI island); 72 for GB200 NVL72, else the node size.
    scale_up_domain_gpus: GpuCount | None = None
    intra_node: Link
    scale_out: Link
    # Optional host CPU; absent = the reference host's speed is assumed (inference engine overheads only).
    host: Host | None = None

    @model_validator(mode="after")
    def _domain(self) -> Node:
        if self.scale_up_domain_gpus is not None and self.scale_up_domain_gpus % self.gpus_per_node:
            raise ValueError(
                f"scale_up_domain_gpus ({self.scale_up_domain_gpus}) must be a multiple of "
                f"gpus_per_node ({self.gpus_per_node})"
            )
        return self


class GemmEfficiency(Strict):
    """Soft (p-norm) roofline with a launch floor for matrix multiplies.

    t = launch_s + ((F / (compute_efficiency * P))^p + (B / (memory_efficiency * BW))^p)^(1/p)
    """

    compute_efficiency: Efficiency1
    # fp8 GEMMs reach a lower share of their (2x) peak; default: same as compute_efficiency.
    fp8_compute_efficiency: Efficiency1 | None = None
    # fp4 (NVFP4/MXFP4) GEMMs against their (4x) peak; default: fp8_compute_efficiency.
    fp4_compute_efficiency: Efficiency1 | None = None
    memory_efficiency: Efficiency12
    p: float = Field(gt=0.5, le=8)
    launch_s: Latency
    # Optional: memory cap of matrix-vector products (M or N = 1), which BLAS runs as GEMV kernels
    # without operand packing; default: memory_efficiency.
    gemv_memory_efficiency: Annotated[float, Field(gt=0, le=1.5), _EFFICIENCY_FLOOR] | None = None
    fitted_on: list[str] = Field(min_length=1)


class Efficiency(Strict):
    gemm: GemmEfficiency
    # Achieved HBM bandwidth of large streaming kernels over the spec figure.
    memory_bandwidth_efficiency: Efficiency1
    # Fused (flash) attention FLOP/s over the dense peak at long sequence length.
    flash_attention_efficiency: Efficiency1
    # First-generation FlashAttention kernels (FA1 CUDA or its Triton port): 25-40% of peak on A100
    # (Dao 2023, FlashAttention-2 abstract). Default: 0.55 x flash_attention_efficiency (the A100 ratio).
    flash1_attention_efficiency: Efficiency1  # FlashAttention-1-era kernels (attention_kernel flash1)
    # FlashAttention-2 kernels (attention_kernel flash2: PyTorch SDPA's flash backend, flash-attn 2) where they differ
    # from the device's best flash kernel (Hopper runs FA3 at 0.45, FA2 at 0.35); None: flash_attention_efficiency
    flash2_attention_efficiency: Efficiency1 | None = None
    # Fixed cost per kernel launch for memory-bound kernels.
    kernel_launch_s: Latency = 5.0e-6
    fitted_on: list[str] = Field(min_length=1)
    # Optional: measurement files (paths relative to the repository root) the curves were fitted on.
    measurements: list[str] | None = None


MOE_MEMORY_SCALE_RANGE = (0.2, 1.5)  # a fused-MoE memory scale outside this is a typo or a broken fit


class FusedMoeFile(Entity):
    """Fused mixture-of-experts layers against the dense GEMM curve, for every accelerator
    (hardware_profiles/kernels/fused_moe.yaml): the routed experts' weight streaming scales the curve's memory
    efficiency, and each layer pays a fixed time beyond its two GEMM launches (routing, sort, activation, combine)."""

    kind: Literal["fused_moe"]
    memory_scale: Annotated[float, Field(gt=MOE_MEMORY_SCALE_RANGE[0], le=MOE_MEMORY_SCALE_RANGE[1],
                                         allow_inf_nan=False)]
    layer_overhead_s: Latency
    fitted_on: list[str] = Field(min_length=1)
    measured_on: list[str] = Field(min_length=1)  # accelerator ids the reference rows timed (fit and check)
    measurements: list[str] = Field(min_length=1)


class HardwareFile(Entity):
    kind: Literal["accelerator"]
    vendor: str
    peak_dense_flop_per_s: PeakFlops
    memory: Memory
    power: Power
    node: Node
    efficiency: Efficiency
    notes: str = ""


# ---------------------------------------------------------------- model architectures
class MoeSpec(Strict):
    n_experts: Experts
    top_k: Experts
    d_ff_expert: FfnWidth
    n_shared_experts: int = Field(default=0, ge=0, le=limits.MAX_EXPERTS)
    first_dense_layers: int = Field(default=0, ge=0, le=limits.MAX_LAYERS)
    # how unevenly the trained router spreads tokens: the coefficient of variation of the experts' shares (0: every
    # expert equally popular, only sampling noise; state it with its source where a paper measured it)
    routing_cv: float = Field(default=0.0, ge=0.0, le=3.0)

    @model_validator(mode="after")
    def _k(self) -> MoeSpec:
        if self.top_k > self.n_experts:
            raise ValueError(f"top_k ({self.top_k}) exceeds n_experts ({self.n_experts})")
        return self


class AttentionSpec(Strict):
    kind: AttentionKind = "mha"
    head_dim: Width | None = None
    # MLA (DeepSeek-V2/V3): low-rank query/KV compression.
    q_lora_rank: Width | None = None
    kv_lora_rank: Width | None = None
    qk_rope_head_dim: Width | None = None
    qk_nope_head_dim: Width | None = None
    v_head_dim: Width | None = None
    # Sliding-window attention (Mistral 7B v0.1, Gemma 2/3, gpt-oss): the window in tokens and how many layers have it
    sliding_window_tokens: int | None = Field(default=None, gt=0, le=limits.MAX_CONTEXT_WINDOW)
    sliding_window_layers: int | None = Field(default=None, ge=0, le=limits.MAX_LAYERS)

    @model_validator(mode="after")
    def _mla(self) -> AttentionSpec:
        if self.kind == "mla":
            need = ("kv_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim")
            missing = [k for k in need if getattr(self, k) is None]
            if missing:
                raise ValueError(f"attention kind 'mla' needs {', '.join(missing)}")
        if (self.sliding_window_tokens is None) != (self.sliding_window_layers is None):
            raise ValueError("attention.sliding_window_tokens and attention.sliding_window_layers go together: give "
                             "the window and how many layers have it, or neither")
        return self


class ModelFile(Strict):
    schema_version: Literal[1] = 1
    kind: Literal["model"] = "model"
    id: str | None = None
    name: str = Field(min_length=1)
    sources: list[Source] = Field(default_factory=list)
    n_layers: Layers
    d_model: Width
    n_heads: Heads
    n_kv_heads: Heads | None = None
    d_ff: FfnWidth
    vocab_size: int = Field(gt=0, le=limits.MAX_VOCAB)
    activation: Activation = "gelu"
    tied_embeddings: bool = False
    # Learned absolute position embeddings (GPT-3, OPT); rotary/ALiBi models have none.
    max_position_embeddings: int = Field(default=0, ge=0, le=limits.MAX_CONTEXT_WINDOW)
    # Trained with dropout (GPT-3, OPT, BLOOM, Megatron GPT: 0.1); Llama, Mixtral, DeepSeek train without.
    dropout: bool = False
    # Longest prompt + output the model supports (config.json max_position_embeddings for RoPE models).
    context_window_tokens: int | None = Field(default=None, gt=0, le=limits.MAX_CONTEXT_WINDOW)
    moe: MoeSpec | None = None
    attention: AttentionSpec | None = None
    # Published total parameter count, used only by tests to check our own count.
    published_params: float | None = Field(default=None, gt=0, le=limits.MAX_MODEL_PARAMS, allow_inf_nan=False)
    notes: str = ""

    @model_validator(mode="after")
    def _heads(self) -> ModelFile:
        kv = self.n_kv_heads or self.n_heads
        if self.attention is not None and self.attention.kind == "mha" and kv != self.n_heads:
            raise ValueError(f"attention kind 'mha' has n_kv_heads = n_heads, but n_kv_heads is {kv} and n_heads "
                             f"{self.n_heads}; set attention.kind: gqa or drop n_kv_heads")
        if self.moe is not None and self.moe.first_dense_layers >= self.n_layers:
            raise ValueError(f"moe.first_dense_layers ({self.moe.first_dense_layers}) must be below n_layers "
                             f"({self.n_layers}): a MoE model needs at least one MoE layer (drop the moe block "
                             "for a dense model)")
        if self.n_heads % kv:
            raise ValueError(f"n_heads ({self.n_heads}) must be a multiple of n_kv_heads ({kv})")
        windowed = self.attention.sliding_window_layers if self.attention is not None else None
        if windowed is not None and windowed > self.n_layers:
            raise ValueError(f"attention.sliding_window_layers ({windowed}) exceeds n_layers ({self.n_layers}); "
                             "give how many of the layers have the window")
        if (self.attention is None or self.attention.head_dim is None) and self.d_model % self.n_heads:
            raise ValueError(
                f"d_model ({self.d_model}) is not divisible by n_heads ({self.n_heads}); "
                "set attention.head_dim explicitly"
            )
        return self


# ---------------------------------------------------------------- parallel plans
class PlanSpec(Strict):
    """A training parallel plan as written in scenario files (same names as `simulator train`)."""

    tp: GpuCount = 1
    pp: GpuCount = 1
    cp: GpuCount = 1
    ep: GpuCount = 1
    micro_batch: BatchSize = 1
    zero: ZeroStage | None = None  # None: the stack's default (ZeRO-1 where offered, else FSDP)
    recompute: Recompute | None = None  # None: the stack's default (selective where offered, else op or full)
    precision: Precision = "bf16"
    pp_schedule: PipelineSchedule = "1f1b"
    vpp: GpuCount | None = None
    sequence_parallel: bool | None = None
    fsdp_shard: GpuCount | None = None  # HSDP: data-parallel ranks that shard the model states (None: all)
    # stages of unequal layer counts, as a search may pick them (the record's `uneven_pp`)
    uneven_pp: bool | None = None

    def plan_kwargs(self) -> dict:
        """The plan fields as keyword arguments of `estimate_training` (`uneven_pp` is an option, not a plan field)."""
        return {k: getattr(self, k) for k in PlanSpec.model_fields if k != "uneven_pp"}

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> PlanSpec:
        """The plan of a training record (`simulator train --json`, a row of a plan search), as a scenario writes it."""
        return cls(tp=int(rec["tp"]), pp=int(rec["pp"]), cp=int(rec["cp"]), ep=int(rec["ep"]),
                   micro_batch=int(rec["micro_batch"]), zero=rec["zero"], recompute=rec["recompute"],
                   precision=rec["precision"], pp_schedule=rec["pp_schedule"], vpp=int(rec["vpp"]),
                   sequence_parallel=bool(rec["sequence_parallel"]),
                   fsdp_shard=int(rec["fsdp_shard"]) if rec.get("fsdp_shard") and int(rec["fsdp_shard"]) < int(
                       rec["dp"]) * int(rec["cp"]) else None,
                   uneven_pp=True if rec.get("uneven_pp") in (True,) else None)


# ---------------------------------------------------------------- price books
class GpuHourPrice(Strict):
    """USD per GPU-hour for one accelerator under each purchase option."""

    on_demand: UsdPerGpuHour | None = None
    reserved_1y: UsdPerGpuHour | None = None
    reserved_3y: UsdPerGpuHour | None = None
    spot: UsdPerGpuHour | None = None


class OwnedGpuCost(Strict):
    """Capital and running cost of owning one accelerator (Epoch AI TCO structure, arXiv 2405.21015)."""

    # Purchase price per GPU: the GPU's share of a server when server_overhead_ratio is 1 (e.g. DGX/8).
    purchase_usd_per_gpu: float = Field(gt=0, le=limits.MAX_USD_PER_GPU, allow_inf_nan=False)
    # Server cost over the price above (Epoch: 1.64 when the price is for the chip alone; 1.0 for a system share).
    server_overhead_ratio: float = Field(default=1.0, ge=1.0, le=5.0)
    # Share of total cluster capex spent on the interconnect (Epoch: 0.19).
    network_share_of_capex: float = Field(default=0.19, ge=0.0, lt=0.9)
    storage_usd_per_gpu: float = Field(default=0.0, ge=0, le=limits.MAX_USD_PER_GPU, allow_inf_nan=False)
    # Straight-line amortisation period (Epoch: 0.322/yr depreciation, i.e. ~3.1 y; 4-5 y common).
    amortisation_years: float = Field(gt=0, le=20)
    # Colocation, staff, maintenance contracts per GPU-year (site-specific; 0 means not counted).
    facility_ops_usd_per_gpu_year: float = Field(default=0.0, ge=0, le=limits.MAX_USD_PER_GPU, allow_inf_nan=False)


class PriceBookFile(Entity):
    kind: Literal["price_book"]
    # ISO date the prices were read (YYYY-MM or YYYY-MM-DD): prices are never "current".
    price_date: str = Field(pattern=r"^\d{4}-\d{2}(-\d{2})?$")
    electricity_usd_per_kwh: float = Field(ge=0, le=limits.MAX_USD_PER_KWH, allow_inf_nan=False)
    pue: float = Field(ge=1.0, le=3.0)
    grid_kg_co2e_per_kwh: float = Field(ge=0, le=limits.MAX_KG_CO2E_PER_KWH, allow_inf_nan=False)
    usd_per_gpu_hour: dict[str, GpuHourPrice] = Field(default_factory=dict)
    # Owned-cluster costs per accelerator id (rent-vs-buy and `purchase: owned` cluster pools).
    owned: dict[str, OwnedGpuCost] = Field(default_factory=dict)
    notes: str = ""

    @model_validator(mode="after")
    def _some_prices(self) -> PriceBookFile:
        if not self.usd_per_gpu_hour and not self.owned:
            raise ValueError("a price book needs usd_per_gpu_hour (rental) or owned (purchase) prices")
        return self
