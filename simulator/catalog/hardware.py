"""Accelerator profiles: YAML files (schema.HardwareFile) to frozen Accelerator objects."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from simulator.catalog.paths import HARDWARE_DIR, resolve, shipped_ids
from simulator.catalog.schema import FusedMoeFile, HardwareFile
from simulator.catalog.yamlio import parse_yaml_text, read_yaml, validate_file
from simulator.core.hardware import Accelerator, GemmCurve, Link

FUSED_MOE_FILE = HARDWARE_DIR / "kernels" / "fused_moe.yaml"


@lru_cache(maxsize=4)
def _fused_moe(path_str: str, mtime: float) -> tuple[float, float, tuple[str, ...]]:
    f = validate_file(FusedMoeFile, read_yaml(Path(path_str)), Path(path_str))
    return f.memory_scale, f.layer_overhead_s, tuple(f.measured_on)


def fused_moe_figures() -> tuple[float, float, tuple[str, ...]]:
    """(memory scale, layer overhead s, accelerators measured) of fused-MoE layers, which every accelerator takes
    (hardware_profiles/kernels/fused_moe.yaml)."""
    return _fused_moe(str(FUSED_MOE_FILE), FUSED_MOE_FILE.stat().st_mtime)


def hardware_ids() -> list[str]:
    """Ids of the shipped accelerator profiles."""
    return shipped_ids(HARDWARE_DIR)


def _link(d: Any) -> Link:
    return Link(
        bandwidth_bytes_per_s=d.bandwidth_bytes_per_s_unidir,
        latency_s=d.latency_s,
        hop_latency_s=d.hop_latency_s,
        bus_efficiency=d.bus_efficiency,
        regimes=tuple((r.latency_s, r.bus_efficiency) for r in (d.regimes or ())),
        overlap_compute_penalty=d.overlap_compute_penalty,
        in_network=(d.in_network.latency_s, d.in_network.bus_efficiency) if d.in_network else None,
        tree_hop_latency_s=d.tree_hop_latency_s,
        tree_chunk_bytes=d.tree_chunk_bytes,
        alltoall_efficiency=d.alltoall_efficiency,
        engine_allreduce=d.engine_allreduce,
    )


def _host(f: HardwareFile) -> dict[str, Any]:
    """The node's host CPU and its speed, when the profile names one (else the Accelerator defaults stand)."""
    host = f.node.host
    return {"host_cpu": host.cpu, "host_speed": host.speed_vs_reference} if host else {}


def hardware_from_file(f: HardwareFile, path: str = "") -> Accelerator:
    """The frozen accelerator a validated profile describes."""
    peaks = {k: v for k, v in f.peak_dense_flop_per_s.model_dump().items() if v is not None}
    moe_scale, moe_overhead_s, moe_measured_on = fused_moe_figures()
    return Accelerator(
        id=f.id,
        name=f.name,
        vendor=f.vendor,
        peak_flop_per_s=peaks,
        hbm_bytes=f.memory.hbm_bytes,
        hbm_bandwidth_bytes_per_s=f.memory.hbm_bandwidth_bytes_per_s,
        reserved_bytes=f.memory.reserved_bytes,
        tdp_w=f.power.tdp_w,
        average_utilization_of_tdp=f.power.average_utilization_of_tdp,
        server_to_gpu_power_ratio=f.power.server_to_gpu_power_ratio,
        gpus_per_node=f.node.gpus_per_node,
        scale_up_domain_gpus=f.node.scale_up_domain_gpus or f.node.gpus_per_node,
        intra=_link(f.node.intra_node),
        inter=_link(f.node.scale_out),
        gemm=GemmCurve(
            compute_efficiency=f.efficiency.gemm.compute_efficiency,
            memory_efficiency=f.efficiency.gemm.memory_efficiency,
            p=f.efficiency.gemm.p,
            launch_s=f.efficiency.gemm.launch_s,
            fp8_compute_efficiency=f.efficiency.gemm.fp8_compute_efficiency,
            fp4_compute_efficiency=f.efficiency.gemm.fp4_compute_efficiency,
            gemv_memory_efficiency=f.efficiency.gemm.gemv_memory_efficiency,
        ),
        memory_bandwidth_efficiency=f.efficiency.memory_bandwidth_efficiency,
        flash_attention_efficiency=f.efficiency.flash_attention_efficiency,
        flash1_attention_efficiency=f.efficiency.flash1_attention_efficiency,
        flash2_attention_efficiency=(f.efficiency.flash2_attention_efficiency
                                     or f.efficiency.flash_attention_efficiency),
        kernel_launch_s=f.efficiency.kernel_launch_s,
        **_host(f),
        moe_memory_scale=moe_scale,
        moe_layer_overhead_s=moe_overhead_s,
        moe_measured_on=moe_measured_on,
        sources=tuple(f"{s.title} ({s.where}, {s.date})" for s in f.sources),
        path=path,
    )


@lru_cache(maxsize=256)
def _load_cached(path_str: str, mtime: float) -> Accelerator:
    path = Path(path_str)
    return hardware_from_file(validate_file(HardwareFile, read_yaml(path), path), path_str)


def load_hardware(ref: str | Path | Accelerator) -> Accelerator:
    """An accelerator by shipped id (``h100-sxm-80gb``) or by path to a profile YAML."""
    if isinstance(ref, Accelerator):
        return ref
    path = resolve(ref, HARDWARE_DIR, "hardware")
    return _load_cached(str(path), path.stat().st_mtime)


def hardware_from_yaml_text(text: str, source: str = "<upload>") -> Accelerator:
    """Validate an uploaded hardware profile given as YAML text."""
    return hardware_from_file(validate_file(HardwareFile, parse_yaml_text(text, source), source), source)
