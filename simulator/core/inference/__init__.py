"""Inference iteration time, KV-cache capacity and quantization, vectorised over batch and context.

One iteration of a serving engine runs a batch of prefill chunks and decode tokens through every
layer: the linear layers see all tokens (GEMMs with M = tokens), attention sees each sequence's
own context, tensor parallelism adds two all-reduces per layer, and the engine adds a host-side
overhead per iteration (LLM-Viewer issue #4 and BLIS docs: a pure roofline is 1.5-2.3x optimistic
without it). Kernel times come from `roofline` and collectives from `comm`; every efficiency is
read from the hardware profile. Only the engine-overhead terms in `ENGINES` are set here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from simulator import units
from simulator.catalog import load_hardware, load_model
from simulator.core import comm, roofline
from simulator.core.hardware import Accelerator
from simulator.core.model import TransformerSpec
from simulator.errors import PlanError
from simulator.results import RecordResult

ACT_BYTES = 2.0  # activations, logits of the LM head input and all-reduce buffers stay 16-bit


@dataclass(frozen=True, slots=True)
class Quantization:
    """How weights, GEMM inputs and their peak are stored/used for one precision scheme."""

    name: str
    weight_bytes: float  # bytes per linear-layer weight element, scales included
    compute_dtype: str  # key of Accelerator.peak_flop_per_s used by the linear layers
    activation_bytes: float  # bytes per GEMM input activation element
    description: str = ""


# Group-quantization scale overheads: AWQ/GPTQ int4 keeps an fp16 scale + zero per 128 weights
# (4 B / 128 = 0.03125 B); NVFP4 keeps one fp8 scale per 16 elements (1/16 B) (NVIDIA NVFP4 blog 2025).
QUANTIZATIONS: dict[str, Quantization] = {
    "bf16": Quantization("bf16", 2.0, "bf16", 2.0, "16-bit weights and activations"),
    "fp16": Quantization("fp16", 2.0, "fp16", 2.0, "16-bit weights and activations"),
    "fp8": Quantization("fp8", 1.0, "fp8", 1.0, "W8A8 fp8 (per-tensor scales, TensorRT-LLM/ModelOpt style)"),
    "int8": Quantization("int8", 1.0, "int8", 1.0, "W8A8 int8 (SmoothQuant, Xiao et al. 2023)"),
    "int8-wo": Quantization("int8-wo", 1.0, "bf16", 2.0, "int8 weight-only, 16-bit compute"),
    "int4": Quantization("int4", 0.5 + 4.0 / 128.0, "bf16", 2.0, "W4A16 int4 weight-only, group 128 (AWQ/GPTQ)"),
    "int4-g32": Quantization("int4-g32", 0.5 + 4.0 / 32.0, "bf16", 2.0, "W4A16 int4 weight-only, group 32 (gpt-fast)"),
    "fp4": Quantization("fp4", 0.5 + 1.0 / 16.0, "fp4", 0.5 + 1.0 / 16.0, "W4A4 NVFP4 (block 16, fp8 scales)"),
}
KV_BYTES: dict[str, float] = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0}


@dataclass(frozen=True, slots=True)
class EngineProfile:
    """Host-side costs and scheduler/memory defaults of one serving-engine family.

    Iteration time = max(device time, layer_launch_s x layers) + step_overhead_s + seq_overhead_s x
    sequences: kernel launches are asynchronous, so the host only shows when it issues kernels slower
    than the device runs them (eager engines at small batch); the per-step work (scheduling, sampling,
    synchronisation) is serial with the device. Host terms fitted on the reference host (DGX A100, 2x AMD
    EPYC 7742) are divided by a profile's `node.host.speed_vs_reference`; assumed priors are not.
    """

    name: str
    step_overhead_s: float  # per iteration: scheduling, input preparation, sampling, sync
    layer_launch_s: float  # host time to issue one layer's kernels (0 with CUDA graphs)
    seq_overhead_s: float  # per sequence sampled per iteration: sampler, detokeniser, block tables
    gpu_memory_utilization: float = 0.90  # share of HBM (vLLM) or of the memory left free (TRT-LLM)
    kv_memory_mode: str = "total"  # "total": util x HBM - weights - workspace; "free": util x (free after weights)
    block_size_tokens: int = 16
    max_seqs: int = 256
    max_batched_tokens: int = 8192
    chunked_prefill: bool = True
    admission: str = "on_demand"  # "on_demand": blocks as needed, preempt by recompute (vLLM);
    #                                "reserve_full": reserve prompt + output at admission, never evict (TRT-LLM)
    compute_scale: float = 1.0  # engine kernels' share of the profile's calibrated compute efficiency
    source: str = ""
    # True when the host terms are measured seconds on the reference host (DGX A100): they then scale with
    # the profile's host CPU speed. Priors with no measured host stay as they are on every host.
    host_terms_on_reference_host: bool = False

    def host_speed(self, hw: Accelerator) -> float:
        """Speed of hw's host relative to the host these terms were measured on."""
        return hw.host_speed if self.host_terms_on_reference_host else 1.0


ENGINES: dict[str, EngineProfile] = {
    "ideal": EngineProfile("ideal", 0.0, 0.0, 0.0, source="no host overhead: a pure calibrated roofline"),
    "vllm": EngineProfile(
        "vllm", 500e-6, 20e-6, 0.0, 0.90, "total", 16, 256, 8192, True, "on_demand",
        source="BLIS roofline defaults (inference-sim docs/roofline.md): 500 us per step and 20 us per layer, the "
               "latter used here as host launch time (hidden under device time, as with CUDA graphs); vLLM V1 "
               "defaults gpu_memory_utilization 0.9, block 16, max_num_seqs 256, max_num_batched_tokens 8192. "
               "No modern-vLLM measurement is in the reference data: this family is a prior, not validated"),
    "trtllm": EngineProfile(
        "trtllm", 1.0e-3, 0.0, 0.0, 0.90, "free", 32, 2048, 8192, True, "reserve_full",
        source="TensorRT-LLM runtime with CUDA graphs (no per-layer host cost); 1 ms per iteration is an assumed "
               "prior, not fitted; kv_cache_free_gpu_mem_fraction 0.9, tokens_per_block 32, GUARANTEED_NO_EVICT, "
               "max_batch_size 2048 / max_num_tokens 8192 (trtllm-bench defaults)"),
    "vllm-2023": EngineProfile(
        "vllm-2023", 4.21e-3, 520e-6, 357e-6, 0.90, "total", 16, 256, 4096, False, "on_demand", 0.617,
        source="2023 vLLM (eager PyTorch, Ray TP workers, no chunking) as profiled by Splitwise on DGX-A100; the "
               "four host/kernel terms are least-squares fitted on the 32 DGX-A100 Llama-2-70B rows "
               "(benchmarks/validate_inference.py --fit) and checked on the DGX-H100 and BLOOM rows",
        host_terms_on_reference_host=True),
    "gpt-fast": EngineProfile(
        "gpt-fast", 0.1e-3, 0.0, 0.0, 0.90, "total", 16, 1, 32768, False, "reserve_full",
        source="torch.compile + CUDA graphs (gpt-fast README): no per-layer host cost; one sequence at a time, "
               "its whole prompt in one forward pass (prompts up to 32k tokens: the workspace is sized for that)"),
    "fastertransformer": EngineProfile(
        "fastertransformer", 0.5e-3, 0.0, 0.0, 0.90, "free", 16, 64, 8192, False, "reserve_full",
        source="C++ runtime, static batching"),
}


@dataclass(frozen=True, slots=True)
class Deployment:
    """One model replica: parallelism, precision, KV precision and engine."""

    tp: int = 1
    pp: int = 1
    ep: int = 1  # expert-parallel degree inside the TP group (MoE experts split ep ways)
    precision: str = "bf16"
    kv_precision: str = "bf16"
    engine: str = "vllm"
    max_seqs: int | None = None  # override of the engine default
    max_batched_tokens: int | None = None  # override of the engine default
    engine_profile: EngineProfile | None = field(default=None, compare=False)  # custom profile

    @property
    def gpus(self) -> int:
        return self.tp * self.pp

    @property
    def quant(self) -> Quantization:
        return QUANTIZATIONS[self.precision]

    @property
    def profile(self) -> EngineProfile:
        return self.engine_profile if self.engine_profile is not None else ENGINES[self.engine]

    @property
    def seq_cap(self) -> int:
        return int(self.max_seqs or self.profile.max_seqs)

    @property
    def token_cap(self) -> int:
        return int(self.max_batched_tokens or self.profile.max_batched_tokens)

    def label(self) -> str:
        return (f"tp{self.tp} pp{self.pp}{f' ep{self.ep}' if self.ep > 1 else ''} {self.precision} "
                f"kv-{self.kv_precision} {self.engine} max-seqs {self.seq_cap}")


def context_limit_tokens(model: TransformerSpec) -> int | None:
    """Longest sequence (prompt + output) the model supports; None when the files do not say."""
    if model.context_window_tokens:
        return model.context_window_tokens
    return model.max_position_embeddings or None


# ----------------------------------------------------------------------------- validation
def check_deployment(model: TransformerSpec, hw: Accelerator, dep: Deployment) -> None:
    """Raise PlanError naming the field when a deployment is impossible (not merely too small)."""
    for name in ("tp", "pp", "ep"):
        value = getattr(dep, name)
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise PlanError(f"--{name} must be a positive integer, got {value!r}")
    if dep.precision not in QUANTIZATIONS:
        raise PlanError(f"--precision {dep.precision!r} is not one of {', '.join(QUANTIZATIONS)}")
    if dep.kv_precision not in KV_BYTES:
        raise PlanError(f"--kv-precision {dep.kv_precision!r} is not one of {', '.join(KV_BYTES)}")
    if dep.engine_profile is None and dep.engine not in ENGINES:
        raise PlanError(f"--engine {dep.engine!r} is not one of {', '.join(ENGINES)}")
    if model.n_heads % dep.tp:
        raise PlanError(f"--tp {dep.tp} does not divide the {model.n_heads} attention heads of {model.id}; "
                        f"choose a divisor of {model.n_heads}")
    if model.mla is None and model.n_kv_heads % dep.tp and dep.tp % model.n_kv_heads:
        raise PlanError(f"--tp {dep.tp} and the {model.n_kv_heads} KV heads of {model.id} are incompatible "
                        f"(neither divides the other)")
    if dep.pp > model.n_layers:
        raise PlanError(f"--pp {dep.pp} exceeds the {model.n_layers} layers of {model.id}")
    if dep.ep > 1:
        if model.moe is None:
            raise PlanError(f"--ep {dep.ep} needs a mixture-of-experts model; {model.id} is dense")
        if dep.tp % dep.ep or model.moe.n_experts % dep.ep:
            raise PlanError(f"--ep {dep.ep} must divide --tp {dep.tp} and the {model.moe.n_experts} experts")
    hw.peak(dep.quant.compute_dtype)  # PlanError if the device has no peak for this precision
    if dep.seq_cap < 1 or dep.token_cap < 1:
        raise PlanError("max sequences and max batched tokens must be positive")


# ----------------------------------------------------------------------------- memory
def kv_elems_per_token_per_layer(model: TransformerSpec, tp: int = 1) -> float:
    """K and V elements one token stores per layer on one GPU: 2 x KV heads x head_dim (GQA, Ainslie
    et al. 2023; heads replicated when TP > KV heads), or the MLA latent + rope key (DeepSeek-V2 2.1)."""
    if model.mla is not None:
        return float(model.mla.kv_lora_rank + model.mla.qk_rope_head_dim)
    return 2.0 * max(model.n_kv_heads / tp, 1.0) * model.head_dim


def kv_bytes_per_token(model: TransformerSpec, kv_precision: str = "bf16") -> float:
    """KV-cache bytes one token holds across the whole model (all layers, unsharded)."""
    return model.n_layers * kv_elems_per_token_per_layer(model, 1) * KV_BYTES[kv_precision]


def layers_per_stage(model: TransformerSpec, pp: int) -> int:
    """Layers on the largest pipeline stage (uneven splits put the extra layer first)."""
    return math.ceil(model.n_layers / pp)


def weight_bytes_per_gpu(model: TransformerSpec, dep: Deployment) -> float:
    """Weights on the fullest GPU: quantized linear layers of one stage / TP, plus 16-bit embedding
    and LM head (engines keep those unquantized) on the stage that holds them."""
    non_expert, experts = model.layer_params()
    share = layers_per_stage(model, dep.pp) / model.n_layers
    layers = (non_expert + experts) * share * dep.quant.weight_bytes
    vocab = model.vocab_size * model.d_model + model.max_position_embeddings * model.d_model
    n_vocab_mats = 1.0 if (dep.pp > 1 or model.tied_embeddings) else 2.0
    return (layers + n_vocab_mats * vocab * ACT_BYTES) / dep.tp


def workspace_bytes_per_gpu(model: TransformerSpec, dep: Deployment) -> float:
    """Peak activation memory of one iteration at the token budget (vLLM profiles it with a dummy
    max_num_batched_tokens batch): hidden states, QKV and the MLP intermediate, plus fp32 logits."""
    up = 2.0 if model.gated else 1.0
    d_ff = model.d_ff if model.moe is None else model.moe.d_ff_expert * (model.moe.top_k + model.moe.n_shared_experts)
    per_token = 4.0 * model.d_model + (model.q_dim + 2.0 * model.kv_dim + (up + 1.0) * d_ff) / dep.tp
    return dep.token_cap * per_token * ACT_BYTES + dep.seq_cap * model.vocab_size / dep.tp * 4.0


@dataclass(frozen=True, slots=True)
class MemoryPlan:
    """Per-GPU memory split and the paged KV capacity of one replica."""

    weights_bytes_per_gpu: float
    workspace_bytes_per_gpu: float
    kv_budget_bytes_per_gpu: float
    kv_bytes_per_token_per_gpu: float
    block_size_tokens: int
    kv_blocks: int  # blocks per replica (every stage holds the same number of blocks)

    @property
    def kv_capacity_tokens(self) -> int:
        return self.kv_blocks * self.block_size_tokens

    def blocks_for(self, tokens):
        """Paged blocks a sequence of `tokens` tokens holds (Kwon et al. 2023, PagedAttention)."""
        return -(-np.asarray(tokens) // self.block_size_tokens)

    def max_concurrent_seqs(self, tokens_per_seq):
        """Sequences of a given total length that fit in the KV cache at once."""
        return self.kv_blocks // np.maximum(self.blocks_for(tokens_per_seq), 1)


def memory_plan(model: TransformerSpec, hw: Accelerator, dep: Deployment) -> MemoryPlan:
    """KV budget = engine share of memory - weights - workspace (vLLM: of total HBM; TRT-LLM: of the
    memory left free), divided into blocks of block_size tokens x layers of one stage."""
    model, hw = load_model(model), load_hardware(hw)  # ids, paths or loaded objects
    prof = dep.profile
    weights = weight_bytes_per_gpu(model, dep)
    work = workspace_bytes_per_gpu(model, dep)
    if prof.kv_memory_mode == "free":
        budget = prof.gpu_memory_utilization * (hw.usable_memory_bytes - weights - work)
    else:
        budget = min(prof.gpu_memory_utilization * hw.hbm_bytes, hw.usable_memory_bytes) - weights - work
    per_token = layers_per_stage(model, dep.pp) * kv_elems_per_token_per_layer(model, dep.tp) * KV_BYTES[dep.kv_precision]
    blocks = int(max(budget, 0.0) // (per_token * prof.block_size_tokens))
    return MemoryPlan(weights, work, budget, per_token, prof.block_size_tokens, blocks)


# ----------------------------------------------------------------------------- iteration time
@dataclass(frozen=True, slots=True)
class _Costs:
    """Device constants of one (model, hardware, deployment), derived once per call."""

    peak_gemm: float
    peak16: float
    bw: float
    gemm_curve: object
    attn_curve: object
    decode_curve: object
    q: Quantization
    kv_bytes: float


def _costs(model: TransformerSpec, hw: Accelerator, dep: Deployment) -> _Costs:
    q = dep.quant
    scale = dep.profile.compute_scale
    low_bits = q.compute_dtype in ("fp8", "int8", "fp4")
    eta = float(hw.gemm.compute_efficiency_for(low_bits)) * scale
    gemm_curve = replace(hw.gemm, compute_efficiency=eta)
    attn_curve = replace(hw.gemm, compute_efficiency=hw.flash_attention_efficiency * scale)
    decode_curve = replace(attn_curve, memory_efficiency=hw.memory_bandwidth_efficiency)
    return _Costs(hw.peak(q.compute_dtype), hw.peak("bf16"), hw.hbm_bandwidth_bytes_per_s, gemm_curve,
                  attn_curve, decode_curve, q, KV_BYTES[dep.kv_precision])


def _linear_s(c: _Costs, tokens, n: float, k: float, weight_bytes: float | None = None, weight_share=1.0):
    """One linear layer on one GPU: 2*T*n*k FLOP; weights k*n (x share read) + inputs T*k + outputs T*n
    bytes, through the calibrated soft roofline (roofline.soft_roofline_s)."""
    wb = c.q.weight_bytes if weight_bytes is None else weight_bytes
    flop = 2.0 * tokens * n * k
    moved = k * n * wb * weight_share + tokens * k * c.q.activation_bytes + tokens * n * ACT_BYTES
    return roofline.soft_roofline_s(flop, moved, c.peak_gemm, c.bw, c.gemm_curve)


def _expert_touch_fraction(tokens, n_experts: int, top_k: int):
    """Expected share of experts hit by T tokens routing top_k of E uniformly: 1 - (1 - k/E)^T."""
    return 1.0 - (1.0 - top_k / n_experts) ** np.asarray(tokens, dtype=float)


def _layer_linear(model: TransformerSpec, dep: Deployment, c: _Costs, tokens, moe_layer: bool):
    tokens = np.asarray(tokens, dtype=float)
    h, tp = float(model.d_model), float(dep.tp)
    up = 2.0 if model.gated else 1.0
    o_in = model.n_heads * model.v_head_dim
    attn_in = (model.attention_params_per_layer() - o_in * h) / h
    t = _linear_s(c, tokens, attn_in / tp, h) + _linear_s(c, tokens, h, o_in / tp)
    if not (moe_layer and model.moe is not None):
        return t + _linear_s(c, tokens, up * model.d_ff / tp, h) + _linear_s(c, tokens, h, model.d_ff / tp)
    moe = model.moe
    t = t + _linear_s(c, tokens, float(moe.n_experts), h, weight_bytes=ACT_BYTES)  # router
    if moe.n_shared_experts:
        f = moe.d_ff_expert * moe.n_shared_experts
        t = t + _linear_s(c, tokens, up * f / tp, h) + _linear_s(c, tokens, h, f / tp)
    # routed experts as grouped GEMMs: E/ep local experts, each split tp/ep ways; balanced routing
    ep, etp = float(dep.ep), tp / dep.ep
    local = moe.n_experts / ep
    assigned = tokens * moe.top_k / ep  # token-expert pairs per GPU
    touched = local * _expert_touch_fraction(tokens, moe.n_experts, moe.top_k)
    t = t + _linear_s(c, assigned, up * moe.d_ff_expert / etp, h, weight_share=touched)
    return t + _linear_s(c, assigned, h, moe.d_ff_expert / etp, weight_share=touched)


def layer_linear_s(model: TransformerSpec, hw: Accelerator, dep: Deployment, tokens, moe_layer: bool = False):
    """Linear layers of one transformer layer on one GPU for T tokens (QKV, output, MLP or router +
    experts, with the expected number of distinct experts touched, so MoE decode reads fewer weights)."""
    return _layer_linear(model, dep, _costs(model, hw, dep), tokens, moe_layer)


def _prefill_attention(model: TransformerSpec, dep: Deployment, c: _Costs, prefill_tokens, pairs, prefix):
    heads = model.n_heads / dep.tp
    kv_elems = kv_elems_per_token_per_layer(model, dep.tp)
    d_qk, d_v = float(model.qk_head_dim), float(model.v_head_dim)
    flop = roofline.attention_flop(1.0, np.asarray(pairs, dtype=float), 1.0, heads, d_qk, d_v, causal=False)
    moved = (np.asarray(prefill_tokens, dtype=float) * (heads * (d_qk + d_v) + kv_elems) * ACT_BYTES
             + np.asarray(prefix, dtype=float) * kv_elems * c.kv_bytes)
    t = roofline.soft_roofline_s(flop, moved, c.peak16, c.bw, c.attn_curve)
    return np.where(np.asarray(prefill_tokens) > 0, t, 0.0)


def _decode_attention(model: TransformerSpec, dep: Deployment, c: _Costs, decode_seqs, context_tokens):
    heads = model.n_heads / dep.tp
    ctx = np.asarray(context_tokens, dtype=float)
    if model.mla is not None:  # absorbed MLA: scores and values against the latent (DeepSeek-V2 2.1.3)
        per_ctx_flop = 2.0 * heads * (2.0 * model.mla.kv_lora_rank + model.mla.qk_rope_head_dim)
    else:
        per_ctx_flop = 2.0 * heads * (model.qk_head_dim + model.v_head_dim)
    moved = ctx * kv_elems_per_token_per_layer(model, dep.tp) * c.kv_bytes
    t = roofline.soft_roofline_s(per_ctx_flop * ctx, moved, c.peak16, c.bw, c.decode_curve)
    return np.where(np.asarray(decode_seqs) > 0, t, 0.0)


def layer_attention_s(model: TransformerSpec, hw: Accelerator, dep: Deployment, prefill_tokens=0.0,
                      prefill_pairs=0.0, prefill_prefix_tokens=0.0, decode_seqs=0.0, decode_context_tokens=0.0):
    """Attention core of one layer on one GPU. Prefill: FlashAttention over causal query-key pairs
    (c*(prefix + (c+1)/2) per chunk of c tokens; Dao 2023) reading the cached prefix once; decode:
    PagedAttention reading every cached K/V once (Kwon et al. 2023), linear in the summed context."""
    c = _costs(model, hw, dep)
    return (_prefill_attention(model, dep, c, prefill_tokens, prefill_pairs, prefill_prefix_tokens)
            + _decode_attention(model, dep, c, decode_seqs, decode_context_tokens))


def layer_elementwise_s(model: TransformerSpec, hw: Accelerator, dep: Deployment, tokens, moe_layer: bool = False):
    """Memory-bound kernels of one layer: 2 fused add+RMSNorm (read 2h, write 2h each), the gated
    activation (read up*f, write f), RoPE on Q/K and the KV-cache write (vLLM custom ops)."""
    tokens = np.asarray(tokens, dtype=float)
    h = float(model.d_model)
    up = 2.0 if model.gated else 1.0
    if moe_layer and model.moe is not None:
        f = model.moe.d_ff_expert * (model.moe.top_k + model.moe.n_shared_experts) / dep.tp
    else:
        f = model.d_ff / dep.tp
    kv = kv_elems_per_token_per_layer(model, dep.tp)
    elems = 8.0 * h + (up + 1.0) * f + 2.0 * (model.q_dim / dep.tp + kv / 2.0)
    moved = tokens * (elems * ACT_BYTES + kv * KV_BYTES[dep.kv_precision])
    t = roofline.stream_time_s(moved, hw.hbm_bandwidth_bytes_per_s, hw.memory_bandwidth_efficiency, 5.0,
                               hw.kernel_launch_s)
    return np.where(tokens > 0, t, 0.0)


def layer_tp_comm_s(model: TransformerSpec, hw: Accelerator, dep: Deployment, tokens):
    """Two all-reduces of T x h 16-bit activations per layer (Shoeybi et al. 2019, fig. 3); each pays
    the link latency, so small decode messages are latency-bound (comm.ring_allreduce_s inside the
    NVLink domain, comm.hierarchical_allreduce_s across it)."""
    tokens = np.asarray(tokens, dtype=float)
    msg = tokens * model.d_model * ACT_BYTES
    if dep.tp <= hw.scale_up_domain_gpus:  # one ring inside the NVLink domain: one base latency
        one = comm.ring_allreduce_s(float(dep.tp), msg, hw.intra)
    else:
        one = comm.hierarchical_allreduce_s(float(dep.tp), msg, 1.0, hw)
    return np.where(tokens > 0, 2.0 * one, 0.0)


def _token_parts(model: TransformerSpec, hw: Accelerator, dep: Deployment, c: _Costs, tokens) -> dict:
    """Everything that depends only on the number of tokens in the batch (all layers, one GPU/stage)."""
    tokens = np.asarray(tokens, dtype=float)
    n_moe = model.n_moe_layers
    n_dense = model.n_layers - n_moe
    lin = n_dense * _layer_linear(model, dep, c, tokens, False)
    elt = n_dense * layer_elementwise_s(model, hw, dep, tokens, False)
    if n_moe:
        lin = lin + n_moe * _layer_linear(model, dep, c, tokens, True)
        elt = elt + n_moe * layer_elementwise_s(model, hw, dep, tokens, True)
    tp_comm = model.n_layers * layer_tp_comm_s(model, hw, dep, tokens)
    in_domain = dep.tp * dep.pp <= hw.scale_up_domain_gpus
    p2p = comm.sendrecv_s(tokens * model.d_model * ACT_BYTES, hw.intra if in_domain else hw.inter)
    pp_comm = (dep.pp - 1) * np.where(tokens > 0, p2p, 0.0)
    return {"linear": lin, "elementwise": elt, "tp_comm": tp_comm, "pp_comm": pp_comm}


def _lm_head(model: TransformerSpec, dep: Deployment, c: _Costs, n_logits):
    """LM head GEMM for the sequences sampled this iteration (16-bit weights, vocabulary split by TP)."""
    n_logits = np.asarray(n_logits, dtype=float)
    t = _linear_s(c, n_logits, model.vocab_size / dep.tp, float(model.d_model), weight_bytes=ACT_BYTES)
    return np.where(n_logits > 0, t, 0.0)


def engine_overhead_s(prof: EngineProfile, n_layers: int, device_s, n_logits, host_speed: float = 1.0):
    """Host time an iteration adds: step + per-sequence work, plus whatever layer launching takes
    beyond the device time (max(device, launch) model of asynchronous launches; LLM-Viewer issue #4).
    The engine's terms are reference-host seconds; a host `host_speed` times faster divides them."""
    device_s = np.asarray(device_s, dtype=float)
    n_logits = np.asarray(n_logits, dtype=float)
    launch = np.maximum(prof.layer_launch_s * n_layers / host_speed - device_s, 0.0)
    return (prof.step_overhead_s + prof.seq_overhead_s * n_logits) / host_speed + launch


def iteration_time_s(model: TransformerSpec, hw: Accelerator, dep: Deployment, *, prefill_tokens=0.0,
                     prefill_pairs=0.0, prefill_prefix_tokens=0.0, decode_seqs=0.0, decode_context_tokens=0.0,
                     logits=None) -> dict[str, np.ndarray]:
    """Latency of one engine iteration through all pipeline stages, with its breakdown (seconds).

    prefill_tokens: new prompt tokens in the batch (all chunks); prefill_pairs: causal query-key pairs of
    those chunks; prefill_prefix_tokens: cached tokens the chunks attend to; decode_seqs: sequences
    decoding one token; decode_context_tokens: sum of their KV lengths; logits: sequences sampled
    (default: decode_seqs + 1 if any prefill). All broadcast as numpy arrays. With PP the stages run
    one after another for one batch, so the latency covers every layer; `stage` is the largest stage.
    """
    c = _costs(model, hw, dep)
    pt = np.asarray(prefill_tokens, dtype=float)
    ds = np.asarray(decode_seqs, dtype=float)
    tokens = pt + ds
    n_logits = np.asarray(ds + (pt > 0) if logits is None else logits, dtype=float)
    parts = _token_parts(model, hw, dep, c, tokens)
    attn = model.n_layers * (_prefill_attention(model, dep, c, pt, prefill_pairs, prefill_prefix_tokens)
                             + _decode_attention(model, dep, c, ds, decode_context_tokens))
    head = _lm_head(model, dep, c, n_logits)
    body = parts["linear"] + parts["elementwise"] + parts["tp_comm"] + attn
    device = body + head + parts["pp_comm"]
    busy = (tokens + n_logits) > 0
    overhead = np.where(busy, engine_overhead_s(dep.profile, model.n_layers, device, n_logits,
                                                          dep.profile.host_speed(hw)), 0.0)
    stage = body * layers_per_stage(model, dep.pp) / model.n_layers + head + overhead
    return {**parts, "attention": attn, "lm_head": head, "overhead": overhead,
            "total": np.where(busy, device + overhead, 0.0), "stage": np.where(busy, stage, 0.0)}


class IterationCostTable:
    """`iteration_time_s` pre-tabulated over batch tokens and sampled sequences for the simulator
    (Vidur pre-computes its predictions on a grid the same way); exact, not an approximation: decode
    attention is linear in the summed context, prefill attention is evaluated directly."""

    def __init__(self, model: TransformerSpec, hw: Accelerator, dep: Deployment, max_tokens: int, max_logits: int):
        self.model, self.hw, self.dep = model, hw, dep
        self._c = _costs(model, hw, dep)
        tokens = np.arange(max_tokens + 1, dtype=float)
        parts = _token_parts(model, hw, dep, self._c, tokens)
        self.token_s = parts["linear"] + parts["elementwise"] + parts["tp_comm"] + parts["pp_comm"]
        self.head_s = _lm_head(model, dep, self._c, np.arange(max_logits + 1, dtype=float))
        probe = model.n_layers * _decode_attention(model, dep, self._c, 1.0, np.array([1e6, 2e6]))
        self.decode_per_ctx_s = float(probe[1] - probe[0]) / 1e6
        self.decode_fixed_s = float(probe[0]) - self.decode_per_ctx_s * 1e6
        self.max_tokens, self.max_logits = max_tokens, max_logits
        prof = dep.profile
        k = 1.0 / prof.host_speed(hw)  # reference-host seconds over this host's speed
        self._step, self._seq, self._launch = (k * prof.step_overhead_s, k * prof.seq_overhead_s,
                                               k * prof.layer_launch_s * model.n_layers)

    def time_s(self, prefill_tokens: int, prefill_pairs: float, prefill_prefix: float, decode_seqs: int,
               decode_context: float, n_logits: int) -> float:
        """Iteration latency for one batch (scalars); equals iteration_time_s(...)['total']."""
        tokens = prefill_tokens + decode_seqs
        if tokens > self.max_tokens or n_logits > self.max_logits:
            return float(iteration_time_s(self.model, self.hw, self.dep, prefill_tokens=prefill_tokens,
                                          prefill_pairs=prefill_pairs, prefill_prefix_tokens=prefill_prefix,
                                          decode_seqs=decode_seqs, decode_context_tokens=decode_context,
                                          logits=n_logits)["total"])
        device = self.token_s[tokens] + self.head_s[n_logits]
        if decode_seqs:
            device += self.decode_fixed_s + self.decode_per_ctx_s * decode_context
        if prefill_tokens:
            device += self.model.n_layers * float(_prefill_attention(self.model, self.dep, self._c, prefill_tokens,
                                                                     prefill_pairs, prefill_prefix))
        if tokens == 0 and n_logits == 0:
            return 0.0
        launch = self._launch - device
        return float(device + self._step + self._seq * n_logits + (launch if launch > 0.0 else 0.0))


def prefill_time_s(model: TransformerSpec, hw: Accelerator, dep: Deployment, batch, prompt_len) -> np.ndarray:
    """One iteration prefilling `batch` prompts of `prompt_len` tokens together (static batch)."""
    b = np.asarray(batch, dtype=float)
    s = np.asarray(prompt_len, dtype=float)
    return iteration_time_s(model, hw, dep, prefill_tokens=b * s, prefill_pairs=b * s * (s + 1.0) / 2.0,
                            logits=b)["total"]


def decode_step_time_s(model: TransformerSpec, hw: Accelerator, dep: Deployment, batch, context_len) -> np.ndarray:
    """One decode iteration of `batch` sequences each holding `context_len` cached tokens."""
    b = np.asarray(batch, dtype=float)
    return iteration_time_s(model, hw, dep, decode_seqs=b, decode_context_tokens=b * np.asarray(context_len, dtype=float),
                            logits=b)["total"]


# ----------------------------------------------------------------------------- static batch
class InferenceResult(RecordResult):
    """Static-batch estimate for one deployment. `to_dict()` is the `simulator infer --json` contract."""


REASONS: dict[int, str] = {
    1: "weights and workspace do not fit in device memory",
    2: "the KV cache cannot hold one sequence of input + output tokens",
    4: "the batch does not fit in the KV cache",
    8: "input + output tokens exceed the model's context window",
    16: "the batch exceeds the engine's max sequences per iteration",
}


def describe_reasons(code: int, detail: dict[int, str] | None = None) -> str:
    """The reasons in a bitmask, each followed by its `detail` text where one is given."""
    detail = detail or {}
    return "; ".join(text + detail.get(bit, "") for bit, text in REASONS.items() if code & bit)


def _memory_detail(mem: MemoryPlan, dep: Deployment) -> str:
    """Sizes behind reason 1, with the knob that moves each (the workspace grows with the engine's batch caps)."""
    return (f" (weights {units.human_bytes(mem.weights_bytes_per_gpu)} + activation workspace "
            f"{units.human_bytes(mem.workspace_bytes_per_gpu)} per GPU for up to {dep.seq_cap:,} sequences and "
            f"{dep.token_cap:,} batched tokens; raise tp, quantize, or lower the engine's batch caps)")


def estimate_inference(model: TransformerSpec, hw: Accelerator, dep: Deployment, *, batch: int, input_len: int,
                       output_len: int) -> InferenceResult:
    """Static batch: prefill every prompt in one iteration, then output_len - 1 decode iterations with
    the context growing by one token each (decode steps vectorised over context length)."""
    model, hw = load_model(model), load_hardware(hw)  # ids, paths or loaded objects
    check_deployment(model, hw, dep)
    for name, value in (("batch", batch), ("input_len", input_len), ("output_len", output_len)):
        if int(value) != value or value < 1:
            raise PlanError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
    mem = memory_plan(model, hw, dep)
    total_len = input_len + output_len
    reason = 0
    if mem.kv_budget_bytes_per_gpu <= 0:
        reason |= 1
    per_seq = int(mem.max_concurrent_seqs(total_len))
    if per_seq < 1:
        reason |= 2
    elif per_seq < batch:
        reason |= 4
    limit = context_limit_tokens(model)
    if limit is not None and total_len > limit:
        reason |= 8
    if batch > dep.seq_cap:
        reason |= 16
    ttft = float(prefill_time_s(model, hw, dep, batch, input_len))
    contexts = input_len + np.arange(1, output_len, dtype=float)
    steps = decode_step_time_s(model, hw, dep, batch, contexts) if output_len > 1 else np.zeros(0)
    decode_total = float(steps.sum())
    e2e = ttft + decode_total
    tpot = decode_total / (output_len - 1) if output_len > 1 else 0.0
    pre = iteration_time_s(model, hw, dep, prefill_tokens=batch * input_len,
                           prefill_pairs=batch * input_len * (input_len + 1) / 2.0, logits=batch)
    mid = iteration_time_s(model, hw, dep, decode_seqs=batch, decode_context_tokens=batch * (input_len + output_len / 2))
    parts = ("linear", "attention", "elementwise", "tp_comm", "lm_head", "pp_comm", "overhead")
    rec = {
        "model": model.id, "hardware": hw.id, "tp": dep.tp, "pp": dep.pp, "ep": dep.ep, "gpus": dep.gpus,
        "precision": dep.precision, "kv_precision": dep.kv_precision, "engine": dep.profile.name,
        "batch": int(batch), "input_len": int(input_len), "output_len": int(output_len),
        "feasible": reason == 0, "reason": describe_reasons(reason, {1: _memory_detail(mem, dep)}),
        "ttft_s": ttft, "tpot_s": tpot, "e2e_s": e2e,
        "output_tokens_per_s": batch * output_len / e2e,
        "output_tokens_per_s_per_gpu": batch * output_len / e2e / dep.gpus,
        "decode_tokens_per_s_per_seq": 1.0 / tpot if tpot > 0 else float("nan"),
        "kv_cache_bytes_per_seq": kv_bytes_per_token(model, dep.kv_precision) * total_len,
        "max_concurrent_seqs": per_seq,
        "kv_capacity_tokens": mem.kv_capacity_tokens,
        "weights_bytes_per_gpu": mem.weights_bytes_per_gpu,
        "workspace_bytes_per_gpu": mem.workspace_bytes_per_gpu,
        "kv_budget_bytes_per_gpu": mem.kv_budget_bytes_per_gpu,
        "memory_capacity_bytes": hw.hbm_bytes,
        "prefill_breakdown_s": {k: float(pre[k]) for k in parts},
        "decode_breakdown_s": {k: float(mid[k]) for k in parts},
    }
    return InferenceResult(rec)
