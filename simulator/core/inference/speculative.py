"""Speculative decoding: a draft (a smaller model, or MTP/EAGLE heads on the target) proposes k tokens per step and the
target verifies all of them in one forward pass, keeping the longest accepted run plus one token of its own (Leviathan
et al. 2023, "Fast Inference from Transformers via Speculative Decoding"; Chen et al. 2023). The configuration and its
formulas, each once; static.py assembles the costs from iteration_time_s (the target's verify pass, the draft's
forward passes) and serving/ runs them per engine iteration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from simulator.core.model import TransformerSpec, causal_pairs, windowed_tokens
from simulator.errors import BadValueError, PlanError, setting
from simulator.limits import MAX_DRAFT_LAYERS, MAX_GPUS, MAX_NAME_CHARS, MAX_SPECULATIVE_TOKENS, check_int, check_number


@dataclass(frozen=True, slots=True)
class SpeculativeDecoding:
    """A draft proposing `num_speculative_tokens` (k) tokens per step, each accepted with probability
    `acceptance_rate` (a, i.i.d., Leviathan et al.'s alpha), verified by the target in one pass.

    The draft is either a separate model (`draft_model`: an id or path the API loads, or a TransformerSpec; run on the
    target's GPUs with `draft_tp`, default the target's tp) or, without one, MTP/EAGLE heads on the target: each draft
    step runs `draft_layers` layers of the target's shape, each followed by the target's LM head (EAGLE: one layer;
    DeepSeek-V3 MTP: one module per drafted token; a fraction states a cheaper head). k and a have no defaults: the
    acceptance rate depends on the draft, the task and the sampling, so it is the user's figure (`acceptance_source`
    says where it comes from)."""

    num_speculative_tokens: int
    acceptance_rate: float
    draft_model: str | TransformerSpec | None = None
    draft_tp: int | None = None
    draft_layers: float = 1.0
    acceptance_source: str = "user-stated"

    @property
    def k(self) -> int:
        return int(self.num_speculative_tokens)

    @property
    def method(self) -> str:
        """"draft" (a separate draft model) or "mtp" (MTP/EAGLE heads on the target)."""
        return "mtp" if self.draft_model is None else "draft"

    @property
    def draft_id(self) -> str:
        """The draft model's id (its id once loaded, else the id or path as given); '' for MTP/EAGLE heads."""
        d = self.draft_model
        return "" if d is None else d.id if isinstance(d, TransformerSpec) else str(d)

    def draft_label(self) -> str:
        if self.method == "mtp":
            return f"MTP/EAGLE heads x{self.draft_layers:g} layer(s)"
        return f"draft {self.draft_id}" + (f" tp{self.draft_tp}" if self.draft_tp else "")

    def label(self) -> str:
        """Short words for a deployment label."""
        draft = f"mtp x{self.draft_layers:g}" if self.method == "mtp" else f"draft {self.draft_id}"
        return f"spec k{self.k} a{self.acceptance_rate:g} {draft}"

    def describe(self) -> str:
        """Where the figures come from, for a breakdown line."""
        return (f"k={self.k}, acceptance {self.acceptance_rate:g} ({self.acceptance_source}), {self.draft_label()}: "
                f"{expected_tokens_per_step(self.acceptance_rate, self.k):.3g} tokens per verify step "
                f"(Leviathan et al. 2023, eq. 1)")

    def to_dict(self) -> dict[str, Any]:
        return {"num_speculative_tokens": self.k, "acceptance_rate": float(self.acceptance_rate),
                "method": self.method, "draft_model": self.draft_id or None, "draft_tp": self.draft_tp,
                "draft_layers": float(self.draft_layers) if self.method == "mtp" else None,
                "acceptance_source": self.acceptance_source,
                "tokens_per_step": expected_tokens_per_step(self.acceptance_rate, self.k)}


def expected_tokens_per_step(acceptance_rate: float, k: int) -> float:
    """Tokens one verify step yields per sequence, (1 - a^(k+1)) / (1 - a); k + 1 at a = 1 (Leviathan et al. 2023, eq. 1)."""
    a = float(acceptance_rate)
    return float(k + 1) if a >= 1.0 else (1.0 - a ** (k + 1)) / (1.0 - a)


def sample_tokens_per_step(rng: np.random.Generator, n: int, acceptance_rate: float, k: int) -> np.ndarray:
    """Tokens each of n sequences gets from one verify step, min(Geometric(1 - a), k + 1) (Leviathan et al. 2023, sec. 3.1)."""
    a = float(acceptance_rate)
    if a >= 1.0:
        return np.full(n, k + 1, dtype=np.int64)
    return np.minimum(rng.geometric(1.0 - a, n), k + 1).astype(np.int64)


def verify_iteration(seqs, cached_tokens, k: int) -> dict[str, Any]:
    """The target's verify pass as iteration_time_s arguments (k + 1 query tokens per sequence, KV read once).

    `seqs` sequences holding `cached_tokens` KV tokens in all: each runs its last token as a decode (PagedAttention reads
    the cached context once: decode_context_tokens = cached + seqs) and its k drafted tokens as extra query tokens
    through every linear layer; the drafted token at position c + j attends c + j + 1 keys, k c + k (k + 3) / 2 pairs a
    sequence, which add attention FLOPs but no second read of the cache (one FlashAttention pass over the context serves
    all k + 1 queries: prefill_prefix_tokens 0). Logits for all k + 1 positions (the rejection sampler scores each);
    the host samples each sequence once (sampled: its per-request work)."""
    s = np.asarray(seqs, dtype=float)
    c = np.asarray(cached_tokens, dtype=float)
    return {"prefill_tokens": s * k, "prefill_pairs": k * c + s * k * (k + 3) / 2.0, "prefill_prefix_tokens": 0.0,
            "decode_seqs": s, "decode_context_tokens": c + s, "logits": s * (k + 1), "sampled": s}


def verify_window_sums(model: TransformerSpec, seqs, cached_tokens, k: int) -> dict[str, Any]:
    """verify_iteration's attention sums on the model's sliding-window layers ({} without a window): each sequence's
    decode reads min(c + 1, window) keys and its drafted token j attends min(c + j + 1, window)."""
    if not model.n_window_layers:
        return {}
    s = np.asarray(seqs, dtype=float)
    per_seq = np.asarray(cached_tokens, dtype=float) / np.maximum(s, 1.0)
    w = model.window_tokens
    return {"window_pairs": s * causal_pairs(per_seq + 1.0, k, w), "window_prefix_tokens": 0.0,
            "window_context_tokens": s * windowed_tokens(per_seq + 1.0, w)}


def draft_context_tokens(seqs, cached_tokens, k: int):
    """Summed KV tokens one of the k draft steps reads on average, cached + seqs (k + 1) / 2 (step j reads c + j, j = 1..k)."""
    return np.asarray(cached_tokens, dtype=float) + np.asarray(seqs, dtype=float) * (k + 1) / 2.0


def speculative_steps(decode_tokens: float, acceptance_rate: float, k: int) -> float:
    """Verify steps that yield `decode_tokens` tokens: their expected count, never fewer than whole steps of k + 1 allow."""
    return max(decode_tokens / expected_tokens_per_step(acceptance_rate, k), float(np.ceil(decode_tokens / (k + 1))))


def check_speculative(model: TransformerSpec, spec: Any, tp: int) -> None:
    """The numbers of a SpeculativeDecoding within their bounds (simulator.limits), a loaded draft that shares the
    target's tokenizer and whose TP fits the target's GPUs; else one error naming the field and the fix (None: off)."""
    if spec is None:
        return
    if not isinstance(spec, SpeculativeDecoding):
        raise BadValueError(f"speculative must be a SpeculativeDecoding (simulator.SpeculativeDecoding), got "
                            f"{type(spec).__name__}")
    check_int("num_speculative_tokens", spec.num_speculative_tokens, 1, MAX_SPECULATIVE_TOKENS)
    check_number("acceptance_rate", spec.acceptance_rate, 0.0, 1.0, low_open=True)
    check_number("draft_layers", spec.draft_layers, 0.0, MAX_DRAFT_LAYERS, low_open=True)
    check_int("draft_tp", spec.draft_tp, 1, MAX_GPUS, allow_none=True)
    if not isinstance(spec.acceptance_source, str) or len(spec.acceptance_source) > 4 * MAX_NAME_CHARS:
        raise BadValueError("speculative acceptance_source must be a short text saying where the acceptance rate comes "
                            "from")
    draft = spec.draft_model
    sec = "deployment.speculative"
    d_tp, d_model, d_layers = setting("draft_tp", sec), setting("draft_model", sec), setting("draft_layers", sec)
    if draft is None:
        if spec.draft_tp is not None:
            raise PlanError(f"{d_tp} applies to a separate {d_model}; MTP/EAGLE heads run with the target's tp")
        return
    if spec.draft_layers != 1.0:
        raise PlanError(f"{d_layers} sizes MTP/EAGLE heads; a separate {d_model} runs all of its own layers")
    if not isinstance(draft, TransformerSpec):
        raise PlanError(f"the draft model {draft!r} is not loaded: pass its id to simulator.estimate_inference, "
                        "simulate_serving or plan_capacity (they load it), or a TransformerSpec")
    if draft.vocab_size != model.vocab_size:
        raise PlanError(f"{d_model} {draft.id} has a {draft.vocab_size:,}-token vocabulary and {model.id} one of "
                        f"{model.vocab_size:,}: a draft must share the target's tokenizer; choose a draft of the same "
                        "family")
    dtp = int(spec.draft_tp or tp)
    if dtp > tp:
        raise PlanError(f"{d_tp} {dtp} exceeds the target's {setting('tp')} {tp}: the draft runs on the target's GPUs")
    if draft.n_heads % dtp or (draft.mla is None and draft.n_kv_heads % dtp and dtp % draft.n_kv_heads):
        raise PlanError(f"{d_tp} {dtp} does not split the {draft.n_heads} attention heads / {draft.n_kv_heads} KV "
                        f"heads of {draft.id}; give {d_tp} 1 or a divisor of {draft.n_heads}")
