"""Domain types for accelerators and their links (frozen; no formulas live here)."""

from __future__ import annotations

from dataclasses import dataclass, field

from simulator.errors import PlanError


@dataclass(frozen=True, slots=True)
class Link:
    """One network tier seen by one device: per-device, one-direction bandwidth."""

    bandwidth_bytes_per_s: float
    latency_s: float
    hop_latency_s: float
    bus_efficiency: float
    # fitted (latency_s, bus_efficiency) regimes; a collective takes the fastest (like NCCL's protocols)
    regimes: tuple[tuple[float, float], ...] = ()
    overlap_compute_penalty: float = 0.0  # share of compute lost while a collective here overlaps compute
    # in-network all-reduce (NVLS on NVSwitch, SHARP on the scale-out switch): (latency_s, algbw / bandwidth)
    in_network: tuple[float, float] | None = None
    tree_hop_latency_s: float | None = None  # per level of NCCL's tree across domains (None: hop_latency_s)
    tree_chunk_bytes: float = 0.0  # pipeline chunk of that tree: each level also waits for one chunk to arrive
    alltoall_efficiency: float | None = None  # all-to-all busbw / bandwidth at large sizes (None: bus_efficiency)
    engine_allreduce: bool = True  # serving engines' own all-reduce kernels run here (NVLink); else NCCL


@dataclass(frozen=True, slots=True)
class GemmCurve:
    """Parameters of the p-norm soft roofline for matrix multiplies (see roofline.gemm_time_s)."""

    compute_efficiency: float
    memory_efficiency: float
    p: float
    launch_s: float
    fp8_compute_efficiency: float | None = None
    fp4_compute_efficiency: float | None = None  # fp4 GEMMs; None: the fp8 value
    gemv_memory_efficiency: float | None = None  # memory cap when M or N is 1 (BLAS GEMV, no packing)

    def compute_efficiency_for_dtype(self, dtype: str) -> float:
        """Compute cap of GEMMs in one dtype: fp4, else fp8 (int8 alike), else the 16-bit value."""
        fp8 = self.fp8_compute_efficiency or self.compute_efficiency
        if dtype == "fp4":
            return self.fp4_compute_efficiency or fp8
        return fp8 if dtype in ("fp8", "int8") else self.compute_efficiency

    def compute_efficiency_for(self, fp8):
        """Per-plan compute cap: the fp8 value where the plan runs fp8 GEMMs."""
        import numpy as np

        fp8_eff = self.fp8_compute_efficiency or self.compute_efficiency
        return np.where(fp8, fp8_eff, self.compute_efficiency)


@dataclass(frozen=True, slots=True)
class Accelerator:
    id: str
    name: str
    vendor: str
    peak_flop_per_s: dict[str, float]
    hbm_bytes: float
    hbm_bandwidth_bytes_per_s: float
    reserved_bytes: float
    tdp_w: float
    average_utilization_of_tdp: float
    server_to_gpu_power_ratio: float
    gpus_per_node: int
    scale_up_domain_gpus: int
    intra: Link
    inter: Link
    gemm: GemmCurve
    memory_bandwidth_efficiency: float
    flash_attention_efficiency: float
    flash1_attention_efficiency: float
    kernel_launch_s: float
    flash2_attention_efficiency: float | None = None  # FlashAttention-2 kernels; None: flash_attention_efficiency
    host_cpu: str = "unknown (reference host speed assumed)"
    host_speed: float = 1.0  # host single-thread speed over the reference host (DGX A100, 2x EPYC 7742)
    # fused mixture-of-experts layers (hardware_profiles/kernels/fused_moe.yaml): the routed experts' weight streaming
    # over the GEMM curve's, and the layer's fixed time beyond its two GEMM launches; 1 and 0: the GEMM curve as is
    moe_memory_scale: float = 1.0
    moe_layer_overhead_s: float = 0.0
    moe_measured_on: tuple[str, ...] = ()  # the accelerators whose fused-MoE kernels those figures were fitted on
    sources: tuple[str, ...] = field(default=())
    path: str = ""

    @property
    def usable_memory_bytes(self) -> float:
        return self.hbm_bytes - self.reserved_bytes

    def peak(self, dtype: str) -> float:
        """Dense peak FLOP/s for a dtype; a clear error if the device lacks it."""
        value = self.peak_flop_per_s.get(dtype)
        if value is None:
            have = ", ".join(sorted(self.peak_flop_per_s))
            raise PlanError(
                f"{self.id} has no {dtype} peak in its profile (it has: {have}); "
                f"choose another precision (dtype)"
            )
        return value

