"""Transformer architecture: parameter, FLOP and byte counts (one formula, one place).

Conventions: counts are per token unless the name says otherwise; a "matmul parameter" is a
weight that takes part in a matrix multiply (the embedding lookup table does not, the LM head
does). Biases are ignored (< 0.1 % of any catalog model).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class MoE:
    n_experts: int
    top_k: int
    d_ff_expert: int
    n_shared_experts: int = 0
    first_dense_layers: int = 0
    routing_cv: float = 0.0  # coefficient of variation of the experts' popularity (0: uniform routing)


@dataclass(frozen=True, slots=True)
class MLA:
    """DeepSeek multi-head latent attention dimensions (DeepSeek-V2 paper, section 2.1)."""

    q_lora_rank: int | None
    kv_lora_rank: int
    qk_rope_head_dim: int
    qk_nope_head_dim: int
    v_head_dim: int


@dataclass(frozen=True, slots=True)
class TransformerSpec:
    id: str
    name: str
    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    d_ff: int
    vocab_size: int
    activation: str
    tied_embeddings: bool
    head_dim: int
    max_position_embeddings: int = 0
    context_window_tokens: int | None = None
    dropout: bool = False
    moe: MoE | None = None
    mla: MLA | None = None
    window_tokens: int | None = None  # sliding-window attention: keys a windowed layer's query attends to at most
    window_layers: int = 0  # how many of the layers have that window (gpt-oss: every other one; Mistral v0.1: all)
    published_params: float | None = None
    path: str = ""

    # ------------------------------------------------------------------ shapes
    @property
    def gated(self) -> bool:
        """SwiGLU-style MLPs have two input projections (Shazeer 2020, 'GLU Variants')."""
        return self.activation == "swiglu"

    @property
    def q_dim(self) -> int:
        """Width of the concatenated query heads (per head: nope + rope dims for MLA)."""
        if self.mla:
            return self.n_heads * (self.mla.qk_nope_head_dim + self.mla.qk_rope_head_dim)
        return self.n_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        """Width of the key (= value) projection output for MHA/GQA."""
        return self.n_kv_heads * self.head_dim

    @property
    def grouped_kv(self) -> bool:
        """Query heads share key/value heads (GQA or MQA: n_kv_heads < n_heads; Ainslie et al. 2023), not MLA."""
        return self.mla is None and self.n_kv_heads < self.n_heads

    @property
    def v_head_dim(self) -> int:
        return self.mla.v_head_dim if self.mla else self.head_dim

    @property
    def qk_head_dim(self) -> int:
        return (self.mla.qk_nope_head_dim + self.mla.qk_rope_head_dim) if self.mla else self.head_dim

    @property
    def n_moe_layers(self) -> int:
        return 0 if self.moe is None else self.n_layers - self.moe.first_dense_layers

    @property
    def n_dense_layers(self) -> int:
        return self.n_layers - self.n_moe_layers

    # ------------------------------------------------------------------ parameters
    def attention_params_per_layer(self) -> float:
        """Q, K, V and output projections (GQA: K/V have n_kv_heads; MLA: low-rank factors)."""
        h = self.d_model
        if self.mla:
            m = self.mla
            q = (h * m.q_lora_rank + m.q_lora_rank * self.q_dim) if m.q_lora_rank else h * self.q_dim
            kv = h * (m.kv_lora_rank + m.qk_rope_head_dim) + m.kv_lora_rank * self.n_heads * (
                m.qk_nope_head_dim + m.v_head_dim
            )
            o = self.n_heads * m.v_head_dim * h
            return float(q + kv + o)
        return float(h * self.q_dim + 2 * h * self.kv_dim + self.q_dim * h)

    def mlp_params(self, d_ff: int) -> float:
        """One feed-forward block: 2 (gelu/relu) or 3 (swiglu) h x d_ff matrices."""
        return float((3 if self.gated else 2) * self.d_model * d_ff)

    def dense_mlp_params_per_layer(self) -> float:
        return self.mlp_params(self.d_ff)

    def expert_params_per_moe_layer(self) -> float:
        """Routed experts only (these are what expert parallelism shards)."""
        assert self.moe is not None
        return self.moe.n_experts * self.mlp_params(self.moe.d_ff_expert)

    def shared_params_per_moe_layer(self) -> float:
        """Router plus shared experts of one MoE layer."""
        assert self.moe is not None
        return self.d_model * self.moe.n_experts + self.moe.n_shared_experts * self.mlp_params(
            self.moe.d_ff_expert
        )

    def largest_matrix_params(self) -> float:
        """The largest single weight matrix of a layer: fused QKV (with MLA's low-rank factors), the fused
        MLP input (gate and up for SwiGLU) or its output. DeepSpeed ZeRO-3 gathers parameters module by
        module in pre-forward hooks (deepspeed/runtime/zero/stage3.py, 2021: "gather param for module"), so this bounds what
        one gather holds."""
        h = self.d_model
        attn_in = self.attention_params_per_layer() - self.n_heads * self.v_head_dim * h
        mlp_in = (2 if self.gated else 1) * self.d_ff * h
        return float(max(attn_in, self.n_heads * self.v_head_dim * h, mlp_in, self.d_ff * h))

    def norm_params_per_layer(self) -> float:
        return 2.0 * self.d_model

    def embedding_params(self) -> float:
        """Token (and learned position) embeddings."""
        return float(self.vocab_size * self.d_model + self.max_position_embeddings * self.d_model)

    def lm_head_params(self) -> float:
        """Separate output projection (0 when tied to the input embedding)."""
        return 0.0 if self.tied_embeddings else float(self.vocab_size * self.d_model)

    def non_expert_params_per_layer(self, moe_layer: bool) -> float:
        base = self.attention_params_per_layer() + self.norm_params_per_layer()
        if moe_layer:
            return base + self.shared_params_per_moe_layer()
        return base + self.dense_mlp_params_per_layer()

    def layer_params(self) -> tuple[float, float]:
        """(non-expert parameters in all layers, routed-expert parameters in all layers)."""
        dense = self.n_dense_layers * self.non_expert_params_per_layer(False)
        if self.moe is None:
            return dense, 0.0
        moe = self.n_moe_layers * self.non_expert_params_per_layer(True)
        return dense + moe, self.n_moe_layers * self.expert_params_per_moe_layer()

    def total_params(self) -> float:
        """All parameters: embeddings, layers, final norm and an untied LM head."""
        non_expert, experts = self.layer_params()
        return self.embedding_params() + non_expert + experts + self.d_model + self.lm_head_params()

    def active_matmul_params(self) -> float:
        """Parameters one token multiplies through (MoE: top_k routed + shared experts; LM head)."""
        total = self.n_layers * self.attention_params_per_layer()
        total += self.n_dense_layers * self.dense_mlp_params_per_layer()
        if self.moe:
            per = (self.moe.top_k + self.moe.n_shared_experts) * self.mlp_params(self.moe.d_ff_expert)
            total += self.n_moe_layers * (per + self.d_model * self.moe.n_experts)
        return total + self.vocab_size * self.d_model

    @property
    def n_window_layers(self) -> int:
        """Layers with a sliding window (0 without one)."""
        return min(self.window_layers, self.n_layers) if self.window_tokens else 0

    @property
    def n_full_attention_layers(self) -> int:
        return self.n_layers - self.n_window_layers

    def attended_layer_tokens(self, seq_len: float) -> float:
        """Keys per query summed over the layers when every query sees seq_len keys but a windowed layer at most its
        window (Beltagy et al. 2020, Longformer; Jiang et al. 2023, Mistral 7B section 2)."""
        if not self.n_window_layers:
            return seq_len * self.n_layers
        return seq_len * self.n_full_attention_layers + windowed_tokens(seq_len, self.window_tokens) * self.n_window_layers

    # ------------------------------------------------------------------ FLOPs
    def attention_flop_per_token_fwd(self, seq_len: float) -> float:
        """Score and context matmuls, full (non-causal) count: 2*s*heads*(d_qk + d_v) per layer, s capped at the
        window on sliding-window layers (attended_layer_tokens).

        This is the convention of PaLM (Chowdhery et al. 2022, App. B) and Megatron
        (Narayanan et al. 2021, eq. 3): attention is counted over the whole sequence.
        """
        if not self.n_window_layers:
            return 2.0 * seq_len * self.n_heads * (self.qk_head_dim + self.v_head_dim) * self.n_layers
        return 2.0 * self.n_heads * (self.qk_head_dim + self.v_head_dim) * self.attended_layer_tokens(seq_len)

    def model_flop_per_token(self, seq_len: float) -> float:
        """Training model FLOPs per token: 6*N_active + 6*attention (PaLM App. B; = Megatron's
        72*B*s*l*h^2*(1 + s/6h + V/12lh) for a GPT). Recompute is not counted (that is HFU)."""
        return 6.0 * self.active_matmul_params() + 3.0 * self.attention_flop_per_token_fwd(seq_len)


def causal_pairs(prefix, new, window: int | None = None):
    """Query-key pairs of `new` tokens appended after `prefix` cached ones, each attending causally to every earlier
    token and itself: new (prefix + (new + 1) / 2); with a sliding window, to at most `window` of them (the sum over
    positions p = prefix + 1 .. prefix + new of min(p, window)). Broadcasts over numpy arrays."""
    p, n = np.asarray(prefix, dtype=float), np.asarray(new, dtype=float)
    if window is None:
        return n * (p + (n + 1.0) / 2.0)
    w = float(window)

    def upto(m):  # pairs of the first m positions: m (m + 1) / 2 up to the window, then w a position
        m = np.asarray(m, dtype=float)
        head = np.minimum(m, w)
        return head * (head + 1.0) / 2.0 + np.maximum(m - w, 0.0) * w

    return upto(p + n) - upto(p)


def windowed_tokens(tokens, window: int | None):
    """Cached tokens a sliding-window layer keeps and reads for a sequence of `tokens` tokens: min(tokens, window)."""
    t = np.asarray(tokens, dtype=float)
    return t if window is None else np.minimum(t, float(window))
