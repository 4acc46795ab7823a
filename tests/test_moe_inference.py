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


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_attention_data_parallel_dense_model_is_eight_replicas(engine):
    """tp 8 with 8 attention groups of one GPU each, on a dense model, is 8 independent one-GPU replicas: the same
    weights per GPU, 8 times the KV cache, and a batch of 8B decodes as fast as B on one GPU. vLLM runs a scheduler
    per group (its caps count 8 times); SGLang's caps bound the whole replica (given 8 times as large)."""
    m, hw = sim.load_model("llama3.1-8b"), sim.load_hardware("h100-sxm-80gb")
    one = sim.Deployment(tp=1, max_seqs=256, engine=engine)
    per_group = sim.ENGINES[engine].caps_per_attention_group
    assert per_group == (engine == "vllm")
    k = 1 if per_group else 8
    dp8 = sim.Deployment(tp=8, dp_attention=8, max_seqs=k * 256, max_batched_tokens=k * one.token_cap, engine=engine)
    assert (dp8.seq_cap, dp8.token_cap) == (8 * one.seq_cap, 8 * one.token_cap)
    m1, m8 = sim.memory_plan(m, hw, one), sim.memory_plan(m, hw, dp8)
    assert m8.weights_bytes_per_gpu == pytest.approx(m1.weights_bytes_per_gpu)
    assert m8.workspace_bytes_per_gpu == pytest.approx(m1.workspace_bytes_per_gpu)
    prof = sim.ENGINES[engine]
    if prof.memory_fraction(hw.hbm_bytes, 1) == prof.memory_fraction(hw.hbm_bytes, 8):
        assert m8.kv_capacity_tokens == 8 * m1.kv_capacity_tokens
    else:  # SGLang reserves more memory on larger tp (its reserved_gib_by_memory rule)
        assert 7 * m1.kv_capacity_tokens < m8.kv_capacity_tokens < 8 * m1.kv_capacity_tokens
    r1 = sim.estimate_inference(m, hw, one, batch=32, input_len=512, output_len=128)
    r8 = sim.estimate_inference(m, hw, dp8, batch=256, input_len=512, output_len=128)
    assert r8.tpot_s == pytest.approx(r1.tpot_s, rel=0.02)
    assert r8.output_tokens_per_s == pytest.approx(8 * r1.output_tokens_per_s, rel=0.03)


def test_engine_caps_count_per_attention_group_where_the_engine_schedules_per_group():
    """TensorRT-LLM's PyTorch executor and vLLM's DP engine cores schedule each attention group on its own, so
    max_seqs / max_batched_tokens hold per group; the launch settings keep the engine's own (per-group) figure."""
    trt = sim.Deployment(tp=4, ep=4, dp_attention=4, engine="trtllm", max_seqs=256, max_batched_tokens=2048)
    assert (trt.engine_seq_cap, trt.seq_cap, trt.token_cap) == (256, 1024, 8192)
    assert "max-seqs 256 x4 groups" in trt.label()
    plain = sim.Deployment(tp=4, ep=4, engine="trtllm", max_seqs=256)
    assert plain.seq_cap == 256 and "groups" not in plain.label()
    sgl = sim.Deployment(tp=4, ep=4, dp_attention=4, engine="sglang", max_seqs=256)
    assert sgl.seq_cap == 256


def test_attention_data_parallel_holds_more_mla_sequences_than_tensor_parallel():
    """MLA caches one latent per token that every TP rank keeps whole; attention groups each keep their own
    sequences only, so 8 groups hold several times the sequences (less the attention weights they replicate)."""
    m, hw = sim.load_model("deepseek-v3"), sim.load_hardware("h200-sxm-141gb")
    tp = sim.memory_plan(m, hw, sim.Deployment(tp=8, ep=8, precision="fp8"))
    dp = sim.memory_plan(m, hw, sim.Deployment(tp=8, ep=8, dp_attention=8, precision="fp8"))
    assert dp.kv_bytes_per_token_per_gpu == tp.kv_bytes_per_token_per_gpu
    assert dp.weights_bytes_per_gpu > tp.weights_bytes_per_gpu
    assert 3 * tp.kv_capacity_tokens < dp.kv_capacity_tokens < 8 * tp.kv_capacity_tokens


def test_attention_groups_must_divide_tp(capsys):
    from tests.cli_util import run_cli

    code, out, err = run_cli(capsys, ["infer", "--model", "deepseek-v3", "--hardware", "h200-sxm-141gb", "--tp", "8",
                                      "--dp-attention", "3", "--input-len", "10", "--output-len", "10"])
    assert code == 2 and out == ""
    line, = err.strip().splitlines()
    assert "--dp-attention 3" in line and "--tp 8" in line


@pytest.mark.parametrize("engine, seqs, tokens", [("trtllm", 8, 2048), ("sglang", 32, 8192)])
def test_one_prompt_is_prefilled_by_one_attention_group(engine, seqs, tokens):
    """A request runs on one attention group, so its prefill chunk is bounded by one group's token budget (2,048 of
    the replica's 8,192 here, TensorRT-LLM's per-group cap or SGLang's chunked_prefill_size // dp_size): a lone 8k
    prompt takes four chunks, where one replica-wide scheduler without groups takes one."""
    wl = sim.make_workload(1, input_len=8192, output_len=4, rate_per_s=1.0)

    def events(dep):
        return sim.simulate_serving("llama3.1-8b", "h100-sxm-80gb", sim.ServingConfig(dep), wl).summary["sim_events"]

    grouped = sim.Deployment(tp=4, dp_attention=4, engine=engine, max_seqs=seqs, max_batched_tokens=tokens)
    assert grouped.token_cap == 8192
    assert events(grouped) == events(sim.Deployment(tp=4, engine=engine, max_seqs=32, max_batched_tokens=8192)) + 3
