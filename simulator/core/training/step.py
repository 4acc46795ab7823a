"""Training step time, memory and utilisation for many parallel plans in one vectorised pass.

Step time = compute (forward, backward, recompute, exposed TP/CP/EP communication per layer)
x micro-batches + pipeline bubble + pipeline send/recv + exposed data-parallel communication
+ optimizer step. Each part is kept in the breakdown. Memory follows Korthikanti et al. 2022
(activations) and Rajbhandari et al. 2020 (ZeRO model states).
"""

from __future__ import annotations

import numpy as np

from simulator.core import comm, roofline
from simulator.core.hardware import Accelerator
from simulator.core.model import TransformerSpec
from simulator.core.plans import FP8_MISSING, OUT_OF_MEMORY, STACK_LACKS, PlanGrid, structural_reasons
from simulator.core.training.layer import LayerCost, layer_cost
from simulator.core.training.memory import ModelStates, activation_bytes, buffer_bytes, logits_bytes, model_states
from simulator.core.training.options import (
    ACT_BYTES,
    MASTER_AND_ADAM_BYTES,
    WEIGHT_BYTES,
    PlanArrays,
    TrainingOptions,
)
from simulator.core.training.stack import Stack
from simulator.vocab import PP_SCHEDULES, PRECISIONS, RECOMPUTE

Array = np.ndarray


def average_layer(model: TransformerSpec, hw: Accelerator, a: PlanArrays, grid: PlanGrid,
                  o: TrainingOptions) -> LayerCost:
    """The layer every stage repeats: dense, or the share-weighted mix of dense and MoE layers."""
    dense = layer_cost(model, hw, a, grid.recompute, o, moe_layer=False)
    if model.moe is None:
        return dense
    return dense.blend(layer_cost(model, hw, a, grid.recompute, o, moe_layer=True), model.n_moe_layers / model.n_layers)


def lm_head_s(model: TransformerSpec, hw: Accelerator, a: PlanArrays, tokens: Array) -> tuple[Array, Array, Array]:
    """LM head forward and backward GEMMs and the loss (logits in fp32 for the cross-entropy) on the last stage."""
    v_loc = model.vocab_size / a.tp
    head_f = roofline.gemm_time_s(tokens, v_loc, float(model.d_model), a.peak_gemm, a.bw, hw.gemm, 2.0, 2.0, 1.0,
                                  a.gemm_eta)
    loss = roofline.stream_time_s(tokens * v_loc * 4.0 * 4.0, a.bw, hw.memory_bandwidth_efficiency, 4,
                                  hw.kernel_launch_s)
    return head_f, 2.0 * head_f, loss


def pipeline_s(model: TransformerSpec, hw: Accelerator, a: PlanArrays, tokens: Array, n_micro: Array,
               stage_per_mb: Array) -> tuple[Array, Array]:
    """Send/recv of boundary activations and the bubble, (pp - 1) / vpp stage times (Narayanan et al. 2021,
    sec. 2.2); zero bubble ZB-H1 splits the backward into input and weight gradients and fills a third of it
    back, (pp - 1) / 3 stage times (Qi et al. 2023, sec. 3, with F = B = W)."""
    pp, v = a.pp, a.v
    pp_stride = a.tp * a.cp * a.dp
    boundary = tokens * float(model.d_model) * ACT_BYTES * a.sp_share
    pp_intra = comm.ranks_per_node(pp, pp_stride, hw) > 1
    p2p = np.where(pp_intra, comm.sendrecv_s(boundary, hw.intra), comm.sendrecv_s(boundary, hw.inter))
    pp_comm = np.where(pp > 1, 2.0 * v * p2p * (n_micro + (pp - 1.0) / v), 0.0)
    bubble = (pp - 1.0) / v * stage_per_mb
    return pp_comm, np.where(a.schedule == PP_SCHEDULES.index("zb"), bubble / 3.0, bubble)


def dp_comm_s(hw: Accelerator, a: PlanArrays, zero: Array, states: ModelStates, layer: LayerCost,
              layers_per_stage: Array, n_micro: Array, stage_per_mb: Array, o: TrainingOptions,
              fw: Stack) -> Array:
    """Exposed data-parallel gradient synchronisation and ZeRO/FSDP parameter gathers.

    ZeRO-0/1: gradients accumulate in a full buffer and are reduced once per step, hidden behind the last
    micro-batch's backward; ZeRO-1/2 gather the updated parameters behind the next step's first forward (Megatron
    --overlap-grad-reduce / --overlap-param-gather). ZeRO-2 keeps only a gradient shard, so it reduce-scatters
    after every micro-batch (Rajbhandari et al. 2020, sec. 5.2). ZeRO-3/FSDP gathers weights for forward and
    backward and reduce-scatters gradients every micro-batch, prefetched behind that micro-batch's compute (Zhao
    et al. 2023, PyTorch FSDP). Hidden time still costs compute (comm.overlapped_s), at the link split of the dense
    and expert gradient reductions together."""
    s, z = states, zero
    n_sync, tp = a.dp * a.cp, a.tp
    g_dense = s.dense_local * s.grad_bytes
    ar_dense = comm.hierarchical_allreduce_s(n_sync, g_dense, tp, hw)
    rs_intra, rs_inter = comm.hierarchical_gather_parts_s(s.shard, g_dense, tp, hw)
    # HSDP: each gradient shard is also all-reduced across the replicas of the shard group (stride tp x shard)
    rs_inter = rs_inter + comm.hierarchical_allreduce_s(n_sync / s.shard, g_dense / s.shard, tp * s.shard, hw)
    ag_dense = comm.hierarchical_gather_s(s.shard, s.dense_local * WEIGHT_BYTES, tp, hw)
    # routed experts synchronise over their own data-parallel group (dp*cp/ep ranks, stride tp*ep)
    g_exp = s.expert_local * s.grad_bytes
    ar_exp = comm.hierarchical_allreduce_s(s.expert_shard, g_exp, tp * a.ep, hw)
    rse_intra, rse_inter = comm.hierarchical_gather_parts_s(s.expert_shard, g_exp, tp * a.ep, hw)
    ag_exp = comm.hierarchical_gather_s(s.expert_shard, s.expert_local * WEIGHT_BYTES, tp * a.ep, hw)
    allreduce_s = ar_dense + ar_exp
    reduce_scatter_s, all_gather_s = (rs_intra + rs_inter) + (rse_intra + rse_inter), ag_dense + ag_exp
    bwd_window = layers_per_stage * layer.bwd if o.dp_overlap else 0.0
    fwd_window = layers_per_stage * layer.fwd if o.dp_overlap else 0.0
    u_dp = comm.overlap_penalty(rs_intra + rse_intra, rs_inter + rse_inter, hw)
    reduce_once = comm.overlapped_s(np.where(z == 0, allreduce_s, reduce_scatter_s), bwd_window, u_dp)
    reduce_each = n_micro * comm.overlapped_s(reduce_scatter_s, bwd_window, u_dp)
    gather_once = comm.overlapped_s(all_gather_s, fwd_window, u_dp)
    exposed = np.select([z == 0, z == 1, z == 2], [reduce_once, reduce_once + gather_once, reduce_each + gather_once],
                        0.0)
    fsdp_mb_s = 2.0 * all_gather_s + reduce_scatter_s
    if fw.zero3_bytes_per_s is not None:  # the stack's own measured gather path (Stack docstring)
        others = s.shard - 1.0
        fsdp_mb_s = ((s.dense_local + s.expert_local) * WEIGHT_BYTES * others / s.shard / fw.zero3_bytes_per_s
                     + fw.zero3_rank_layer_s * layers_per_stage * others)
    fsdp_hidden_s = stage_per_mb if (o.dp_overlap and fw.fsdp_overlap) else 0.0
    # a stage kept unsharded across its micro-batches (Stack.fsdp_pp_unsharded) gathers and reduces once per step
    n_fsdp = np.where((a.pp > 1) & fw.fsdp_pp_unsharded, 1.0, n_micro)
    return np.where(z == 3, n_fsdp * comm.overlapped_s(fsdp_mb_s, fsdp_hidden_s, u_dp), exposed)


def optimizer_s(hw: Accelerator, a: PlanArrays, zero: Array, states: ModelStates) -> Array:
    """Adam step: stream master weights, moments and gradients, write weights back (memory-bound)."""
    s = states
    opt_params = np.where(zero >= 1, (s.dense_local) / s.shard + s.expert_local / s.expert_shard,
                          s.dense_local + s.expert_local)
    return roofline.stream_time_s(opt_params * (2 * MASTER_AND_ADAM_BYTES + s.grad_bytes + WEIGHT_BYTES), a.bw,
                                  hw.memory_bandwidth_efficiency, 4, hw.kernel_launch_s)


def utilisation(model: TransformerSpec, hw: Accelerator, a: PlanArrays, grid: PlanGrid, o: TrainingOptions,
                step: Array) -> dict[str, Array]:
    """Throughput, model FLOP/s per GPU, MFU and HFU (PaLM App. B convention; HFU adds recomputed FLOPs)."""
    gpus = grid.gpus
    tokens_per_s = float(o.global_batch) * o.seq_len / step
    model_flop_token = model.model_flop_per_token(o.seq_len)
    attn_fwd_token = model.attention_flop_per_token_fwd(o.seq_len)
    fwd_token = 2.0 * model.active_matmul_params() + attn_fwd_token
    extra = np.select([grid.recompute == 2, (grid.recompute == 1) & (o.attention_kernel == "unfused"),
                       grid.recompute == 3], [fwd_token, attn_fwd_token, model.active_matmul_params()], 0.0)
    peak = a.peak_gemm
    flops_per_gpu = model_flop_token * tokens_per_s / gpus
    return {"tokens_per_s": tokens_per_s, "tokens_per_s_per_gpu": tokens_per_s / gpus,
            "model_flop_per_s_per_gpu": flops_per_gpu, "mfu": flops_per_gpu / peak,
            "hfu": (model_flop_token + extra) * tokens_per_s / gpus / peak}


def plan_reasons(grid: PlanGrid, model: TransformerSpec, hw: Accelerator, o: TrainingOptions,
                 uneven_pp: bool | None = None) -> Array:
    """The structural reasons (plans.structural_reasons) under the stack's rules, plus what the stack lacks (its ZeRO
    stages, recompute modes, precisions) and the precisions the hardware lacks."""
    st = o.stack
    reason = structural_reasons(grid, model, o.global_batch, o.seq_len, hw.scale_up_domain_gpus,
                                bool(o.uneven_pp if uneven_pp is None else uneven_pp), st.zero3_with_pp,
                                st.interleaved_any_micro_batches)
    partial = (grid.shard > 0) & (grid.shard < grid.dp * grid.cp)
    no_schedule = (grid.pp > 1) & ~np.isin(grid.schedule, [PP_SCHEDULES.index(s) for s in st.pp_schedules])
    lacks = (no_schedule | (partial & (not st.hsdp)) | ~np.isin(grid.zero, st.zero_stages) | ~np.isin(grid.recompute, [RECOMPUTE.index(r)
                                                                             for r in st.recompute_modes])
             | ~np.isin(grid.precision, [PRECISIONS.index(p) for p in st.precisions]))
    reason |= np.where(lacks, STACK_LACKS, 0)
    if "fp8" not in hw.peak_flop_per_s:
        reason |= np.where(grid.precision == PRECISIONS.index("fp8"), FP8_MISSING, 0)
    return reason


def peak_memory(model: TransformerSpec, layer: LayerCost, grid: PlanGrid, a: PlanArrays, zero: Array,
                states: ModelStates, n_micro: Array, layers_per_stage: Array, tokens: Array,
                st: Stack) -> tuple[Array, Array]:
    """(stored activations, buffers) of the stage that peaks: the first holds the most micro-batches in flight, the
    last one micro-batch and the logits (with pp = 1 one stage holds both). Buffers add the stack's workspaces and fp8
    weight copies (memory.buffer_bytes)."""
    first = activation_bytes(layer, grid, a, n_micro, layers_per_stage)
    logits = logits_bytes(model, a, tokens, st)
    last = layer.act * layers_per_stage + np.where(grid.recompute == 2, layer.act_full, 0.0)
    last_peaks = (a.pp > 1) & (last + logits > first)
    activations = np.where(last_peaks, last, first)
    head = np.where((a.pp == 1) | last_peaks, logits, 0.0)
    return activations, head + buffer_bytes(model, a, zero, states, st)


def evaluate(model: TransformerSpec, hw: Accelerator, grid: PlanGrid, options: TrainingOptions) -> dict[str, Array]:
    """Evaluate every plan of the grid; returns arrays keyed by metric: reason (a plans.REASONS bitmask), feasible,
    step_time_s, tokens_per_s, tokens_per_s_per_gpu, model_flop_per_s_per_gpu, mfu, hfu, n_micro_batches,
    memory_per_gpu_bytes (allocated peak), memory_reserved_per_gpu_bytes (what the allocator holds, checked against
    the device), the step-time parts (options.BREAKDOWN_KEYS) and the memory parts (MEMORY_KEYS)."""
    o = options.resolved(model.dropout)
    st = o.stack
    reason = plan_reasons(grid, model, hw, o)
    a = PlanArrays.of(grid, hw, st)
    n_micro = np.maximum(np.floor(o.global_batch / np.maximum(a.dp * a.mb, 1.0)), 1.0)
    layer = average_layer(model, hw, a, grid, o)
    # the heaviest stage: L/pp, or with uneven stages ceil(L / (pp v)) chunks of v layers
    layers_per_stage = np.ceil(model.n_layers / (a.pp * a.v)) * a.v if o.uneven_pp else model.n_layers / a.pp
    tokens = a.mb * o.seq_len / a.cp
    head_f, head_b, loss = lm_head_s(model, hw, a, tokens)
    stage_per_mb = layers_per_stage * (layer.fwd + layer.bwd + layer.recompute) + (head_f + head_b + loss)
    pp_comm, bubble = pipeline_s(model, hw, a, tokens, n_micro, stage_per_mb)
    states = model_states(model, a, grid.zero, layers_per_stage, o)
    dp_exposed = dp_comm_s(hw, a, grid.zero, states, layer, layers_per_stage, n_micro, stage_per_mb, o, st)
    opt_s = optimizer_s(hw, a, grid.zero, states)
    overhead = np.full_like(opt_s, st.step_overhead_s)
    step = n_micro * stage_per_mb + bubble + pp_comm + dp_exposed + opt_s + overhead
    activations, buffers = peak_memory(model, layer, grid, a, grid.zero, states, n_micro, layers_per_stage, tokens, st)
    memory = states.weights + states.gradients + states.optimizer_states + activations + buffers
    reserved = memory * (1.0 + st.allocator_reserve_fraction)
    reason = reason | np.where(reserved > hw.usable_memory_bytes, OUT_OF_MEMORY, 0)
    per_layer = n_micro * layers_per_stage
    return {
        "reason": reason, "feasible": reason == 0, "step_time_s": step,
        **utilisation(model, hw, a, grid, o, step),
        "n_micro_batches": n_micro, "memory_per_gpu_bytes": memory, "memory_reserved_per_gpu_bytes": reserved,
        # breakdown (seconds per step on the critical path)
        "compute": n_micro * layers_per_stage * layer.compute + n_micro * (head_f + head_b + loss),
        "recompute": per_layer * (layer.recompute - layer.recompute_comm),
        "tp_comm": per_layer * layer.tp, "cp_comm": per_layer * layer.cp, "ep_comm": per_layer * layer.ep,
        "pp_comm": pp_comm, "bubble": bubble, "dp_comm": dp_exposed, "optimizer": opt_s, "overhead": overhead,
        # memory
        "weights": states.weights, "gradients": states.gradients, "optimizer_states": states.optimizer_states,
        "activations": activations, "buffers": buffers,
    }
