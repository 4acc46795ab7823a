"""The kernels of one engine iteration on one GPU: linear layers (dense and MoE), prefill and decode attention,
memory-bound kernels, tensor-parallel all-reduces and the LM head, all vectorised over batch sizes."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from simulator.core import comm, roofline
from simulator.core.hardware import Accelerator, GemmCurve
from simulator.core.inference.deployment import ACT_BYTES, KV_BYTES, Deployment, Quantization
from simulator.core.inference.memory import kv_elems_per_token_per_layer
from simulator.core.model import TransformerSpec


@dataclass(frozen=True, slots=True)
class DeviceConstants:
    """Device constants of one (model, hardware, deployment), derived once per call."""

    peak_gemm: float
    peak16: float
    bw: float
    gemm_curve: GemmCurve
    attn_curve: GemmCurve
    decode_curve: GemmCurve
    q: Quantization
    kv_bytes: float
    moe_curve: GemmCurve  # the routed experts' grouped GEMMs: the GEMM curve with the fused-MoE memory scale
    moe_overhead_s: float  # fixed time of one fused-MoE layer beyond its two GEMM launches (Accelerator)


def device_constants(hw: Accelerator, dep: Deployment) -> DeviceConstants:
    """Peaks, bandwidth and efficiency curves one deployment runs at on the device (engine compute scale applied)."""
    q = dep.quant
    scale = dep.profile.compute_scale
    eta = hw.gemm.compute_efficiency_for_dtype(q.compute_dtype) * scale
    gemm_curve = replace(hw.gemm, compute_efficiency=eta)
    attn_curve = replace(hw.gemm, compute_efficiency=hw.flash_attention_efficiency * scale)
    decode_curve = replace(attn_curve, memory_efficiency=hw.memory_bandwidth_efficiency)
    moe_curve = replace(gemm_curve, memory_efficiency=gemm_curve.memory_efficiency * hw.moe_memory_scale)
    return DeviceConstants(hw.peak(q.compute_dtype), hw.peak("bf16"), hw.hbm_bandwidth_bytes_per_s, gemm_curve,
                  attn_curve, decode_curve, q, KV_BYTES[dep.kv_precision], moe_curve, hw.moe_layer_overhead_s)


def linear_s(c: DeviceConstants, tokens, n: float, k: float, weight_bytes: float | None = None, weight_share=1.0,
             curve: GemmCurve | None = None):
    """One linear layer on one GPU: 2*T*n*k FLOP; weights k*n (x share read) + inputs T*k + outputs T*n
    bytes, through the calibrated soft roofline (roofline.soft_roofline_s; `curve` defaults to the GEMM curve)."""
    wb = c.q.weight_bytes if weight_bytes is None else weight_bytes
    flop = 2.0 * tokens * n * k
    moved = k * n * wb * weight_share + tokens * k * c.q.activation_bytes + tokens * n * ACT_BYTES
    return roofline.soft_roofline_s(flop, moved, c.peak_gemm, c.bw, c.gemm_curve if curve is None else curve)


def expert_touch_fraction(tokens, n_experts: int, top_k: int):
    """Expected share of experts hit by T tokens routing top_k of E uniformly: 1 - (1 - k/E)^T."""
    return 1.0 - (1.0 - top_k / n_experts) ** np.asarray(tokens, dtype=float)


def busiest_rank_pairs(tokens, top_k: int, n_experts: int, ep: int, routing_cv: float = 0.0):
    """Token-expert pairs on the busiest of `ep` expert-parallel ranks: mean T*k/ep plus Blom's normal score
    Phi^-1((ep - 0.375)/(ep + 0.25)) standard deviations (expected maximum of ep normal loads; Blom 1958). A rank's
    load is hypergeometric per token (its k experts are distinct: variance T*k*(1/ep)(1-1/ep)(E-k)/(E-1)) plus expert
    popularity of coefficient of variation routing_cv (a rank's share then has standard deviation sqrt(E/ep)*cv/E);
    ep = 1: every pair, no straggler."""
    pairs = np.asarray(tokens, dtype=float) * top_k
    if ep <= 1:
        return pairs
    from scipy.special import ndtri

    share_sd = np.sqrt(n_experts / ep) * routing_cv / n_experts
    var = pairs * (1.0 / ep) * (1.0 - 1.0 / ep) * (n_experts - top_k) / max(n_experts - 1, 1) + (pairs * share_sd) ** 2
    return np.minimum(pairs, pairs / ep + float(ndtri((ep - 0.375) / (ep + 0.25))) * np.sqrt(var))


def attention_dp_view(dep: Deployment) -> Deployment:
    """The deployment one attention data-parallel group runs its attention and dense layers as: tp / dp_attention
    GPUs, no expert split (the deployment itself when dp_attention = 1)."""
    if dep.dp_attention == 1:
        return dep
    return replace(dep, tp=dep.attn_tp, ep=1, dp_attention=1)


def attention_linear(model: TransformerSpec, dep: Deployment, c: DeviceConstants, tokens):
    """QKV and output projections of one layer on one GPU for T tokens."""
    h, tp = float(model.d_model), float(dep.tp)
    o_in = model.n_heads * model.v_head_dim
    attn_in = (model.attention_params_per_layer() - o_in * h) / h
    return linear_s(c, tokens, attn_in / tp, h) + linear_s(c, tokens, h, o_in / tp)


def mlp_linear(model: TransformerSpec, dep: Deployment, c: DeviceConstants, tokens, moe_layer: bool):
    """The MLP of one layer on one GPU for T tokens: dense up/down, or router + shared + routed experts."""
    tokens = np.asarray(tokens, dtype=float)
    h, tp = float(model.d_model), float(dep.tp)
    up = 2.0 if model.gated else 1.0
    if not (moe_layer and model.moe is not None):
        return linear_s(c, tokens, up * model.d_ff / tp, h) + linear_s(c, tokens, h, model.d_ff / tp)
    moe = model.moe
    t = linear_s(c, tokens, float(moe.n_experts), h, weight_bytes=ACT_BYTES)  # router
    if moe.n_shared_experts:
        f = moe.d_ff_expert * moe.n_shared_experts
        t = t + linear_s(c, tokens, up * f / tp, h) + linear_s(c, tokens, h, f / tp)
    return t + routed_experts_s(model, dep, c, tokens)


def expert_width_per_gpu(model: TransformerSpec, dep: Deployment) -> float:
    """The intermediate width of one routed expert on one GPU: experts split tp/ep ways (tp includes ep)."""
    assert model.moe is not None
    return model.moe.d_ff_expert / (dep.tp / dep.ep)


def routed_experts_s(model: TransformerSpec, dep: Deployment, c: DeviceConstants, tokens):
    """The routed experts of one MoE layer on the busiest GPU for T tokens: two grouped GEMMs over E/ep local experts,
    each split tp/ep ways, on the busiest EP rank's token-expert pairs, reading the expected touched experts' weights
    through the fused-MoE curve (the GEMM curve, its memory efficiency x Accelerator.moe_memory_scale), plus the
    fused-MoE layer's fixed time (routing, sort, activation and combine kernels: Accelerator.moe_layer_overhead_s).
    Both fused-MoE figures are fitted on published fused-MoE kernel timings (simulator.validation.moe_kernels); an
    engine whose own fused MoE computes slower for a quantization divides the curve's compute efficiency and adds its
    extra layer time (EngineProfile.moe_kernel_terms)."""
    assert model.moe is not None
    moe, tokens = model.moe, np.asarray(tokens, dtype=float)
    up = 2.0 if model.gated else 1.0
    etp, h = dep.tp / dep.ep, float(model.d_model)
    assigned = busiest_rank_pairs(tokens, moe.top_k, moe.n_experts, dep.ep, moe.routing_cv)
    touched = moe.n_experts / dep.ep * expert_touch_fraction(tokens, moe.n_experts, moe.top_k)
    slowdown, extra_s = dep.profile.moe_kernel_terms(dep.precision, expert_width_per_gpu(model, dep))
    curve = c.moe_curve if slowdown == 1.0 else replace(c.moe_curve,
                                                        compute_efficiency=c.moe_curve.compute_efficiency / slowdown)
    t = (linear_s(c, assigned, up * moe.d_ff_expert / etp, h, weight_share=touched, curve=curve)
         + linear_s(c, assigned, h, moe.d_ff_expert / etp, weight_share=touched, curve=curve))
    return t + np.where(tokens > 0, c.moe_overhead_s + extra_s, 0.0)


def layer_linear(model: TransformerSpec, dep: Deployment, c: DeviceConstants, tokens, moe_layer: bool):
    """Attention projections and MLP of one layer on the busiest GPU for T tokens of the replica. With attention
    data parallelism each group projects its 1/dp_attention share of the tokens on tp/dp_attention GPUs (engines
    deal requests out over the groups; an even share here: iteration_time_s costs the busiest group) and so does a
    dense MLP; an MoE layer sees every token across all tp GPUs."""
    tokens = np.asarray(tokens, dtype=float)
    if dep.dp_attention == 1:
        return attention_linear(model, dep, c, tokens) + mlp_linear(model, dep, c, tokens, moe_layer)
    return (group_layer_linear(model, dep, c, tokens / dep.dp_attention, moe_layer)
            + replica_layer_linear(model, dep, c, tokens, moe_layer))


def group_layer_linear(model: TransformerSpec, dep: Deployment, c: DeviceConstants, group_tokens, moe_layer: bool):
    """What one attention group projects of one layer on its own tokens, on tp/dp_attention GPUs: attention, and the
    MLP of a dense layer."""
    dep_a = attention_dp_view(dep)
    t = attention_linear(model, dep_a, c, group_tokens)
    return t if moe_layer and model.moe is not None else t + mlp_linear(model, dep_a, c, group_tokens, False)


def replica_layer_linear(model: TransformerSpec, dep: Deployment, c: DeviceConstants, tokens, moe_layer: bool):
    """What an MoE layer's experts run on every group's tokens across all tp GPUs (0 for a dense layer)."""
    return mlp_linear(model, dep, c, tokens, True) if moe_layer and model.moe is not None else 0.0


def layer_linear_s(model: TransformerSpec, hw: Accelerator, dep: Deployment, tokens, moe_layer: bool = False):
    """Linear layers of one transformer layer on one GPU for T tokens (QKV, output, MLP or router +
    experts, with the expected number of distinct experts touched, so MoE decode reads fewer weights)."""
    return layer_linear(model, dep, device_constants(hw, dep), tokens, moe_layer)


def prefill_attention(model: TransformerSpec, dep: Deployment, c: DeviceConstants, prefill_tokens, pairs, prefix):
    heads = model.n_heads / dep.tp
    kv_elems = kv_elems_per_token_per_layer(model, dep.tp)
    d_qk, d_v = float(model.qk_head_dim), float(model.v_head_dim)
    flop = roofline.attention_flop(1.0, np.asarray(pairs, dtype=float), 1.0, heads, d_qk, d_v, causal=False)
    moved = (np.asarray(prefill_tokens, dtype=float) * (heads * (d_qk + d_v) + kv_elems) * ACT_BYTES
             + np.asarray(prefix, dtype=float) * kv_elems * c.kv_bytes)
    t = roofline.soft_roofline_s(flop, moved, c.peak16, c.bw, c.attn_curve)
    return np.where(np.asarray(prefill_tokens) > 0, t, 0.0)


def decode_attention(model: TransformerSpec, dep: Deployment, c: DeviceConstants, decode_seqs, context_tokens):
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
    c = device_constants(hw, dep)
    return (prefill_attention(model, dep, c, prefill_tokens, prefill_pairs, prefill_prefix_tokens)
            + decode_attention(model, dep, c, decode_seqs, decode_context_tokens))


def expert_elementwise_elems(model: TransformerSpec, dep: Deployment) -> float:
    """16-bit elements per token an MoE layer's expert side moves on one GPU: the gated activation of the k routed
    and the shared experts (read up*f, write f) and the route and combine: each GPU gathers the rows routed to its
    experts (read + write k/ep rows of h) and sums the k expert outputs of every token back (read k/ep rows, write
    one): vLLM fused_moe moe_sum, TensorRT-LLM expandInputRows/finalizeMoeRouting."""
    assert model.moe is not None
    up = 2.0 if model.gated else 1.0
    f = model.moe.d_ff_expert * (model.moe.top_k + model.moe.n_shared_experts) / dep.tp
    return (up + 1.0) * f + (3.0 * model.moe.top_k / dep.ep + 1.0) * float(model.d_model)


def expert_elementwise_s(model: TransformerSpec, hw: Accelerator, dep: Deployment, tokens):
    """The expert side of one MoE layer's memory-bound kernels (expert_elementwise_elems) for all T tokens of the
    replica, bytes only: their launches are counted with the layer's (layer_elementwise_s)."""
    tokens = np.asarray(tokens, dtype=float)
    moved = tokens * expert_elementwise_elems(model, dep) * ACT_BYTES
    return roofline.stream_time_s(moved, hw.hbm_bandwidth_bytes_per_s, hw.memory_bandwidth_efficiency)


def layer_elementwise_s(model: TransformerSpec, hw: Accelerator, dep: Deployment, tokens, moe_layer: bool = False,
                        experts: bool = True):
    """Memory-bound kernels of one layer: 2 fused add+RMSNorm (read 2h, write 2h each), the gated
    activation (read up*f, write f), RoPE on Q/K and the KV-cache write (vLLM custom ops); in an MoE layer the expert
    side instead of the dense activation (expert_elementwise_elems), left out with experts=False (an attention group's
    own part when the experts run on all the groups' tokens), and 4 launches, 5 with shared experts (their
    activation runs apart): the routed experts' kernels' fixed time is the fused-MoE layer's (routed_experts_s)."""
    tokens = np.asarray(tokens, dtype=float)
    h = float(model.d_model)
    if moe_layer and model.moe is not None:
        mlp = expert_elementwise_elems(model, dep) if experts else 0.0
    else:
        mlp = ((2.0 if model.gated else 1.0) + 1.0) * (model.d_ff / dep.tp)  # the gated activation
    kv = kv_elems_per_token_per_layer(model, dep.tp)
    elems = 8.0 * h + 2.0 * (model.q_dim / dep.tp + kv / 2.0) + mlp
    moved = tokens * (elems * ACT_BYTES + kv * KV_BYTES[dep.kv_precision])
    launches = 5.0
    if moe_layer and model.moe is not None:
        launches = 4.0 + float(model.moe.n_shared_experts > 0)
    t = roofline.stream_time_s(moved, hw.hbm_bandwidth_bytes_per_s, hw.memory_bandwidth_efficiency, launches,
                               hw.kernel_launch_s)
    return np.where(tokens > 0, t, 0.0)


def tp_allreduce_s(model: TransformerSpec, hw: Accelerator, dep: Deployment, n: int, tokens):
    """One all-reduce of T x h 16-bit activations across n GPUs; it pays the link latency, so small decode messages
    are latency-bound. Inside the NVLink domain serving engines run their own all-reduce kernels
    (comm.engine_allreduce_s) up to the message size the engine gives them (EngineProfile.custom_allreduce_max_bytes),
    NCCL above it (comm.ring_allreduce_s: the link's fitted protocol regimes and NVLS); on a link without NVLink
    (Link.engine_allreduce), NCCL at every size in a group larger than the engine still runs its kernel on over PCIe
    (EngineProfile.custom_allreduce_pcie_gpus); across domains, comm.hierarchical_allreduce_s."""
    t = np.asarray(tokens, dtype=float)
    msg = t * model.d_model * ACT_BYTES
    if n <= hw.scale_up_domain_gpus:  # the engine's kernel (one base latency) up to its size limit, then NCCL
        own = comm.engine_allreduce_s(float(n), msg, hw.intra)
        kernel = hw.intra.engine_allreduce or n <= dep.profile.custom_allreduce_pcie_gpus
        limit = dep.profile.custom_allreduce_limit_bytes(n) if kernel else 0.0  # 0: NCCL at every size
        one = own if limit == float("inf") else np.where(msg <= limit, own,
                                                          comm.ring_allreduce_s(float(n), msg, hw.intra))
    else:
        one = comm.hierarchical_allreduce_s(float(n), msg, 1.0, hw)
    return np.where(t > 0, one, 0.0)


def layer_tp_comm_s(model: TransformerSpec, hw: Accelerator, dep: Deployment, tokens, moe_layer: bool = False):
    """Two all-reduces of T x h activations per layer (Shoeybi et al. 2019, fig. 3; tp_allreduce_s). With attention
    data parallelism, the attention all-reduce runs inside a group on its even T/dp share (group_parts: the busiest
    group's), and an MoE layer gathers every group's tokens before the experts and reduce-scatters them
    after (SGLang DP attention: together the traffic of one all-reduce of all T tokens across tp GPUs); a dense layer
    stays inside its group."""
    if dep.dp_attention == 1:
        return 2.0 * tp_allreduce_s(model, hw, dep, dep.tp, tokens)
    return (group_layer_tp_comm_s(model, hw, dep, np.asarray(tokens, dtype=float) / dep.dp_attention, moe_layer)
            + replica_layer_tp_comm_s(model, hw, dep, tokens, moe_layer))


def group_layer_tp_comm_s(model: TransformerSpec, hw: Accelerator, dep: Deployment, group_tokens, moe_layer: bool):
    """The all-reduces one attention group runs inside itself in one layer: after attention, and after a dense MLP."""
    moe = moe_layer and model.moe is not None
    return (1.0 if moe else 2.0) * tp_allreduce_s(model, hw, dep, dep.attn_tp, group_tokens)


def replica_layer_tp_comm_s(model: TransformerSpec, hw: Accelerator, dep: Deployment, tokens, moe_layer: bool):
    """An MoE layer's gather of every group's tokens before the experts and reduce-scatter after: together the
    traffic of one all-reduce of all T tokens across tp GPUs (SGLang DP attention); 0 for a dense layer."""
    return tp_allreduce_s(model, hw, dep, dep.tp, tokens) if moe_layer and model.moe is not None else 0.0


def group_parts(model: TransformerSpec, hw: Accelerator, dep: Deployment, c: DeviceConstants, group_tokens) -> dict:
    """What one attention data-parallel group runs on its own tokens, all layers (dp_attention > 1): attention
    projections, dense MLPs, memory-bound kernels and the all-reduces inside the group."""
    g = np.asarray(group_tokens, dtype=float)
    n_moe = model.n_moe_layers
    n_dense = model.n_layers - n_moe
    dep_a = attention_dp_view(dep)
    lin = n_dense * group_layer_linear(model, dep, c, g, False)
    elt = n_dense * layer_elementwise_s(model, hw, dep_a, g, False)
    tp_comm = n_dense * group_layer_tp_comm_s(model, hw, dep, g, False)
    if n_moe:
        lin = lin + n_moe * group_layer_linear(model, dep, c, g, True)
        elt = elt + n_moe * layer_elementwise_s(model, hw, dep_a, g, True, experts=False)
        tp_comm = tp_comm + n_moe * group_layer_tp_comm_s(model, hw, dep, g, True)
    return {"linear": lin, "elementwise": elt, "tp_comm": tp_comm}


def replica_parts(model: TransformerSpec, hw: Accelerator, dep: Deployment, c: DeviceConstants, tokens) -> dict:
    """What every GPU of the replica runs on all T tokens (dp_attention > 1): the MoE layers' experts, their
    memory-bound kernels and their gather/scatter across tp GPUs, and the pipeline sends."""
    tokens = np.asarray(tokens, dtype=float)
    n_moe = model.n_moe_layers if model.moe is not None else 0
    zero = np.zeros_like(tokens)
    lin = n_moe * replica_layer_linear(model, dep, c, tokens, True) + zero
    elt = n_moe * np.where(tokens > 0, expert_elementwise_s(model, hw, dep, tokens), 0.0) if n_moe else zero
    tp_comm = n_moe * replica_layer_tp_comm_s(model, hw, dep, tokens, True) + zero
    return {"linear": lin, "elementwise": elt, "tp_comm": tp_comm, "pp_comm": pp_comm_s(model, hw, dep, tokens)}


def pp_comm_s(model: TransformerSpec, hw: Accelerator, dep: Deployment, tokens):
    """The pp - 1 activation sends between pipeline stages of one iteration (inside or across the NVLink domain)."""
    in_domain = dep.tp * dep.pp <= hw.scale_up_domain_gpus
    p2p = comm.sendrecv_s(tokens * model.d_model * ACT_BYTES, hw.intra if in_domain else hw.inter)
    return (dep.pp - 1) * np.where(tokens > 0, p2p, 0.0)


def token_parts(model: TransformerSpec, hw: Accelerator, dep: Deployment, c: DeviceConstants, tokens,
                group_tokens=None) -> dict:
    """Everything that depends only on the number of tokens in the batch (all layers, one GPU/stage). With attention
    data parallelism the groups wait for each other at every MoE layer, so the busiest group's tokens
    (`group_tokens`, default an even T/dp share) set the pace of the group-side work (group_parts)."""
    tokens = np.asarray(tokens, dtype=float)
    if dep.dp_attention > 1:
        g = tokens / dep.dp_attention if group_tokens is None else group_tokens
        grp, rep = group_parts(model, hw, dep, c, g), replica_parts(model, hw, dep, c, tokens)
        return {"linear": grp["linear"] + rep["linear"], "elementwise": grp["elementwise"] + rep["elementwise"],
                "tp_comm": grp["tp_comm"] + rep["tp_comm"], "pp_comm": rep["pp_comm"]}
    n_moe = model.n_moe_layers
    n_dense = model.n_layers - n_moe
    lin = n_dense * layer_linear(model, dep, c, tokens, False)
    elt = n_dense * layer_elementwise_s(model, hw, dep, tokens, False)
    tp_comm = n_dense * layer_tp_comm_s(model, hw, dep, tokens, False)
    if n_moe:
        lin = lin + n_moe * layer_linear(model, dep, c, tokens, True)
        elt = elt + n_moe * layer_elementwise_s(model, hw, dep, tokens, True)
        tp_comm = tp_comm + n_moe * layer_tp_comm_s(model, hw, dep, tokens, True)
    return {"linear": lin, "elementwise": elt, "tp_comm": tp_comm, "pp_comm": pp_comm_s(model, hw, dep, tokens)}


def lm_head(model: TransformerSpec, dep: Deployment, c: DeviceConstants, n_logits):
    """LM head GEMM for the sequences sampled this iteration (16-bit weights, vocabulary split by TP)."""
    n_logits = np.asarray(n_logits, dtype=float)
    t = linear_s(c, n_logits, model.vocab_size / dep.tp, float(model.d_model), weight_bytes=ACT_BYTES)
    return np.where(n_logits > 0, t, 0.0)
