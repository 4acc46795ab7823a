"""Serving-engine profiles: host-side costs, scheduler limits and the KV-cache memory rule of one engine version.

The profiles themselves are data (workloads/engines/<family>.yaml, every figure with its source), read by
simulator.catalog.engines, which fills the frozen EngineProfile below and installs itself as the loader of the
`ENGINES` registry: the core reads no file, it only asks the registry for an id ("vllm", or "vllm@0.6" for a
version other than the family's default)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from simulator.core.hardware import Accelerator
from simulator.errors import SimulatorError

KV_MEMORY_MODES = ("total", "free", "static")


@dataclass(frozen=True, slots=True)
class BenchmarkLimits:
    """How an engine's own throughput benchmark sizes its batch limits when the user gives none (trtllm-bench's
    tuning heuristic); every figure from the engine file (workloads/engines/<family>.yaml `benchmark`)."""

    tool: str
    seqs_cap: int  # the KV-cache request count is capped here before rounding
    tokens_cap: int  # max_num_tokens cap
    tokens_min: int  # max_num_tokens floor
    kv_memory_fraction: float  # share of (total memory - engine size) the heuristic gives the KV cache
    weight_bytes: tuple[tuple[str, float], ...]  # bytes per parameter by precision (others: default_bytes)
    kv_bytes: tuple[tuple[str, float], ...]  # bytes per KV element by KV precision (others: default_bytes)
    default_bytes: float = 2.0


@dataclass(frozen=True, slots=True)
class EngineProfile:
    """Host-side costs, scheduler limits and KV-cache memory rule of one serving-engine version.

    Iteration time = max(device time, layer_launch_s x layers) + step_overhead_s + seq_overhead_s x
    sequences: kernel launches are asynchronous, so the host only shows when it issues kernels slower
    than the device runs them (eager engines at small batch); the per-step work (scheduling, sampling,
    synchronisation) is serial with the device. With `host_overlap` (an overlap scheduler) the per-sequence work
    joins the launches inside the max: step_overhead_s + max(device, launches, seq_overhead_s x sequences). Host
    terms fitted on the reference host (DGX A100, 2x AMD EPYC 7742) are divided by a profile's
    `node.host.speed_vs_reference`; assumed priors are not.

    KV-cache budget per GPU (`kv_memory_mode`, memory.kv_budget_bytes):
      "total"  (vLLM gpu_memory_utilization): fraction x HBM - weights - activation peak (the memory beyond
               the hardware profile's usable memory is never counted);
      "free"   (TensorRT-LLM free_gpu_memory_fraction): fraction x (memory free once weights and the
               activation workspace are allocated);
      "static" (SGLang mem_fraction_static): fraction x HBM - weights; activations and CUDA graphs live in the
               rest. The fraction is `gpu_memory_utilization`, or from `fraction_by_tp` (the largest tp floor
               not above tp) or from `reserved_gib_by_memory` ((below GiB, base GiB, GiB per GPU of tp x pp):
               fraction = 1 - reserved / HBM) when the engine derives its default that way.
    """

    name: str
    step_overhead_s: float  # per iteration: scheduling, input preparation, sampling, sync
    layer_launch_s: float  # host time to issue one layer's kernels (0 with CUDA graphs)
    seq_overhead_s: float  # per sequence sampled per iteration: sampler, detokeniser, block tables
    gpu_memory_utilization: float = 0.90  # the engine's memory fraction in the sense of kv_memory_mode
    kv_memory_mode: str = "total"
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
    version: str = ""
    default_version: bool = True  # the version `--engine <name>` picks
    kv_watermark_fraction: float = 0.0  # share of KV blocks an on-demand scheduler keeps free at admission
    fraction_by_tp: tuple[tuple[int, float], ...] = ()  # (tp x pp at least, fraction), largest floor first
    reserved_gib_by_memory: tuple[tuple[float, float, float], ...] = ()  # (HBM below GiB, base GiB, GiB per GPU)
    host_terms_fitted: bool = False  # False: the host terms are assumed priors, not fitted on published rows
    benchmark: BenchmarkLimits | None = None  # the engine's throughput benchmark's own batch-limit rule
    window_kv: bool = False  # sliding-window layers cache only their window (False: the whole sequence)
    # (group size at most, largest message in bytes) the engine's own all-reduce kernel takes, ascending; larger
    # messages go to NCCL. Empty: its own kernel at every size
    custom_allreduce_max_bytes: tuple[tuple[int, float], ...] = ()
    custom_allreduce_pcie_gpus: int = 0  # the largest group that runs that kernel without NVLink (PCIe P2P)
    # True: max_seqs and max_batched_tokens bound each attention data-parallel group (a scheduler per group); False:
    # the whole replica
    caps_per_attention_group: bool = False
    host_overlap: bool = False  # the per-sequence host work runs while the device works (an overlap scheduler)
    # (quantization, slowdown at 1,024 wide, width exponent, extra layer time s): the engine's fused MoE for that
    # quantization against the fused-MoE figures (moe_kernel_terms); quantizations not named: as the figures say
    moe_compute_slowdown: tuple[tuple[str, float, float, float], ...] = ()

    @property
    def ref(self) -> str:
        """The id this profile is selected by: the family for its default version, else family@version."""
        return self.name if self.default_version or not self.version else f"{self.name}@{self.version}"

    def host_speed(self, hw: Accelerator) -> float:
        """Speed of hw's host relative to the host these terms were measured on."""
        return hw.host_speed if self.host_terms_on_reference_host else 1.0

    def custom_allreduce_limit_bytes(self, group: int) -> float:
        """Largest all-reduce message the engine's own kernel takes in a group of `group` GPUs (inf: every size)."""
        for size, limit in self.custom_allreduce_max_bytes:
            if group <= size:
                return limit
        return self.custom_allreduce_max_bytes[-1][1] if self.custom_allreduce_max_bytes else float("inf")

    def moe_kernel_terms(self, quantization: str, width: float) -> tuple[float, float]:
        """(compute slowdown, extra layer time s) of the engine's fused MoE against the fused-MoE figures for experts
        `width` wide on one GPU: slowdown x (width / 1024)^-exponent, never below 1 (the widest experts timed, 14,336
        and 16,384 wide, run at the figures' speed; the power law would otherwise make wider ones faster than the
        figures), and the extra time for a quantization it names, else (1, 0) (fitted by
        simulator.validation.moe_kernels)."""
        for q, slowdown, exponent, extra_s in self.moe_compute_slowdown:
            if q == quantization:
                return max(1.0, slowdown * (width / 1024.0) ** -exponent), extra_s
        return 1.0, 0.0

    def memory_fraction(self, hbm_bytes: float, tp: int = 1, pp: int = 1) -> float:
        """The engine's memory fraction for a replica of tp x pp GPUs with `hbm_bytes` each."""
        if self.reserved_gib_by_memory:
            gib = hbm_bytes / 2**30
            for below, base, per_gpu in self.reserved_gib_by_memory:
                if gib < below:
                    return round(1.0 - (base + per_gpu * tp * pp) / gib, 3)
        for floor, fraction in self.fraction_by_tp:
            if tp >= floor:
                return fraction
        return self.gpu_memory_utilization


class EngineRegistry(Mapping[str, EngineProfile]):
    """Engine profiles by id. Iterating gives each family's default version; lookups also take "family@version".

    The core holds no engine figures: simulator.catalog.engines installs `load` (every shipped default profile,
    in display order) and `resolve` (one id, raising UnknownIdError in one line for a version not shipped)."""

    def __init__(self) -> None:
        self._load: Callable[[], dict[str, EngineProfile]] | None = None
        self._resolve: Callable[[str], EngineProfile] | None = None

    def install(self, load: Callable[[], dict[str, EngineProfile]], resolve: Callable[[str], EngineProfile]) -> None:
        self._load, self._resolve = load, resolve

    def _defaults(self) -> dict[str, EngineProfile]:
        if self._load is None:
            raise SimulatorError("engine profiles are not loaded: import simulator.catalog (it reads "
                                 "workloads/engines/) before asking for an engine by name")
        return self._load()

    def __getitem__(self, ref: str) -> EngineProfile:
        if self._resolve is None:
            self._defaults()
        assert self._resolve is not None
        return self._resolve(ref)

    def __contains__(self, ref: object) -> bool:
        if not isinstance(ref, str):
            return False
        try:
            self[ref]
        except (KeyError, SimulatorError):
            return False
        return True

    def get(self, ref: str, default: EngineProfile | None = None) -> EngineProfile | None:  # type: ignore[override]
        try:
            return self[ref]
        except (KeyError, SimulatorError):
            return default

    def __iter__(self) -> Iterator[str]:
        return iter(self._defaults())

    def __len__(self) -> int:
        return len(self._defaults())


ENGINES = EngineRegistry()


def engine_overhead_s(prof: EngineProfile, n_layers: int, device_s, n_logits, host_speed: float = 1.0):
    """Host time an iteration adds to its device time (exposed_host_s with the engine's terms). The engine's terms
    are reference-host seconds; a host `host_speed` times faster divides them."""
    return exposed_host_s(prof.step_overhead_s / host_speed, prof.seq_overhead_s / host_speed,
                          prof.layer_launch_s * n_layers / host_speed, prof.host_overlap,
                          np.asarray(device_s, dtype=float), np.asarray(n_logits, dtype=float))


def exposed_host_s(step_s: float, seq_s: float, launch_s: float, overlap: bool, device_s, n_logits):
    """Host time an iteration adds to `device_s`: the serial step work, plus the host work that runs beside the device
    (the layers' launches; with an overlap scheduler also `seq_s` per sequence) where it outlasts the device: the
    max(device, host) model of asynchronous launches (LLM-Viewer issue #4) and of TensorRT-LLM's overlap scheduler
    (docs torch/features/overlap_scheduler.md: step n's host work runs while the device computes step n + 1).
    Scalars in, a float out; arrays in, an array out."""
    per_seq = seq_s * n_logits
    mx = np.maximum if isinstance(device_s, np.ndarray) or isinstance(per_seq, np.ndarray) else max
    if overlap:
        return step_s + mx(mx(launch_s, per_seq) - device_s, 0.0)
    return step_s + per_seq + mx(launch_s - device_s, 0.0)


def host_step_s(prof: EngineProfile, n_logits, host_speed: float = 1.0):
    """The scheduler's own work per iteration: step + per-sampled-sequence terms (engine data), over the host speed."""
    n_logits = np.asarray(n_logits, dtype=float)
    return (prof.step_overhead_s + prof.seq_overhead_s * n_logits) / host_speed


def benchmark_batch_limits(lim: BenchmarkLimits, params: float, n_layers: int, n_kv_heads: int, head_dim: int,
                           hbm_bytes: float, tp: int, pp: int, precision: str, kv_precision: str, input_len: float,
                           output_len: float) -> tuple[int, int]:
    """(max sequences, max batched tokens) trtllm-bench builds with when none are given: the requests whose
    input + output fit in kv_memory_fraction of (GPU memory - engine size), capped and rounded up to 32/128/256,
    and tokens = requests x (1 + input/output), capped and rounded up to 256/512/1024 (TensorRT-LLM
    tensorrt_llm/bench/build/tuning.py calc_engine_setting and finetune_setting, 0.17 to 1.x)."""
    import math

    gib = 1024.0**3
    wb = dict(lim.weight_bytes).get(precision, lim.default_bytes)
    kb = dict(lim.kv_bytes).get(kv_precision, lim.default_bytes)
    per_token_gib = 2.0 * n_layers * max(tp, n_kv_heads) * head_dim * kb / gib
    available_gib = hbm_bytes / gib * tp * pp - params * wb / gib
    requests = available_gib * lim.kv_memory_fraction / (per_token_gib * (input_len + output_len))
    raw_bs = min(requests, lim.seqs_cap) / pp
    raw_tokens = min(raw_bs * (1.0 + input_len / output_len), lim.tokens_cap)
    if raw_bs < 256:
        max_bs = max(64, 32 * math.ceil(raw_bs / 32))
    elif raw_bs < 1024:
        max_bs = 128 * math.ceil(raw_bs / 128)
    else:
        max_bs = 256 * math.ceil(raw_bs / 256)
    if raw_tokens < 4096:
        max_tokens = max(lim.tokens_min, 256 * math.ceil(raw_tokens / 256))
    elif raw_tokens < 8192:
        max_tokens = 512 * math.ceil(raw_tokens / 512)
    else:
        max_tokens = 1024 * math.ceil(raw_tokens / 1024)
    return int(max_bs), int(max_tokens)
