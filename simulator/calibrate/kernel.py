"""Predict one kernel on one profile with the functions the training model uses (`simulator kernel`)."""

from __future__ import annotations

from typing import Any

from simulator.calibrate.kernels import DTYPE_BYTES, attention_bytes, attention_flop
from simulator.core import comm, roofline
from simulator.core.hardware import Accelerator
from simulator.errors import SimulatorError
from simulator.vocab import COLLECTIVE_OPS, KERNEL_DTYPES, KERNEL_OPS

# nccl-tests bus-bandwidth factors (NVIDIA nccl-tests doc/PERFORMANCE.md): busbw = algbw * factor.
BUS_FACTOR = {"allreduce": lambda n: 2.0 * (n - 1) / n, "allgather": lambda n: (n - 1) / n,
              "reducescatter": lambda n: (n - 1) / n, "alltoall": lambda n: (n - 1) / n, "sendrecv": lambda n: 1.0}


def _bound(parts: dict[str, float]) -> str:
    """The term that dominates the time: latency (fixed cost), compute, memory or network."""
    return max(parts, key=lambda k: parts[k])


def _gemm(hw: Accelerator, m: int, n: int, k: int, dtype: str, batch: int) -> dict[str, Any]:
    if min(m, n, k) < 1:
        raise SimulatorError("gemm needs --m, --n and --k (positive integers)")
    bw = hw.hbm_bandwidth_bytes_per_s
    size = DTYPE_BYTES[dtype]
    out = 2 if dtype == "fp8" else size
    curve = hw.gemm
    eta_b = (curve.gemv_memory_efficiency if curve.gemv_memory_efficiency is not None
             and bool(roofline.is_gemv(m, n)) else curve.memory_efficiency)
    peak = hw.peak(dtype)
    eta = float(curve.compute_efficiency_for(dtype == "fp8"))
    flop = float(roofline.gemm_flop(m, n, k)) * batch
    moved = float(roofline.gemm_bytes(m, n, k, size, out)) * batch
    t = float(roofline.gemm_time_s(m, n, k, peak, bw, curve, size, out, batch, eta))
    parts = {"latency": curve.launch_s, "compute": flop / (eta * peak), "memory": moved / (eta_b * bw)}
    return {"m": m, "n": n, "k": k, "batch": batch, "time_s": t, "flop": flop, "bytes": moved,
            "achieved_flop_per_s": flop / t, "efficiency": flop / t / peak, "bound": _bound(parts)}


def _attention(hw: Accelerator, dtype: str, batch: int, seq_len: int, heads: int, head_dim: int,
               causal: bool) -> dict[str, Any]:
    if min(batch, seq_len, heads, head_dim) < 1:
        raise SimulatorError("attention needs --batch, --seq-len, --heads and --head-dim (positive integers)")
    bw = hw.hbm_bandwidth_bytes_per_s
    peak = hw.peak(dtype)
    flop = attention_flop(batch, seq_len, heads, head_dim, causal)
    moved = attention_bytes(batch, seq_len, heads, head_dim, DTYPE_BYTES[dtype])
    eff = hw.flash_attention_efficiency
    t = float(roofline.flash_attention_time_s(flop, moved, peak, bw, eff, hw.gemm))
    parts = {"latency": hw.gemm.launch_s, "compute": flop / (eff * peak),
             "memory": moved / (hw.gemm.memory_efficiency * bw)}
    return {"batch": batch, "seq_len": seq_len, "heads": heads, "head_dim": head_dim, "causal": causal,
            "time_s": t, "flop": flop, "bytes": moved, "achieved_flop_per_s": flop / t,
            "efficiency": flop / t / peak, "bound": _bound(parts)}


def _copy(hw: Accelerator, bytes_: float) -> dict[str, Any]:
    if bytes_ <= 0:
        raise SimulatorError("copy needs --bytes (bytes moved: read + write)")
    bw = hw.hbm_bandwidth_bytes_per_s
    t = float(roofline.stream_time_s(bytes_, bw, hw.memory_bandwidth_efficiency, 1.0, hw.kernel_launch_s))
    parts = {"latency": hw.kernel_launch_s, "memory": bytes_ / (hw.memory_bandwidth_efficiency * bw)}
    return {"bytes": bytes_, "time_s": t, "achieved_bytes_per_s": bytes_ / t, "efficiency": bytes_ / t / bw,
            "bound": _bound(parts)}


def _collective(hw: Accelerator, op: str, bytes_: float, gpus: int, scope: str | None) -> dict[str, Any]:
    if bytes_ <= 0:
        raise SimulatorError(f"{op} needs --bytes (the buffer per rank; all-gather: the gathered output)")
    n_ranks = 2 if op == "sendrecv" else gpus
    if n_ranks < 2:
        raise SimulatorError(f"{op} needs --gpus >= 2")
    domain = hw.scale_up_domain_gpus
    if scope is None:  # the link a group of this size runs on
        scope = "intra" if n_ranks <= domain else "inter"
    elif scope == "intra" and n_ranks > domain:
        raise SimulatorError(f"{n_ranks} ranks do not fit in one scale-up domain of {hw.id} ({domain} GPUs); "
                             f"use --scope inter or --gpus {domain} or fewer")
    if op == "sendrecv":
        link = hw.intra if scope == "intra" else hw.inter
        t = float(comm.sendrecv_s(bytes_, link))
        t_fixed = float(comm.sendrecv_s(1.0, link))
        peak, g, regimes = link.bandwidth_bytes_per_s, 1.0, bool(link.regimes)
    else:
        # the shared collective functions (training and inference call the same ones): a group inside one
        # domain, one rank per domain (--scope inter on few ranks), or packed domains across the network
        stride = 1.0 if scope == "intra" or n_ranks > domain else float(domain)
        g = float(comm.ranks_per_node(n_ranks, stride, hw))
        t = float(comm.collective_s(op, float(n_ranks), bytes_, stride, hw))
        # the fixed part: the same model at a 1-byte message (latency + hops of the fastest algorithm)
        t_fixed = float(comm.collective_s(op, float(n_ranks), 1.0, stride, hw))
        inter = g * hw.inter.bandwidth_bytes_per_s
        peak = hw.intra.bandwidth_bytes_per_s if g >= n_ranks else (min(hw.intra.bandwidth_bytes_per_s, inter) if g > 1 else inter)
        regimes = bool(hw.intra.regimes if g > 1 else hw.inter.regimes)
    algbw = bytes_ / t
    busbw = algbw * BUS_FACTOR[op](n_ranks)
    return {"bytes": bytes_, "gpus": n_ranks, "scope": scope, "time_s": t, "achieved_bytes_per_s": algbw,
            "bus_bytes_per_s": busbw, "efficiency": busbw / peak,
            "bound": "network" if t - t_fixed >= t_fixed else "latency", "regimes_applied": regimes}


def predict_kernel(hw: Accelerator, op: str, *, m: int = 0, n: int = 0, k: int = 0, dtype: str = "bf16",
                   batch: int = 1, seq_len: int = 0, heads: int = 0, head_dim: int = 0, causal: bool = False,
                   bytes_: float = 0.0, gpus: int = 2, scope: str | None = None) -> dict[str, Any]:
    """Time, achieved rate, efficiency and bound of one kernel (a JSON-ready record)."""
    if dtype not in KERNEL_DTYPES:
        raise SimulatorError(f"unknown --dtype {dtype!r}; choose one of {', '.join(KERNEL_DTYPES)}")
    rec: dict[str, Any] = {"hardware": hw.id, "op": op, "dtype": dtype}
    if op == "gemm":
        rec.update(_gemm(hw, m, n, k, dtype, batch))
    elif op == "attention":
        rec.update(_attention(hw, dtype, batch, seq_len, heads, head_dim, causal))
    elif op == "copy":
        rec.update(_copy(hw, bytes_))
    elif op in COLLECTIVE_OPS:
        rec.update(_collective(hw, op, bytes_, gpus, scope))
    else:
        raise SimulatorError(f"unknown --op {op!r}; choose one of {', '.join(KERNEL_OPS)}")
    return rec
