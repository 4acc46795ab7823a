"""Collective times on a two-tier link hierarchy (scale-up inside a domain, scale-out between domains).

One function per collective, shared by `simulator kernel`, the training model and the inference model:
hierarchical_allreduce_s, hierarchical_gather_s (+ _parts_s), alltoall_hier_s, sendrecv_s; `collective_s`
dispatches by name. Single-link building blocks: ring_allreduce_s, ring_gather_s, alltoall_s.

Alpha-beta form with the nccl-tests bus-bandwidth factors (NVIDIA nccl-tests doc/PERFORMANCE.md):
time = latency + steps x hop latency + factor x bytes / bus bandwidth. NCCL picks the fastest
algorithm/protocol per call (src/graph/tuning.cc), so every function takes the fastest of:
- inside one domain: the link's fitted protocol regimes (LL/LL128/Simple-like latency, efficiency pairs), and,
  for all-reduce, in-network reduction (NVLS) when the profile declares it (its time is S / algbw, so its busbw
  grows as 2(g-1)/g: Bekman's NVLS-by-GPU-count table);
- across domains: a ring over all n = g x k ranks, pipelined so NVLink and NICs work at once, its bus bandwidth
  min(scale-up busbw, g x NIC busbw) (every GPU drives its own NIC), one network hop latency per ring step;
  and, for all-reduce, NCCL's (NVLS)Tree: the intra-domain reduction pipelined with a double binary tree
  across domains (latency per tree level; per-NIC volume S/g at 2 domains, 2S/g beyond: each domain is
  interior in one tree, leaf in the other).
`bytes` is always the full buffer size per rank (for all-gather: the gathered output).
All functions broadcast over numpy arrays of group sizes and message sizes.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from simulator.core.hardware import Accelerator, Link

ArrayLike = np.ndarray | float


def _regimes(link: Link) -> tuple[tuple[float, float], ...]:
    return link.regimes or ((link.latency_s, link.bus_efficiency),)


def _alpha_beta(n: np.ndarray, bytes_: np.ndarray, link: Link, factor: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """latency + steps x hop latency + factor x S / (bandwidth x bus efficiency); with fitted regimes,
    the fastest regime (NCCL picks an algorithm/protocol per size: src/graph/tuning.cc)."""
    times = [latency_s + steps * link.hop_latency_s + factor * bytes_ / (link.bandwidth_bytes_per_s * efficiency)
             for latency_s, efficiency in _regimes(link)]
    return np.where(n > 1, functools.reduce(np.minimum, times), 0.0)


def _in_network_s(bytes_: np.ndarray, link: Link) -> np.ndarray:
    """All-reduce reduced in the switch (NVLS / SHARP): latency + S / algbw; inf where the link has none."""
    inr = link.in_network
    if inr is None:
        return np.full(np.shape(bytes_), np.inf)
    return inr[0] + bytes_ / (link.bandwidth_bytes_per_s * inr[1])


def without_in_network(link: Link) -> Link:
    """The link with in-network reduction switched off (NCCL_NVLS_ENABLE=0 / NCCL_ALGO=Ring)."""
    return dataclasses.replace(link, in_network=None)


def ring_allreduce_s(n: ArrayLike, bytes_: ArrayLike, link: Link) -> np.ndarray:
    """All-reduce on one link: ring, 2(n-1)/n * S over the bus bandwidth, 2(n-1) steps (Patarasuk & Yuan
    2009), or the link's in-network reduction (NVLS) where it declares one and it is faster."""
    n = np.asarray(n, dtype=float)
    b = np.asarray(bytes_, dtype=float)
    ring = _alpha_beta(n, b, link, 2.0 * (n - 1) / np.maximum(n, 1), 2.0 * (n - 1))
    return np.where(n > 1, np.minimum(ring, _in_network_s(b, link)), 0.0)


def engine_allreduce_s(n: ArrayLike, bytes_: ArrayLike, link: Link) -> np.ndarray:
    """All-reduce by a serving engine's own kernel inside the scale-up domain (vLLM custom_all_reduce, TensorRT-LLM's
    AllReduce plugin): the ring cost at the link's base latency, not NCCL's fitted protocol regimes or NVLS."""
    return ring_allreduce_s(n, bytes_, dataclasses.replace(link, regimes=(), in_network=None))


def ring_gather_s(n: ArrayLike, bytes_: ArrayLike, link: Link) -> np.ndarray:
    """Ring all-gather or reduce-scatter of a total buffer S: (n-1)/n * S, n-1 steps."""
    n = np.asarray(n, dtype=float)
    return _alpha_beta(n, np.asarray(bytes_, dtype=float), link, (n - 1) / np.maximum(n, 1), n - 1.0)


def _alltoall_link(link: Link) -> Link:
    """The link as all-to-all sees it: every regime's efficiency scaled by alltoall_efficiency / bus_efficiency
    (point-to-point to every peer reaches less than a ring: GTC25 S72583 slides 12-13)."""
    if link.alltoall_efficiency is None:
        return link
    scale = link.alltoall_efficiency / link.bus_efficiency
    return dataclasses.replace(link, bus_efficiency=link.alltoall_efficiency,
                               regimes=tuple((lat, eff * scale) for lat, eff in link.regimes))


def alltoall_s(n: ArrayLike, bytes_: ArrayLike, link: Link) -> np.ndarray:
    """All-to-all of S bytes per rank: (n-1)/n * S leaves each rank (nccl-tests busbw factor)."""
    n = np.asarray(n, dtype=float)
    return _alpha_beta(n, np.asarray(bytes_, dtype=float), _alltoall_link(link), (n - 1) / np.maximum(n, 1), n - 1.0)


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


def _levels(n: ArrayLike, bytes_: ArrayLike, stride: ArrayLike, hw: Accelerator):
    n = np.asarray(n, dtype=float)
    b = np.asarray(bytes_, dtype=float)
    g = ranks_per_node(n, stride, hw)
    return n, b, g, n / g


def _ring_bus_bw(g: np.ndarray, hw: Accelerator) -> np.ndarray:
    """Bus bandwidth of a ring that spans domains: NVLink and every member's NIC work at once, so the slower of
    the scale-up ring and g NICs (nccl-tests PERFORMANCE.md; GTC24 S62129: DGX H100 multi-node ~ NVLink busbw)."""
    intra = hw.intra.bandwidth_bytes_per_s * hw.intra.bus_efficiency
    inter = g * hw.inter.bandwidth_bytes_per_s * hw.inter.bus_efficiency
    return np.where(g > 1, np.minimum(intra, inter), inter)


def _cross_latency(hw: Accelerator, steps: ArrayLike) -> np.ndarray:
    """Fixed cost of a ring across domains: the slower tier's base latency, one network hop per ring step
    (every step waits for the ring's network edge)."""
    return max(hw.intra.latency_s, hw.inter.latency_s) + np.asarray(steps, dtype=float) * hw.inter.hop_latency_s


def _tree_allreduce_s(b: np.ndarray, g: np.ndarray, k: np.ndarray, hw: Accelerator) -> np.ndarray:
    """NCCL (NVLS)Tree all-reduce across k domains: the domain reduction (NVLS or a chain of g GPUs) pipelined
    with a double binary tree between domains; latency per tree level (2 log2 k levels: up and down)."""
    intra_bw = hw.intra.bandwidth_bytes_per_s * hw.intra.bus_efficiency
    intra = np.where(g > 1, np.minimum(2.0 * (g - 1) / g * b / intra_bw, _in_network_s(b, hw.intra)), 0.0)
    per_nic = np.where(k > 2, 2.0, 1.0) * b / g
    inter = per_nic / (hw.inter.bandwidth_bytes_per_s * hw.inter.bus_efficiency)
    tree_hop = hw.inter.tree_hop_latency_s if hw.inter.tree_hop_latency_s is not None else hw.inter.hop_latency_s
    tree_hop = tree_hop + np.minimum(b, hw.inter.tree_chunk_bytes) / (hw.inter.bandwidth_bytes_per_s * hw.inter.bus_efficiency)
    latency = (max(hw.intra.latency_s, hw.inter.latency_s) + 2.0 * (g - 1) * hw.intra.hop_latency_s
               + 2.0 * np.ceil(np.log2(np.maximum(k, 2.0))) * tree_hop)
    return latency + np.maximum(intra, inter)


def hierarchical_allreduce_s(n: ArrayLike, bytes_: ArrayLike, stride: ArrayLike, hw: Accelerator,
                             in_network: bool = True) -> np.ndarray:
    """All-reduce over n ranks `stride` apart: inside one domain ring_allreduce_s on the scale-up link (with
    NVLS where declared); across domains the fastest of a pipelined ring, the (NVLS)Tree, and the scale-out
    in-network reduction (SHARP) where the profile declares it. `in_network=False`: no NVLS/SHARP."""
    n, b, g, k = _levels(n, bytes_, stride, hw)
    intra_link = hw.intra if in_network else without_in_network(hw.intra)
    inner = ring_allreduce_s(g, b, intra_link)
    hw2 = hw if in_network else dataclasses.replace(hw, intra=intra_link, inter=without_in_network(hw.inter))
    ring = _cross_latency(hw2, 2.0 * (n - 1)) + 2.0 * (n - 1) / np.maximum(n, 1) * b / _ring_bus_bw(g, hw2)
    tree = _tree_allreduce_s(b, g, k, hw2)
    sharp = inner + _in_network_s(b / np.maximum(g, 1), hw2.inter) if in_network else np.inf
    return np.where(k > 1, np.minimum(np.minimum(ring, tree), sharp), inner)


def hierarchical_gather_parts_s(n: ArrayLike, bytes_: ArrayLike, stride: ArrayLike,
                                hw: Accelerator) -> tuple[np.ndarray, np.ndarray]:
    """All-gather (or reduce-scatter) of a total buffer S over n = g x k ranks, as (scale-up, scale-out) parts
    that sum to the time. Inside one domain: ring_gather_s on NVLink. Across domains: one ring over all ranks,
    pipelined (bus bandwidth min(NVLink busbw, g NICs), a network hop per step); the time is split between the
    tiers in proportion to the time each tier's own traffic needs (for the overlap penalty)."""
    n, b, g, k = _levels(n, bytes_, stride, hw)
    inner = ring_gather_s(g, b, hw.intra)
    total = _cross_latency(hw, n - 1.0) + (n - 1) / np.maximum(n, 1) * b / _ring_bus_bw(g, hw)
    t_intra = np.where(g > 1, (g - 1) / g * b / (hw.intra.bandwidth_bytes_per_s * hw.intra.bus_efficiency), 0.0)
    t_inter = (k - 1) / np.maximum(k, 1) * b / g / (hw.inter.bandwidth_bytes_per_s * hw.inter.bus_efficiency)
    share = t_intra / np.maximum(t_intra + t_inter, 1e-300)
    cross = k > 1
    return np.where(cross, total * share, inner), np.where(cross, total * (1.0 - share), 0.0)


def hierarchical_gather_s(n: ArrayLike, bytes_: ArrayLike, stride: ArrayLike, hw: Accelerator) -> np.ndarray:
    """All-gather or reduce-scatter time: both parts of hierarchical_gather_parts_s."""
    intra, inter = hierarchical_gather_parts_s(n, bytes_, stride, hw)
    return intra + inter


def alltoall_hier_s(n: ArrayLike, bytes_: ArrayLike, stride: ArrayLike, hw: Accelerator) -> np.ndarray:
    """All-to-all of S bytes per rank over n = g x k ranks. Inside one domain: alltoall_s on NVLink (its
    regimes). Across domains: (g-1)/n of S over NVLink and (n-g)/n over the rank's own NIC at the same time,
    the slower sets the time; the scale-out latency plus one network hop per peer."""
    n, b, g, k = _levels(n, bytes_, stride, hw)
    inner = alltoall_s(g, b, hw.intra)
    intra, inter = _alltoall_link(hw.intra), _alltoall_link(hw.inter)
    t_intra = (g - 1) / np.maximum(n, 1) * b / (intra.bandwidth_bytes_per_s * intra.bus_efficiency)
    t_inter = (n - g) / np.maximum(n, 1) * b / (inter.bandwidth_bytes_per_s * inter.bus_efficiency)
    cross = _cross_latency(hw, n - 1.0) + np.maximum(t_intra, t_inter)
    return np.where(k > 1, cross, inner)


def collective_s(op: str, n: ArrayLike, bytes_: ArrayLike, stride: ArrayLike, hw: Accelerator,
                 in_network: bool = True) -> np.ndarray:
    """Time of one named collective (allreduce, allgather, reducescatter, alltoall) over n ranks `stride` apart:
    the same functions the training and inference models call."""
    if op == "allreduce":
        return hierarchical_allreduce_s(n, bytes_, stride, hw, in_network)
    if op in ("allgather", "reducescatter"):
        return hierarchical_gather_s(n, bytes_, stride, hw)
    if op == "alltoall":
        return alltoall_hier_s(n, bytes_, stride, hw)
    raise ValueError(f"unknown collective {op!r}")


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
