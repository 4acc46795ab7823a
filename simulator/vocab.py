"""Every enumeration of the planner, once: the Literal type (for schemas and type checking) and its values
(for CLI choices, app widgets, sweeps and checks). Registries of behaviour (routers, engines, quantizations,
scheduling policies, frameworks) are dicts keyed by these names in the module that implements them."""

from __future__ import annotations

from typing import Literal, get_args

# ---------------------------------------------------------------- hardware
PeakDtype = Literal["fp32", "tf32", "bf16", "fp16", "fp8", "int8", "int4", "fp4"]  # dense peaks a profile may state
PEAK_DTYPES: tuple[PeakDtype, ...] = get_args(PeakDtype)

# ---------------------------------------------------------------- models
Activation = Literal["gelu", "swiglu", "relu", "squared_relu"]  # swiglu: gated, two input projections
ACTIVATIONS: tuple[Activation, ...] = get_args(Activation)
AttentionKind = Literal["mha", "gqa", "mla"]  # multi-head, grouped-query, multi-head latent (DeepSeek)
ATTENTION_KINDS: tuple[AttentionKind, ...] = get_args(AttentionKind)

# ---------------------------------------------------------------- kernels and calibration
CollectiveOp = Literal["allreduce", "allgather", "reducescatter", "alltoall", "sendrecv"]
COLLECTIVE_OPS: tuple[CollectiveOp, ...] = get_args(CollectiveOp)
KernelOp = Literal["gemm", "attention", "copy", CollectiveOp]
KERNEL_OPS: tuple[KernelOp, ...] = get_args(KernelOp)  # what `simulator kernel --op` predicts
KernelDtype = Literal["fp32", "tf32", "bf16", "fp16", "fp8"]  # operand precisions `simulator kernel` predicts
KERNEL_DTYPES: tuple[KernelDtype, ...] = get_args(KernelDtype)
TimingStat = Literal["time_s", "time_s_best_round", "time_s_min", "time_s_p25"]  # time_s: the median over rounds
TIMING_STATS: tuple[TimingStat, ...] = get_args(TimingStat)
KernelBackend = Literal["numpy", "torch", "cupy"]  # what `simulator calibrate run` times kernels with
KERNEL_BACKENDS: tuple[KernelBackend, ...] = get_args(KernelBackend)
LinkScope = Literal["intra", "inter"]  # the scale-up link (NVLink domain) or the scale-out network
LINK_SCOPES: tuple[LinkScope, ...] = get_args(LinkScope)

# ---------------------------------------------------------------- training plans
Precision = Literal["bf16", "fp16", "fp8"]  # GEMM precision of a training plan (activations stay 16-bit)
PRECISIONS: tuple[Precision, ...] = get_args(Precision)
# activation recomputation: Korthikanti et al. 2022 selective (attention core) and full; torchtitan's op-level
# selective checkpointing (every other matmul output saved)
Recompute = Literal["none", "selective", "full", "op"]
RECOMPUTE: tuple[Recompute, ...] = get_args(Recompute)
# 1F1B, interleaved 1F1B (vpp > 1), GPipe (all forwards then all backwards), zero bubble (ZB-H1, Qi et al. 2023)
PipelineSchedule = Literal["1f1b", "interleaved", "gpipe", "zb"]
PP_SCHEDULES: tuple[PipelineSchedule, ...] = get_args(PipelineSchedule)
ZeroStage = Literal[0, 1, 2, 3]  # ZeRO stage (Rajbhandari et al. 2020); 3 = FSDP
ZERO_STAGES: tuple[ZeroStage, ...] = get_args(ZeroStage)
# the device's best flash kernel (FA3 on Hopper, cuDNN/TE fused), FlashAttention-2 (PyTorch SDPA's flash backend),
# FA1 or its Triton port, or Megatron 2021's unfused scores
AttentionKernel = Literal["flash", "flash1", "unfused", "flash2"]
ATTENTION_KERNELS: tuple[AttentionKernel, ...] = get_args(AttentionKernel)
GradReduce = Literal["fp32", "bf16"]  # dtype gradients are accumulated and reduced in
GRAD_REDUCE: tuple[GradReduce, ...] = get_args(GradReduce)
DEFAULT_STACK = "megatron-core"  # the stack the hardware profiles were set on (workloads/stacks/)
Objective = Literal["time", "cost"]  # rank plans by wall time or by dollars per token
OBJECTIVES: tuple[Objective, ...] = get_args(Objective)

# ---------------------------------------------------------------- cost
RentalOption = Literal["on_demand", "reserved_1y", "reserved_3y", "spot"]
PURCHASE_OPTIONS: tuple[RentalOption, ...] = get_args(RentalOption)
CostOption = Literal[RentalOption, "owned"]  # a rental, or owned hardware
COST_OPTIONS: tuple[CostOption, ...] = get_args(CostOption)
HOURLY_OPTIONS: tuple[RentalOption, ...] = ("on_demand", "spot")  # billed per hour used; the others every hour
DEFAULT_PRICE_BOOK = "hyperscaler-2025-03"

# ---------------------------------------------------------------- inference and serving
# the modes of workloads/quantization.yaml, in its order (a test holds them equal)
QuantizationName = Literal["bf16", "fp16", "fp8", "fp8-block", "fp8-wo", "int8", "int8-wo", "int4", "int4-g32", "fp4",
                           "mxfp4", "mxfp4-wo"]
QUANTIZATION_NAMES: tuple[QuantizationName, ...] = get_args(QuantizationName)
KvPrecision = Literal["bf16", "fp16", "fp8", "int8"]  # kv_cache of workloads/quantization.yaml (a test holds them equal)
KV_PRECISIONS: tuple[KvPrecision, ...] = get_args(KvPrecision)
# engine families (workloads/engines/<name>.yaml; a version as name@version)
EngineName = Literal["ideal", "vllm", "trtllm", "vllm-2023", "gpt-fast", "fastertransformer", "sglang"]
ENGINE_NAMES: tuple[EngineName, ...] = get_args(EngineName)
RouterName = Literal["round_robin", "least_outstanding", "jsq", "random"]  # keys of serving.routers.ROUTERS
ROUTER_NAMES: tuple[RouterName, ...] = get_args(RouterName)
OpenLoopArrival = Literal["poisson", "gamma"]  # arrivals at a rate (gamma: bursty)
OPEN_LOOP_ARRIVALS: tuple[OpenLoopArrival, ...] = get_args(OpenLoopArrival)
Arrival = Literal[OpenLoopArrival, "offline"]  # offline: every request at t = 0 (the max-load benchmark)
ARRIVALS: tuple[Arrival, ...] = get_args(Arrival)
CANDIDATE_TPS = (1, 2, 4, 8)  # tensor-parallel sizes a capacity search tries by default
# requests each simulated probe of a capacity search replays (`simulator capacity --requests`, the app alike)
CAPACITY_PROBE_REQUESTS = 400
CANDIDATE_PRECISIONS: tuple[QuantizationName, ...] = ("bf16", "fp8", "int4")  # ... and weight precisions (with a peak)
LengthDist = Literal["fixed", "lognormal", "sharegpt", "empirical", "cnn_dailymail"]  # serving.workload
LENGTH_DISTS: tuple[LengthDist, ...] = get_args(LengthDist)

# ---------------------------------------------------------------- cluster
PolicyName = Literal["fifo", "sjf", "priority", "easy"]  # keys of cluster.policies.POLICIES
POLICY_NAMES: tuple[PolicyName, ...] = get_args(PolicyName)
JobKind = Literal["training", "finetune", "batch", "eval"]
JOB_KINDS: tuple[JobKind, ...] = get_args(JobKind)
TRAINING_JOB_KINDS: tuple[JobKind, ...] = ("training", "finetune")  # the kinds whose ETTR is reported
FINAL_JOB_STATES = ("COMPLETED", "FAILED", "CANCELLED")  # how a job can end (trace states map onto these)
CheckpointInterval = Literal["daly", "young", "none"]
CHECKPOINT_INTERVALS: tuple[CheckpointInterval, ...] = get_args(CheckpointInterval)
RepairDistribution = Literal["exponential", "fixed"]
REPAIR_DISTRIBUTIONS: tuple[RepairDistribution, ...] = get_args(RepairDistribution)

# ---------------------------------------------------------------- scenarios and sweeps
ScenarioKind = Literal["training", "cluster", "inference", "serving"]
SCENARIO_KINDS: tuple[ScenarioKind, ...] = get_args(ScenarioKind)
SweepEngine = Literal["local", "dask"]
SWEEP_ENGINES: tuple[SweepEngine, ...] = get_args(SweepEngine)
# what `simulator list` lists (the last three: `simulator lifecycle`'s --scaling-law, --family and --compression)
ListWhat = Literal["hardware", "models", "stacks", "prices", "scenarios", "engines", "scaling-laws", "families",
                   "compression"]
LIST_WHAT: tuple[ListWhat, ...] = get_args(ListWhat)

# the parts of `simulator validate` / `make validate`, in the order they print
VALIDATION_PARTS = ("training", "inference", "cluster", "kernels", "collectives")
