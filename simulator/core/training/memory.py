"""Training memory per GPU: model states under ZeRO (Rajbhandari et al. 2020) and stored activations with the
pipeline's micro-batches in flight (Korthikanti et al. 2022; Narayanan et al. 2021)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.core.model import TransformerSpec
from simulator.core.plans import PlanGrid
from simulator.core.training.layer import LayerCost
from simulator.core.training.options import (
    MASTER_AND_ADAM_BYTES,
    WEIGHT_BYTES,
    PlanArrays,
    TrainingOptions,
)
from simulator.core.training.stack import Stack
from simulator.vocab import PP_SCHEDULES

Array = np.ndarray


@dataclass(frozen=True, slots=True)
class ModelStates:
    """Parameters a GPU holds (its stage's share, split by TP and EP) and their bytes under its ZeRO stage."""

    dense_local: Array  # non-expert parameters of the largest stage on one TP rank (embedding or head included)
    expert_local: Array  # routed-expert parameters on one TP x EP rank
    shard: Array  # data-parallel replicas of the dense weights (dp x cp: CP ranks hold copies too)
    expert_shard: Array  # replicas of the routed experts (dp x cp / ep)
    grad_bytes: float  # bytes per gradient element (fp32 or 16-bit reduction)
    weights: Array
    gradients: Array
    optimizer_states: Array


def model_states(model: TransformerSpec, a: PlanArrays, zero: Array, layers_per_stage: Array,
                 o: TrainingOptions) -> ModelStates:
    """Weights, gradients and optimizer states per GPU; ZeRO-1 shards optimizer states, ZeRO-2 also gradients,
    ZeRO-3 also weights, over the data-parallel group (Rajbhandari et al. 2020, sec. 5)."""
    h = float(model.d_model)
    non_expert, experts = model.layer_params()
    vocab_params = model.vocab_size * h
    # pp = 1: embedding (+ an untied LM head) on one stage; pp > 1: the first stage holds the
    # embedding and the last the LM head (a copy when tied), so a stage holds one vocab matrix
    n_vocab_mats = np.where(a.pp > 1, 1.0, 1.0 if model.tied_embeddings else 2.0)
    stage_extra = n_vocab_mats * vocab_params + model.max_position_embeddings * h
    stage_share = layers_per_stage / model.n_layers
    dense_local = (non_expert * stage_share + stage_extra) / a.tp
    expert_local = experts * stage_share / (a.tp * a.ep)
    shard = a.shard  # dp x cp, or the HSDP group (replicated across the others)
    expert_shard = np.maximum(a.shard / a.ep, 1.0)
    grad_b = 4.0 if o.grad_reduce_fp32 else 2.0
    z = zero

    def held(min_stage: int) -> Array:
        """Parameters of each kind held per GPU: sharded from ZeRO stage `min_stage` on."""
        return (np.where(z >= min_stage, dense_local / shard, dense_local)
                + np.where(z >= min_stage, expert_local / expert_shard, expert_local))

    weights, gradients = WEIGHT_BYTES * held(3), grad_b * held(2)
    # FSDP under a pipeline schedule that keeps the stage unsharded across its micro-batches (torchtitan: no
    # reshard after forward, gradient reduce-scatter deferred to the last micro-batch): 16-bit stage weights and
    # 16-bit unsharded gradients on top of the shards
    keep = (z == 3) & (a.pp > 1) & o.stack.fsdp_pp_unsharded
    full = dense_local + expert_local
    weights = weights + np.where(keep, WEIGHT_BYTES * full, 0.0)
    gradients = gradients + np.where(keep, WEIGHT_BYTES * full, 0.0)
    return ModelStates(dense_local, expert_local, shard, expert_shard, grad_b, weights, gradients,
                       MASTER_AND_ADAM_BYTES * held(1))


def activation_bytes(layer: LayerCost, grid: PlanGrid, a: PlanArrays, n_micro: Array,
                     layers_per_stage: Array) -> Array:
    """Stored activations of the first stage: 1F1B (and zero bubble ZB-H1, Qi et al. 2023) keeps min(micro-batches,
    pp) in flight, interleaving (pp - 1) / (pp v) more (Narayanan et al. 2021, sec. 2.2), GPipe every micro-batch
    (Huang et al. 2019); full recompute rebuilds one layer at a time."""
    pp, v = a.pp, a.v
    in_flight = np.where(pp > 1, np.minimum(n_micro, pp) * np.where(v > 1, 1.0 + (pp - 1.0) / (pp * v), 1.0), 1.0)
    in_flight = np.where((pp > 1) & (a.schedule == PP_SCHEDULES.index("gpipe")), n_micro, in_flight)
    activations = layer.act * layers_per_stage * in_flight
    return activations + np.where(grid.recompute == 2, layer.act_full, 0.0)  # one layer rebuilt at a time


def logits_bytes(model: TransformerSpec, a: PlanArrays, tokens: Array, st: Stack) -> Array:
    """Logits of one micro-batch on the last stage, at the stack's bytes per logit (Stack.logits_bytes)."""
    return tokens * (model.vocab_size / a.tp) * st.logits_bytes


def buffer_bytes(model: TransformerSpec, a: PlanArrays, zero: Array, states: ModelStates, st: Stack) -> Array:
    """ZeRO-3/FSDP gather buffers (the unit in use and the prefetched next one, Stack.zero3_gather_unit), the stack's
    fixed workspaces, and its fp8 weight copies (Stack.fp8_weight_copy_bytes per parameter held)."""
    non_expert, _ = model.layer_params()
    unit_params = model.largest_matrix_params() if st.zero3_gather_unit == "module" else non_expert / model.n_layers
    fsdp_buffers = np.where((zero == 3) & (states.shard > 1), 2.0 * WEIGHT_BYTES * unit_params / a.tp, 0.0)
    fp8_copies = np.where(a.fp8, st.fp8_weight_copy_bytes * states.weights / WEIGHT_BYTES, 0.0)
    return fsdp_buffers + st.workspace_bytes + fp8_copies
