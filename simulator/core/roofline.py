"""Kernel times from FLOP, bytes and shape through the profile's calibrated curves.

All functions take numpy arrays (or scalars) and broadcast, so one call times many plans.
"""

from __future__ import annotations

import numpy as np

from simulator.core.hardware import GemmCurve

ArrayLike = np.ndarray | float


def soft_roofline_s(flop: ArrayLike, bytes_moved: ArrayLike, peak_flop_per_s: float,
                    bandwidth_bytes_per_s: float, curve: GemmCurve) -> np.ndarray:
    """p-norm soft roofline with a launch floor (microbench_anchors 3.1; cf. Calculon's caps):
    t = t0 + ((F / (eta_f P))^p + (B / (eta_b BW))^p)^(1/p)."""
    t_compute = np.asarray(flop, dtype=float) / (curve.compute_efficiency * peak_flop_per_s)
    t_memory = np.asarray(bytes_moved, dtype=float) / (curve.memory_efficiency * bandwidth_bytes_per_s)
    p = curve.p
    return curve.launch_s + (t_compute**p + t_memory**p) ** (1.0 / p)


def gemm_flop(m: ArrayLike, n: ArrayLike, k: ArrayLike) -> np.ndarray:
    """Multiply-adds of an (m x k) @ (k x n) product count 2 FLOP each."""
    return 2.0 * np.asarray(m, dtype=float) * n * k


def gemm_bytes(m: ArrayLike, n: ArrayLike, k: ArrayLike, in_bytes: ArrayLike, out_bytes: ArrayLike) -> np.ndarray:
    """Minimum traffic of a GEMM: read both operands once, write the result once."""
    m = np.asarray(m, dtype=float)
    return (m * k + np.asarray(k, dtype=float) * n) * in_bytes + m * n * out_bytes


def gemm_time_s(m: ArrayLike, n: ArrayLike, k: ArrayLike, peak_flop_per_s: ArrayLike,
                bandwidth_bytes_per_s: float, curve: GemmCurve, in_bytes: ArrayLike = 2.0,
                out_bytes: ArrayLike = 2.0, batch: ArrayLike = 1.0,
                compute_efficiency: ArrayLike | None = None) -> np.ndarray:
    """Time of `batch` independent (m x k)@(k x n) GEMMs on one device via the soft roofline."""
    flop = gemm_flop(m, n, k) * batch
    moved = gemm_bytes(m, n, k, in_bytes, out_bytes) * batch
    eta = curve.compute_efficiency if compute_efficiency is None else compute_efficiency
    t_c = flop / (eta * np.asarray(peak_flop_per_s, dtype=float))
    eta_b: ArrayLike = curve.memory_efficiency
    if curve.gemv_memory_efficiency is not None:  # matrix-vector products stream without operand packing
        eta_b = np.where(is_gemv(m, n), curve.gemv_memory_efficiency, eta_b)
    t_m = moved / (eta_b * bandwidth_bytes_per_s)
    p = curve.p
    return curve.launch_s + (t_c**p + t_m**p) ** (1.0 / p)


def is_gemv(m: ArrayLike, n: ArrayLike) -> np.ndarray:
    """A GEMM with one output dimension of 1 runs as a matrix-vector product: BLAS streams the matrix
    once without packing operands (OpenBLAS interface/gemm.c dispatches M or N = 1 to GEMV)."""
    return (np.asarray(m) == 1) | (np.asarray(n) == 1)


def attention_flop(batch: ArrayLike, q_len: ArrayLike, kv_len: ArrayLike, heads: ArrayLike, d_qk: ArrayLike,
                   d_v: ArrayLike, causal: bool) -> np.ndarray:
    """Forward FLOP of the score and context matmuls, 2*q*kv*heads*(d_qk + d_v), halved when causal
    (Dao 2023, FlashAttention-2, sec. 4: 4 s^2 d h per sequence for d_qk = d_v)."""
    return 2.0 * np.asarray(batch, dtype=float) * q_len * kv_len * heads * (np.asarray(d_qk) + d_v) * (
        0.5 if causal else 1.0)


def stream_time_s(bytes_moved: ArrayLike, bandwidth_bytes_per_s: float, efficiency: float,
                  n_kernels: ArrayLike = 1.0, launch_s: float = 0.0) -> np.ndarray:
    """Memory-bound kernels (norms, activations, optimizer): bytes over achieved bandwidth
    plus a launch cost per kernel (Williams et al. 2009 roofline, bandwidth side)."""
    return np.asarray(bytes_moved, dtype=float) / (efficiency * bandwidth_bytes_per_s) + np.asarray(n_kernels) * launch_s


def flash_attention_time_s(flop: ArrayLike, bytes_moved: ArrayLike, peak_flop_per_s: ArrayLike,
                           bandwidth_bytes_per_s: float, efficiency: float, curve: GemmCurve) -> np.ndarray:
    """Fused attention: the GEMM soft roofline with the measured flash-attention efficiency as
    the compute cap (Dao 2023, FlashAttention-2, section 4)."""
    p = curve.p
    t_c = np.asarray(flop, dtype=float) / (efficiency * peak_flop_per_s)
    t_m = np.asarray(bytes_moved, dtype=float) / (curve.memory_efficiency * bandwidth_bytes_per_s)
    return curve.launch_s + (t_c**p + t_m**p) ** (1.0 / p)
