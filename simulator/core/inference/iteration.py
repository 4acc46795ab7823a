"""Latency of one engine iteration (a batch of prefill chunks and decode tokens through every layer) and its
breakdown; a pre-tabulated form for the serving simulation; static-batch prefill and decode steps."""

from __future__ import annotations

import numpy as np

from simulator.core.hardware import Accelerator
from simulator.core.inference.deployment import Deployment
from simulator.core.inference.engine import engine_overhead_s, exposed_host_s, host_step_s
from simulator.core.inference.kernels import (
    attention_dp_view,
    decode_attention,
    device_constants,
    group_parts,
    lm_head,
    prefill_attention,
    replica_parts,
    token_parts,
)
from simulator.core.inference.memory import layers_per_stage
from simulator.core.model import TransformerSpec, causal_pairs, windowed_tokens


def iteration_time_s(model: TransformerSpec, hw: Accelerator, dep: Deployment, *, prefill_tokens=0.0,
                     prefill_pairs=0.0, prefill_prefix_tokens=0.0, decode_seqs=0.0, decode_context_tokens=0.0,
                     logits=None, window_pairs=None, window_prefix_tokens=None, window_context_tokens=None,
                     group_prefill_tokens=None, sampled=None) -> dict[str, np.ndarray]:
    """Latency of one engine iteration through all pipeline stages, with its breakdown (seconds).

    prefill_tokens: new prompt tokens in the batch (all chunks); prefill_pairs: causal query-key pairs of those chunks;
    prefill_prefix_tokens: cached tokens the chunks attend to; decode_seqs: sequences decoding one token;
    decode_context_tokens: sum of their KV lengths; logits: positions scored (default: decode_seqs + 1 if any
    prefill); sampled: sequences the host samples for (default: logits; a verify pass scores k + 1 positions of each
    sequence). window_*: the same three attention sums on a sliding-window layer (model.causal_pairs and
    windowed_tokens with the model's window; batch_window_sums); left out, a windowed layer is costed as a full one.
    group_prefill_tokens: with attention data parallelism, the prompt tokens the busiest group prefills
    (busiest_group_prefill); its pairs and cached prefix scale alike; default an even 1/dp share. All broadcast as
    numpy arrays. With PP the stages run one after another for one batch, so `total` (the latency) covers every
    layer; `stage` is what one batch costs the busiest resource of the pipeline (stage_time_s), which bounds how
    often batches can follow each other (pipelined_step_s)."""
    c = device_constants(hw, dep)
    pt = np.asarray(prefill_tokens, dtype=float)
    ds = np.asarray(decode_seqs, dtype=float)
    tokens = pt + ds
    n_logits = np.asarray(ds + (pt > 0) if logits is None else logits, dtype=float)
    dep_a, adp = attention_dp_view(dep), float(dep.dp_attention)
    # the busiest attention group's share of the prefill, and of the decodes: each group runs its own sequences, as
    # evenly as whole sequences go where the groups wait for each other (ceil(decodes / dp)), else an even share
    pt_g = pt / adp if group_prefill_tokens is None or adp == 1 else np.asarray(group_prefill_tokens, dtype=float)
    share = pt_g / np.where(pt > 0, pt, 1.0)
    ctx_share: np.ndarray | float
    hs = n_logits if sampled is None else np.asarray(sampled, dtype=float)  # each group's scheduler samples its own
    if lockstep_groups(model, dep) > 1:
        ds_g, logits_g, host_g = np.ceil(ds / adp), np.ceil(n_logits / adp), np.ceil(hs / adp)
        ctx_share = ds_g / np.where(ds > 0, ds, 1.0)
    else:
        ds_g, logits_g, host_g, ctx_share = ds / adp, n_logits / adp, hs / adp, 1.0 / adp
    parts = token_parts(model, hw, dep, c, tokens, ds_g + pt_g if adp > 1 else None)

    def layer_attention(pairs, prefix, context):
        return (prefill_attention(model, dep_a, c, pt_g, np.asarray(pairs) * share, np.asarray(prefix) * share)
                + decode_attention(model, dep_a, c, ds_g, np.asarray(context) * ctx_share))

    n_win = model.n_window_layers
    if n_win:  # windowed layers attend to at most the window (their sums default to the full ones)
        attn = (model.n_full_attention_layers * layer_attention(prefill_pairs, prefill_prefix_tokens,
                                                                decode_context_tokens)
                + n_win * layer_attention(prefill_pairs if window_pairs is None else window_pairs,
                                          prefill_prefix_tokens if window_prefix_tokens is None else window_prefix_tokens,
                                          decode_context_tokens if window_context_tokens is None
                                          else window_context_tokens))
    else:
        attn = model.n_layers * layer_attention(prefill_pairs, prefill_prefix_tokens, decode_context_tokens)
    head = lm_head(model, dep_a, c, logits_g)
    body = parts["linear"] + parts["elementwise"] + parts["tp_comm"] + attn
    device = body + head + parts["pp_comm"]
    busy = (tokens + n_logits) > 0
    overhead = np.where(busy, engine_overhead_s(dep.profile, model.n_layers, device, host_g,
                                                dep.profile.host_speed(hw)), 0.0)
    hop = parts["pp_comm"] / (dep.pp - 1) if dep.pp > 1 else 0.0
    stage = stage_time_s(model, hw, dep, body, head + hop, host_g)
    return {**parts, "attention": attn, "lm_head": head, "overhead": overhead,
            "total": np.where(busy, device + overhead, 0.0), "stage": np.where(busy, stage, 0.0)}


def stage_time_s(model: TransformerSpec, hw: Accelerator, dep: Deployment, body_s, tail_s, n_logits) -> np.ndarray:
    """Busy time one batch gives a pipelined replica's busiest resource (Narayanan et al. 2021: the slowest stage).

    The largest stage (its share of the per-layer time `body_s`, launched no faster than its host worker can, plus
    `tail_s`: the LM head and one send/recv; the head is counted on the largest stage, which errs slow) or the
    scheduler's per-step host work, which the virtual engines share."""
    prof = dep.profile
    speed = prof.host_speed(hw)
    lps = layers_per_stage(model, dep.pp)
    gpu = np.maximum(np.asarray(body_s, dtype=float) * lps / model.n_layers + tail_s, prof.layer_launch_s * lps / speed)
    return np.maximum(gpu, host_step_s(prof, n_logits, speed))


def pipelined_step_s(latency_s, stage_s, ahead_s=0.0) -> np.ndarray:
    """One micro-batch's iteration on a pipelined replica, max(latency, ahead + stage) (GPipe, Huang et al. 2019).

    From entering the replica to the end of its iteration: its latency through every stage, or the busiest stage's
    work still ahead of it plus its own, whichever is longer (micro-batches leave in the order they entered; vLLM
    runs pp virtual engines, TensorRT-LLM and Megatron-LM's inference schedule pp micro-batches in flight). With n
    equal micro-batches in flight ahead_s = (n - 1) x stage_s, so each one's step is max(latency, n x stage) and a
    replica decodes n x batch / max(latency, n x stage) tokens a second; nothing ahead: the latency (a lone request
    waits for every stage). `infer` (static.py) and `serve` (serving.state.Pipeline) both use this rule."""
    return np.maximum(np.asarray(latency_s, dtype=float), np.asarray(ahead_s, dtype=float) + stage_s)


TABLE_MAX = 1 << 20  # entries of an IterationCostTable (8 MiB an array); --max-batched-tokens 10^8 took 7 GB
PREFILL_MEMO_MAX = 1 << 16  # prefill attention terms an IterationCostTable remembers (a few MiB), then forgets all


class IterationCostTable:
    """`iteration_time_s` pre-tabulated over batch tokens and sampled sequences for the simulator
    (Vidur pre-computes its predictions on a grid the same way); exact, not an approximation: decode
    attention is linear in the summed context, prefill attention is evaluated directly. With attention groups that
    wait for each other, the busiest group's own work is tabulated apart, over k = decodes + dp x its prompt tokens
    (k / dp tokens), beside the replica's work over all tokens."""

    def __init__(self, model: TransformerSpec, hw: Accelerator, dep: Deployment, max_tokens: int, max_logits: int):
        self.model, self.hw, self.dep = model, hw, dep
        self._c = device_constants(hw, dep)
        # past TABLE_MAX entries an iteration is costed directly (_exact): the table's memory stays bounded when a
        # deployment allows 10^8 batched tokens
        max_tokens, max_logits = min(int(max_tokens), TABLE_MAX), min(int(max_logits), TABLE_MAX)
        tokens = np.arange(max_tokens + 1, dtype=float)
        self._dep_a, self._adp = attention_dp_view(dep), float(dep.dp_attention)
        if dep.dp_attention == 1:
            parts = token_parts(model, hw, dep, self._c, tokens)
            self.token_s = parts["linear"] + parts["elementwise"] + parts["tp_comm"] + parts["pp_comm"]
            self.group_s = None
        else:  # the replica's work by its tokens; the busiest group's by k = decodes + dp x its prompt tokens (k / dp)
            parts = replica_parts(model, hw, dep, self._c, tokens)
            self.token_s = parts["linear"] + parts["elementwise"] + parts["tp_comm"] + parts["pp_comm"]
            self.group_s = self._group_s(tokens)
        self.hop_s = parts["pp_comm"] / (dep.pp - 1) if dep.pp > 1 else np.zeros_like(tokens)
        self.head_s = lm_head(model, self._dep_a, self._c, np.arange(max_logits + 1, dtype=float) / self._adp)
        self._lock = lockstep_groups(model, dep) > 1  # whole sequences on the busiest group (iteration_time_s)
        # decode attention is linear in the summed context: a fixed and a per-token term, on the full layers (all of
        # them without a sliding window) and on the windowed ones (their context summed over min(ctx, window))
        self._n_win = model.n_window_layers
        layer = decode_attention(model, self._dep_a, self._c, 1.0, np.array([1e6, 2e6]) / self._adp)
        probe = model.n_layers * layer if not self._n_win else model.n_full_attention_layers * layer
        self.decode_per_ctx_s = float(probe[1] - probe[0]) / 1e6
        self.decode_fixed_s = float(probe[0]) - self.decode_per_ctx_s * 1e6
        if self._n_win:
            probe = self._n_win * layer
            self.window_per_ctx_s = float(probe[1] - probe[0]) / 1e6
            self.window_fixed_s = float(probe[0]) - self.window_per_ctx_s * 1e6
        self.max_tokens, self.max_logits = max_tokens, max_logits
        prof = dep.profile
        k = 1.0 / prof.host_speed(hw)  # reference-host seconds over this host's speed
        self._step, self._seq, self._launch = (k * prof.step_overhead_s, k * prof.seq_overhead_s,
                                               k * prof.layer_launch_s * model.n_layers)
        self._overlap = prof.host_overlap
        # prefill attention by (tokens, pairs, cached prefix): a serving run meets the same chunks again and again
        self._prefill_attention_s: dict[tuple, float] = {}

    def _whole(self, n: int) -> int:
        """dp x the busiest group's ceil(n / dp) sequences where the groups wait for each other (iteration_time_s),
        else n (an even share): the tables' index for n sequences."""
        a = int(self._adp)
        return a * -(-n // a) if self._lock else n

    def _host_seqs(self, n_logits: int, sampled: int | None = None) -> float:
        """The sequences the busiest attention group's scheduler samples (_whole / dp; n without groups): `sampled`,
        default n_logits (iteration_time_s's sampled)."""
        return self._whole(n_logits if sampled is None else sampled) / self._adp

    def _head_s(self, n_logits: int):
        """The busiest group's LM head (_whole)."""
        nx = self._whole(n_logits)
        return self.head_s[nx] if nx <= self.max_logits else float(lm_head(self.model, self._dep_a, self._c,
                                                                            nx / self._adp))

    def _group_s(self, k):
        """The busiest attention group's own work (group_parts) at k / dp of its tokens."""
        g = group_parts(self.model, self.hw, self.dep, self._c, np.asarray(k, dtype=float) / self._adp)
        return g["linear"] + g["elementwise"] + g["tp_comm"]

    def _prefill_attention(self, prefill_tokens: int, pairs: float, prefix: float, layers: int,
                           share: float | None = None) -> float:
        """`layers` layers of prefill attention on the busiest group: `share` of the batch's prompt sums (default an
        even 1/dp)."""
        if share is None:
            a = self._adp
            return layers * float(prefill_attention(self.model, self._dep_a, self._c, prefill_tokens / a, pairs / a,
                                                    prefix / a))
        return layers * float(prefill_attention(self.model, self._dep_a, self._c, prefill_tokens * share,
                                                pairs * share, prefix * share))

    def _device_s(self, tokens: int, prefill_tokens: int, prefill_pairs: float, prefill_prefix: float,
                  decode_seqs: int, decode_context: float, n_logits: int, window: tuple | None = None,
                  group_prefill: int | None = None) -> float:
        device = self.token_s[tokens] + self._head_s(n_logits)
        share, ctx_share = None, 1.0
        if self.group_s is not None:
            k = tokens
            if decode_seqs:  # dp x the busiest group's decodes
                dsx = self._whole(decode_seqs)
                k, ctx_share = k + dsx - decode_seqs, dsx / decode_seqs
            if group_prefill is not None and prefill_tokens:
                group_prefill = int(group_prefill)
                assert prefill_tokens <= self._adp * group_prefill and group_prefill <= prefill_tokens, \
                    "the busiest group holds between an even share and all of the prompt tokens"
                share = group_prefill / prefill_tokens
                k = k - prefill_tokens + int(self._adp) * group_prefill
            device += self.group_s[k] if k <= self.max_tokens else float(self._group_s(k))
        if self._n_win:  # the windowed layers' sums (window_pairs, window_prefix, window_context); absent: the full ones
            w_pairs, w_prefix, w_context = window or (prefill_pairs, prefill_prefix, decode_context)
        if decode_seqs:
            if ctx_share != 1.0:
                decode_context, w_context = decode_context * ctx_share, w_context * ctx_share if self._n_win else 0.0
            device += self.decode_fixed_s + self.decode_per_ctx_s * decode_context
            if self._n_win:
                device += self.window_fixed_s + self.window_per_ctx_s * w_context
        if prefill_tokens:
            key = (prefill_tokens, prefill_pairs, prefill_prefix, share) if not self._n_win else \
                (prefill_tokens, prefill_pairs, prefill_prefix, w_pairs, w_prefix, share)
            attention = self._prefill_attention_s.get(key)
            if attention is None:
                if len(self._prefill_attention_s) >= PREFILL_MEMO_MAX:
                    self._prefill_attention_s.clear()
                if self._n_win:
                    attention = (self._prefill_attention(prefill_tokens, prefill_pairs, prefill_prefix,
                                                         self.model.n_full_attention_layers, share)
                                 + self._prefill_attention(prefill_tokens, w_pairs, w_prefix, self._n_win, share))
                else:
                    attention = self._prefill_attention(prefill_tokens, prefill_pairs, prefill_prefix,
                                                        self.model.n_layers, share)
                self._prefill_attention_s[key] = attention
            device += attention
        return float(device)

    def time_s(self, prefill_tokens: int, prefill_pairs: float, prefill_prefix: float, decode_seqs: int,
               decode_context: float, n_logits: int, window: tuple | None = None,
               group_prefill: int | None = None, sampled: int | None = None) -> float:
        """Iteration latency for one batch (scalars); equals iteration_time_s(...)['total']. `window`: the sliding-window
        layers' (pairs, prefix, context) sums (iteration_time_s's window_*), for a model that has them; `group_prefill`:
        the busiest attention group's prompt tokens (iteration_time_s's group_prefill_tokens); `sampled`: the sequences
        the host samples for (iteration_time_s's sampled; default n_logits)."""
        tokens = prefill_tokens + decode_seqs
        if tokens > self.max_tokens or n_logits > self.max_logits:
            return float(self._exact(prefill_tokens, prefill_pairs, prefill_prefix, decode_seqs, decode_context,
                                     n_logits, window, group_prefill, sampled)["total"])
        if tokens == 0 and n_logits == 0:
            return 0.0
        device = self._device_s(tokens, prefill_tokens, prefill_pairs, prefill_prefix, decode_seqs, decode_context,
                                n_logits, window, group_prefill)
        return float(device + exposed_host_s(self._step, self._seq, self._launch, self._overlap, device,
                                             self._host_seqs(n_logits, sampled)))

    def decode_times_s(self, decode_seqs: int, decode_contexts: np.ndarray) -> np.ndarray:
        """time_s of a batch of `decode_seqs` decodes and nothing else at each summed context in `decode_contexts`,
        element for element the same floats (the same operations in the same order, vectorised: a serving engine's
        run of decode-only steps between two events). Only for a model without sliding-window layers and a batch
        inside the table."""
        n = decode_seqs
        assert not self._n_win and 0 < n <= min(self.max_tokens, self.max_logits)
        device = self.token_s[n] + self._head_s(n)
        if self.group_s is not None:
            dsx = self._whole(n)
            device += self.group_s[dsx] if dsx <= self.max_tokens else float(self._group_s(dsx))
            if dsx != n:
                decode_contexts = decode_contexts * (dsx / n)
        device = device + (self.decode_fixed_s + self.decode_per_ctx_s * decode_contexts)
        return device + exposed_host_s(self._step, self._seq, self._launch, self._overlap, device, self._host_seqs(n))

    def time_and_stage_s(self, prefill_tokens: int, prefill_pairs: float, prefill_prefix: float, decode_seqs: int,
                         decode_context: float, n_logits: int, window: tuple | None = None,
                         group_prefill: int | None = None, sampled: int | None = None) -> tuple[float, float]:
        """(latency, busiest-stage time) for one batch (scalars); equals iteration_time_s(...)['total'] and ['stage']."""
        tokens = prefill_tokens + decode_seqs
        if tokens > self.max_tokens or n_logits > self.max_logits:
            it = self._exact(prefill_tokens, prefill_pairs, prefill_prefix, decode_seqs, decode_context, n_logits,
                             window, group_prefill, sampled)
            return float(it["total"]), float(it["stage"])
        total = self.time_s(prefill_tokens, prefill_pairs, prefill_prefix, decode_seqs, decode_context, n_logits,
                            window, group_prefill, sampled)
        if total == 0.0:
            return 0.0, 0.0
        device = self._device_s(tokens, prefill_tokens, prefill_pairs, prefill_prefix, decode_seqs, decode_context,
                                n_logits, window, group_prefill)
        head = float(self._head_s(n_logits))
        hop = float(self.hop_s[tokens])
        body = device - head - hop * (self.dep.pp - 1)
        return total, float(stage_time_s(self.model, self.hw, self.dep, body, head + hop,
                                         self._host_seqs(n_logits, sampled)))

    def _exact(self, prefill_tokens: int, prefill_pairs: float, prefill_prefix: float, decode_seqs: int,
               decode_context: float, n_logits: int, window: tuple | None = None,
               group_prefill: int | None = None, sampled: int | None = None) -> dict[str, np.ndarray]:
        sums = dict(zip(("window_pairs", "window_prefix_tokens", "window_context_tokens"), window, strict=True)) \
            if window is not None else {}
        return iteration_time_s(self.model, self.hw, self.dep, prefill_tokens=prefill_tokens,
                                prefill_pairs=prefill_pairs, prefill_prefix_tokens=prefill_prefix,
                                decode_seqs=decode_seqs, decode_context_tokens=decode_context, logits=n_logits,
                                group_prefill_tokens=group_prefill, sampled=sampled, **sums)


def uniform_window_sums(model: TransformerSpec, seqs, prefix=0.0, new=0.0, context=None) -> dict[str, np.ndarray]:
    """iteration_time_s's window_* sums for `seqs` like sequences on the model's sliding-window layers: `new` tokens
    each after `prefix` cached ones (prefill), or one decode token each with `context` cached tokens; {} without a
    window (every layer full)."""
    if not model.n_window_layers:
        return {}
    b, w = np.asarray(seqs, dtype=float), model.window_tokens
    if context is not None:
        return {"window_context_tokens": b * windowed_tokens(context, w)}
    return {"window_pairs": b * causal_pairs(prefix, new, w), "window_prefix_tokens": b * windowed_tokens(prefix, w)}


def lockstep_groups(model: TransformerSpec, dep: Deployment) -> int:
    """Attention data-parallel groups whose busiest one sets the pace (busiest_group_prefill): they wait for each other
    at every MoE layer (its experts take all the groups' tokens at once), so dp_attention where the model has MoE
    layers; 1 for a dense model, whose groups run as independent replicas, and with speculative decoding, whose verify
    pass and draft the rule does not cover yet (an even share, in infer and serve alike)."""
    if dep.speculative is not None or model.moe is None or not model.n_moe_layers:
        return 1
    return dep.dp_attention


def busiest_group_prefill(chunk_tokens, groups: int, group_budget: int | None = None) -> int | None:
    """Prompt tokens the busiest of `groups` attention data-parallel groups prefills in one iteration, the new
    requests sorted by tokens and dealt out round-robin (TensorRT-LLM tech blog 10, ADP Balance Strategy: its baseline;
    SGLang's data-parallel controller deals round-robin too): the first group gets the 1st, (g+1)-th, ... largest, up
    to `group_budget`, the tokens one group's scheduler batches (each group schedules its own requests within it).
    None with one group or no prompt (an even share is then exact)."""
    if groups <= 1 or not len(chunk_tokens):
        return None
    dealt = int(sum(sorted(chunk_tokens, reverse=True)[::groups]))
    if group_budget is not None:  # never below an even share, though (whole tokens)
        dealt = max(min(dealt, int(group_budget)), -(-int(sum(chunk_tokens)) // groups))
    return dealt


def uniform_group_prefill(seqs, new_tokens, groups: int) -> dict:
    """iteration_time_s's group_prefill_tokens for `seqs` like prompts of `new_tokens` each dealt out round-robin over
    `groups` attention groups (busiest_group_prefill): ceil(seqs / groups) of them on the busiest; {} with one group."""
    if groups <= 1:
        return {}
    return {"group_prefill_tokens": np.ceil(np.asarray(seqs, dtype=float) / groups) * np.asarray(new_tokens, float)}


def prefill_time_s(model: TransformerSpec, hw: Accelerator, dep: Deployment, batch, prompt_len,
                   in_flight=1) -> np.ndarray:
    """One iteration prefilling `batch` prompts of `prompt_len` tokens together (static batch); with `in_flight`
    such micro-batches entering a pipelined replica together, until the last of them is done (each waits for the
    ones ahead: pipelined_step_s, the pipeline fill latency + (in_flight - 1) x stage)."""
    b = np.asarray(batch, dtype=float)
    s = np.asarray(prompt_len, dtype=float)
    it = iteration_time_s(model, hw, dep, prefill_tokens=b * s, prefill_pairs=b * s * (s + 1.0) / 2.0, logits=b,
                          **uniform_window_sums(model, b, 0.0, s),
                          **uniform_group_prefill(b, s, lockstep_groups(model, dep)))
    done = np.zeros_like(it["total"])
    for _ in range(int(in_flight)):  # all enter at t = 0: the work ahead of each is the previous one's finish
        done = pipelined_step_s(it["total"], it["stage"], done)
    return done


def decode_step_time_s(model: TransformerSpec, hw: Accelerator, dep: Deployment, batch, context_len,
                       in_flight=1) -> np.ndarray:
    """One decode iteration of `batch` sequences each holding `context_len` cached tokens; with `in_flight` such
    micro-batches sharing a pipelined replica, the time between each one's tokens (pipelined_step_s)."""
    b = np.asarray(batch, dtype=float)
    it = iteration_time_s(model, hw, dep, decode_seqs=b,
                          decode_context_tokens=b * np.asarray(context_len, dtype=float), logits=b,
                          **uniform_window_sums(model, b, context=context_len))
    return pipelined_step_s(it["total"], it["stage"], (in_flight - 1) * it["stage"])
