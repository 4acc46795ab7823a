"""Static-batch inference: prefill every prompt at once, then decode; latency, throughput and what does not fit.

Two serving features change both: prefix caching (the cached share of each prompt is attention context that the
linear layers do not compute, held once in shared KV blocks) and speculative decoding (speculative.py: each decode step
verifies k drafted tokens in one pass and yields the expected accepted run). Their costs are assembled here from
iteration_time_s, and the serving simulation uses the same functions."""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

import numpy as np

from simulator import units
from simulator.core.checks import check_positive
from simulator.core.hardware import Accelerator
from simulator.core.inference.deployment import KV_BYTES, Deployment, check_deployment, context_limit_tokens
from simulator.core.inference.iteration import (
    IterationCostTable,
    decode_step_time_s,
    iteration_time_s,
    lockstep_groups,
    pipelined_step_s,
    prefill_time_s,
    uniform_group_prefill,
    uniform_window_sums,
)
from simulator.core.inference.memory import (
    MemoryPlan,
    kv_budget_bytes,
    kv_bytes_per_seq,
    kv_elems_per_token_per_layer,
    memory_plan,
    weight_bytes_per_gpu,
)
from simulator.core.inference.provenance import STATED, breakdown_provenance
from simulator.core.inference.speculative import (
    draft_context_tokens,
    expected_tokens_per_step,
    speculative_steps,
    verify_iteration,
    verify_window_sums,
)
from simulator.core.model import TransformerSpec
from simulator.errors import BadValueError
from simulator.limits import MAX_TOKENS, check_int, check_number
from simulator.results import RecordResult


class InferenceResult(RecordResult):
    """Static-batch estimate for one deployment. `to_dict()` is the `simulator infer --json` contract."""

    kind: ClassVar[str] = "inference"


REASONS: dict[int, str] = {
    1: "weights and workspace do not fit in device memory",
    2: "the KV cache cannot hold one sequence of input + output tokens",
    4: "the batch does not fit in the KV cache",
    8: "input + output tokens exceed the model's context window",
    16: "the batch exceeds the engine's max sequences per iteration",
    32: "the speculative draft's weights and KV cache leave no room for one sequence beside the target (drop the "
        "draft, choose a smaller one or raise tp)",
}


# Where an iteration's time goes (the keys of prefill_breakdown_s and decode_breakdown_s; "draft" with speculative
# decoding only).
ITERATION_PARTS = ("linear", "attention", "elementwise", "tp_comm", "lm_head", "pp_comm", "overhead")


def describe_reasons(code: int, detail: dict[int, str] | None = None) -> str:
    """The reasons in a bitmask, each followed by its `detail` text where one is given."""
    detail = detail or {}
    return "; ".join(text + detail.get(bit, "") for bit, text in REASONS.items() if code & bit)


def _memory_detail(mem: MemoryPlan, dep: Deployment) -> str:
    """Sizes behind reason 1, with the knob that moves each (the workspace grows with the engine's batch caps)."""
    return (f" (weights {units.human_bytes(mem.weights_bytes_per_gpu)} + activation workspace "
            f"{units.human_bytes(mem.workspace_bytes_per_gpu)} per GPU for up to {dep.caps_text()}; raise tp, quantize, "
            f"or lower the engine's batch caps)")


def _provenance(model: TransformerSpec, hw: Accelerator, dep: Deployment, parts) -> dict[str, dict[str, str]]:
    """Where each breakdown term comes from (core.inference.provenance), the draft's as the user stated it."""
    prov = breakdown_provenance(model, hw, dep)
    out = {k: prov[k] for k in parts if k in prov}
    if "draft" in parts and dep.speculative is not None:
        out["draft"] = {"kind": STATED, "basis": f"speculative decoding as stated: {dep.speculative.label()}"}
    return out


# ---------------------------------------------------------------------------------------------- prefix caching
def check_prefix(hit_rate, shared_tokens) -> None:
    """A prefix-cache hit rate in [0, 1] or a shared-prefix length in tokens, not both (one line naming the field)."""
    check_number("prefix_hit_rate", hit_rate, 0.0, 1.0)
    check_int("prefix_tokens", shared_tokens, 0, MAX_TOKENS)
    if hit_rate and shared_tokens:
        raise BadValueError("give either --prefix-hit-rate (a share of each prompt) or --prefix-tokens (a shared prefix), not both")


def cached_prompt_tokens(prompt_tokens, hit_rate: float = 0.0, shared_tokens: int = 0):
    """Prompt tokens served from the prefix cache: floor(hit_rate x prompt) or the shared prefix, never the last prompt
    token (vLLM recomputes it for its logits: v1/core/kv_cache_manager.py get_computed_blocks)."""
    p = np.asarray(prompt_tokens, dtype=np.int64)
    hit = np.full_like(p, int(shared_tokens)) if shared_tokens else np.floor(float(hit_rate) * p).astype(np.int64)
    return np.clip(np.minimum(hit, p - 1), 0, None)


def prefill_iteration(seqs, prompt_tokens, cached_tokens=0, model: TransformerSpec | None = None,
                      groups: int = 1) -> dict:
    """A prefill of `seqs` prompts whose first `cached_tokens` are cached, as iteration_time_s arguments: the rest runs
    through every layer, attending causally to the cached prefix and to itself (c (prefix + (c + 1) / 2) pairs); with
    `model`, its sliding-window layers' sums as well (uniform_window_sums); over `groups` attention data-parallel
    groups, the busiest group's share (uniform_group_prefill)."""
    b = np.asarray(seqs, dtype=float)
    p, c = np.asarray(prompt_tokens, dtype=float), np.asarray(cached_tokens, dtype=float)
    new = p - c
    window = uniform_window_sums(model, b, c, new) if model is not None else {}
    return {"prefill_tokens": b * new, "prefill_pairs": b * new * (c + (new + 1.0) / 2.0),
            "prefill_prefix_tokens": b * c, "logits": b, **window, **uniform_group_prefill(b, new, groups)}


# ---------------------------------------------------------------------------------------------- speculative decoding
def _draft_layer_model(model: TransformerSpec) -> TransformerSpec:
    """One layer of the target's shape (an MTP/EAGLE head; MoE where the target is), with its LM head."""
    moe = replace(model.moe, first_dense_layers=0) if model.moe is not None else None
    return replace(model, id=f"{model.id}-draft-layer", n_layers=1, moe=moe, window_layers=0)  # MTP: full attention


def draft_parts(model: TransformerSpec, dep: Deployment) -> tuple[TransformerSpec, Deployment, float]:
    """The draft as a model, its deployment and the factor on its forward time (MTP/EAGLE: draft_layers one-layer
    passes; a draft model: 1). It runs on the target's GPUs with the engine's kernels; its host work is the target's
    engine step, so its deployment carries no host terms (its iteration time is device time)."""
    spec = dep.speculative
    assert spec is not None  # callers check
    quiet = replace(dep.profile, step_overhead_s=0.0, layer_launch_s=0.0, seq_overhead_s=0.0)
    if spec.draft_model is None:
        return _draft_layer_model(model), replace(dep, pp=1, speculative=None, engine_profile=quiet), \
            float(spec.draft_layers)
    draft = spec.draft_model
    assert isinstance(draft, TransformerSpec)  # check_speculative refuses an unloaded draft
    ddep = Deployment(tp=int(spec.draft_tp or dep.tp), precision=dep.precision, kv_precision=dep.kv_precision,
                      engine=dep.engine, engine_version=dep.engine_version, max_seqs=dep.max_seqs,
                      max_batched_tokens=dep.max_batched_tokens, engine_profile=quiet)
    return draft, ddep, 1.0


def draft_forward_s(model: TransformerSpec, hw: Accelerator, dep: Deployment, **iteration) -> np.ndarray:
    """Device seconds of one draft forward pass over a batch (iteration_time_s of the draft x its factor)."""
    draft, ddep, scale = draft_parts(model, dep)
    return scale * iteration_time_s(draft, hw, ddep, **iteration)["total"]


class DraftCostTable:
    """draft_forward_s pre-tabulated for the serving simulation (IterationCostTable of the draft: exact)."""

    def __init__(self, model: TransformerSpec, hw: Accelerator, dep: Deployment, max_tokens: int, max_logits: int):
        draft, ddep, self.scale = draft_parts(model, dep)
        assert dep.speculative is not None
        self.k = dep.speculative.k
        self.table = IterationCostTable(draft, hw, ddep, max_tokens, max_logits)

    def iteration_s(self, prefill_tokens: int, prefill_pairs: float, prefill_prefix: float, n_prefill_logits: int,
                    decode_seqs: int, cached_tokens: float) -> float:
        """The draft's work in one engine iteration: one pass over the prefill chunks, k proposal steps for the
        decoding sequences (speculative_step_s's draft term)."""
        t = 0.0
        if prefill_tokens:
            t += self.table.time_s(prefill_tokens, prefill_pairs, prefill_prefix, 0, 0.0, n_prefill_logits)
        if decode_seqs:
            ctx = float(draft_context_tokens(decode_seqs, cached_tokens, self.k))
            t += self.k * self.table.time_s(0, 0.0, 0.0, decode_seqs, ctx, decode_seqs)
        return self.scale * t


def speculative_step_s(model: TransformerSpec, hw: Accelerator, dep: Deployment, batch, cached_len,
                       in_flight: int = 1) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One speculative decode step of `batch` sequences each holding `cached_len` KV tokens: k draft proposal steps
    (draft_context_tokens), then the target's verify pass (verify_iteration); micro-batches in flight as
    pipelined_step_s. Returns the step time and the verify pass's breakdown with the draft's time as "draft"."""
    spec = dep.speculative
    assert spec is not None
    k = spec.k
    b = np.asarray(batch, dtype=float)
    cached = b * np.asarray(cached_len, dtype=float)
    it = iteration_time_s(model, hw, dep, **verify_iteration(b, cached, k), **verify_window_sums(model, b, cached, k))
    draft = k * draft_forward_s(model, hw, dep, decode_seqs=b, decode_context_tokens=draft_context_tokens(b, cached, k),
                                logits=b)
    stage = it["stage"] + draft
    step = pipelined_step_s(it["total"] + draft, stage, (in_flight - 1) * stage)
    return step, {**it, "draft": draft}


# ---------------------------------------------------------------------------------------------- memory
def replica_memory_plan(model: TransformerSpec, hw: Accelerator, dep: Deployment) -> MemoryPlan:
    """memory_plan with a speculative draft's weights and KV cache beside the target's: the engine keeps the draft's
    layers in the same paged blocks (vLLM allocates one block table for target and draft), so the bytes per token
    add, and the draft's weights come out of the KV budget by the engine's own rule (kv_budget_bytes)."""
    mem = memory_plan(model, hw, dep)
    if dep.speculative is None:
        return mem
    draft, ddep, scale = draft_parts(model, dep)
    kv_bytes = KV_BYTES[dep.kv_precision]
    if dep.speculative.draft_model is None:  # heads share the target's embedding and LM head
        weights = scale * sum(draft.layer_params()) * dep.quant.weight_bytes / dep.tp
        kv = scale * kv_elems_per_token_per_layer(model, dep.attn_tp) * kv_bytes
    else:
        weights = weight_bytes_per_gpu(draft, ddep)
        kv = draft.n_layers * kv_elems_per_token_per_layer(draft, ddep.tp) * kv_bytes
    total_weights = mem.weights_bytes_per_gpu + weights
    budget = kv_budget_bytes(dep.profile, hw, total_weights, mem.workspace_bytes_per_gpu, dep.tp, dep.pp)
    per_token = mem.kv_bytes_per_token_per_gpu + kv
    blocks = int(max(budget, 0.0) // (per_token * mem.block_size_tokens)) * dep.dp_attention  # as memory_plan
    window = mem.kv_window
    if window is not None:  # the draft's layers hold the whole sequence: the capped share of a block is smaller
        w, windowed, layers = window
        window = (w, windowed * mem.kv_bytes_per_token_per_gpu / per_token, layers)
    return MemoryPlan(total_weights, mem.workspace_bytes_per_gpu, budget, per_token, mem.block_size_tokens, blocks,
                      window)


def seqs_that_fit(mem: MemoryPlan, tokens_per_seq, cached_tokens=0) -> int:
    """Sequences of `tokens_per_seq` tokens that fit at once when their first `cached_tokens` sit in shared prefix
    blocks held once (PagedAttention block sharing, Kwon et al. 2023 sec. 4.4)."""
    if not cached_tokens:
        return int(mem.max_concurrent_seqs(tokens_per_seq))
    free = mem.kv_blocks - int(mem.blocks_for(cached_tokens))
    return max(free, 0) // max(int(mem.blocks_for(int(tokens_per_seq) - int(cached_tokens))), 1)


# ---------------------------------------------------------------------------------------------- the estimate
def _prefill_s(model: TransformerSpec, hw: Accelerator, dep: Deployment, micro: int, input_len: int, cached: int,
               n_micro: int) -> float:
    """TTFT of the static batch: its micro-batches' prefill (prefill_iteration, the draft's pass over the prompt with
    speculative decoding), entering a pipelined replica together (pipelined_step_s)."""
    if not cached and dep.speculative is None:
        return float(prefill_time_s(model, hw, dep, micro, input_len, n_micro))
    shape = prefill_iteration(micro, input_len, cached, groups=lockstep_groups(model, dep))
    it = iteration_time_s(model, hw, dep, **shape, **uniform_window_sums(model, micro, cached, input_len - cached))
    extra = draft_forward_s(model, hw, dep, **shape) if dep.speculative is not None else 0.0
    done = np.zeros_like(it["total"])
    for _ in range(int(n_micro)):
        done = pipelined_step_s(it["total"] + extra, it["stage"] + extra, done)
    return float(done)


DECODE_CHUNK = 1 << 16  # decode steps costed at once (~10 MB of arrays): an output of 10^7 tokens took 0.8 GB


def _decode_s(model: TransformerSpec, hw: Accelerator, dep: Deployment, micro: int, input_len: int, output_len: int,
              n_micro: int) -> tuple[float, dict, float]:
    """(decode time, the breakdown of a mid-generation step, that step's time): output_len - 1 decode steps with the
    context growing a token each, or with speculative decoding speculative_steps verify steps growing it by the
    expected tokens per step (Leviathan et al. 2023)."""
    spec = dep.speculative
    if spec is None:
        total = 0.0
        for start in range(1, output_len, DECODE_CHUNK):  # memory bounded whatever output_len; the sum is exact
            contexts = input_len + np.arange(start, min(start + DECODE_CHUNK, output_len), dtype=float)
            total += float(decode_step_time_s(model, hw, dep, micro, contexts, n_micro).sum())
        mid = iteration_time_s(model, hw, dep, decode_seqs=micro,
                               decode_context_tokens=micro * (input_len + output_len / 2),
                               **uniform_window_sums(model, micro, context=input_len + output_len / 2))
        return total, mid, float(mid["total"])
    tokens = output_len - 1
    _, mid = speculative_step_s(model, hw, dep, micro, input_len + output_len / 2)
    if tokens < 1:
        return 0.0, mid, float(mid["total"] + mid["draft"])
    n_steps = speculative_steps(tokens, spec.acceptance_rate, spec.k)
    per_step, count, summed = expected_tokens_per_step(spec.acceptance_rate, spec.k), int(np.ceil(n_steps)), 0.0
    for start in range(0, count, DECODE_CHUNK):  # memory bounded whatever output_len
        cached = input_len + per_step * np.arange(start, min(start + DECODE_CHUNK, count))
        steps, _ = speculative_step_s(model, hw, dep, micro, np.minimum(cached, input_len + tokens - 1), n_micro)
        summed += float(np.sum(steps))
    return summed / count * n_steps, mid, float(mid["total"] + mid["draft"])


def _fit_reason(model: TransformerSpec, hw: Accelerator, dep: Deployment, mem: MemoryPlan, per_seq: int,
                batch: int, tokens: int, cached: int) -> int:
    """The memory bits of the reason code: weights (1), one sequence (2), the batch (4); a draft that is what does not
    fit (the target alone would) is bit 32."""
    reason = 1 if mem.kv_budget_bytes_per_gpu <= 0 else 0
    if per_seq < 1:
        reason |= 2
    elif per_seq < batch:
        reason |= 4
    if reason & 3 and dep.speculative is not None:
        alone = memory_plan(model, hw, dep)
        if alone.kv_budget_bytes_per_gpu > 0 and seqs_that_fit(alone, tokens, cached) >= 1:
            reason = (reason & ~3) | 32
    return reason


def _features(dep: Deployment, cached: int, input_len: int, hit_rate: float, shared: int, mem: MemoryPlan) -> dict:
    """The record's keys for the serving features in use (none when they are off)."""
    out: dict = {}
    if dep.speculative is not None:
        out["speculative"] = dep.speculative.to_dict()
    if hit_rate or shared:
        pinned = int(mem.blocks_for(cached)) if cached else 0
        out["prefix_cache"] = {"hit_rate": float(hit_rate), "shared_prefix_tokens": int(shared),
                               "cached_tokens_per_request": int(cached), "prompt_tokens": int(input_len),
                               "shared_blocks": pinned, "source": "user-stated"}
    return out


def estimate_inference(model: TransformerSpec, hw: Accelerator, dep: Deployment, *, batch: int, input_len: int,
                       output_len: int, prefix_hit_rate: float = 0.0, prefix_tokens: int = 0) -> InferenceResult:
    """Static batch: prefill every prompt in one iteration, then output_len - 1 decode iterations with
    the context growing by one token each (decode steps vectorised over context length). With pp > 1 the batch
    runs as min(pp, batch) micro-batches in flight (vLLM's virtual engines, TensorRT-LLM's micro-batches), each
    iteration taking pipelined_step_s; the breakdowns are then those of one micro-batch. prefix_hit_rate (a share of
    each prompt) or prefix_tokens (a shared prefix) serve that much of every prompt from the prefix cache
    (cached_prompt_tokens); dep.speculative decodes speculatively (speculative_step_s)."""
    check_deployment(model, hw, dep)
    for name, value in (("batch", batch), ("input_len", input_len), ("output_len", output_len)):
        check_positive(name, value, whole=True)
    check_prefix(prefix_hit_rate, prefix_tokens)
    cached = int(cached_prompt_tokens(input_len, prefix_hit_rate, prefix_tokens))
    mem = replica_memory_plan(model, hw, dep)
    total_len = input_len + output_len
    held = total_len + (dep.speculative.k if dep.speculative is not None else 0)  # the verify's lookahead slots
    per_seq = seqs_that_fit(mem, held, cached)
    reason = _fit_reason(model, hw, dep, mem, per_seq, batch, held, cached)
    limit = context_limit_tokens(model)
    if limit is not None and total_len > limit:
        reason |= 8
    n_micro = min(dep.pp, batch)
    micro = -(-batch // n_micro)  # sequences in the fullest micro-batch
    if micro > dep.seq_cap:
        reason |= 16
    ttft = _prefill_s(model, hw, dep, micro, input_len, cached, n_micro)
    decode_total, mid, step = _decode_s(model, hw, dep, micro, input_len, output_len, n_micro)
    e2e = ttft + decode_total
    tpot = decode_total / (output_len - 1) if output_len > 1 else 0.0
    groups = lockstep_groups(model, dep)
    pre = iteration_time_s(model, hw, dep, **prefill_iteration(micro, input_len, cached, model, groups)) if cached \
        else iteration_time_s(model, hw, dep, prefill_tokens=micro * input_len,
                              prefill_pairs=micro * input_len * (input_len + 1) / 2.0, logits=micro,
                              **uniform_window_sums(model, micro, 0.0, input_len),
                              **uniform_group_prefill(micro, input_len, groups))
    parts = ITERATION_PARTS + (("draft",) if dep.speculative is not None else ())
    rec = {
        "model": model.id, "hardware": hw.id, "tp": dep.tp, "pp": dep.pp, "ep": dep.ep, "dp_attention": dep.dp_attention,
        "gpus": dep.gpus, "precision": dep.precision, "kv_precision": dep.kv_precision, "engine": dep.profile.ref,
        "batch": int(batch), "input_len": int(input_len), "output_len": int(output_len),
        "feasible": reason == 0, "reason": describe_reasons(reason, {1: _memory_detail(mem, dep)}),
        "ttft_s": ttft, "tpot_s": tpot, "e2e_s": e2e,
        "output_tokens_per_s": batch * output_len / e2e,
        "output_tokens_per_s_per_gpu": batch * output_len / e2e / dep.gpus,
        "decode_tokens_per_s_per_seq": 1.0 / tpot if tpot > 0 else float("nan"),
        "kv_cache_bytes_per_seq": kv_bytes_per_seq(model, dep, total_len - cached),
        "max_concurrent_seqs": per_seq,
        "kv_capacity_tokens": mem.kv_capacity_tokens,
        "weights_bytes_per_gpu": mem.weights_bytes_per_gpu,
        "workspace_bytes_per_gpu": mem.workspace_bytes_per_gpu,
        "kv_budget_bytes_per_gpu": mem.kv_budget_bytes_per_gpu,
        "memory_capacity_bytes": hw.hbm_bytes,
        "prefill_breakdown_s": {k: float(pre[k]) for k in ITERATION_PARTS},
        "decode_breakdown_s": {k: float(mid[k]) for k in parts},
        "breakdown_provenance": _provenance(model, hw, dep, parts),
        **({"decode_step_s": step} if dep.speculative is not None else {}),
        **_features(dep, cached, input_len, prefix_hit_rate, prefix_tokens, mem),
    }
    return InferenceResult(rec)
