"""Speculative decoding (issue 16, item 6): the expected-tokens formula, the verify pass's shape, its bounds in `infer`,
`infer` and `serve` agreeing, the draft's memory, and refusals.

Expectations are derived by hand (sums of the acceptance series, counted query-key pairs, published parameter counts),
never read back from the code under test."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

import simulator as sim
from simulator.core.inference.speculative import (
    SpeculativeDecoding,
    expected_tokens_per_step,
    sample_tokens_per_step,
    verify_iteration,
)
from simulator.errors import BadValueError, PlanError, UnknownIdError

H100 = "h100-sxm-80gb"
DRAFT = "llama3.2-3b-instruct"  # the Llama 3 tokenizer (128,256 tokens), as llama3.1-70b


def _series(a: float, k: int) -> float:
    """Tokens per verify step as the sum over positions: the j-th drafted token counts when j accepted in a row."""
    return sum(a**j for j in range(k + 1))


@pytest.mark.parametrize("a, k", [(1.0, 3), (0.7, 3), (0.5, 1), (0.9, 8), (0.05, 4)])
def test_expected_tokens_is_the_acceptance_series(a, k):
    assert expected_tokens_per_step(a, k) == pytest.approx(_series(a, k), rel=1e-12)


def test_expected_tokens_by_hand():
    assert expected_tokens_per_step(1.0, 3) == 4.0  # every draft accepted, plus the target's own token
    assert expected_tokens_per_step(0.5, 1) == 1.5
    assert expected_tokens_per_step(0.7, 3) == pytest.approx(1 + 0.7 + 0.49 + 0.343)


@pytest.mark.parametrize("a, k", [(0.7, 3), (0.3, 5), (1.0, 2)])
def test_sampled_tokens_average_the_series(a, k):
    draws = sample_tokens_per_step(np.random.default_rng(1), 200_000, a, k)
    assert draws.min() >= 1 and draws.max() <= k + 1
    assert draws.mean() == pytest.approx(_series(a, k), rel=0.01)


def test_verify_pass_counts_pairs_by_hand():
    # two sequences with 100 cached tokens each, k = 3: the decode query at position 100 reads 101 keys (the
    # context once); drafted queries at 101, 102, 103 attend 102 + 103 + 104 = 309 keys each sequence
    v = verify_iteration(2, 200, 3)
    assert v["decode_seqs"] == 2 and v["decode_context_tokens"] == 202
    assert v["prefill_tokens"] == 6 and v["prefill_pairs"] == 2 * 309
    assert v["prefill_prefix_tokens"] == 0  # no second read of the cache
    assert v["logits"] == 8


def _infer(dep, batch=1, input_len=1024, output_len=256, model="llama3.1-70b"):
    return sim.estimate_inference(model, H100, dep, batch=batch, input_len=input_len, output_len=output_len)


BASE = sim.Deployment(tp=8, precision="bf16")


@pytest.mark.parametrize("batch", [1, 16])
@pytest.mark.parametrize("spec", [SpeculativeDecoding(3, 0.7, draft_model=DRAFT), SpeculativeDecoding(3, 0.7),
                                  SpeculativeDecoding(5, 0.9), SpeculativeDecoding(3, 1.0, draft_layers=0.01)])
def test_speed_up_is_bounded_by_the_tokens_per_step(batch, spec):
    """A verify step costs at least a plain decode step and the draft costs something, so TPOT falls by at most the
    expected tokens per step (at most k + 1)."""
    base = _infer(BASE, batch)
    fast = _infer(replace(BASE, speculative=spec), batch)
    assert base.feasible and fast.feasible
    bound = _series(spec.acceptance_rate, spec.k)
    assert base.tpot_s / fast.tpot_s <= bound * 1.0001
    assert fast.tpot_s < base.tpot_s  # memory-bound decode at these batches: it does pay off
    assert fast.ttft_s >= base.ttft_s  # the draft also reads the prompt
    rec = fast.to_dict()
    assert rec["speculative"]["tokens_per_step"] == pytest.approx(bound)
    assert rec["speculative"]["acceptance_source"] == "user-stated"


def test_a_nearly_free_perfect_draft_approaches_k_plus_one():
    base = _infer(BASE, 1)
    fast = _infer(replace(BASE, speculative=SpeculativeDecoding(3, 1.0, draft_layers=1e-3)), 1)
    # four tokens per step, each step a little dearer than a decode step (three more query tokens, four logits)
    assert 3.0 < base.tpot_s / fast.tpot_s <= 4.0


def test_a_bad_draft_slows_decoding_down():
    base = _infer(BASE, 1)
    slow = _infer(replace(BASE, speculative=SpeculativeDecoding(4, 0.02, draft_model=DRAFT)), 1)
    assert slow.tpot_s > base.tpot_s


def test_draft_weights_are_the_published_parameter_count():
    """llama3.2-3b-instruct: 3.21 B parameters (the Hugging Face config's count), bf16, split over tp 8."""
    base = _infer(BASE, 1).to_dict()
    with_draft = _infer(replace(BASE, speculative=SpeculativeDecoding(3, 0.7, draft_model=DRAFT)), 1).to_dict()
    extra = with_draft["weights_bytes_per_gpu"] - base["weights_bytes_per_gpu"]
    assert extra == pytest.approx(3.21e9 * 2 / 8, rel=0.05)
    assert with_draft["max_concurrent_seqs"] < base["max_concurrent_seqs"]  # the draft's KV shares the blocks


def test_a_draft_that_does_not_fit_is_named():
    # 70B bf16 on tp 2 leaves a little KV cache; an 8B draft beside it does not fit
    dep = sim.Deployment(tp=2, precision="bf16")
    assert _infer(dep, 1, 512, 128).feasible
    r = _infer(replace(dep, speculative=SpeculativeDecoding(3, 0.7, draft_model="llama3.1-8b")), 1, 512, 128)
    assert not r.feasible and "draft" in r.reason


@pytest.mark.parametrize("field, value", [("acceptance_rate", 0.0), ("acceptance_rate", 1.5),
                                          ("acceptance_rate", math.nan), ("acceptance_rate", -0.1),
                                          ("num_speculative_tokens", 0), ("num_speculative_tokens", 65),
                                          ("num_speculative_tokens", 2.5), ("draft_layers", 0.0),
                                          ("draft_layers", 1e9)])
def test_bad_numbers_are_refused_naming_the_field(field, value):
    spec = replace(SpeculativeDecoding(3, 0.7), **{field: value})
    with pytest.raises(BadValueError, match=field.replace("_", "-")):
        _infer(replace(BASE, speculative=spec))


def test_unknown_and_mismatched_drafts_are_refused():
    with pytest.raises(UnknownIdError, match="--draft-model"):
        _infer(replace(BASE, speculative=SpeculativeDecoding(3, 0.7, draft_model="no-such-draft")))
    with pytest.raises(PlanError, match="vocabulary"):  # Llama 2's 32k tokenizer
        _infer(replace(BASE, speculative=SpeculativeDecoding(3, 0.7, draft_model="llama2-7b")))
    with pytest.raises(PlanError, match="draft-tp"):
        _infer(replace(BASE, speculative=SpeculativeDecoding(3, 0.7, draft_model=DRAFT, draft_tp=16)))


MICRO, IN, OUT = 64, 128, 512


@pytest.mark.parametrize("spec", [SpeculativeDecoding(3, 0.7, draft_model=DRAFT), SpeculativeDecoding(3, 0.7),
                                  SpeculativeDecoding(2, 1.0)])
def test_infer_and_saturated_serve_agree(spec):
    """An offline load of four waves of MICRO requests on a MICRO-sequence replica: serve's throughput is infer's static
    batch of MICRO within 5% (serve samples each step's accepted tokens; infer takes their mean)."""
    dep = sim.Deployment(tp=8, precision="bf16", max_seqs=MICRO, speculative=spec)
    inf = _infer(dep, MICRO, IN, OUT)
    wl = sim.make_workload(4 * MICRO, input_len=IN, output_len=OUT, arrival="offline", seed=3)
    srv = sim.simulate_serving("llama3.1-70b", H100, sim.ServingConfig(dep), wl, seed=3).summary
    assert srv["requests_completed"] == 4 * MICRO and srv["preemptions"] == 0
    assert srv["throughput_output_tokens_per_s"] == pytest.approx(inf.output_tokens_per_s, rel=0.05)
    assert srv["speculative"]["num_speculative_tokens"] == spec.k


def test_serve_generates_exactly_the_requested_tokens():
    dep = sim.Deployment(tp=1, precision="bf16", max_seqs=32, speculative=SpeculativeDecoding(4, 0.8))
    wl = sim.make_workload(100, input_len=64, output_len=50, length_dist="lognormal", rate_per_s=20, seed=5)
    res = sim.simulate_serving("llama3.1-8b", H100, sim.ServingConfig(dep), wl, seed=5)
    req = res.requests
    assert (req["generated_tokens"] == req["output_tokens"]).all()
    plain = sim.simulate_serving("llama3.1-8b", H100, sim.ServingConfig(replace(dep, speculative=None)), wl, seed=5)
    assert res.summary["tpot_p50_s"] < plain.summary["tpot_p50_s"]


def test_a_sweep_varies_the_acceptance_rate_and_the_hit_rate(tmp_path):
    """Grid axes reach the new scenario fields; a higher acceptance rate never slows decoding down."""
    import yaml

    grid = {"schema_version": 1, "kind": "sweep",
            "base": {"kind": "inference", "model": "llama3.1-8b", "hardware": H100, "batch": 8, "input_len": 512,
                     "output_len": 64, "deployment": {"speculative": {"num_speculative_tokens": 3,
                                                                      "acceptance_rate": 0.5}}},
            "axes": {"deployment.speculative.acceptance_rate": [0.5, 0.9], "prefix_hit_rate": [0.0, 0.5]}}
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump(grid))
    g = sim.load_grid(path)
    assert len(g) == 4
    recs = {}
    for data, inputs in (g.scenario(i) for i in range(4)):
        key = (inputs["input.deployment.speculative.acceptance_rate"], inputs["input.prefix_hit_rate"])
        recs[key] = sim.run_scenario(data)
    for (a, h), rec in recs.items():
        assert rec["speculative"]["acceptance_rate"] == a
        if a == 0.5:
            assert recs[(0.9, h)]["tpot_s"] < rec["tpot_s"]
