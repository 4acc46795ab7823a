"""Latency of one engine iteration (a batch of prefill chunks and decode tokens through every layer) and its
breakdown; a pre-tabulated form for the serving simulation; static-batch prefill and decode steps."""

from __future__ import annotations

import numpy as np

from simulator.core.hardware import Accelerator
from simulator.core.inference.deployment import Deployment
from simulator.core.inference.engine import engine_overhead_s
from simulator.core.inference.kernels import decode_attention, device_constants, lm_head, prefill_attention, token_parts
from simulator.core.inference.memory import layers_per_stage
from simulator.core.model import TransformerSpec


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
    c = device_constants(hw, dep)
    pt = np.asarray(prefill_tokens, dtype=float)
    ds = np.asarray(decode_seqs, dtype=float)
    tokens = pt + ds
    n_logits = np.asarray(ds + (pt > 0) if logits is None else logits, dtype=float)
    parts = token_parts(model, hw, dep, c, tokens)
    attn = model.n_layers * (prefill_attention(model, dep, c, pt, prefill_pairs, prefill_prefix_tokens)
                             + decode_attention(model, dep, c, ds, decode_context_tokens))
    head = lm_head(model, dep, c, n_logits)
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
        self._c = device_constants(hw, dep)
        tokens = np.arange(max_tokens + 1, dtype=float)
        parts = token_parts(model, hw, dep, self._c, tokens)
        self.token_s = parts["linear"] + parts["elementwise"] + parts["tp_comm"] + parts["pp_comm"]
        self.head_s = lm_head(model, dep, self._c, np.arange(max_logits + 1, dtype=float))
        probe = model.n_layers * decode_attention(model, dep, self._c, 1.0, np.array([1e6, 2e6]))
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
            device += self.model.n_layers * float(prefill_attention(self.model, self.dep, self._c, prefill_tokens,
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
