"""Generic SimPy helpers (simkit): monitors, record lists, RNG streams, summaries."""

from __future__ import annotations

import numpy as np
import pytest
import simpy

from simulator import simkit


def test_time_weighted_monitor_mean_and_integral():
    m = simkit.TimeWeightedMonitor("busy")
    m.set(0.0, 2.0)
    m.set(10.0, 4.0)
    m.add(10.0, 1.0)  # two changes at one instant keep the last level
    m.set(20.0, 0.0)
    t, v = m.arrays()
    assert list(t) == [0.0, 10.0, 20.0] and list(v) == [2.0, 5.0, 0.0]
    assert m.integral(0.0, 30.0) == pytest.approx(2 * 10 + 5 * 10)
    assert m.mean(5.0, 15.0) == pytest.approx((2 * 5 + 5 * 5) / 10)
    assert m.maximum() == 5.0 and m.maximum(20.0, 30.0) == 0.0
    assert np.isnan(m.mean(3.0, 3.0))
    assert list(m.to_frame().columns) == ["time_s", "busy"]


def test_level_at_and_growth_trend():
    a = simkit.TimeWeightedMonitor("a")
    a.set(1.0, 3.0)
    t_a, v_a = a.arrays()
    assert list(simkit.level_at(t_a, v_a, np.array([0.0, 0.5, 1.0, 2.0]))) == [0.0, 0.0, 3.0, 3.0]
    assert np.isnan(simkit.level_at(np.array([1.0]), np.array([3.0]), np.array([0.5]))[0])
    t = np.array([0.0, 1.0, 2.0, 3.0])
    v = np.array([0.0, 1.0, 2.0, 3.0])
    assert list(simkit.growth_trend(t, v, 0.0, 4.0)) == [0.0, 1.0, 2.0, 3.0]


def test_rng_streams_are_independent_and_reproducible():
    a = simkit.rng_streams(7, ["x", "y"])
    b = simkit.rng_streams(7, ["x", "y"])
    assert a["x"].random() == b["x"].random()
    b["y"].random(1000)  # drawing from one stream does not shift another
    assert a["x"].random() == b["x"].random()
    assert simkit.rng_streams(8, ["x"])["x"].random() != simkit.rng_streams(7, ["x"])["x"].random()


def test_record_list_and_distribution_summary():
    r = simkit.RecordList(["a", "b"])
    r.append(1, "x")
    with pytest.raises(ValueError, match="needs 2 values"):
        r.append(1)
    assert len(r) == 1 and r.to_frame().to_dict("records") == [{"a": 1, "b": "x"}]
    s = simkit.distribution_summary([1.0, 2.0, 3.0, 4.0], "wait")
    assert s["wait_mean_s"] == 2.5 and s["wait_p50_s"] == 2.5 and s["wait_max_s"] == 4.0
    assert np.isnan(simkit.distribution_summary([], "wait")["wait_p95_s"])


def test_progress_process_ticks_in_simulated_time():
    env = simpy.Environment()
    seen: list[float] = []
    env.process(simkit.progress_process(env, 10.0, seen.append, 2.5))
    env.run()
    assert seen == [2.5, 5.0, 7.5, 10.0]
