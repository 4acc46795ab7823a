"""Training step time, memory and utilisation for many parallel plans in one vectorised pass.

Step time = compute (forward, backward, recompute, exposed TP/CP/EP communication per layer)
x micro-batches + pipeline bubble + pipeline send/recv + exposed data-parallel communication
+ optimizer step. Each part is kept in the breakdown. Memory follows Korthikanti et al. 2022
(activations) and Rajbhandari et al. 2020 (ZeRO model states).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from . import comm, roofline
from .errors import PlanError
from .hardware import Accelerator
from .model import TransformerSpec
from .plans import OUT_OF_MEMORY, PRECISIONS, PlanGrid, structural_reasons

ACT_BYTES = 2.0  # activations stay 16-bit, also in fp8 training (Transformer Engine casts per GEMM)
MASK_BYTES = 1.0
MASTER_AND_ADAM_BYTES = 12.0  # fp32 master weights + Adam m and v (Rajbhandari et al. 2020, sec. 3)


@dataclass(frozen=True, slots=True)
class TrainingOptions:
    """Scalars shared by every plan of one evaluation."""

    seq_len: int
    global_batch: int
    attention_kernel: str = "flash"  # "flash" (FA2/FA3), "flash1" (FA1 / Triton port) or "unfused" (Megatron 2021)
    causal: bool = True
    grad_reduce_fp32: bool = True  # Megatron accumulates and reduces gradients in fp32
    dp_overlap: bool = True  # overlap the gradient reduction with the last backward pass
    tp_comm_overlap: bool = False  # hide TP collectives behind GEMMs (Megatron --tp-comm-overlap)
    dropout: bool | None = None  # dropout masks stored; None: as the model file says (GPT/Megatron yes, Llama no)
    fused_kernels: bool = True  # Megatron/NeMo fuse bias+activation, bias+dropout+add, softmax; eager code does not
    uneven_pp: bool = False  # allow pipeline stages whose layer counts differ (the heaviest stage sets the pace)
    framework: str | Framework = "standard"  # key of FRAMEWORKS (or a Framework): how the training framework runs ZeRO-3/FSDP collectives


ATTENTION_KERNELS = ("flash", "flash1", "unfused")


@dataclass(frozen=True, slots=True)
class Framework:
    """How a training framework runs its ZeRO-3/FSDP parameter gathers and gradient reductions.

    `standard` uses the collective model (comm.py: NCCL rates, prefetched behind compute). A framework
    whose own gather path is slower than NCCL carries measured terms instead: per micro-batch (ZeRO-3
    releases gathered weights after use, so each micro-batch gathers again; Rajbhandari et al. 2020,
    sec. 5.3) it spends `zero3_bytes_per_s` on the (n-1)/n share of each GPU's 16-bit stage weights held
    by the other n-1 ranks (all gathers and reductions together), plus `zero3_rank_layer_s` per layer
    for every other rank, and overlaps none of it when `zero3_overlap` is False. Measured terms hold
    for the hardware they were fitted on (`fitted_on`); elsewhere they are an extrapolation.
    `zero3_gather_unit` is what one gather brings in: a transformer block (FSDP wrapping per block) or a
    module, the largest weight matrix (DeepSpeed's per-submodule hooks); two units are live at once.
    """

    name: str
    zero3_overlap: bool = True
    zero3_bytes_per_s: float | None = None  # None: the collective model of comm.py
    zero3_rank_layer_s: float = 0.0
    zero3_gather_unit: str = "block"  # "block" | "module"
    source: str = ""
    fitted_on: tuple[str, ...] = ()  # validation rows the terms were fitted on (kept out of the check set)


def resolve_framework(framework: str | Framework) -> Framework:
    """The Framework an option names (a key of FRAMEWORKS, or a Framework); PlanError otherwise."""
    if isinstance(framework, Framework):
        return framework
    if isinstance(framework, str) and framework in FRAMEWORKS:
        return FRAMEWORKS[framework]
    raise PlanError(f"--framework {framework!r} is not one of {', '.join(FRAMEWORKS)}")


FRAMEWORKS: dict[str, Framework] = {
    "standard": Framework(
        "standard", source="Megatron-LM/Megatron-Core, NeMo and PyTorch FSDP (llm-foundry): NCCL collectives at "
                           "the rates of comm.py, ZeRO-3/FSDP gathers prefetched behind compute (Zhao et al. 2023)"),
    "deepspeed-zero3-2021": Framework(
        "deepspeed-zero3-2021", zero3_overlap=False, zero3_bytes_per_s=13.73e9, zero3_rank_layer_s=185e-6,
        zero3_gather_unit="module",
        source="DeepSpeed ZeRO-3 as of spring 2021 on DGX A100 over InfiniBand (Narayanan et al. 2021, Table 2): "
               "each gather synchronised the device (DeepSpeed PR #1188), so nothing overlaps; parameters are "
               "gathered module by module (pre-forward hooks in deepspeed/runtime/zero/stage3.py), so gather buffers hold weight matrices, not "
               "blocks (memory only: it does not enter the fitted time terms); the two terms are "
               "fitted on the 175B rows at 768 and 1,536 GPUs (simulator.validation.fit_framework) and checked on "
               "the other four Table 2 ZeRO-3 rows. Every Table 2 run has one micro-batch per step, so the "
               "per-micro-batch scaling and other hardware are extrapolations",
        fitted_on=("narayanan-t2-zero3-175b-768g", "narayanan-t2-zero3-175b-1536g")),
}
BREAKDOWN_KEYS = ("compute", "recompute", "tp_comm", "cp_comm", "ep_comm", "pp_comm", "bubble",
                  "dp_comm", "optimizer")
MEMORY_KEYS = ("weights", "gradients", "optimizer", "activations", "buffers")


def _per_layer(model: TransformerSpec, hw: Accelerator, g: PlanGrid, o: TrainingOptions, moe_layer: bool) -> dict[str, np.ndarray]:
    """Per-microbatch times (s) and stored activation bytes of one transformer layer on one GPU."""
    tp = g.tp.astype(float)
    cp = g.cp.astype(float)
    mb = g.micro_batch.astype(float)
    sp = g.sequence_parallel.astype(bool)
    fp8 = g.precision == PRECISIONS.index("fp8")
    h = float(model.d_model)
    s = float(o.seq_len)
    s_loc = s / cp
    tokens = mb * s_loc
    bw = hw.hbm_bandwidth_bytes_per_s
    curve = hw.gemm
    peak16 = hw.peak("bf16")
    peak_gemm = np.where(fp8, hw.peak_flop_per_s.get("fp8", peak16), peak16)
    in_b = np.where(fp8, 1.0, 2.0)
    eta = curve.compute_efficiency_for(fp8)

    def gemm3(m, n, k, batch=1.0):
        """Forward, data-gradient and weight-gradient GEMMs of one linear layer."""
        fwd = roofline.gemm_time_s(m, n, k, peak_gemm, bw, curve, in_b, ACT_BYTES, batch, eta)
        dgrad = roofline.gemm_time_s(m, k, n, peak_gemm, bw, curve, in_b, ACT_BYTES, batch, eta)
        wgrad = roofline.gemm_time_s(k, n, m, peak_gemm, bw, curve, in_b, 4.0, batch, eta)
        return fwd, dgrad + wgrad

    # --- projections of the attention block (QKV in, output out); TP splits heads
    attn_in_params = model.attention_params_per_layer() - model.n_heads * model.v_head_dim * h
    f_qkv, b_qkv = gemm3(tokens, attn_in_params / h / tp, h)
    f_o, b_o = gemm3(tokens, h, model.n_heads * model.v_head_dim / tp)
    gemm_f, gemm_b = f_qkv + f_o, b_qkv + b_o

    # --- MLP or experts
    up = 2.0 if model.gated else 1.0
    if moe_layer and model.moe is not None:
        moe = model.moe
        ep = g.ep.astype(float)
        local_experts = moe.n_experts / ep
        m_e = tokens * moe.top_k / local_experts  # tokens per local expert, balanced routing
        f1, b1 = gemm3(m_e, up * moe.d_ff_expert / tp, h, local_experts)
        f2, b2 = gemm3(m_e, h, moe.d_ff_expert / tp, local_experts)
        fr, br = gemm3(tokens, float(moe.n_experts), h)
        gemm_f, gemm_b = gemm_f + f1 + f2 + fr, gemm_b + b1 + b2 + br
        if moe.n_shared_experts:
            fs1, bs1 = gemm3(tokens, up * moe.d_ff_expert * moe.n_shared_experts / tp, h)
            fs2, bs2 = gemm3(tokens, h, moe.d_ff_expert * moe.n_shared_experts / tp)
            gemm_f, gemm_b = gemm_f + fs1 + fs2, gemm_b + bs1 + bs2
        mlp_act_elems = moe.top_k * (up + 1.0) * moe.d_ff_expert / tp + moe.n_shared_experts * (up + 1.0) * moe.d_ff_expert / tp
        act_elems_eltwise = moe.top_k * (up + 1.0) * moe.d_ff_expert / tp
    else:
        f1, b1 = gemm3(tokens, up * model.d_ff / tp, h)
        f2, b2 = gemm3(tokens, h, model.d_ff / tp)
        gemm_f, gemm_b = gemm_f + f1 + f2, gemm_b + b1 + b2
        mlp_act_elems = (up + 1.0) * model.d_ff / tp
        act_elems_eltwise = (up + 1.0) * model.d_ff / tp

    # --- attention core
    heads_loc = model.n_heads / tp
    d_qk, d_v = float(model.qk_head_dim), float(model.v_head_dim)
    if o.attention_kernel in ("flash", "flash1"):
        attn_eff = hw.flash_attention_efficiency if o.attention_kernel == "flash" else hw.flash1_attention_efficiency
        flop = roofline.attention_flop(mb, s_loc, s, heads_loc, d_qk, d_v, o.causal)
        moved = ACT_BYTES * mb * s_loc * heads_loc * (2 * d_qk + 2 * d_v)
        attn_f = roofline.flash_attention_time_s(flop, moved, peak16, bw, attn_eff, curve)
        attn_b = 2.5 * attn_f  # backward recomputes scores: 2.5x forward matmul work (Dao 2023, sec. 3)
        attn_recompute_sel = np.zeros_like(attn_f)
        score_act_bytes = np.zeros_like(attn_f)
    else:
        batch = mb * heads_loc
        qk = roofline.gemm_time_s(s_loc, s, d_qk, peak16, bw, curve, 2.0, 2.0, batch)
        av = roofline.gemm_time_s(s_loc, d_v, s, peak16, bw, curve, 2.0, 2.0, batch)
        elems = mb * heads_loc * s_loc * s
        # fused scale-mask-softmax (read 2 B, write 2 B) + dropout (read 2, write 2, mask 1)
        soft_f = roofline.stream_time_s(elems * (9.0 if o.dropout else 4.0), bw, hw.memory_bandwidth_efficiency, 2, hw.kernel_launch_s)
        soft_b = roofline.stream_time_s(elems * (11.0 if o.dropout else 6.0), bw, hw.memory_bandwidth_efficiency, 2, hw.kernel_launch_s)
        attn_f = qk + av + soft_f
        attn_b = 2.0 * (qk + av) + soft_b
        attn_recompute_sel = attn_f
        # softmax output (2 B) + dropout mask (1 B) + dropout output (2 B) per score (Korthikanti eq. 2)
        score_act_bytes = mb * heads_loc * s_loc * s * (5.0 if o.dropout else 2.0)

    # --- memory-bound elementwise work: 2 norms (read+write h each), 2 residual(+dropout) adds
    # (read 2h, write h each), the activation (read up-projection output, write d_ff)
    rep = np.where(sp, 1.0 / tp, 1.0)
    elt_f_elems = tokens * (10.0 * h * rep + act_elems_eltwise)
    n_kernels_f, n_kernels_b = 6, 10
    if not o.fused_kernels:
        # eager framework code: Q/K/V split and head-transpose copies before and after the
        # attention kernel, and separate bias/residual kernels (no Megatron-style fusion)
        qkv_elems = (model.q_dim + 2.0 * model.kv_dim + model.n_heads * d_v) / tp
        elt_f_elems = elt_f_elems + tokens * (2.0 * qkv_elems + 2.0 * h * rep)
        n_kernels_f, n_kernels_b = 14, 24
    elt_f_bytes = elt_f_elems * ACT_BYTES
    # fp8 (Transformer Engine): every GEMM input is cast 16-bit -> 8-bit (read 2 B, write 1 B)
    gemm_in_elems = tokens * (h + model.n_heads * d_v / tp + h + (mlp_act_elems / (up + 1.0) if not moe_layer else h))
    elt_f_bytes = elt_f_bytes + np.where(fp8, 3.0 * gemm_in_elems, 0.0)
    elt_f = roofline.stream_time_s(elt_f_bytes, bw, hw.memory_bandwidth_efficiency, n_kernels_f, hw.kernel_launch_s)
    elt_b = roofline.stream_time_s(2.0 * elt_f_bytes, bw, hw.memory_bandwidth_efficiency, n_kernels_b, hw.kernel_launch_s)

    # --- tensor-parallel collectives: 2 per layer forward, 2 backward (Shoeybi et al. 2019, fig. 3);
    # with sequence parallelism each all-reduce becomes all-gather + reduce-scatter (Korthikanti sec. 4.2.2)
    msg = tokens * h * ACT_BYTES
    ar = comm.hierarchical_allreduce_s(tp, msg, 1.0, hw)
    tp_intra, tp_inter = comm.hierarchical_gather_parts_s(tp, msg, 1.0, hw)
    agrs = 2.0 * (tp_intra + tp_inter)
    tp_one = np.where(sp, agrs, ar)
    tp_f = 2.0 * tp_one
    tp_b = 2.0 * tp_one
    if o.tp_comm_overlap:  # hidden behind 80% of the GEMMs, which run slower while it is (comm.overlap_penalty)
        u_tp = comm.overlap_penalty(tp_intra, tp_inter, hw)
        tp_f = comm.overlapped_s(tp_f, 0.8 * gemm_f, u_tp)
        tp_b = comm.overlapped_s(tp_b, 0.8 * gemm_b, u_tp)

    # --- context parallelism: ring exchange of K/V blocks, overlapped with attention (Liu et al. 2023)
    if model.mla is None:
        kv_bytes = 2.0 * mb * s_loc * model.kv_dim / tp * ACT_BYTES
    else:  # MLA exchanges the compressed latent and the shared rope key
        kv_bytes = mb * s_loc * (model.mla.kv_lora_rank + model.mla.qk_rope_head_dim) * ACT_BYTES
    cp_link_intra = comm.ranks_per_node(cp, tp, hw) >= cp
    cp_step = np.where(cp_link_intra, comm.sendrecv_s(kv_bytes, hw.intra), comm.sendrecv_s(kv_bytes, hw.inter))
    cp_total_f = (cp - 1.0) * cp_step
    u_cp = np.where(cp_link_intra, hw.intra.overlap_compute_penalty, hw.inter.overlap_compute_penalty)
    cp_f = comm.overlapped_s(cp_total_f, attn_f, u_cp)
    cp_b = comm.overlapped_s(2.0 * cp_total_f, attn_b, u_cp)

    # --- expert parallelism: dispatch + combine all-to-all, forward and backward (Lepikhin et al. 2020)
    if moe_layer and model.moe is not None:
        a2a_bytes = tokens * model.moe.top_k * h * ACT_BYTES * rep
        a2a = comm.alltoall_hier_s(g.ep.astype(float), a2a_bytes, tp * cp, hw)
        ep_f, ep_b = 2.0 * a2a, 2.0 * a2a
    else:
        ep_f = ep_b = np.zeros_like(tp)

    # --- stored activations per layer and micro-batch (Korthikanti et al. 2022, eq. 1-2, generalised
    # to GQA/MLA widths and gated MLPs); rep marks what sequence parallelism shards
    masks = (2.0 * MASK_BYTES * h) if o.dropout else 0.0
    # bytes per token: 2 LayerNorm inputs (2 x 2h), QKV input (2h), MLP input (2h), dropout masks
    replicated = ACT_BYTES * (2.0 * h + h + h) + masks
    sharded = ACT_BYTES * (model.q_dim + 2.0 * model.kv_dim + model.n_heads * d_v) / tp + ACT_BYTES * mlp_act_elems
    if model.mla is not None:
        sharded = ACT_BYTES * (model.q_dim + model.n_heads * (d_qk + d_v) + model.n_heads * d_v) / tp + ACT_BYTES * mlp_act_elems
    act_layer_none = tokens * (replicated * rep + sharded) + score_act_bytes
    act_layer_sel = tokens * (replicated * rep + sharded)
    act_layer_full = tokens * h * ACT_BYTES * rep

    rc = g.recompute
    act = np.select([rc == 0, rc == 1], [act_layer_none, act_layer_sel], act_layer_full)
    fwd = gemm_f + attn_f + elt_f + tp_f + cp_f + ep_f
    bwd = gemm_b + attn_b + elt_b + tp_b + cp_b + ep_b
    recompute = np.select([rc == 0, rc == 1], [np.zeros_like(fwd), attn_recompute_sel], fwd)
    full = rc == 2  # full recompute repeats the forward, its collectives included
    return {
        "fwd": fwd, "bwd": bwd, "recompute": recompute,
        "recompute_comm": np.where(full, tp_f + cp_f + ep_f, 0.0),
        "compute": gemm_f + gemm_b + attn_f + attn_b + elt_f + elt_b,
        "tp": tp_f + tp_b + np.where(full, tp_f, 0.0),
        "cp": cp_f + cp_b + np.where(full, cp_f, 0.0), "ep": ep_f + ep_b + np.where(full, ep_f, 0.0),
        "act": act, "act_full": act_layer_none,
    }


def evaluate(model: TransformerSpec, hw: Accelerator, grid: PlanGrid, options: TrainingOptions) -> dict[str, np.ndarray]:
    """Evaluate every plan of the grid; returns arrays keyed by metric (see BREAKDOWN_KEYS,
    MEMORY_KEYS, plus step_time_s, tokens_per_s, mfu, hfu, memory_per_gpu_bytes, reason)."""
    o = options if options.dropout is not None else replace(options, dropout=model.dropout)
    g = grid
    reason = structural_reasons(g, model, o.global_batch, o.seq_len, hw.scale_up_domain_gpus, o.uneven_pp)
    if "fp8" not in hw.peak_flop_per_s:
        reason |= np.where(g.precision == PRECISIONS.index("fp8"), 2048, 0)
    tp = g.tp.astype(float)
    pp = g.pp.astype(float)
    dp = g.dp.astype(float)
    cp = g.cp.astype(float)
    ep = g.ep.astype(float)
    mb = g.micro_batch.astype(float)
    v = g.vpp.astype(float)
    gpus = tp * pp * dp * cp
    h = float(model.d_model)
    n_micro = np.maximum(np.floor(o.global_batch / np.maximum(dp * mb, 1.0)), 1.0)

    dense = _per_layer(model, hw, g, o, moe_layer=False)
    if model.moe is not None:
        moe = _per_layer(model, hw, g, o, moe_layer=True)
        w_moe = model.n_moe_layers / model.n_layers
        layer = {k: (1 - w_moe) * dense[k] + w_moe * moe[k] for k in dense}
        layer["act"] = np.maximum(dense["act"], moe["act"])
    else:
        layer = dense

    # the heaviest stage: L/pp, or with uneven stages ceil(L / (pp v)) chunks of v layers
    layers_per_stage = np.ceil(model.n_layers / (pp * v)) * v if o.uneven_pp else model.n_layers / pp
    tokens = mb * o.seq_len / cp
    bw = hw.hbm_bandwidth_bytes_per_s
    fp8 = g.precision == PRECISIONS.index("fp8")
    peak16 = hw.peak("bf16")
    peak_gemm = np.where(fp8, hw.peak_flop_per_s.get("fp8", peak16), peak16)

    # --- LM head and loss on the last stage (logits in fp32 for the cross-entropy)
    v_loc = model.vocab_size / tp
    head_f = roofline.gemm_time_s(tokens, v_loc, h, peak_gemm, bw, hw.gemm, 2.0, 2.0, 1.0,
                                  hw.gemm.compute_efficiency_for(fp8))
    head_b = 2.0 * head_f
    loss = roofline.stream_time_s(tokens * v_loc * 4.0 * 4.0, bw, hw.memory_bandwidth_efficiency, 4, hw.kernel_launch_s)
    head = head_f + head_b + loss

    body_per_mb = layers_per_stage * (layer["fwd"] + layer["bwd"] + layer["recompute"])
    stage_per_mb = body_per_mb + head  # the last stage carries the head: it sets the pace

    # --- pipeline: send/recv of boundary activations, and the bubble (Narayanan et al. 2021, sec. 2.2)
    pp_stride = tp * cp * dp
    boundary = tokens * h * ACT_BYTES * np.where(g.sequence_parallel.astype(bool), 1.0 / tp, 1.0)
    pp_intra = comm.ranks_per_node(pp, pp_stride, hw) > 1
    p2p = np.where(pp_intra, comm.sendrecv_s(boundary, hw.intra), comm.sendrecv_s(boundary, hw.inter))
    pp_comm = np.where(pp > 1, 2.0 * v * p2p * (n_micro + (pp - 1.0) / v), 0.0)
    bubble = (pp - 1.0) / v * stage_per_mb

    # --- parameters held per GPU (largest stage: layers plus embedding or head)
    non_expert, experts = model.layer_params()
    vocab_params = model.vocab_size * h
    # pp = 1: embedding (+ an untied LM head) on one stage; pp > 1: the first stage holds the
    # embedding and the last the LM head (a copy when tied), so a stage holds one vocab matrix
    n_vocab_mats = np.where(pp > 1, 1.0, 1.0 if model.tied_embeddings else 2.0)
    stage_extra = n_vocab_mats * vocab_params + model.max_position_embeddings * h
    stage_share = layers_per_stage / model.n_layers
    dense_local = (non_expert * stage_share + stage_extra) / tp
    expert_local = experts * stage_share / (tp * ep)
    shard = dp * cp  # data-parallel replicas of the dense weights (CP ranks hold copies too)
    expert_shard = dp * cp / ep
    grad_b = 4.0 if o.grad_reduce_fp32 else 2.0
    z = g.zero
    w_bytes = 2.0
    weights = w_bytes * (np.where(z >= 3, dense_local / shard, dense_local) + np.where(z >= 3, expert_local / expert_shard, expert_local))
    grads = grad_b * (np.where(z >= 2, dense_local / shard, dense_local) + np.where(z >= 2, expert_local / expert_shard, expert_local))
    optim = MASTER_AND_ADAM_BYTES * (np.where(z >= 1, dense_local / shard, dense_local) + np.where(z >= 1, expert_local / expert_shard, expert_local))

    # --- data-parallel gradient synchronisation (and ZeRO/FSDP gathers)
    dp_stride = tp
    n_sync = dp * cp
    g_dense = dense_local * grad_b
    ar_dense = comm.hierarchical_allreduce_s(n_sync, g_dense, dp_stride, hw)
    rs_intra, rs_inter = comm.hierarchical_gather_parts_s(n_sync, g_dense, dp_stride, hw)
    rs_dense = rs_intra + rs_inter
    ag_dense = comm.hierarchical_gather_s(n_sync, dense_local * w_bytes, dp_stride, hw)
    # routed experts synchronise over their own data-parallel group (dp*cp/ep ranks, stride tp*ep)
    ar_exp = comm.hierarchical_allreduce_s(expert_shard, expert_local * grad_b, tp * ep, hw)
    rse_intra, rse_inter = comm.hierarchical_gather_parts_s(expert_shard, expert_local * grad_b, tp * ep, hw)
    rs_exp = rse_intra + rse_inter
    ag_exp = comm.hierarchical_gather_s(expert_shard, expert_local * w_bytes, tp * ep, hw)
    allreduce_s, reduce_scatter_s, all_gather_s = ar_dense + ar_exp, rs_dense + rs_exp, ag_dense + ag_exp
    # ZeRO-0/1: gradients accumulate in a full buffer and are reduced once per step, hidden behind the
    # last micro-batch's backward; ZeRO-1/2 gather the updated parameters behind the next step's first
    # forward (Megatron --overlap-grad-reduce / --overlap-param-gather). ZeRO-2 keeps only a gradient
    # shard, so it reduce-scatters after every micro-batch (Rajbhandari et al. 2020, sec. 5.2).
    bwd_window = layers_per_stage * layer["bwd"] if o.dp_overlap else 0.0
    fwd_window = layers_per_stage * layer["fwd"] if o.dp_overlap else 0.0
    # Hidden time still costs compute (comm.overlapped_s), at the link split of the dense and expert
    # gradient reductions together.
    u_dp = comm.overlap_penalty(rs_intra + rse_intra, rs_inter + rse_inter, hw)
    reduce_once = comm.overlapped_s(np.where(z == 0, allreduce_s, reduce_scatter_s), bwd_window, u_dp)
    reduce_each = n_micro * comm.overlapped_s(reduce_scatter_s, bwd_window, u_dp)
    gather_once = comm.overlapped_s(all_gather_s, fwd_window, u_dp)
    dp_exposed = np.select([z == 0, z == 1, z == 2], [reduce_once, reduce_once + gather_once,
                                                       reduce_each + gather_once], 0.0)
    # ZeRO-3/FSDP: gather weights for forward and backward, reduce-scatter grads, every micro-batch,
    # prefetched behind the compute of the same micro-batch (Zhao et al. 2023, PyTorch FSDP)
    fw = resolve_framework(o.framework)
    fsdp_mb_s = 2.0 * all_gather_s + reduce_scatter_s
    if fw.zero3_bytes_per_s is not None:  # the framework's own measured gather path (Framework docstring)
        others = n_sync - 1.0
        fsdp_mb_s = ((dense_local + expert_local) * w_bytes * others / n_sync / fw.zero3_bytes_per_s
                     + fw.zero3_rank_layer_s * layers_per_stage * others)
    fsdp_hidden_s = stage_per_mb if (o.dp_overlap and fw.zero3_overlap) else 0.0
    dp_exposed = np.where(z == 3, n_micro * comm.overlapped_s(fsdp_mb_s, fsdp_hidden_s, u_dp), dp_exposed)

    # --- optimizer step: stream master weights, Adam moments, gradients; write back (memory-bound)
    opt_params = np.where(z >= 1, (dense_local) / shard + expert_local / expert_shard, dense_local + expert_local)
    optimizer_s = roofline.stream_time_s(opt_params * (2 * MASTER_AND_ADAM_BYTES + grad_b + w_bytes), bw,
                                         hw.memory_bandwidth_efficiency, 4, hw.kernel_launch_s)

    compute_total = n_micro * stage_per_mb
    step = compute_total + bubble + pp_comm + dp_exposed + optimizer_s

    # --- memory
    in_flight = np.where(pp > 1, np.minimum(n_micro, pp) * np.where(v > 1, 1.0 + (pp - 1.0) / (pp * v), 1.0), 1.0)
    activations = layer["act"] * layers_per_stage * in_flight
    activations = activations + np.where(g.recompute == 2, layer["act_full"], 0.0)  # one layer rebuilt at a time
    logits = tokens * v_loc * (ACT_BYTES + 4.0)  # 16-bit logits + fp32 softmax/gradient workspace
    # ZeRO-3/FSDP gather buffers: the unit in use and the prefetched next one (Framework.zero3_gather_unit)
    unit_params = model.largest_matrix_params() if fw.zero3_gather_unit == "module" else non_expert / model.n_layers
    fsdp_buffers = np.where((z == 3) & (shard > 1), 2.0 * w_bytes * unit_params / tp, 0.0)
    buffers = logits + fsdp_buffers
    memory = weights + grads + optim + activations + buffers
    reason = reason | np.where(memory > hw.usable_memory_bytes, OUT_OF_MEMORY, 0)

    # --- throughput and utilisation
    tokens_per_step = float(o.global_batch) * o.seq_len
    tokens_per_s = tokens_per_step / step
    model_flop_token = model.model_flop_per_token(o.seq_len)
    attn_fwd_token = model.attention_flop_per_token_fwd(o.seq_len)
    fwd_token = 2.0 * model.active_matmul_params() + attn_fwd_token
    extra = np.select([g.recompute == 2, (g.recompute == 1) & (o.attention_kernel == "unfused")],
                      [fwd_token, attn_fwd_token], 0.0)
    peak = np.where(fp8, hw.peak_flop_per_s.get("fp8", peak16), peak16)
    flops_per_gpu = model_flop_token * tokens_per_s / gpus
    mfu = flops_per_gpu / peak
    hfu = (model_flop_token + extra) * tokens_per_s / gpus / peak

    body_compute = n_micro * layers_per_stage * layer["compute"]
    out = {
        "reason": reason,
        "feasible": reason == 0,
        "step_time_s": step,
        "tokens_per_s": tokens_per_s,
        "tokens_per_s_per_gpu": tokens_per_s / gpus,
        "model_flop_per_s_per_gpu": flops_per_gpu,
        "mfu": mfu,
        "hfu": hfu,
        "n_micro_batches": n_micro,
        "memory_per_gpu_bytes": memory,
        # breakdown (seconds per step on the critical path)
        "compute": body_compute + n_micro * (head_f + head_b + loss),
        "recompute": n_micro * layers_per_stage * (layer["recompute"] - layer["recompute_comm"]),
        "tp_comm": n_micro * layers_per_stage * layer["tp"],
        "cp_comm": n_micro * layers_per_stage * layer["cp"],
        "ep_comm": n_micro * layers_per_stage * layer["ep"],
        "pp_comm": pp_comm,
        "bubble": bubble,
        "dp_comm": dp_exposed,
        "optimizer": optimizer_s,
        # memory
        "weights": weights, "gradients": grads, "optimizer_states": optim,
        "activations": activations, "buffers": buffers,
    }
    return out
