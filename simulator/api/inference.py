"""Inference entry points that take ids or paths: they resolve the model, the hardware and a speculative draft model,
then call the pure core."""

from __future__ import annotations

from simulator.api.training import HardwareRef, ModelRef
from simulator.catalog import load_hardware, load_model
from simulator.catalog.bands import band_range, inference_band
from simulator.core.hardware import Accelerator
from simulator.core.inference import Deployment, InferenceResult, MemoryPlan
from simulator.core.inference import estimate_inference as _estimate
from simulator.core.inference.static import replica_memory_plan
from simulator.core.model import TransformerSpec
from simulator.errors import PlanError
from simulator.limits import MAX_BATCH, MAX_TOKENS, check_deployment_args, check_int, check_ref
from simulator.serving.config import resolve_draft


def _check(model: object, hardware: object, dep: object) -> Deployment:
    """The deployment, its numbers as ints (check_deployment_args), once model, hardware and it pass."""
    check_ref("model", model, (TransformerSpec,))
    check_ref("hardware", hardware, (Accelerator,))
    if not isinstance(dep, Deployment):
        raise PlanError(f"dep must be a Deployment (simulator.Deployment), got {type(dep).__name__}")
    return check_deployment_args(dep)


def estimate_inference(model: ModelRef, hardware: HardwareRef, dep: Deployment, *, batch: int, input_len: int,
                       output_len: int, prefix_hit_rate: float = 0.0, prefix_tokens: int = 0) -> InferenceResult:
    """Static batch on one replica (core.inference.estimate_inference) for a model and hardware by id, path or
    object; a speculative draft model (dep.speculative.draft_model) may be an id or path too. prefix_hit_rate (the
    share of each prompt in the prefix cache, [0, 1]) or prefix_tokens (a prefix every prompt shares) cache prompts."""
    dep = _check(model, hardware, dep)
    batch = check_int("batch", batch, 1, MAX_BATCH)  # ints from here: output_len=16.0 was a range() count
    input_len = check_int("input_len", input_len, 1, MAX_TOKENS)
    output_len = check_int("output_len", output_len, 1, MAX_TOKENS)
    hw = load_hardware(hardware)
    dep = resolve_draft(dep)
    m = load_model(model)
    res = _estimate(m, hw, dep, batch=batch, input_len=input_len, output_len=output_len,
                    prefix_hit_rate=prefix_hit_rate, prefix_tokens=prefix_tokens)
    rec = dict(res.record)
    band = inference_band(dep.engine, hw.id, dep.gpus, m, dep.dp_attention)
    rec["error_band"] = band
    if band["low"] is not None and rec.get("feasible"):  # latencies in the time sense of the band
        for key in ("ttft_s", "tpot_s", "e2e_s"):
            rec[key.replace("_s", "_range_s")] = band_range(band, rec[key])
    return InferenceResult(rec)


def memory_plan(model: ModelRef, hardware: HardwareRef, dep: Deployment) -> MemoryPlan:
    """Per-GPU memory split and paged KV capacity (core.inference.memory_plan, with a speculative draft's weights and
    KV cache: replica_memory_plan) by id, path or object."""
    dep = _check(model, hardware, dep)
    return replica_memory_plan(load_model(model), load_hardware(hardware), resolve_draft(dep))
