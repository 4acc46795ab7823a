"""The inference model: iteration time, KV-cache capacity and quantization, vectorised over batch and context.

One iteration of a serving engine runs a batch of prefill chunks and decode tokens through every layer: the linear
layers see all tokens (GEMMs with M = tokens), attention sees each sequence's own context, tensor parallelism adds two
all-reduces per layer, and the engine adds a host-side overhead per iteration (LLM-Viewer issue #4 and BLIS docs: a
pure roofline is 1.5-2.3x optimistic without it). Kernel times come from `roofline` and collectives from `comm`;
every efficiency is read from the hardware profile.

engine (engine profiles, filled from workloads/engines/ by simulator.catalog.engines) -> deployment (a replica, its checks) -> memory (weights, workspace, KV blocks) ->
kernels (one layer's parts) -> iteration (one engine step) -> static (the static-batch estimate).
"""

from __future__ import annotations

from simulator.core.inference.deployment import (
    KV_BYTES,
    QUANTIZATIONS,
    Deployment,
    Quantization,
    check_deployment,
    context_limit_tokens,
)
from simulator.core.inference.engine import ENGINES, EngineProfile, EngineRegistry, engine_overhead_s
from simulator.core.inference.iteration import (
    IterationCostTable,
    decode_step_time_s,
    iteration_time_s,
    pipelined_step_s,
    prefill_time_s,
    stage_time_s,
)
from simulator.core.inference.kernels import layer_attention_s, layer_elementwise_s, layer_linear_s, layer_tp_comm_s
from simulator.core.inference.memory import (
    MemoryPlan,
    kv_budget_bytes,
    kv_bytes_per_token,
    kv_elems_per_token_per_layer,
    memory_plan,
    weight_bytes_per_gpu,
    workspace_bytes_per_gpu,
)
from simulator.core.inference.static import REASONS, InferenceResult, describe_reasons, estimate_inference

__all__ = ["ENGINES", "KV_BYTES", "QUANTIZATIONS", "REASONS", "Deployment", "EngineProfile", "EngineRegistry", "InferenceResult",
           "IterationCostTable", "MemoryPlan", "Quantization", "check_deployment", "context_limit_tokens",
           "decode_step_time_s", "describe_reasons", "engine_overhead_s", "estimate_inference", "iteration_time_s",
           "kv_budget_bytes", "kv_bytes_per_token", "kv_elems_per_token_per_layer", "layer_attention_s", "layer_elementwise_s",
           "layer_linear_s", "layer_tp_comm_s", "memory_plan", "pipelined_step_s", "prefill_time_s", "stage_time_s",
           "weight_bytes_per_gpu",
           "workspace_bytes_per_gpu"]
