"""Serving-engine profiles (workloads/engines/<family>.yaml) to frozen core.inference.EngineProfile objects.

One file per engine family, holding one or more versions; `--engine vllm` picks the family's `default_version`,
`--engine vllm@0.6` (or a deployment's `engine_version`) another. Every figure of a version is a `{value, source}`
pair: a figure without its source, an unknown key, or a version not shipped is refused in one line. Importing this
module installs it as the loader of core.inference.ENGINES (the core reads no file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from simulator import limits
from simulator.catalog.paths import ROOT, shipped_ids
from simulator.catalog.schema import Entity, Strict
from simulator.catalog.stacks import Sourced
from simulator.catalog.yamlio import read_yaml, validate_file
from simulator.core.inference import Deployment
from simulator.core.inference.engine import ENGINES, BenchmarkLimits, EngineProfile
from simulator.errors import DataFileError, UnknownIdError
from simulator.vocab import ENGINE_NAMES

ENGINES_DIR = ROOT / "workloads" / "engines"

__all__ = ["ENGINES", "ENGINES_DIR", "Deployment", "EngineProfile", "engine_file", "engine_ids", "engine_versions",
           "load_engine", "split_engine_ref"]


# Every figure is finite and bounded (simulator.limits, each bound with its reason): an `.inf` overhead or a 1e300
# batch limit is one line naming the field, not an estimate of inf or a scheduler that never fills. Strict: inside
# the lists and mappings below a YAML `true` is not taken as the number 1.
_GIB = limits.MAX_DEVICE_BYTES / 2**30
HostSeconds = Annotated[float, Field(strict=True, ge=0, le=limits.MAX_HOST_OVERHEAD_S, allow_inf_nan=False)]
ComputeScale = Annotated[float, Field(strict=True, ge=limits.MIN_ENGINE_COMPUTE_SCALE,
                                      le=limits.MAX_ENGINE_COMPUTE_SCALE, allow_inf_nan=False)]
Fraction = Annotated[float, Field(strict=True, gt=0, le=1, allow_inf_nan=False)]  # (0, 1]
Watermark = Annotated[float, Field(strict=True, ge=0, lt=1, allow_inf_nan=False)]  # [0, 1): at 1 none is admitted
BlockTokens = Annotated[int, Field(strict=True, gt=0, le=limits.MAX_TOKENS)]
Seqs = Annotated[int, Field(strict=True, gt=0, le=limits.MAX_BATCH)]
BatchedTokens = Annotated[int, Field(strict=True, gt=0, le=limits.MAX_BATCHED_TOKENS)]
TpFloor = Annotated[int, Field(strict=True, gt=0, le=limits.MAX_GPUS)]
Gib = Annotated[float, Field(strict=True, gt=0, le=_GIB, allow_inf_nan=False)]
GibOrZero = Annotated[float, Field(strict=True, ge=0, le=_GIB, allow_inf_nan=False)]
ElementBytes = Annotated[float, Field(strict=True, gt=0, le=limits.MAX_BYTES_PER_ELEMENT, allow_inf_nan=False)]
MessageBytes = Annotated[float, Field(strict=True, ge=0, le=limits.MAX_DEVICE_BYTES, allow_inf_nan=False)]


class Host(Strict):
    """Host-side costs of one engine version (seconds on the reference host when `on_reference_host`)."""

    step_overhead_s: Sourced[HostSeconds]
    layer_launch_s: Sourced[HostSeconds]
    seq_overhead_s: Sourced[HostSeconds]
    compute_scale: Sourced[ComputeScale]
    on_reference_host: Sourced[bool]  # measured on the reference host (DGX A100): scaled by a host's speed
    fitted: Sourced[bool]  # fitted on published rows (simulator validate inference --fit), else an assumed prior
    # true: the scheduler prepares the next batch while the device runs this one (an overlap scheduler), so the
    # per-sequence work hides behind the device; absent or false: it is serial with the device
    overlap: Sourced[bool] | None = None


class Scheduler(Strict):
    """Scheduler limits and admission of one engine version."""

    block_size_tokens: Sourced[BlockTokens]
    max_seqs: Sourced[Seqs]
    max_batched_tokens: Sourced[BatchedTokens]
    chunked_prefill: Sourced[bool]
    admission: Sourced[Literal["on_demand", "reserve_full"]]
    kv_watermark_fraction: Sourced[Watermark]
    # true: max_seqs and max_batched_tokens bound each attention data-parallel group (the engine runs a scheduler
    # per group); absent or false: the whole replica (core.inference.Deployment.seq_cap)
    caps_per_attention_group: Sourced[bool] | None = None


class MemoryRule(Strict):
    """How the engine sizes its KV cache (core.inference.memory.kv_budget_bytes)."""

    mode: Sourced[Literal["total", "free", "static"]]
    fraction: Sourced[Fraction]
    fraction_by_tp: Sourced[list[tuple[TpFloor, Fraction]]] | None = None
    reserved_gib_by_memory: Sourced[list[tuple[Gib, GibOrZero, GibOrZero]]] | None = None
    # true: a sliding-window layer's cache holds only its window (vLLM's hybrid KV cache manager, TensorRT-LLM's pool
    # per window size); absent or false: every layer holds the whole sequence
    sliding_window_kv: Sourced[bool] | None = None


class Benchmark(Strict):
    """The batch limits the engine's own throughput benchmark picks when none are given (core.inference.engine
    .benchmark_batch_limits)."""

    tool: Sourced[str]
    seqs_cap: Sourced[Seqs]
    tokens_cap: Sourced[BatchedTokens]
    tokens_min: Sourced[BatchedTokens]
    kv_memory_fraction: Sourced[Fraction]
    weight_bytes: Sourced[dict[str, ElementBytes]]
    kv_bytes: Sourced[dict[str, ElementBytes]]
    default_bytes: Sourced[ElementBytes]


class Collectives(Strict):
    """Which all-reduce the engine runs inside the NVLink domain (core.inference.kernels.layer_tp_comm_s)."""

    # [group size at most, largest message in bytes] its own all-reduce kernel takes, by ascending group size (larger
    # groups: the last figure); a larger message goes to NCCL (0: NCCL at every size for that group size)
    custom_allreduce_max_bytes: Sourced[list[tuple[TpFloor, MessageBytes]]]
    # the largest group whose GPUs still run that kernel without NVLink (PCIe peer-to-peer); absent: none
    pcie_max_gpus: Sourced[TpFloor] | None = None


MoeSlowdown = Annotated[float, Field(strict=True, ge=limits.MIN_ENGINE_MOE_SLOWDOWN, le=limits.MAX_ENGINE_MOE_SLOWDOWN,
                                     allow_inf_nan=False)]
WidthExponent = Annotated[float, Field(strict=True, ge=0, le=1, allow_inf_nan=False)]
MoeExtraSeconds = Annotated[float, Field(strict=True, ge=0, le=limits.MAX_ENGINE_MOE_EXTRA_S, allow_inf_nan=False)]


class Kernels(Strict):
    """How the engine's own kernels differ from the hardware profile's calibrated ones (core.inference.kernels)."""

    # {quantization: [slowdown at 1,024 wide, width exponent, extra layer time s]}: the engine's fused MoE for that
    # quantization computes its grouped GEMMs slowdown x (w / 1024)^-exponent times slower than the fused-MoE figures
    # (w the expert width one GPU holds) and adds the extra time per layer (EngineProfile.moe_compute_slowdown);
    # quantizations not named run as the figures say
    moe_compute_slowdown: Sourced[dict[str, tuple[MoeSlowdown, WidthExponent, MoeExtraSeconds]]] | None = None


class EngineVersion(Strict):
    released: str = Field(min_length=4)  # year-month of the release(s) the figures describe
    description: str = Field(min_length=3)
    host: Host
    scheduler: Scheduler
    memory: MemoryRule
    benchmark: Benchmark | None = None
    collectives: Collectives | None = None  # absent: the engine's own kernel at every message size
    kernels: Kernels | None = None  # absent: the hardware profile's kernels as they are


class EngineFile(Entity):
    kind: Literal["engine"]
    description: str = Field(min_length=3)
    default_version: str = Field(min_length=1)
    versions: dict[str, EngineVersion] = Field(min_length=1)


def engine_ids() -> list[str]:
    """Ids of the shipped engine families, in the order of simulator.vocab.ENGINE_NAMES (others after, sorted)."""
    ids = shipped_ids(ENGINES_DIR)
    order: dict[str, int] = {name: i for i, name in enumerate(ENGINE_NAMES)}
    return sorted(ids, key=lambda i: (order.get(i, len(order)), i))


def split_engine_ref(ref: str) -> tuple[str, str | None]:
    """"vllm@0.6" -> ("vllm", "0.6"); "vllm" -> ("vllm", None)."""
    family, sep, version = str(ref).partition("@")
    if sep and not version:
        raise UnknownIdError(f"engine {ref!r} names no version after '@'; write {family}@VERSION "
                             f"(versions: {', '.join(engine_versions(family))})")
    return family, (version if sep else None)


@lru_cache(maxsize=64)
def _read(path_str: str, mtime: float) -> EngineFile:
    path = Path(path_str)
    f = validate_file(EngineFile, read_yaml(path), path)
    if f.default_version not in f.versions:
        raise DataFileError(f"{path}: field 'default_version' = {f.default_version!r} is not one of its versions "
                            f"({', '.join(f.versions)})")
    if f.id != path.stem:
        raise DataFileError(f"{path}: field 'id' = {f.id!r} must equal the file name stem {path.stem!r}")
    for v, ver in f.versions.items():
        frac = ver.memory.fraction.value
        if not 0.0 < frac <= 1.0:
            raise DataFileError(f"{path}: versions.{v}.memory.fraction = {frac} must be in (0, 1]")
        _check_moe_quantizations(path, v, ver)
    return f


def _check_moe_quantizations(path: Path, version: str, ver: EngineVersion) -> None:
    """The quantizations an engine's fused-MoE terms name are shipped ones (a misspelt one would silently not apply)."""
    from simulator.catalog.quantization import quantization_modes

    if ver.kernels is None or ver.kernels.moe_compute_slowdown is None:
        return
    known = quantization_modes()
    for q in ver.kernels.moe_compute_slowdown.value:
        if q not in known:
            raise DataFileError(f"{path}: versions.{version}.kernels.moe_compute_slowdown names quantization {q!r}; "
                                f"use one of {', '.join(known)}")


def engine_file(family: str) -> EngineFile:
    """The validated engine file of a shipped family (or a path to an engine YAML)."""
    path = Path(family) if family.endswith((".yaml", ".yml")) else ENGINES_DIR / f"{family}.yaml"
    if not path.is_file():
        raise UnknownIdError(f"unknown engine {family!r}; shipped engines: {', '.join(engine_ids())}")
    return _read(str(path), path.stat().st_mtime)


def engine_versions(family: str) -> list[str]:
    """The versions a shipped engine family has (its default first)."""
    f = engine_file(family)
    return [f.default_version] + [v for v in f.versions if v != f.default_version]


def _profile(f: EngineFile, version: str) -> EngineProfile:
    v = f.versions[version]
    h, s, m = v.host, v.scheduler, v.memory
    return EngineProfile(
        name=f.id, step_overhead_s=h.step_overhead_s.value, layer_launch_s=h.layer_launch_s.value,
        seq_overhead_s=h.seq_overhead_s.value, gpu_memory_utilization=m.fraction.value, kv_memory_mode=m.mode.value,
        block_size_tokens=s.block_size_tokens.value, max_seqs=s.max_seqs.value,
        max_batched_tokens=s.max_batched_tokens.value, chunked_prefill=s.chunked_prefill.value,
        admission=s.admission.value, compute_scale=h.compute_scale.value, source=f"{f.name} {version}: {v.description}",
        host_terms_on_reference_host=h.on_reference_host.value, version=version,
        default_version=version == f.default_version, kv_watermark_fraction=s.kv_watermark_fraction.value,
        fraction_by_tp=tuple(sorted(((int(t), float(x)) for t, x in m.fraction_by_tp.value), reverse=True))
        if m.fraction_by_tp else (),
        reserved_gib_by_memory=tuple(sorted((float(b), float(g), float(n)) for b, g, n in m.reserved_gib_by_memory.value))
        if m.reserved_gib_by_memory else (),
        host_terms_fitted=h.fitted.value, host_overlap=bool(h.overlap.value) if h.overlap else False,
        benchmark=_benchmark(v.benchmark),
        window_kv=bool(m.sliding_window_kv.value) if m.sliding_window_kv else False,
        caps_per_attention_group=bool(s.caps_per_attention_group.value) if s.caps_per_attention_group else False,
        custom_allreduce_max_bytes=tuple(sorted((int(n), float(b)) for n, b in
                                                v.collectives.custom_allreduce_max_bytes.value))
        if v.collectives else (),
        custom_allreduce_pcie_gpus=v.collectives.pcie_max_gpus.value if v.collectives and v.collectives.pcie_max_gpus
        else 0,
        moe_compute_slowdown=tuple(sorted((q, float(a), float(b), float(t)) for q, (a, b, t)
                                          in v.kernels.moe_compute_slowdown.value.items()))
        if v.kernels and v.kernels.moe_compute_slowdown else ())


def _benchmark(b: Benchmark | None) -> BenchmarkLimits | None:
    if b is None:
        return None
    return BenchmarkLimits(b.tool.value, b.seqs_cap.value, b.tokens_cap.value, b.tokens_min.value,
                           b.kv_memory_fraction.value, tuple(b.weight_bytes.value.items()),
                           tuple(b.kv_bytes.value.items()), b.default_bytes.value)


@lru_cache(maxsize=256)
def _load(ref: str) -> EngineProfile:
    family, version = split_engine_ref(ref)
    f = engine_file(family)
    version = f.default_version if version is None else version
    if version not in f.versions:
        raise UnknownIdError(f"engine {family} has no version {version!r}; shipped versions: "
                             f"{', '.join(engine_versions(family))} (default {f.default_version})")
    return _profile(f, version)


def load_engine(ref: str | EngineProfile = "vllm") -> EngineProfile:
    """The EngineProfile an id names ("vllm": the family's default version; "vllm@0.6": that version)."""
    if isinstance(ref, EngineProfile):
        return ref
    return _load(str(ref))


def _defaults() -> dict[str, EngineProfile]:
    return {family: _load(family) for family in engine_ids()}


ENGINES.install(_defaults, load_engine)
