"""Inference memory per GPU: quantized weights, the activation workspace, and the paged KV cache that is left."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulator.core.hardware import Accelerator
from simulator.core.inference.deployment import ACT_BYTES, KV_BYTES, Deployment
from simulator.core.inference.engine import EngineProfile
from simulator.core.model import TransformerSpec


def kv_elems_per_token_per_layer(model: TransformerSpec, tp: int = 1) -> float:
    """K and V elements one token stores per layer on one GPU: 2 x KV heads x head_dim (GQA, Ainslie
    et al. 2023; heads replicated when TP > KV heads), or the MLA latent + rope key (DeepSeek-V2 2.1)."""
    if model.mla is not None:
        return float(model.mla.kv_lora_rank + model.mla.qk_rope_head_dim)
    return 2.0 * max(model.n_kv_heads / tp, 1.0) * model.head_dim


def kv_bytes_per_token(model: TransformerSpec, kv_precision: str = "bf16") -> float:
    """KV-cache bytes one token holds across the whole model (all layers, unsharded)."""
    return model.n_layers * kv_elems_per_token_per_layer(model, 1) * KV_BYTES[kv_precision]


def kv_bytes_per_seq(model: TransformerSpec, dep: Deployment, tokens: float) -> float:
    """KV-cache bytes a sequence of `tokens` tokens holds across the whole model: kv_bytes_per_token a token, and on
    sliding-window layers at most the window when the engine caps them (window_cap; attended_layer_tokens)."""
    if window_cap(model, dep) is None:
        return kv_bytes_per_token(model, dep.kv_precision) * tokens
    layer = kv_elems_per_token_per_layer(model, 1) * KV_BYTES[dep.kv_precision]
    return layer * float(model.attended_layer_tokens(tokens))


def layers_per_stage(model: TransformerSpec, pp: int) -> int:
    """Layers on the largest pipeline stage (uneven splits put the extra layer first)."""
    return math.ceil(model.n_layers / pp)


def weight_bytes_per_gpu(model: TransformerSpec, dep: Deployment) -> float:
    """Weights on the fullest GPU: quantized linear layers of one stage / TP, plus 16-bit embedding
    and LM head (engines keep those unquantized) on the stage that holds them; with attention data parallelism
    everything but the routed experts is split tp / dp_attention ways only."""
    non_expert, experts = model.layer_params()
    share = layers_per_stage(model, dep.pp) / model.n_layers
    vocab = model.vocab_size * model.d_model + model.max_position_embeddings * model.d_model
    n_vocab_mats = 1.0 if (dep.pp > 1 or model.tied_embeddings) else 2.0
    if dep.dp_attention > 1:  # attention, dense layers and the vocabulary replicated per attention group
        replicated = non_expert * share * dep.quant.weight_bytes + n_vocab_mats * vocab * ACT_BYTES
        return replicated / dep.attn_tp + experts * share * dep.quant.weight_bytes / dep.tp
    layers = (non_expert + experts) * share * dep.quant.weight_bytes
    return (layers + n_vocab_mats * vocab * ACT_BYTES) / dep.tp


def workspace_bytes_per_gpu(model: TransformerSpec, dep: Deployment) -> float:
    """Peak activation memory of one iteration at the token budget (vLLM profiles it with a dummy
    max_num_batched_tokens batch): hidden states, QKV and the MLP intermediate, plus fp32 logits."""
    up = 2.0 if model.gated else 1.0
    d_ff = model.d_ff if model.moe is None else model.moe.d_ff_expert * (model.moe.top_k + model.moe.n_shared_experts)
    # with attention data parallelism a group holds 1/dp of the tokens and sequences on tp/dp GPUs (an MoE layer's
    # expert activations, all tokens over tp GPUs, are the same bytes per GPU)
    tp, groups = dep.attn_tp, dep.dp_attention
    per_token = 4.0 * model.d_model + (model.q_dim + 2.0 * model.kv_dim + (up + 1.0) * d_ff) / tp
    return (dep.token_cap * per_token * ACT_BYTES + dep.seq_cap * model.vocab_size / tp * 4.0) / groups


@dataclass(frozen=True, slots=True)
class MemoryPlan:
    """Per-GPU memory split and the paged KV capacity of one replica."""

    weights_bytes_per_gpu: float
    workspace_bytes_per_gpu: float
    kv_budget_bytes_per_gpu: float
    kv_bytes_per_token_per_gpu: float
    block_size_tokens: int
    kv_blocks: int  # blocks per replica (every stage holds the same number of blocks)
    # sliding-window layers whose cache the engine caps at the window: (window tokens, their weight, all layers'
    # weight) in KV bytes per token (window_cap); None: every layer holds the whole sequence
    kv_window: tuple[int, float, float] | None = None

    @property
    def kv_capacity_tokens(self) -> int:
        return self.kv_blocks * self.block_size_tokens

    def blocks_for(self, tokens):
        """Paged blocks a sequence of `tokens` tokens holds (seq_blocks)."""
        return seq_blocks(tokens, self.block_size_tokens, self.kv_window)

    def max_concurrent_seqs(self, tokens_per_seq):
        """Sequences of a given total length that fit in the KV cache at once."""
        return self.kv_blocks // np.maximum(self.blocks_for(tokens_per_seq), 1)


def seq_blocks(tokens, block_size: int, kv_window: tuple[int, float, float] | None = None):
    """Whole paged blocks a sequence of `tokens` tokens holds (Kwon et al. 2023, PagedAttention). A block spans every
    layer of a stage; where the engine caps sliding-window layers at their window (vLLM's hybrid KV cache manager,
    TensorRT-LLM's pool per window size), their weight in it holds at most the blocks the window straddles,
    ceil(window / block) + 1, and the weighted count is rounded up. `infer` and `serve` both count with this. While a
    long prefill chunk runs, a windowed layer briefly holds window + chunk tokens: not counted."""
    full = -(-np.asarray(tokens) // block_size)
    if kv_window is None:
        return full
    window, windowed, total = kv_window
    capped = np.minimum(full, -(-window // block_size) + 1)
    return (-(-((total - windowed) * full + windowed * capped) // total)).astype(np.int64)


def kv_budget_bytes(prof: EngineProfile, hw: Accelerator, weights: float, workspace: float, tp: int = 1,
                    pp: int = 1) -> float:
    """KV-cache bytes per GPU by the engine's own rule (EngineProfile `kv_memory_mode`):
    total (vLLM): min(fraction x HBM, usable memory) - weights - activation peak;
    free (TensorRT-LLM): fraction x (usable memory - weights - activation workspace);
    static (SGLang): min(fraction x HBM, usable memory) - weights (activations live in the rest).
    Usable memory is the hardware profile's HBM less its reserved bytes (CUDA context, runtime)."""
    fraction = prof.memory_fraction(hw.hbm_bytes, tp, pp)
    if prof.kv_memory_mode == "free":
        return fraction * (hw.usable_memory_bytes - weights - workspace)
    static = min(fraction * hw.hbm_bytes, hw.usable_memory_bytes) - weights
    return static if prof.kv_memory_mode == "static" else static - workspace


def memory_plan(model: TransformerSpec, hw: Accelerator, dep: Deployment) -> MemoryPlan:
    """KV budget by the engine's rule (kv_budget_bytes), divided into blocks of block_size tokens x layers of one
    stage; with attention data parallelism each group holds its own sequences' blocks."""
    prof = dep.profile
    weights = weight_bytes_per_gpu(model, dep)
    work = workspace_bytes_per_gpu(model, dep)
    budget = kv_budget_bytes(prof, hw, weights, work, dep.tp, dep.pp)
    per_token = (layers_per_stage(model, dep.pp) * kv_elems_per_token_per_layer(model, dep.attn_tp)
                 * KV_BYTES[dep.kv_precision])
    # each attention group caches only its own sequences: dp_attention times the blocks of one GPU's budget
    blocks = int(max(budget, 0.0) // (per_token * prof.block_size_tokens)) * dep.dp_attention
    return MemoryPlan(weights, work, budget, per_token, prof.block_size_tokens, blocks, window_cap(model, dep))


def window_cap(model: TransformerSpec, dep: Deployment) -> tuple[int, float, float] | None:
    """(window tokens, windowed layers, layers) when the engine caps sliding-window layers' cache at the window
    (MemoryPlan.kv_window, as weights); None when every layer holds the whole sequence (no window, or an engine
    without per-window pools: EngineProfile.window_kv)."""
    if not (model.n_window_layers and dep.profile.window_kv) or model.window_tokens is None:
        return None
    return model.window_tokens, float(model.n_window_layers), float(model.n_layers)
