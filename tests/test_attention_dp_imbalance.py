"""Attention data parallelism with MoE layers: the groups wait for each other at every MoE layer, so the busiest
group's prompts set the pace of an iteration (TensorRT-LLM tech blog 10, ADP Balance Strategy); a dense model's groups
run as independent replicas. Checked on properties the old even-share model breaks, not against the code's output."""

from __future__ import annotations

import numpy as np
import pytest

import simulator as sim
from simulator.core.inference import IterationCostTable, iteration_time_s, prefill_time_s
from simulator.core.inference.iteration import busiest_group_prefill, lockstep_groups
from simulator.core.inference.kernels import attention_dp_view, expert_elementwise_s, layer_elementwise_s
from simulator.serving import ServingConfig, simulate_serving
from simulator.serving.workload import Workload

MOE, DENSE = sim.load_model("mixtral-8x7b"), sim.load_model("llama3.1-8b")
H100 = sim.load_hardware("h100-sxm-80gb")


def _dp4(**kw):
    return sim.Deployment(tp=4, dp_attention=4, precision="fp8", kv_precision="fp8", engine="trtllm", **kw)


def test_prompts_are_dealt_round_robin_largest_first():
    assert busiest_group_prefill([100, 500, 300, 200], 2) == 500 + 200
    assert busiest_group_prefill([100, 500, 300, 200], 4) == 500
    assert busiest_group_prefill([100, 500, 300, 200], 8) == 500
    assert busiest_group_prefill([700], 4) == 700
    # each group schedules its own requests within its own token budget: no more than that on one group
    assert busiest_group_prefill([6144, 6144, 6144, 4000, 2000], 4, group_budget=6144) == 6144
    assert busiest_group_prefill([2047, 2047, 2047, 2047, 3], 4, group_budget=2047) == 2048  # never below even
    assert busiest_group_prefill([100, 500], 1) is None  # one group: the whole batch, no share to take
    assert busiest_group_prefill([], 4) is None


def test_only_groups_with_moe_layers_wait_for_each_other():
    assert lockstep_groups(MOE, _dp4(ep=4)) == 4
    assert lockstep_groups(DENSE, _dp4()) == 1
    assert lockstep_groups(MOE, sim.Deployment(tp=4, ep=4)) == 1


def test_one_prompt_costs_its_group_what_four_prompts_cost_each_group():
    """Four prompts on four groups give each group one; one prompt gives one group the same one and the others
    nothing: the group-side work (memory-bound kernels, attention) of the busiest group is the same. The even-share
    model costed the lone prompt at a quarter of it."""
    dep = _dp4(ep=4)
    one = sim.estimate_inference(MOE, H100, dep, batch=1, input_len=2000, output_len=2).record["prefill_breakdown_s"]
    four = sim.estimate_inference(MOE, H100, dep, batch=4, input_len=2000, output_len=2).record["prefill_breakdown_s"]
    assert one["attention"] == pytest.approx(four["attention"], rel=1e-12)
    assert one["linear"] < four["linear"]  # the experts see every group's tokens
    # the memory-bound kernels: the group's own part the same, the experts' part on four times the tokens
    experts = MOE.n_moe_layers * (float(expert_elementwise_s(MOE, H100, dep, 8000.0))
                                  - float(expert_elementwise_s(MOE, H100, dep, 2000.0)))
    assert four["elementwise"] - one["elementwise"] == pytest.approx(experts, rel=1e-9)


def test_a_dense_models_groups_share_the_prompts_evenly():
    dep = _dp4()
    one = sim.estimate_inference(DENSE, H100, dep, batch=1, input_len=2000, output_len=2).record["prefill_breakdown_s"]
    four = sim.estimate_inference(DENSE, H100, dep, batch=4, input_len=2000, output_len=2).record["prefill_breakdown_s"]
    quarter = DENSE.n_layers * float(layer_elementwise_s(DENSE, H100, attention_dp_view(dep), 500.0))
    assert one["elementwise"] == pytest.approx(quarter, rel=1e-9)  # each group a quarter of the lone prompt
    assert one["elementwise"] < four["elementwise"]


def test_busier_group_takes_longer():
    """The same batch, more of its prompt tokens on the busiest group: the iteration only gets longer."""
    dep = _dp4(ep=4)
    times = [float(iteration_time_s(MOE, H100, dep, prefill_tokens=4000, prefill_pairs=4000 * 500.5, decode_seqs=64,
                                    decode_context_tokens=64 * 3000, group_prefill_tokens=g)["total"])
             for g in (1000, 2000, 3000, 4000)]
    assert times == sorted(times) and times[-1] > 1.05 * times[0]


def test_cost_table_equals_core_with_a_busiest_group():
    dep = _dp4(ep=4)
    table = IterationCostTable(MOE, H100, dep, 4096, 257)
    rng = np.random.default_rng(0)
    for _ in range(30):
        chunks = [int(c) for c in rng.integers(1, 900, int(rng.integers(1, 7)))]
        pt, ds = sum(chunks), int(rng.integers(0, 256))
        g = busiest_group_prefill(chunks, 4)
        pairs = float(sum(c * (c + 1) / 2 for c in chunks))
        ctx = float(ds * rng.integers(1, 4000))
        core = iteration_time_s(MOE, H100, dep, prefill_tokens=pt, prefill_pairs=pairs, decode_seqs=ds,
                                decode_context_tokens=ctx, logits=ds + len(chunks), group_prefill_tokens=g)["total"]
        got = table.time_s(pt, pairs, 0.0, ds, ctx, ds + len(chunks), None, g)
        assert got == pytest.approx(float(core), rel=1e-9)


def test_speculative_decoding_keeps_an_even_share_in_infer_and_serve_alike():
    """The rule does not cover a verify pass or a draft yet: with speculative decoding both keep the even share, so
    serve's lone request still matches infer's prefill."""
    dep = _dp4(ep=4, max_batched_tokens=4096, speculative=sim.SpeculativeDecoding(2, 0.7))
    assert lockstep_groups(MOE, dep) == 1
    wl = Workload(np.array([0.0]), np.array([3000]), np.array([4]))
    r = simulate_serving(MOE, H100, ServingConfig(dep), wl).requests.iloc[0]
    ttft = sim.estimate_inference(MOE, H100, dep, batch=1, input_len=3000, output_len=4).ttft_s
    assert r["ttft_s"] == pytest.approx(ttft, rel=1e-9)


def test_serving_a_lone_request_matches_the_static_prefill():
    """serve deals the prompt to one group as infer does: a lone request's TTFT is one prefill iteration of one
    prompt (prefill_time_s), which the even share would have costed cheaper."""
    dep = _dp4(ep=4, max_batched_tokens=4096)
    wl = Workload(np.array([0.0]), np.array([3000]), np.array([4]))
    r = simulate_serving(MOE, H100, ServingConfig(dep), wl).requests.iloc[0]
    assert r["ttft_s"] == pytest.approx(float(prefill_time_s(MOE, H100, dep, 1, 3000)), rel=1e-9)
    even = iteration_time_s(MOE, H100, dep, prefill_tokens=3000, prefill_pairs=3000 * 3001 / 2, logits=1)["total"]
    assert r["ttft_s"] > float(even)


def test_readme_quotes_the_lone_prompt_ttft_it_computes():
    """The README's DeepSeek-V3 example (a 4,000-token prompt on 8 x H200, 8 attention groups vs tp 8) is computed."""
    from pathlib import Path

    m, hw = sim.load_model("deepseek-v3"), sim.load_hardware("h200-sxm-141gb")

    def ttft_ms(dp: int) -> float:
        dep = sim.Deployment(tp=8, ep=8, dp_attention=dp, precision="fp8", engine="trtllm")
        return 1e3 * sim.estimate_inference(m, hw, dep, batch=1, input_len=4000, output_len=200).ttft_s

    grouped, plain = ttft_ms(8), ttft_ms(1)
    assert grouped > 2 * plain  # one group of one GPU prefills the whole prompt
    text = " ".join((Path(__file__).resolve().parent.parent / "README.md").read_text().split())
    assert f"TTFT {grouped:.0f} ms, where tp 8 without groups takes {plain:.0f} ms" in text


def test_one_decoding_sequence_costs_its_group_what_one_sequence_per_group_costs():
    """Decodes go to the groups as whole sequences: one sequence on four groups sits on one of them, so the busiest
    group's decode attention and LM head are those of one sequence per group (the even share costed a quarter)."""
    dep = _dp4(ep=4)
    one = sim.estimate_inference(MOE, H100, dep, batch=1, input_len=30000, output_len=64).record["decode_breakdown_s"]
    four = sim.estimate_inference(MOE, H100, dep, batch=4, input_len=30000, output_len=64).record["decode_breakdown_s"]
    assert one["attention"] == pytest.approx(four["attention"], rel=1e-12)
    assert one["lm_head"] == pytest.approx(four["lm_head"], rel=1e-12)


def test_decode_runs_leap_to_the_same_floats_with_groups():
    """The serving loop's vectorised decode steps (decode_times_s) equal its one-step costing (time_s) when the
    decodes do not divide over the groups."""
    table = IterationCostTable(MOE, H100, _dp4(ep=4), 4096, 257)
    for n in (1, 3, 5, 64, 257):
        contexts = np.array([n * 100.0, n * 5000.0])
        steps = table.decode_times_s(n, contexts)
        assert list(steps) == [table.time_s(0, 0.0, 0.0, n, float(x), n) for x in contexts]


def test_serving_a_lone_request_decodes_as_infer_does():
    dep = _dp4(ep=4)
    wl = Workload(np.array([0.0]), np.array([2000]), np.array([40]))
    r = simulate_serving(MOE, H100, ServingConfig(dep), wl).requests.iloc[0]
    steps = sim.decode_step_time_s(MOE, H100, dep, 1, 2000 + np.arange(1, 40))
    assert r["tpot_s"] == pytest.approx(float(steps.mean()), rel=1e-9)
