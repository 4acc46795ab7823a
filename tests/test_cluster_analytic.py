"""Closed-form reliability and queueing formulas against hand calculations from the reference notes."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.cluster import analytic as ca

HOUR = 3600.0


def test_job_mtti_matches_reference_worked_examples():
    # cluster_cost_reliability.md 3.2: r = 6.50 -> 16K GPUs (2,048 nodes) 1.80 h; r = 3.79 -> 1,024 GPUs 49.5 h
    assert ca.job_mtti_s(2048, 6.50) / HOUR == pytest.approx(1.80, rel=0.01)
    assert ca.job_mtti_s(128, 3.79) / HOUR == pytest.approx(49.5, rel=0.01)
    assert ca.job_mtti_s(128, 2.34) / HOUR == pytest.approx(80.0, rel=0.01)
    assert math.isinf(ca.job_mtti_s(10, 0.0))


def test_young_and_daly_match_reference_worked_example():
    # section 3.3: M = 3.09 h, delta = 40 s -> Young 15.7 min, Daly 15.3 min
    m = 3.09 * HOUR
    assert ca.young_interval_s(40.0, m) / 60 == pytest.approx(15.7, abs=0.05)
    assert ca.daly_interval_s(40.0, m) / 60 == pytest.approx(15.3, abs=0.05)
    # hand: sqrt(2 x 300 x 3.09 h) = 43 min
    assert ca.young_interval_s(300.0, m) / 60 == pytest.approx(43.0, abs=0.1)


def test_daly_limits():
    assert ca.daly_interval_s(500.0, 200.0) == 200.0  # delta >= 2M -> M
    assert math.isinf(ca.daly_interval_s(40.0, math.inf))
    assert ca.daly_interval_s(0.0, 1e4) == 0.0


def test_first_order_ettr_matches_reference_overhead():
    # section 3.3: M = 3.09 h, delta = 40 s, tau = Young -> overhead ~ 8.5 % before restart time
    m = 3.09 * HOUR
    tau = ca.young_interval_s(40.0, m)
    assert 1.0 - ca.first_order_ettr(tau, 40.0, 0.0, m) == pytest.approx(0.085, abs=0.001)
    # a restart of R seconds adds R / M
    assert ca.first_order_ettr(tau, 40.0, 600.0, m) == pytest.approx(ca.first_order_ettr(tau, 40.0, 0.0, m) - 600 / m)


def test_erlang_c_hand_values():
    assert ca.erlang_c(1, 0.7) == pytest.approx(0.7)  # M/M/1: P(wait) = rho
    # c = 2, a = 1: (a^2/2! * 2/(2-1)) / (1 + 1 + 1) = 1/3
    assert ca.erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert ca.erlang_c(4, 4.0) == 1.0
    # M/M/1 mean wait rho / (mu - lambda)
    assert ca.mmc_mean_wait_s(0.5, 1.0, 1) == pytest.approx(0.5 / 0.5)
    assert math.isinf(ca.mmc_mean_wait_s(2.0, 1.0, 2))
    assert ca.mmc_utilization(3.0, 1.0, 4) == 0.75


def test_preemption_overhead_helios():
    assert [ca.preemption_overhead_s(g) for g in (1, 2, 8, 9, 1024)] == [7.0, 30.0, 30.0, 60.0, 60.0]


def test_checkpoints_in_segment():
    assert ca.checkpoints_in_segment(100.0, 30.0) == 3  # after 30, 60, 90; none at the end (100)
    assert ca.checkpoints_in_segment(90.0, 30.0) == 2  # after 30, 60; the end is at 90
    assert ca.checkpoints_in_segment(90.0, math.inf) == 0
    assert ca.checkpoints_in_segment(90.0, 0.0) == 0
    assert ca.segment_wall_s(10.0, 100.0, 1.0, 30.0, 5.0) == 10 + 100 + 15


def test_segment_progress_hand_case():
    # overhead 10, interval 30, write 5, no slowdown: 10 | 30 c | 5 w | 30 c | 5 w | ... fail at t = 10+35+20
    committed, over, written, lost = ca.segment_progress(65.0, 10.0, 100.0, 1.0, 30.0, 5.0, keep_partial=False)
    assert (committed, over, written, lost) == (30.0, 10.0, 5.0, 20.0)
    # the same instant with notice (preemption): the 20 s of compute since the checkpoint count
    assert ca.segment_progress(65.0, 10.0, 100.0, 1.0, 30.0, 5.0, keep_partial=True) == (50.0, 10.0, 5.0, 0.0)
    # failure during the overhead: nothing done
    assert ca.segment_progress(4.0, 10.0, 100.0, 1.0, 30.0, 5.0, keep_partial=False) == (0.0, 4.0, 0.0, 0.0)
    # failure during a write: the interval's compute and the partial write are lost
    assert ca.segment_progress(42.0, 10.0, 100.0, 1.0, 30.0, 5.0, keep_partial=False) == (0.0, 10.0, 0.0, 32.0)
    # no checkpoints: everything is lost; free checkpoints: nothing is
    assert ca.segment_progress(50.0, 0.0, 100.0, 1.0, math.inf, 5.0, keep_partial=False) == (0.0, 0.0, 0.0, 50.0)
    assert ca.segment_progress(50.0, 0.0, 100.0, 1.0, 0.0, 5.0, keep_partial=False) == (50.0, 0.0, 0.0, 0.0)


@settings(max_examples=300, deadline=None)
@given(work=st.floats(1.0, 1e6), interval=st.floats(1.0, 1e5), write=st.floats(0.0, 1e3),
       over=st.floats(0.0, 1e3), slow=st.floats(1.0, 2.0), frac=st.floats(0.0, 1.0), keep=st.booleans())
def test_segment_progress_conserves_time(work, interval, write, over, slow, frac, keep):
    wall = ca.segment_wall_s(over, work, slow, interval, write)
    elapsed = frac * wall
    committed, spent_over, written, lost = ca.segment_progress(elapsed, over, work, slow, interval, write, keep)
    assert min(committed, spent_over, written, lost) >= 0
    assert committed <= work * (1 + 1e-9)
    assert committed * slow + spent_over + written + lost == pytest.approx(elapsed, rel=1e-9, abs=1e-6)
    if keep:
        assert lost == 0.0
