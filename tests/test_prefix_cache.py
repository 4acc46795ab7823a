"""Prefix caching (issue 16, item 6): the cached share of a prompt is attention context the linear layers skip, held
once in shared KV blocks; in `infer`, `serve` and `capacity`.

Expectations are derived by hand (tokens and query-key pairs counted per sequence) or as inequalities that must hold
whatever the calibration: never read back from the code under test."""

from __future__ import annotations

import numpy as np
import pytest

import simulator as sim
from simulator.core.inference.static import cached_prompt_tokens
from simulator.errors import BadValueError

H100 = "h100-sxm-80gb"


def test_cached_tokens_by_hand():
    assert int(cached_prompt_tokens(1000, 0.5)) == 500
    assert int(cached_prompt_tokens(1000, 1.0)) == 999  # the last prompt token is always computed (its logits)
    assert int(cached_prompt_tokens(1000, 0.0)) == 0
    assert int(cached_prompt_tokens(200, shared_tokens=300)) == 199
    assert int(cached_prompt_tokens(1, 1.0)) == 0
    assert list(cached_prompt_tokens(np.array([10, 101]), 0.25)) == [2, 25]


def test_full_hit_leaves_only_the_last_tokens_prefill():
    """At hit rate 1 each of B prompts of P tokens computes one token (position P - 1) attending to P keys: B tokens
    through the linear layers, B x P query-key pairs, B x (P - 1) cached tokens read."""
    m, hw, dep = sim.load_model("llama3.1-70b"), sim.load_hardware(H100), sim.Deployment(tp=8, precision="fp8")
    b, p = 16, 2048
    rec = sim.estimate_inference(m, hw, dep, batch=b, input_len=p, output_len=64, prefix_hit_rate=1.0)
    one = sim.iteration_time_s(m, hw, dep, prefill_tokens=b, prefill_pairs=b * p, prefill_prefix_tokens=b * (p - 1),
                               logits=b)
    assert rec.ttft_s == pytest.approx(float(one["total"]), rel=1e-9)
    full = sim.estimate_inference(m, hw, dep, batch=b, input_len=p, output_len=64)
    assert rec.ttft_s < 0.1 * full.ttft_s
    assert rec.to_dict()["prefix_cache"]["cached_tokens_per_request"] == p - 1


def test_more_hits_never_cost_more():
    m, hw, dep = sim.load_model("llama3.1-8b"), sim.load_hardware(H100), sim.Deployment(tp=1, precision="bf16")
    recs = [sim.estimate_inference(m, hw, dep, batch=32, input_len=4096, output_len=256, prefix_hit_rate=h).to_dict()
            for h in (0.0, 0.25, 0.5, 0.75, 1.0)]
    for lo, hi in zip(recs, recs[1:], strict=False):
        assert hi["ttft_s"] < lo["ttft_s"]
        assert hi["output_tokens_per_s"] >= lo["output_tokens_per_s"]
        assert hi["max_concurrent_seqs"] >= lo["max_concurrent_seqs"]  # the shared blocks are held once
    assert "prefix_cache" not in recs[0]  # off: the record is the one it always was


def test_a_shared_prefix_is_held_once():
    """A 3,072-token shared prefix of 4,096-token prompts: each sequence holds only its own 1,024 + output tokens,
    and the prefix's blocks once (16-token blocks: 192)."""
    m, hw, dep = sim.load_model("llama3.1-8b"), sim.load_hardware(H100), sim.Deployment(tp=1)
    plain = sim.estimate_inference(m, hw, dep, batch=8, input_len=4096, output_len=256).to_dict()
    shared = sim.estimate_inference(m, hw, dep, batch=8, input_len=4096, output_len=256, prefix_tokens=3072).to_dict()
    blocks = plain["kv_capacity_tokens"] // 16
    assert plain["max_concurrent_seqs"] == blocks // ((4096 + 256) // 16)
    assert shared["max_concurrent_seqs"] == (blocks - 3072 // 16) // ((1024 + 256) // 16)
    assert shared["prefix_cache"]["shared_blocks"] == 192


@pytest.mark.parametrize("kw", [{"prefix_hit_rate": 1.5}, {"prefix_hit_rate": -0.1}, {"prefix_hit_rate": float("nan")},
                                {"prefix_tokens": -1}, {"prefix_hit_rate": 0.5, "prefix_tokens": 10}])
def test_bad_prefix_inputs_are_refused(kw):
    with pytest.raises(BadValueError, match="prefix"):
        sim.estimate_inference("llama3.1-8b", H100, sim.Deployment(), batch=1, input_len=64, output_len=8, **kw)
    with pytest.raises(BadValueError, match="prefix"):
        sim.make_workload(10, input_len=64, output_len=8, rate_per_s=1.0, **kw)


def test_serve_skips_the_cached_prefill():
    dep = sim.Deployment(tp=1, precision="bf16")
    runs = {}
    for h in (0.0, 0.9):
        wl = sim.make_workload(300, input_len=2048, output_len=64, rate_per_s=4.0, seed=2, prefix_hit_rate=h)
        runs[h] = sim.simulate_serving("llama3.1-8b", H100, sim.ServingConfig(dep), wl, seed=2).summary
    assert runs[0.9]["requests_completed"] == 300 and runs[0.9]["requests_rejected"] == 0
    assert runs[0.9]["ttft_p50_s"] < 0.5 * runs[0.0]["ttft_p50_s"]
    assert runs[0.9]["prefix_cache"]["cached_share"] == pytest.approx(0.9, abs=0.001)
    assert "prefix_cache" not in runs[0.0]


def test_serve_and_infer_agree_at_full_hit():
    """An offline load of one static batch's worth of requests, all hitting the cache: serve's first tokens come from
    one-token prefills, as infer's."""
    dep = sim.Deployment(tp=1, precision="bf16", max_seqs=32)
    inf = sim.estimate_inference("llama3.1-8b", H100, dep, batch=32, input_len=1024, output_len=256,
                                 prefix_hit_rate=1.0)
    wl = sim.make_workload(4 * 32, input_len=1024, output_len=256, arrival="offline", seed=1, prefix_hit_rate=1.0)
    srv = sim.simulate_serving("llama3.1-8b", H100, sim.ServingConfig(dep), wl, seed=1).summary
    assert srv["throughput_output_tokens_per_s"] == pytest.approx(inf.output_tokens_per_s, rel=0.05)


def test_capacity_with_prefix_caching_needs_no_more_gpus():
    kw = dict(rate_per_s=6.0, slo=sim.SLO(0.5, 0.05), input_len=3072, output_len=128, n_requests=120,
              space=sim.CandidateSpace(tps=(1, 2), precisions=("bf16",)), top=1)
    cold = sim.plan_capacity("llama3.1-8b", H100, **kw)
    warm = sim.plan_capacity("llama3.1-8b", H100, prefix_hit_rate=0.5, **kw)
    assert cold.best is not None and warm.best is not None
    assert warm.best["gpus"] <= cold.best["gpus"]
    assert warm.best["max_rate_per_unit_per_s"] > cold.best["max_rate_per_unit_per_s"]
