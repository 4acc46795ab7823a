"""Mixture-of-experts inference: the busiest expert-parallel rank and the routing traffic, checked against a direct
simulation of top-k routing rather than against the formula's own output."""

from __future__ import annotations

import numpy as np
import pytest

import simulator as sim
from simulator.core.inference.kernels import busiest_rank_pairs, layer_elementwise_s


def _simulated_max_rank_load(tokens: int, top_k: int, n_experts: int, ep: int, cv: float, trials=400, seed=1):
    """Monte Carlo: expert popularities with the given cv (gamma), each token picks top_k distinct experts in
    proportion to popularity, experts dealt to ranks in blocks; the mean over trials of the busiest rank's pairs."""
    rng = np.random.default_rng(seed)
    loads = []
    for _ in range(trials):
        if cv > 0:
            shape = 1.0 / cv**2
            pop = rng.gamma(shape, 1.0 / shape, n_experts)
        else:
            pop = np.ones(n_experts)
        keys = rng.random((tokens, n_experts)) ** (1.0 / pop)  # weighted sampling without replacement (Efraimidis)
        chosen = np.argpartition(-keys, top_k - 1, axis=1)[:, :top_k]
        per_expert = np.bincount(chosen.ravel(), minlength=n_experts)
        loads.append(per_expert.reshape(ep, -1).sum(axis=1).max())
    return float(np.mean(loads))


@pytest.mark.parametrize(("tokens", "top_k", "n_experts", "ep", "cv"), [
    (256, 2, 8, 2, 0.0), (256, 2, 8, 8, 0.0), (2048, 8, 256, 8, 0.0), (64, 8, 256, 8, 0.0), (512, 2, 8, 4, 0.3),
])
def test_busiest_rank_matches_simulated_routing(tokens, top_k, n_experts, ep, cv):
    expected = _simulated_max_rank_load(tokens, top_k, n_experts, ep, cv)
    assert float(busiest_rank_pairs(tokens, top_k, n_experts, ep, cv)) == pytest.approx(expected, rel=0.08)


def test_one_rank_takes_every_pair_and_more_ranks_take_fewer():
    assert float(busiest_rank_pairs(100, 2, 8, 1)) == 200.0
    loads = [float(busiest_rank_pairs(1000, 2, 8, ep)) for ep in (1, 2, 4, 8)]
    assert loads == sorted(loads, reverse=True)
    assert all(load >= 2000 / ep for load, ep in zip(loads, (1, 2, 4, 8), strict=True))


def test_imbalance_shrinks_relative_to_the_mean_as_batches_grow():
    ratio = [float(busiest_rank_pairs(t, 8, 256, 8)) / (t * 8 / 8) for t in (16, 256, 4096)]
    assert ratio[0] > ratio[1] > ratio[2] > 1.0


def test_routing_traffic_costs_moe_layers_more_than_their_dense_share():
    """An MoE layer's memory-bound kernels move more than a dense layer of the same hidden size would for its k
    experts' activations alone: the gather and combine of k rows per token."""
    m = sim.load_model("mixtral-8x7b")
    hw = sim.load_hardware("h100-sxm-80gb")
    dep = sim.Deployment(tp=2)
    moe = float(layer_elementwise_s(m, hw, dep, 4096.0, moe_layer=True))
    h, f, k = m.d_model, m.moe.d_ff_expert, m.moe.top_k
    kv = 2 * m.n_kv_heads * m.head_dim / 2
    no_routing_elems = 8 * h + 3 * f * k / 2 + 2 * (m.q_dim / 2 + kv / 2)
    routing_elems = (3 * k + 1) * h
    assert moe > 0
    bw = hw.hbm_bandwidth_bytes_per_s * hw.memory_bandwidth_efficiency
    # the routing share of the traffic is at least its share of the elements moved (16-bit)
    assert moe * bw >= 4096 * 2 * (no_routing_elems + routing_elems) * 0.95
