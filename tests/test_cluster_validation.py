"""Validation against published large-run data and against M/M/c queueing theory (tests that can fail).

The published figures live in the scenario's `published:` block (with their source); the M/M/c reference is
Erlang C. Both compare the mean over fixed seeds, so the tests are deterministic.
"""

from __future__ import annotations

import pytest

from simulator.validation.cluster import validate_mmc, validate_published


def test_llama3_54_day_run_reproduces_interruptions_and_ettr():
    rows = validate_published("pretrain-16k-h100-54d", seeds=6)
    by = {r.quantity: r for r in rows}
    assert set(by) == {"interruptions", "effective_training_time_ratio"}
    # published: 466 interruptions, > 90 % effective training time; tolerance 15 %
    assert by["interruptions"].reference == 466 and by["effective_training_time_ratio"].reference == 0.90
    for r in rows:
        assert r.passed, r.to_dict()
    # the spread over seeds is Poisson-like for the count (sqrt(466) ~ 22) and small for the ratio
    assert 5 < by["interruptions"].measured_std < 45
    assert by["effective_training_time_ratio"].measured_std < 0.02


def test_mmc_queue_matches_erlang_c_within_5_percent():
    rows = validate_mmc(servers=4, utilization=0.6, n_jobs=40_000, seeds=5)
    for r in rows:
        assert r.passed, r.to_dict()
    assert {r.quantity for r in rows} == {"mean_wait_s", "p_wait", "utilization"}


def test_mmc_detects_a_wrong_engine():
    # the same comparison flags a different queue: M/M/4 measured against an M/M/5 reference would fail
    rows = validate_mmc(servers=4, utilization=0.6, n_jobs=10_000, seeds=1)
    wait = next(r for r in rows if r.quantity == "mean_wait_s")
    from simulator.cluster.analytic import mmc_mean_wait_s

    wrong = mmc_mean_wait_s(0.6 * 4 / 3600, 1 / 3600, 5)
    assert abs(wait.measured_mean / wrong - 1) > 0.05
    assert wait.measured_mean == pytest.approx(wait.reference, rel=0.25)
