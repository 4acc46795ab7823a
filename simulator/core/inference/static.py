"""Static-batch inference: prefill every prompt at once, then decode; latency, throughput and what does not fit."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from simulator import units
from simulator.core.checks import check_positive
from simulator.core.hardware import Accelerator
from simulator.core.inference.deployment import Deployment, check_deployment, context_limit_tokens
from simulator.core.inference.iteration import decode_step_time_s, iteration_time_s, prefill_time_s
from simulator.core.inference.memory import MemoryPlan, kv_bytes_per_token, memory_plan
from simulator.core.model import TransformerSpec
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
}


# Where an iteration's time goes (the keys of prefill_breakdown_s and decode_breakdown_s).
ITERATION_PARTS = ("linear", "attention", "elementwise", "tp_comm", "lm_head", "pp_comm", "overhead")


def describe_reasons(code: int, detail: dict[int, str] | None = None) -> str:
    """The reasons in a bitmask, each followed by its `detail` text where one is given."""
    detail = detail or {}
    return "; ".join(text + detail.get(bit, "") for bit, text in REASONS.items() if code & bit)


def _memory_detail(mem: MemoryPlan, dep: Deployment) -> str:
    """Sizes behind reason 1, with the knob that moves each (the workspace grows with the engine's batch caps)."""
    return (f" (weights {units.human_bytes(mem.weights_bytes_per_gpu)} + activation workspace "
            f"{units.human_bytes(mem.workspace_bytes_per_gpu)} per GPU for up to {dep.seq_cap:,} sequences and "
            f"{dep.token_cap:,} batched tokens; raise tp, quantize, or lower the engine's batch caps)")


def estimate_inference(model: TransformerSpec, hw: Accelerator, dep: Deployment, *, batch: int, input_len: int,
                       output_len: int) -> InferenceResult:
    """Static batch: prefill every prompt in one iteration, then output_len - 1 decode iterations with
    the context growing by one token each (decode steps vectorised over context length). With pp > 1 the batch
    runs as min(pp, batch) micro-batches in flight (vLLM's virtual engines, TensorRT-LLM's micro-batches), each
    iteration taking pipelined_step_s; the breakdowns are then those of one micro-batch."""
    check_deployment(model, hw, dep)
    for name, value in (("batch", batch), ("input_len", input_len), ("output_len", output_len)):
        check_positive(name, value, whole=True)
    mem = memory_plan(model, hw, dep)
    total_len = input_len + output_len
    reason = 0
    if mem.kv_budget_bytes_per_gpu <= 0:
        reason |= 1
    per_seq = int(mem.max_concurrent_seqs(total_len))
    if per_seq < 1:
        reason |= 2
    elif per_seq < batch:
        reason |= 4
    limit = context_limit_tokens(model)
    if limit is not None and total_len > limit:
        reason |= 8
    n_micro = min(dep.pp, batch)
    micro = -(-batch // n_micro)  # sequences in the fullest micro-batch
    if micro > dep.seq_cap:
        reason |= 16
    ttft = float(prefill_time_s(model, hw, dep, micro, input_len, n_micro))
    contexts = input_len + np.arange(1, output_len, dtype=float)
    steps = decode_step_time_s(model, hw, dep, micro, contexts, n_micro) if output_len > 1 else np.zeros(0)
    decode_total = float(steps.sum())
    e2e = ttft + decode_total
    tpot = decode_total / (output_len - 1) if output_len > 1 else 0.0
    pre = iteration_time_s(model, hw, dep, prefill_tokens=micro * input_len,
                           prefill_pairs=micro * input_len * (input_len + 1) / 2.0, logits=micro)
    mid = iteration_time_s(model, hw, dep, decode_seqs=micro, decode_context_tokens=micro * (input_len + output_len / 2))
    rec = {
        "model": model.id, "hardware": hw.id, "tp": dep.tp, "pp": dep.pp, "ep": dep.ep, "gpus": dep.gpus,
        "precision": dep.precision, "kv_precision": dep.kv_precision, "engine": dep.profile.ref,
        "batch": int(batch), "input_len": int(input_len), "output_len": int(output_len),
        "feasible": reason == 0, "reason": describe_reasons(reason, {1: _memory_detail(mem, dep)}),
        "ttft_s": ttft, "tpot_s": tpot, "e2e_s": e2e,
        "output_tokens_per_s": batch * output_len / e2e,
        "output_tokens_per_s_per_gpu": batch * output_len / e2e / dep.gpus,
        "decode_tokens_per_s_per_seq": 1.0 / tpot if tpot > 0 else float("nan"),
        "kv_cache_bytes_per_seq": kv_bytes_per_token(model, dep.kv_precision) * total_len,
        "max_concurrent_seqs": per_seq,
        "kv_capacity_tokens": mem.kv_capacity_tokens,
        "weights_bytes_per_gpu": mem.weights_bytes_per_gpu,
        "workspace_bytes_per_gpu": mem.workspace_bytes_per_gpu,
        "kv_budget_bytes_per_gpu": mem.kv_budget_bytes_per_gpu,
        "memory_capacity_bytes": hw.hbm_bytes,
        "prefill_breakdown_s": {k: float(pre[k]) for k in ITERATION_PARTS},
        "decode_breakdown_s": {k: float(mid[k]) for k in ITERATION_PARTS},
    }
    return InferenceResult(rec)
