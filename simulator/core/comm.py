"""Collective times on a two-tier link hierarchy (scale-up inside a node, scale-out between).

Alpha-beta model with the nccl-tests bus-bandwidth factors (NVIDIA nccl-tests PERFORMANCE.md):
time = latency + steps * hop_latency + factor * bytes / (link bandwidth * bus efficiency).
`bytes` is always the full buffer size per rank (for all-gather: the gathered output).
All functions broadcast over numpy arrays of group sizes and message sizes.
"""

from __future__ import annotations

import functools

import numpy as np

from simulator.core.hardware import Accelerator, Link

ArrayLike = np.ndarray | float


def _alpha_beta(n: np.ndarray, bytes_: np.ndarray, link: Link, factor: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """latency + steps x hop latency + factor x S / (bandwidth x bus efficiency); with fitted regimes,
    the fastest regime (NCCL picks an algorithm/protocol per size: src/graph/tuning.cc)."""
    regimes = link.regimes or ((link.latency_s, link.bus_efficiency),)
    times = [latency_s + steps * link.hop_latency_s + factor * bytes_ / (link.bandwidth_bytes_per_s * efficiency)
             for latency_s, efficiency in regimes]
    return np.where(n > 1, functools.reduce(np.minimum, times), 0.0)


def ring_allreduce_s(n: ArrayLike, bytes_: ArrayLike, link: Link) -> np.ndarray:
    """Ring all-reduce: 2(n-1)/n * S over the bus bandwidth, 2(n-1) steps (Patarasuk & Yuan 2009)."""
    n = np.asarray(n, dtype=float)
    return _alpha_beta(n, np.asarray(bytes_, dtype=float), link, 2.0 * (n - 1) / np.maximum(n, 1), 2.0 * (n - 1))


def ring_gather_s(n: ArrayLike, bytes_: ArrayLike, link: Link) -> np.ndarray:
    """Ring all-gather or reduce-scatter of a total buffer S: (n-1)/n * S, n-1 steps."""
    n = np.asarray(n, dtype=float)
    return _alpha_beta(n, np.asarray(bytes_, dtype=float), link, (n - 1) / np.maximum(n, 1), n - 1.0)


def alltoall_s(n: ArrayLike, bytes_: ArrayLike, link: Link) -> np.ndarray:
    """All-to-all of S bytes per rank: (n-1)/n * S leaves each rank (nccl-tests busbw factor)."""
    n = np.asarray(n, dtype=float)
    return _alpha_beta(n, np.asarray(bytes_, dtype=float), link, (n - 1) / np.maximum(n, 1), n - 1.0)


def sendrecv_s(bytes_: ArrayLike, link: Link) -> np.ndarray:
    """Point-to-point transfer of S bytes: latency + S / bandwidth (no bus factor)."""
    b = np.asarray(bytes_, dtype=float)
    return np.where(b > 0, link.latency_s + b / (link.bandwidth_bytes_per_s * link.bus_efficiency), 0.0)


def ranks_per_node(n: ArrayLike, stride: ArrayLike, hw: Accelerator) -> np.ndarray:
    """How many members of a group (n ranks, `stride` apart in rank order) share a scale-up domain."""
    n = np.asarray(n, dtype=float)
    stride = np.asarray(stride, dtype=float)
    fit = np.maximum(np.floor(hw.scale_up_domain_gpus / stride), 1.0)
    return np.minimum(n, fit)


def hierarchical_allreduce_s(n: ArrayLike, bytes_: ArrayLike, stride: ArrayLike, hw: Accelerator) -> np.ndarray:
    """Two-level all-reduce: reduce-scatter inside the domain, all-reduce of the 1/g shard across
    domains on every NIC at once, all-gather back (ml-engineering network README, B200 example)."""
    n = np.asarray(n, dtype=float)
    bytes_ = np.asarray(bytes_, dtype=float)
    g = ranks_per_node(n, stride, hw)
    nodes = n / g
    intra = 2.0 * ring_gather_s(g, bytes_, hw.intra)
    inter = ring_allreduce_s(nodes, bytes_ / g, hw.inter)
    # inside one domain it is a plain ring all-reduce (one launch, not a reduce-scatter + all-gather pair)
    return np.where(nodes > 1, intra + inter, ring_allreduce_s(g, bytes_, hw.intra))


def hierarchical_gather_parts_s(n: ArrayLike, bytes_: ArrayLike, stride: ArrayLike,
                                hw: Accelerator) -> tuple[np.ndarray, np.ndarray]:
    """Two-level all-gather (or reduce-scatter) of a total buffer S over n = g x nodes ranks: across
    domains each GPU moves its 1/g slice on its own NIC, then S inside the domain (Chan et al. 2007).
    Returns the (scale-up, scale-out) phase times."""
    n = np.asarray(n, dtype=float)
    bytes_ = np.asarray(bytes_, dtype=float)
    g = ranks_per_node(n, stride, hw)
    nodes = n / g
    return ring_gather_s(g, bytes_, hw.intra), ring_gather_s(nodes, bytes_ / g, hw.inter)


def hierarchical_gather_s(n: ArrayLike, bytes_: ArrayLike, stride: ArrayLike, hw: Accelerator) -> np.ndarray:
    """Two-level all-gather or reduce-scatter time: both phases of hierarchical_gather_parts_s."""
    intra, inter = hierarchical_gather_parts_s(n, bytes_, stride, hw)
    return intra + inter


def overlapped_s(comm_s: ArrayLike, window_s: ArrayLike, penalty: ArrayLike) -> np.ndarray:
    """Time a collective adds when it may hide behind `window_s` of compute: the part that sticks out, plus
    `penalty` (overlap_penalty) of the hidden part, the compute its kernels take (Calculon; Isaev et al. SC'23)."""
    comm_s = np.asarray(comm_s, dtype=float)
    return np.maximum(comm_s - window_s, 0.0) + penalty * np.minimum(comm_s, window_s)


def overlap_penalty(intra_s: ArrayLike, inter_s: ArrayLike, hw: Accelerator) -> np.ndarray:
    """Share of compute lost while a collective overlaps compute: each link's penalty weighted by the
    time the collective spends on it (its two phases; Calculon processor_usage, Isaev et al. SC'23)."""
    intra_s = np.asarray(intra_s, dtype=float)
    total = intra_s + inter_s
    mix = (intra_s * hw.intra.overlap_compute_penalty + inter_s * hw.inter.overlap_compute_penalty) / np.where(total > 0, total, 1.0)
    return np.where(total > 0, mix, hw.intra.overlap_compute_penalty)


def alltoall_hier_s(n: ArrayLike, bytes_: ArrayLike, stride: ArrayLike, hw: Accelerator) -> np.ndarray:
    """All-to-all over a group: the share of the data leaving the domain goes over scale-out."""
    n = np.asarray(n, dtype=float)
    bytes_ = np.asarray(bytes_, dtype=float)
    g = ranks_per_node(n, stride, hw)
    inside = alltoall_s(g, bytes_ * g / np.maximum(n, 1), hw.intra)
    outside_share = (n - g) / np.maximum(n, 1)
    bw = hw.inter.bandwidth_bytes_per_s * hw.inter.bus_efficiency
    outside = np.where(n > g, hw.inter.latency_s + (n - g) * hw.inter.hop_latency_s + outside_share * bytes_ / bw, 0.0)
    return inside + outside
