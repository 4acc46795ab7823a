"""One transformer layer on one GPU, per micro-batch, for every plan at once: GEMMs, attention, memory-bound
kernels, tensor/context/expert-parallel collectives, and the activations the layer stores for backward."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.core import comm, roofline
from simulator.core.hardware import Accelerator, GemmCurve
from simulator.core.model import TransformerSpec, causal_pairs, windowed_tokens
from simulator.core.training.options import ACT_BYTES, MASK_BYTES, PlanArrays, TrainingOptions

Array = np.ndarray


@dataclass(frozen=True, slots=True)
class LayerCost:
    """Per-micro-batch times (s) and stored activation bytes of one transformer layer on one GPU."""

    fwd: Array  # forward pass, exposed collectives included
    bwd: Array  # backward pass
    recompute: Array  # recomputation during backward (selective: attention core; full: the forward)
    recompute_comm: Array  # the collectives a full recompute repeats (inside `recompute`)
    compute: Array  # GEMMs, attention and memory-bound kernels, forward and backward
    tp: Array  # exposed tensor-parallel communication (recompute's included)
    cp: Array  # exposed context-parallel exchange
    ep: Array  # expert-parallel all-to-all
    act: Array  # activation bytes stored per micro-batch under the plan's recompute mode
    act_full: Array  # bytes one layer holds with nothing recomputed (full recompute rebuilds one at a time)

    def blend(self, other: LayerCost, w_other: float) -> LayerCost:
        """The average layer of a model whose share `w_other` of layers are `other` (MoE): times mix by
        share, stored activations take the larger (the stage holds whichever layer is bigger)."""
        mixed = {f: (1 - w_other) * getattr(self, f) + w_other * getattr(other, f) for f in self.__slots__}
        mixed["act"] = np.maximum(self.act, other.act)
        return LayerCost(**mixed)


@dataclass(frozen=True, slots=True)
class _Ctx:
    """What every part of one layer reads: the model, device, plans and options, and derived sizes."""

    model: TransformerSpec
    hw: Accelerator
    o: TrainingOptions
    a: PlanArrays
    h: float  # hidden size
    s: float  # sequence length
    s_loc: Array  # tokens per sequence on this GPU (context parallelism splits the sequence)
    tokens: Array  # tokens per micro-batch on this GPU
    in_b: Array  # bytes per GEMM input element (1 for fp8)
    eta: Array  # GEMM compute-efficiency cap of each plan's precision
    curve: GemmCurve

    def gemm3(self, m, n, k, batch=1.0) -> tuple[Array, Array]:
        """Forward, and data-gradient + weight-gradient GEMMs of one linear layer (soft roofline)."""
        pk, bw, c, ib, eta = self.a.peak_gemm, self.a.bw, self.curve, self.in_b, self.eta
        fwd = roofline.gemm_time_s(m, n, k, pk, bw, c, ib, ACT_BYTES, batch, eta)
        dgrad = roofline.gemm_time_s(m, k, n, pk, bw, c, ib, ACT_BYTES, batch, eta)
        wgrad = roofline.gemm_time_s(k, n, m, pk, bw, c, ib, 4.0, batch, eta)
        return fwd, dgrad + wgrad


def _projections(x: _Ctx) -> tuple[Array, Array]:
    """QKV in and output out of the attention block; TP splits heads."""
    model, h, tp = x.model, x.h, x.a.tp
    attn_in_params = model.attention_params_per_layer() - model.n_heads * model.v_head_dim * h
    f_qkv, b_qkv = x.gemm3(x.tokens, attn_in_params / h / tp, h)
    f_o, b_o = x.gemm3(x.tokens, h, model.n_heads * model.v_head_dim / tp)
    return f_qkv + f_o, b_qkv + b_o


def _mlp(x: _Ctx, moe_layer: bool, gemm_f: Array, gemm_b: Array) -> tuple[Array, Array, Array, Array]:
    """Adds the MLP or, in an MoE layer, router + routed experts (balanced routing) + shared experts to the GEMM
    times so far. Returns forward and backward GEMM times, and per token the MLP's stored and
    elementwise-processed intermediate elements."""
    model, h, tp, tokens = x.model, x.h, x.a.tp, x.tokens
    up = 2.0 if model.gated else 1.0
    if not (moe_layer and model.moe is not None):
        f1, b1 = x.gemm3(tokens, up * model.d_ff / tp, h)
        f2, b2 = x.gemm3(tokens, h, model.d_ff / tp)
        elems = (up + 1.0) * model.d_ff / tp
        return gemm_f + f1 + f2, gemm_b + b1 + b2, elems, elems
    moe = model.moe
    local_experts = moe.n_experts / x.a.ep
    m_e = tokens * moe.top_k / local_experts  # tokens per local expert, balanced routing
    f1, b1 = x.gemm3(m_e, up * moe.d_ff_expert / tp, h, local_experts)
    f2, b2 = x.gemm3(m_e, h, moe.d_ff_expert / tp, local_experts)
    fr, br = x.gemm3(tokens, float(moe.n_experts), h)
    gemm_f, gemm_b = gemm_f + f1 + f2 + fr, gemm_b + b1 + b2 + br
    if moe.n_shared_experts:
        fs1, bs1 = x.gemm3(tokens, up * moe.d_ff_expert * moe.n_shared_experts / tp, h)
        fs2, bs2 = x.gemm3(tokens, h, moe.d_ff_expert * moe.n_shared_experts / tp)
        gemm_f, gemm_b = gemm_f + fs1 + fs2, gemm_b + bs1 + bs2
    routed = moe.top_k * (up + 1.0) * moe.d_ff_expert / tp
    return gemm_f, gemm_b, routed + moe.n_shared_experts * (up + 1.0) * moe.d_ff_expert / tp, routed


def _window_factor(model: TransformerSpec, s, causal: bool):
    """Mean share of a full layer's query-key pairs a layer computes when some layers have a sliding window that
    FlashAttention skips past (Dao 2023: window_size; causal: causal_pairs with the window over s (s + 1) / 2; else
    min(s, window) / s); 1 without a window. Materialized (eager) attention computes every score and masks."""
    n_win = model.n_window_layers
    if not n_win:
        return 1.0
    s = np.asarray(s, dtype=float)
    if causal:
        share = causal_pairs(0.0, s, model.window_tokens) / (s * (s + 1.0) / 2.0)
    else:
        share = windowed_tokens(s, model.window_tokens) / s
    return (model.n_full_attention_layers + n_win * share) / model.n_layers


def _attention_core(x: _Ctx) -> tuple[Array, Array, Array, Array]:
    """Scores and context of attention: (forward, backward, selective-recompute time, score bytes stored)."""
    model, hw, o, a = x.model, x.hw, x.o, x.a
    heads_loc = model.n_heads / a.tp
    d_qk, d_v = float(model.qk_head_dim), float(model.v_head_dim)
    if o.attention_kernel in ("flash", "flash1", "flash2"):
        attn_eff = {"flash": hw.flash_attention_efficiency, "flash1": hw.flash1_attention_efficiency,
                    "flash2": hw.flash2_attention_efficiency or hw.flash_attention_efficiency}[o.attention_kernel]
        attn_eff = attn_eff * a.kernel_scale
        flop = roofline.attention_flop(a.mb, x.s_loc, x.s, heads_loc, d_qk, d_v, o.causal) * _window_factor(model, x.s,
                                                                                                         o.causal)
        moved = ACT_BYTES * a.mb * x.s_loc * heads_loc * (2 * d_qk + 2 * d_v)
        attn_f = roofline.flash_attention_time_s(flop, moved, a.peak16, a.bw, attn_eff, x.curve)
        attn_b = 2.5 * attn_f  # backward recomputes scores: 2.5x forward matmul work (Dao 2023, sec. 3)
        return attn_f, attn_b, np.zeros_like(attn_f), np.zeros_like(attn_f)
    batch = a.mb * heads_loc
    qk = roofline.gemm_time_s(x.s_loc, x.s, d_qk, a.peak16, a.bw, x.curve, 2.0, 2.0, batch)
    av = roofline.gemm_time_s(x.s_loc, d_v, x.s, a.peak16, a.bw, x.curve, 2.0, 2.0, batch)
    elems = a.mb * heads_loc * x.s_loc * x.s
    # fused scale-mask-softmax (read 2 B, write 2 B) + dropout (read 2, write 2, mask 1)
    eff, launch = hw.memory_bandwidth_efficiency, hw.kernel_launch_s
    soft_f = roofline.stream_time_s(elems * (9.0 if o.dropout else 4.0), a.bw, eff, 2, launch)
    soft_b = roofline.stream_time_s(elems * (11.0 if o.dropout else 6.0), a.bw, eff, 2, launch)
    attn_f = qk + av + soft_f
    # softmax output (2 B) + dropout mask (1 B) + dropout output (2 B) per score (Korthikanti eq. 2)
    return attn_f, 2.0 * (qk + av) + soft_b, attn_f, a.mb * heads_loc * x.s_loc * x.s * (5.0 if o.dropout else 2.0)


def _elementwise(x: _Ctx, mlp_elems: Array, eltwise_elems: Array, moe_layer: bool) -> tuple[Array, Array]:
    """Memory-bound work: 2 norms (read+write h each), 2 residual(+dropout) adds (read 2h, write h each), the
    activation (read the up-projection output, write d_ff); fp8 casts of every GEMM input. Eager code (no fusion, no
    torch.compile) adds copies and the bytes its stack's unfused norms, rotary embedding and activation move."""
    model, h, a, tokens = x.model, x.h, x.a, x.tokens
    d_v = float(model.v_head_dim)
    rep = a.sp_share
    elt_f_elems = tokens * (10.0 * h * rep + eltwise_elems)
    n_kernels_f, n_kernels_b = 6, 10
    if not x.o.fused_kernels:
        # eager framework code: Q/K/V split and head-transpose copies before and after the
        # attention kernel, and separate bias/residual kernels (no Megatron-style fusion)
        qkv_elems = (model.q_dim + 2.0 * model.kv_dim + model.n_heads * d_v) / a.tp
        elt_f_elems = elt_f_elems + tokens * (2.0 * qkv_elems + 2.0 * h * rep)
        n_kernels_f, n_kernels_b = 14, 24
    elt_f_bytes = elt_f_elems * ACT_BYTES
    if not x.o.fused_kernels:  # the stack's eager norms, rotary embedding and activation, beyond a fused kernel
        st = x.o.stack
        up = 2.0 if model.gated else 1.0
        elt_f_bytes = elt_f_bytes + tokens * (2.0 * h * rep * st.eager_norm_extra_bytes
                                              + (model.q_dim + model.kv_dim) / a.tp * st.eager_rope_extra_bytes
                                              + mlp_elems / (up + 1.0) * st.eager_activation_extra_bytes)
    # fp8: every GEMM input is cast 16-bit -> 8-bit (read 2 B, write 1 B), plus the stack's scaling passes (an amax
    # read of 2 B each for dynamic scaling); weights too, once per step when the stack caches them (TE), else per
    # micro-batch (torchao), which the per-micro-batch cost carries here
    up = 2.0 if model.gated else 1.0
    st = x.o.stack
    per_elem = 3.0 + 2.0 * st.fp8_cast_passes
    gemm_in_elems = tokens * (h + model.n_heads * d_v / a.tp + h + (mlp_elems / (up + 1.0) if not moe_layer else h))
    weight_elems = 0.0 if st.fp8_weight_cache else sum(model.layer_params()) / model.n_layers / (a.tp * a.ep)
    elt_f_bytes = elt_f_bytes + np.where(a.fp8, per_elem * (gemm_in_elems + weight_elems), 0.0)
    eff, launch = x.hw.memory_bandwidth_efficiency, x.hw.kernel_launch_s
    elt_f = roofline.stream_time_s(elt_f_bytes, a.bw, eff, n_kernels_f, launch)
    elt_b = roofline.stream_time_s(2.0 * elt_f_bytes, a.bw, eff, n_kernels_b, launch)
    return elt_f, elt_b


def _tp_comm(x: _Ctx, gemm_f: Array, gemm_b: Array) -> tuple[Array, Array]:
    """Tensor-parallel collectives: 2 per layer forward, 2 backward (Shoeybi et al. 2019, fig. 3); with sequence
    parallelism each all-reduce becomes all-gather + reduce-scatter (Korthikanti sec. 4.2.2)."""
    tp, hw = x.a.tp, x.hw
    msg = x.tokens * x.h * ACT_BYTES
    ar = comm.hierarchical_allreduce_s(tp, msg, 1.0, hw)
    tp_intra, tp_inter = comm.hierarchical_gather_parts_s(tp, msg, 1.0, hw)
    agrs = 2.0 * (tp_intra + tp_inter)
    tp_one = np.where(x.a.sp, agrs, ar)
    tp_f = 2.0 * tp_one
    tp_b = 2.0 * tp_one
    if x.o.tp_comm_overlap:  # hidden behind the stack's share of the GEMMs, which run slower meanwhile
        u_tp = comm.overlap_penalty(tp_intra, tp_inter, hw)
        share = x.o.stack.tp_overlap_share
        tp_f = comm.overlapped_s(tp_f, share * gemm_f, u_tp)
        tp_b = comm.overlapped_s(tp_b, share * gemm_b, u_tp)
    return tp_f, tp_b


def _cp_comm(x: _Ctx, attn_f: Array, attn_b: Array) -> tuple[Array, Array]:
    """Context parallelism: ring exchange of K/V blocks, overlapped with attention (Liu et al. 2023)."""
    model, hw, a = x.model, x.hw, x.a
    if model.mla is None:
        kv_bytes = 2.0 * a.mb * x.s_loc * model.kv_dim / a.tp * ACT_BYTES
    else:  # MLA exchanges the compressed latent and the shared rope key
        kv_bytes = a.mb * x.s_loc * (model.mla.kv_lora_rank + model.mla.qk_rope_head_dim) * ACT_BYTES
    cp_link_intra = comm.ranks_per_node(a.cp, a.tp, hw) >= a.cp
    cp_step = np.where(cp_link_intra, comm.sendrecv_s(kv_bytes, hw.intra), comm.sendrecv_s(kv_bytes, hw.inter))
    cp_total_f = (a.cp - 1.0) * cp_step
    u_cp = np.where(cp_link_intra, hw.intra.overlap_compute_penalty, hw.inter.overlap_compute_penalty)
    return comm.overlapped_s(cp_total_f, attn_f, u_cp), comm.overlapped_s(2.0 * cp_total_f, attn_b, u_cp)


def _ep_comm(x: _Ctx, moe_layer: bool) -> tuple[Array, Array]:
    """Expert parallelism: dispatch + combine all-to-all, forward and backward (Lepikhin et al. 2020)."""
    a = x.a
    if not (moe_layer and x.model.moe is not None):
        return np.zeros_like(a.tp), np.zeros_like(a.tp)
    rep = a.sp_share
    a2a_bytes = x.tokens * x.model.moe.top_k * x.h * ACT_BYTES * rep
    a2a = comm.alltoall_hier_s(a.ep, a2a_bytes, a.tp * a.cp, x.hw)
    return 2.0 * a2a, 2.0 * a2a


def _activations(x: _Ctx, mlp_elems: Array, score_bytes: Array) -> tuple[Array, Array, Array]:
    """Stored activations per layer and micro-batch with no, selective and full recompute (Korthikanti et al.
    2022, eq. 1-2, generalised to GQA/MLA widths and gated MLPs); `rep` marks what sequence parallelism shards."""
    model, h, a, tokens = x.model, x.h, x.a, x.tokens
    d_qk, d_v = float(model.qk_head_dim), float(model.v_head_dim)
    rep = a.sp_share
    masks = (2.0 * MASK_BYTES * h) if x.o.dropout else 0.0
    # bytes per token: 2 LayerNorm inputs (2 x 2h), QKV input (2h), MLP input (2h), dropout masks
    replicated = ACT_BYTES * (2.0 * h + h + h) + masks
    sharded = ACT_BYTES * (model.q_dim + 2.0 * model.kv_dim + model.n_heads * d_v) / a.tp + ACT_BYTES * mlp_elems
    if model.mla is not None:
        sharded = (ACT_BYTES * (model.q_dim + model.n_heads * (d_qk + d_v) + model.n_heads * d_v) / a.tp
                   + ACT_BYTES * mlp_elems)
    if x.o.stack.fp8_saves_inputs:  # fp8 copies of the 4 GEMM inputs kept for wgrad: 1 B, not 2 (TE Linear)
        up = 2.0 if model.gated else 1.0
        saved = 2.0 * h * rep + (model.n_heads * d_v / a.tp + mlp_elems / (up + 1.0))
        fp8_saving = np.where(a.fp8, -saved * (ACT_BYTES - 1.0), 0.0)
    else:
        fp8_saving = np.zeros_like(a.tp)
    act_sel = tokens * (replicated * rep + sharded + fp8_saving)
    act_none = act_sel + score_bytes
    return act_none, act_sel, tokens * h * ACT_BYTES * rep


def _op_level(x: _Ctx, mlp_elems: Array) -> Array:
    """Stored bytes under torchtitan's op-level selective checkpointing (torchtitan activation_checkpoint.py,
    selective_ac_option "op"): the layer input, the attention kernel's output, and every other matmul output; the
    elementwise results and the other matmuls are recomputed."""
    model, h, a = x.model, x.h, x.a
    rep = a.sp_share
    up = 2.0 if model.gated else 1.0
    mm_out = (model.q_dim + 2.0 * model.kv_dim) / a.tp + 2.0 * h * rep + mlp_elems * up / (up + 1.0)
    return x.tokens * ACT_BYTES * (h * rep + model.n_heads * model.v_head_dim / a.tp + 0.5 * mm_out)


def layer_cost(model: TransformerSpec, hw: Accelerator, a: PlanArrays, recompute: Array, o: TrainingOptions,
               moe_layer: bool) -> LayerCost:
    """One layer (dense, or MoE when `moe_layer`) for every plan; `recompute` indexes vocab.RECOMPUTE."""
    s = float(o.seq_len)
    s_loc = s / a.cp
    x = _Ctx(model, hw, o, a, float(model.d_model), s, s_loc, a.mb * s_loc, np.where(a.fp8, 1.0, 2.0),
             a.gemm_eta, hw.gemm)
    gemm_f, gemm_b, mlp_elems, eltwise_elems = _mlp(x, moe_layer, *_projections(x))
    attn_f, attn_b, attn_recompute_sel, score_bytes = _attention_core(x)
    elt_f, elt_b = _elementwise(x, mlp_elems, eltwise_elems, moe_layer)
    tp_f, tp_b = _tp_comm(x, gemm_f, gemm_b)
    cp_f, cp_b = _cp_comm(x, attn_f, attn_b)
    ep_f, ep_b = _ep_comm(x, moe_layer)
    act_none, act_sel, act_full = _activations(x, mlp_elems, score_bytes)
    rc = recompute
    fwd = gemm_f + attn_f + elt_f + tp_f + cp_f + ep_f
    bwd = gemm_b + attn_b + elt_b + tp_b + cp_b + ep_b
    full = rc == 2  # full recompute repeats the forward, its collectives included
    op_recompute = 0.5 * gemm_f + elt_f  # op-level: every other matmul and the elementwise ops (_op_level)
    return LayerCost(
        fwd=fwd, bwd=bwd, recompute=np.select([rc == 0, rc == 1, rc == 3],
                                              [np.zeros_like(fwd), attn_recompute_sel, op_recompute], fwd),
        recompute_comm=np.where(full, tp_f + cp_f + ep_f, 0.0),
        compute=gemm_f + gemm_b + attn_f + attn_b + elt_f + elt_b,
        tp=tp_f + tp_b + np.where(full, tp_f, 0.0), cp=cp_f + cp_b + np.where(full, cp_f, 0.0),
        ep=ep_f + ep_b + np.where(full, ep_f, 0.0),
        act=np.select([rc == 0, rc == 1, rc == 3], [act_none, act_sel, _op_level(x, mlp_elems)], act_full),
        act_full=act_none)
