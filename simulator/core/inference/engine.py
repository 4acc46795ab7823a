"""Serving-engine profiles: host-side costs and scheduler/memory defaults of each engine family."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.core.hardware import Accelerator


@dataclass(frozen=True, slots=True)
class EngineProfile:
    """Host-side costs and scheduler/memory defaults of one serving-engine family.

    Iteration time = max(device time, layer_launch_s x layers) + step_overhead_s + seq_overhead_s x
    sequences: kernel launches are asynchronous, so the host only shows when it issues kernels slower
    than the device runs them (eager engines at small batch); the per-step work (scheduling, sampling,
    synchronisation) is serial with the device. Host terms fitted on the reference host (DGX A100, 2x AMD
    EPYC 7742) are divided by a profile's `node.host.speed_vs_reference`; assumed priors are not.
    """

    name: str
    step_overhead_s: float  # per iteration: scheduling, input preparation, sampling, sync
    layer_launch_s: float  # host time to issue one layer's kernels (0 with CUDA graphs)
    seq_overhead_s: float  # per sequence sampled per iteration: sampler, detokeniser, block tables
    gpu_memory_utilization: float = 0.90  # share of HBM (vLLM) or of the memory left free (TRT-LLM)
    kv_memory_mode: str = "total"  # "total": util x HBM - weights - workspace; "free": util x (free after weights)
    block_size_tokens: int = 16
    max_seqs: int = 256
    max_batched_tokens: int = 8192
    chunked_prefill: bool = True
    admission: str = "on_demand"  # "on_demand": blocks as needed, preempt by recompute (vLLM);
    #                                "reserve_full": reserve prompt + output at admission, never evict (TRT-LLM)
    compute_scale: float = 1.0  # engine kernels' share of the profile's calibrated compute efficiency
    source: str = ""
    # True when the host terms are measured seconds on the reference host (DGX A100): they then scale with
    # the profile's host CPU speed. Priors with no measured host stay as they are on every host.
    host_terms_on_reference_host: bool = False

    def host_speed(self, hw: Accelerator) -> float:
        """Speed of hw's host relative to the host these terms were measured on."""
        return hw.host_speed if self.host_terms_on_reference_host else 1.0


ENGINES: dict[str, EngineProfile] = {
    "ideal": EngineProfile("ideal", 0.0, 0.0, 0.0, source="no host overhead: a pure calibrated roofline"),
    "vllm": EngineProfile(
        "vllm", 500e-6, 20e-6, 0.0, 0.90, "total", 16, 256, 8192, True, "on_demand",
        source="BLIS roofline defaults (inference-sim docs/roofline.md): 500 us per step and 20 us per layer, the "
               "latter used here as host launch time (hidden under device time, as with CUDA graphs); vLLM V1 "
               "defaults gpu_memory_utilization 0.9, block 16, max_num_seqs 256, max_num_batched_tokens 8192. "
               "No modern-vLLM measurement is in the reference data: this family is a prior, not validated"),
    "trtllm": EngineProfile(
        "trtllm", 1.0e-3, 0.0, 0.0, 0.90, "free", 32, 2048, 8192, True, "reserve_full",
        source="TensorRT-LLM runtime with CUDA graphs (no per-layer host cost); 1 ms per iteration is an assumed "
               "prior, not fitted; kv_cache_free_gpu_mem_fraction 0.9, tokens_per_block 32, GUARANTEED_NO_EVICT, "
               "max_batch_size 2048 / max_num_tokens 8192 (trtllm-bench defaults)"),
    "vllm-2023": EngineProfile(
        "vllm-2023", 4.21e-3, 520e-6, 357e-6, 0.90, "total", 16, 256, 4096, False, "on_demand", 0.617,
        source="2023 vLLM (eager PyTorch, Ray TP workers, no chunking) as profiled by Splitwise on DGX-A100; the "
               "four host/kernel terms are least-squares fitted on the 32 DGX-A100 Llama-2-70B rows "
               "(simulator validate inference --fit) and checked on the DGX-H100 and BLOOM rows",
        host_terms_on_reference_host=True),
    "gpt-fast": EngineProfile(
        "gpt-fast", 0.1e-3, 0.0, 0.0, 0.90, "total", 16, 1, 32768, False, "reserve_full",
        source="torch.compile + CUDA graphs (gpt-fast README): no per-layer host cost; one sequence at a time, "
               "its whole prompt in one forward pass (prompts up to 32k tokens: the workspace is sized for that)"),
    "fastertransformer": EngineProfile(
        "fastertransformer", 0.5e-3, 0.0, 0.0, 0.90, "free", 16, 64, 8192, False, "reserve_full",
        source="C++ runtime, static batching"),
}


def engine_overhead_s(prof: EngineProfile, n_layers: int, device_s, n_logits, host_speed: float = 1.0):
    """Host time an iteration adds: step + per-sequence work, plus whatever layer launching takes
    beyond the device time (max(device, launch) model of asynchronous launches; LLM-Viewer issue #4).
    The engine's terms are reference-host seconds; a host `host_speed` times faster divides them."""
    device_s = np.asarray(device_s, dtype=float)
    n_logits = np.asarray(n_logits, dtype=float)
    launch = np.maximum(prof.layer_launch_s * n_layers / host_speed - device_s, 0.0)
    return (prof.step_overhead_s + prof.seq_overhead_s * n_logits) / host_speed + launch
