"""Named length distributions against the published statistics of the datasets they name (issue 16, item 7), and the
serving scenario fields that shape a workload (length_cv, disaggregation).

The published figures are typed here from their sources (see each comment), not read from the module under test, so a
changed constant fails the test. Tolerances: a lognormal sample mean of n draws with coefficient of variation cv has a
relative standard error cv / sqrt(n); with n = 40,000 and cv <= 1.3 that is under 0.7%, so 3% is over four standard
errors."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

import simulator as sim

N = 40_000
TOL = 0.03

# See, Liu and Manning 2017 (ACL), sec. 4: CNN/Daily Mail articles 781 tokens, summaries 56 tokens on average
CNN_DAILYMAIL = (781.0, 56.0)


@pytest.mark.parametrize("cv", [0.5, 1.0])
def test_cnn_dailymail_means_are_the_published_ones(cv):
    wl = sim.make_workload(N, input_len=1, output_len=1, rate_per_s=1.0, length_dist="cnn_dailymail", length_cv=cv,
                           seed=11)
    assert wl.prompt_tokens.mean() == pytest.approx(CNN_DAILYMAIL[0], rel=TOL)
    assert wl.output_tokens.mean() == pytest.approx(CNN_DAILYMAIL[1], rel=TOL)
    # the spread is the stated cv (the sources publish none): a lognormal's median is mean / sqrt(1 + cv^2)
    assert np.median(wl.prompt_tokens) == pytest.approx(CNN_DAILYMAIL[0] / np.sqrt(1 + cv**2), rel=TOL)


def test_sharegpt_means_are_the_benchmarks_published_sample():
    """The vLLM/SGLang benchmarks' ShareGPT sample: vLLM PR #18566 (229,711 in / 203,068 out over 1,000 requests),
    SGLang issue #2805 (369,103 / 326,408 over 1,648), kubeai PR #341 (203,559 / 184,674 over 940)."""
    runs = [(229711 / 1000, 203068 / 1000), (369103 / 1648, 326408 / 1648), (203559 / 940, 184674 / 940)]
    prompt, output = np.mean(runs, axis=0)
    wl = sim.make_workload(N, input_len=1, output_len=1, rate_per_s=1.0, length_dist="sharegpt", seed=12)
    assert wl.prompt_tokens.mean() == pytest.approx(prompt, rel=TOL)
    assert wl.output_tokens.mean() == pytest.approx(output, rel=TOL)
    assert wl.prompt_tokens.max() <= 1024 and (wl.prompt_tokens + wl.output_tokens).max() <= 2048


def test_an_unknown_distribution_names_the_known_ones():
    with pytest.raises(sim.PlanError, match="cnn_dailymail"):
        sim.make_workload(10, input_len=8, output_len=8, rate_per_s=1.0, length_dist="openorca-ish")


def _serving(tmp_path, **fields) -> dict:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"schema_version": 1, "kind": "serving", "model": "llama3.1-8b",
                                    "hardware": "h100-sxm-80gb", "requests": 200, "rate_per_s": 4.0,
                                    "input_len": 512, "output_len": 64, **fields}))
    return sim.evaluate_scenario(path)


def test_length_cv_in_a_scenario_spreads_the_lengths(tmp_path):
    narrow = _serving(tmp_path, length_dist="lognormal", length_cv=0.1).requests["prompt_tokens"]
    wide = _serving(tmp_path, length_dist="lognormal", length_cv=2.0).requests["prompt_tokens"]
    assert narrow.std() / narrow.mean() < 0.2 < 1.0 < wide.std() / wide.mean()


def test_disaggregation_in_a_scenario(tmp_path):
    res = _serving(tmp_path, prefill_replicas=1, decode_replicas=2)
    assert res.summary["disaggregated"] and res.summary["engines"] == 3 and res.summary["gpus"] == 3
    assert res.summary["requests_completed"] == 200


def test_half_a_disaggregation_is_refused(tmp_path):
    with pytest.raises(sim.DataFileError, match="prefill_replicas"):
        _serving(tmp_path, prefill_replicas=1)
