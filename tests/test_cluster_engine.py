"""The SimPy cluster engine: conservation, determinism, failures and checkpoints, services, bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.cluster.analytic import daly_interval_s, job_mtti_s
from simulator.cluster.engine import simulate_cluster
from simulator.cluster.scenario import cluster_scenario_ids, load_scenario, scenario_from_dict
from simulator.errors import DataFileError, SimulatorError

SRC = [{"title": "test", "where": "tests", "date": "2026"}]


def scenario(**kw):
    d = {"schema_version": 1, "kind": "cluster_scenario", "id": "t", "name": "t", "sources": SRC,
         "pools": [{"id": "p", "hardware": "h100-sxm-80gb", "nodes": 4}], "failures": {"enabled": False}}
    d.update(kw)
    return d


def sim(d, **kw):
    return simulate_cluster(scenario_from_dict(d), **kw)


def test_shipped_scenarios_load():
    ids = cluster_scenario_ids()
    assert {"research-1k-h100", "pretrain-16k-h100-54d", "mixed-fleet-serving", "trace-replay-64gpu"} <= set(ids)
    for i in ids:
        sc = load_scenario(i)
        assert sc.id == i and sc.sources


def test_failure_free_jobs_do_exactly_their_work():
    d = scenario(jobs=[{"name": "a", "gpus": 8, "duration_s": 1000.0, "count": 5, "interarrival_s": 100.0},
                       {"name": "b", "gpus": 12, "duration_s": 500.0}], policy="fifo")
    r = sim(d)
    s, jobs = r.summary, r.jobs
    assert s["jobs_completed"] == 6 and s["interruptions"] == 0
    assert np.allclose(jobs["productive_s"], jobs["work_s"])
    assert (jobs["checkpoint_s"] == 0).all()  # failures off: infinite MTTI, so Daly writes no checkpoints
    assert s["gpu_hours_allocated"] == pytest.approx((8 * 1000 * 5 + 12 * 500) / 3600)
    assert s["goodput"] == pytest.approx(1.0)
    # 4 nodes: a#0 takes node 0, b (12 GPUs) node 1 + half of node 2, a#1 node 3; a#2 and a#3 need a whole
    # node and start when b ends (500 s); a#4 starts when a#0 ends (1000 s)
    assert list(jobs["name"]) == ["a#0", "b", "a#1", "a#2", "a#3", "a#4"]
    assert list(jobs["first_start_s"]) == [0.0, 0.0, 100.0, 500.0, 500.0, 1000.0]
    assert s["makespan_s"] == pytest.approx(jobs["end_s"].max())


def test_same_seed_same_summary_bytes_and_other_seed_differs():
    a = json.dumps(simulate_cluster("research-1k-h100", seed=3, until_s=10 * 86400).summary)
    b = json.dumps(simulate_cluster("research-1k-h100", seed=3, until_s=10 * 86400).summary)
    c = json.dumps(simulate_cluster("research-1k-h100", seed=4, until_s=10 * 86400).summary)
    assert a == b and a != c


def test_allocated_never_exceeds_up_capacity():
    r = simulate_cluster("mixed-fleet-serving", seed=1, until_s=3 * 86400)
    ts = r.timeseries(600.0)
    assert (ts["allocated_gpus"] <= ts["up_gpus"] + 1e-9).all()
    assert (ts["serving_gpus"] <= ts["serving_demand_gpus"] + 1e-9).all()
    assert ts["allocated_gpus"].max() > 0


def test_single_job_time_accounting_with_failures():
    # a job spanning all 32 GPUs on 4 + 1 spare nodes with a high failure rate
    d = scenario(pools=[{"id": "p", "hardware": "h100-sxm-80gb", "nodes": 4, "spare_nodes": 1}],
                 failures={"failures_per_1000_node_days": 2000.0, "planned_per_1000_node_days": 0.0,
                           "repair_time_s": 600.0},
                 checkpoint={"write_time_s": 60.0, "restart_time_s": 300.0},
                 jobs=[{"name": "big", "gpus": 32, "duration_s": 5 * 86400.0}], horizon_s=20 * 86400.0)
    r = sim(d, seed=2)
    j = r.jobs.iloc[0]
    assert j["status"] == "COMPLETED" and j["interruptions"] > 10
    span = j["end_s"] - j["first_start_s"]
    parts = j["productive_s"] + j["overhead_s"] + j["checkpoint_s"] + j["lost_s"] + j["straggle_s"] + j["wait_total_s"]
    assert parts == pytest.approx(span, rel=1e-9)
    assert j["productive_s"] == pytest.approx(5 * 86400.0)
    assert j["overhead_s"] <= j["interruptions"] * 300.0 + 1e-6
    assert r.summary["interruptions"] == j["interruptions"]
    # the Daly interval for 4 nodes at this rate, and the first-order ETTR it implies, are close to what we see
    m = job_mtti_s(4, 2000.0)
    tau = daly_interval_s(60.0, m)
    assert r.summary["effective_training_time_ratio"] == pytest.approx(1 - (60 / tau + (tau / 2 + 300) / m), abs=0.08)


def test_no_checkpoints_lose_more_work_than_daly():
    base = dict(pools=[{"id": "p", "hardware": "h100-sxm-80gb", "nodes": 4, "spare_nodes": 2}],
                failures={"failures_per_1000_node_days": 500.0, "planned_per_1000_node_days": 0.0},
                jobs=[{"name": "big", "gpus": 32, "duration_s": 10 * 86400.0}], horizon_s=60 * 86400.0)
    daly = sim(scenario(**base, checkpoint={"interval": "daly"}), seed=1).summary
    none = sim(scenario(**base, checkpoint={"interval": "none"}), seed=1).summary
    assert none["gpu_hours_lost"] > 3 * daly["gpu_hours_lost"]
    assert daly["effective_training_time_ratio"] > none["effective_training_time_ratio"]


def test_max_restarts_marks_job_failed():
    d = scenario(failures={"failures_per_1000_node_days": 5000.0, "max_restarts": 2},
                 jobs=[{"name": "x", "gpus": 32, "duration_s": 30 * 86400.0}], horizon_s=60 * 86400.0)
    s = sim(d).summary
    assert s["jobs_failed"] == 1 and s["interruptions"] == 3


def test_stragglers_cost_time():
    d = scenario(jobs=[{"name": "x", "gpus": 1, "duration_s": 1000.0, "count": 200, "interarrival_s": 10.0}],
                 stragglers={"probability": 0.5, "slowdown": 1.0})
    r = sim(d, seed=5)
    assert 0.3 < (r.jobs["straggle_s"] > 0).mean() < 0.7
    assert r.summary["gpu_hours_straggling"] == pytest.approx((r.jobs["straggle_s"]).sum() / 3600)


def test_services_follow_demand_and_preempt_batch():
    curve = [0.25] * 12 + [1.0] * 12
    d = scenario(pools=[{"id": "p", "hardware": "h100-sxm-80gb", "nodes": 8}], horizon_s=2 * 86400.0,
                 policy="fifo",
                 services=[{"name": "chat", "pool": "p", "peak_replicas": 6, "demand_curve": curve}],
                 jobs=[{"name": "train", "gpus": 32, "duration_s": 20 * 3600.0, "preemptible": True}])
    r = sim(d)
    ts = r.timeseries(1800.0)
    morning = ts[(ts.time_s > 2 * 3600) & (ts.time_s < 11 * 3600)]
    afternoon = ts[(ts.time_s > 13 * 3600) & (ts.time_s < 23 * 3600)]
    assert (morning["serving_gpus"] == 16).all() and (afternoon["serving_gpus"] == 48).all()
    s = r.summary
    assert s["preemptions"] >= 1 and s["serving_shortfall_gpu_hours"] == pytest.approx(0.0)
    assert s["jobs_completed"] == 1  # the preempted job resumes when demand falls


def test_service_peak_from_request_rates():
    d = scenario(horizon_s=3600.0, services=[{"name": "s", "pool": "p", "peak_requests_per_s": 25.0,
                                              "replica_requests_per_s": 10.0, "demand_curve": [1.0] * 24}])
    assert scenario_from_dict(d).services[0].peak_replicas == 3
    assert sim(d).summary["serving_gpu_hours"] == pytest.approx(24.0)


def test_non_preemptible_batch_causes_serving_shortfall():
    d = scenario(pools=[{"id": "p", "hardware": "h100-sxm-80gb", "nodes": 4}], horizon_s=86400.0,
                 services=[{"name": "chat", "pool": "p", "peak_replicas": 4, "demand_curve": [0.0] + [1.0] * 23}],
                 jobs=[{"name": "train", "gpus": 16, "duration_s": 3 * 86400.0, "preemptible": False}])
    s = sim(d).summary
    assert s["serving_shortfall_gpu_hours"] == pytest.approx(16 * 23, rel=1e-6)


def test_heterogeneous_pools_and_relative_speed():
    d = scenario(pools=[{"id": "h", "hardware": "h100-sxm-80gb", "nodes": 1},
                        {"id": "a", "hardware": "a100-sxm-80gb", "nodes": 1, "relative_speed": 0.5}],
                 jobs=[{"name": "x", "gpus": 8, "duration_s": 1000.0, "count": 2}])
    r = sim(d)
    assert sorted(r.jobs["end_s"]) == [1000.0, 2000.0]  # the second lands on the A100 pool, half as fast
    assert set(r.segments["pool"]) == {"h", "a"}
    assert r.summary["pools"]["a"]["hardware"] == "a100-sxm-80gb"


def test_training_job_duration_comes_from_the_training_core():
    from simulator.api.training import estimate_training

    plan = {"model": "llama3.1-8b", "train_tokens": 1.0e9, "global_batch": 64, "seq_len": 4096, "zero": 3}
    sc = scenario_from_dict(scenario(jobs=[{"name": "t", "gpus": 32, "training": plan}]))
    expected = estimate_training("llama3.1-8b", "h100-sxm-80gb", 32, global_batch=64, seq_len=4096, zero=3,
                                 train_tokens=1.0e9).total_time_s
    assert sc.jobs[0].work_s == (pytest.approx(expected),)


def test_trace_replay_states_and_waits():
    r = simulate_cluster("trace-replay-64gpu", seed=0)
    s = r.summary
    assert s["jobs_completed"] + s["jobs_failed"] + s["jobs_cancelled"] == s["jobs_submitted"] == 1074
    assert s["jobs_failed"] > 0 and s["jobs_cancelled"] > 0
    assert r.jobs["wait_s"].min() >= 0


def test_warmup_excludes_early_jobs_from_waits():
    d = scenario(pools=[{"id": "p", "hardware": "h100-sxm-80gb", "nodes": 1}],
                 jobs=[{"name": "early", "gpus": 8, "duration_s": 100.0, "count": 3},
                       {"name": "late", "gpus": 8, "duration_s": 100.0, "submit_s": 1000.0}], warmup_s=500.0)
    s = sim(d).summary
    assert s["queue_wait_mean_s"] == 0.0 and s["window_start_s"] == 500.0  # early jobs waited 100 and 200 s


def test_overload_is_detected_and_light_load_is_not():
    gen = {"name": "g", "gpus": 1, "duration": {"kind": "exponential", "mean_s": 3600.0}, "n_jobs": 3000}
    heavy = sim(scenario(generators=[{**gen, "jobs_per_day": 24 * 32 * 1.5}]), until_s=3 * 86400.0).summary
    light = sim(scenario(generators=[{**gen, "jobs_per_day": 24 * 32 * 0.5}]), until_s=3 * 86400.0).summary
    assert heavy["overloaded"] and any("overloaded" in w for w in heavy["warnings"])
    assert not light["overloaded"] and light["offered_load"] == pytest.approx(0.5, abs=0.08)


def test_every_run_is_bounded():
    d = scenario(failures={"failures_per_1000_node_days": 1e5}, checkpoint={"interval": "none"},
                 jobs=[{"name": "x", "gpus": 32, "duration_s": 1e6}])
    s = sim(d).summary  # no horizon, failures every few seconds: stops at the safety bound and says so
    assert s["jobs_running_at_end"] + s["jobs_queued_at_end"] == 1
    assert any("safety bound" in w for w in s["warnings"])


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("change, needle", [
    ({"jobs": [{"name": "x", "gpus": 64, "duration_s": 10.0}]}, "asks for 64 GPUs"),
    ({"jobs": [{"name": "x", "gpus": 8, "duration_s": -5.0}]}, "jobs.0.duration_s"),
    ({"jobs": [{"name": "x", "gpus": 8}]}, "exactly one of duration_s"),
    ({"policy": "lottery"}, "policy"),
    ({"jobs": [{"name": "x", "gpus": 8, "duration_s": 1.0, "pools": ["nope"]}]}, "names pool 'nope'"),
    ({"jobs": [{"name": "x", "gpus": 8, "duration_s": 1.0, "duratoin_s": 1.0}]}, "duratoin_s"),
    ({"generators": [{"name": "g", "jobs_per_day": 1.0, "gpus": 1,
                      "duration": {"kind": "exponential", "mean_s": 1.0}}]}, "unbounded"),
    ({"generators": [{"name": "g", "jobs_per_day": 1.0, "gpus": 1, "n_jobs": 5,
                      "duration": {"kind": "lognormal", "median_s": 1.0}}]}, "sigma"),
    ({"services": [{"name": "s", "pool": "p", "peak_replicas": 1, "demand_curve": [0.5] * 23}]}, "demand_curve"),
    ({"jobs": [], "generators": []}, "at least one of"),
    ({"jobs": [{"name": "x", "gpus": 8, "duration_s": 1.0}], "horizon_s": 86400.0, "warmup_s": 86400.0},
     "warmup_s .* must be below horizon_s"),
    ({"jobs": [{"name": "x", "gpus": 8, "duration_s": 1.0}], "horizon_s": 1e12}, "beyond the 100 years"),
    ({"services": [{"name": "s", "pool": "p", "peak_replicas": 2, "peak_requests_per_s": 5.0,
                    "demand_curve": [0.5] * 24}]}, "give peak_replicas, or both"),
])
def test_bad_scenarios_name_the_field(change, needle):
    with pytest.raises(DataFileError, match=needle.replace("(", r"\(")):
        scenario_from_dict(scenario(**change), "bad.yaml")


def test_union_fields_report_the_field_not_pydantic_branch_names():
    gen = {"name": "g", "jobs_per_day": 1.0, "n_jobs": 3, "gpus": -2, "duration": {"kind": "exponential", "mean_s": 1.0}}
    with pytest.raises(DataFileError) as exc:
        scenario_from_dict(scenario(generators=[gen]), "bad.yaml")
    assert str(exc.value) == "bad.yaml: field 'generators.0.gpus' = -2: Input should be greater than 0"
    gen.update(gpus=2, duration={"kind": "exponential", "mean_s": -1.0})
    with pytest.raises(DataFileError) as exc:
        scenario_from_dict(scenario(generators=[gen]), "bad.yaml")
    assert str(exc.value) == "bad.yaml: field 'generators.0.duration.mean_s' = -1.0: Input should be greater than 0"
    # errors inside the branch the user meant are all kept (only the other branch's "wrong shape" goes)
    gen.update(duration={"mean_s": 1.0, "weight": [2]})
    with pytest.raises(DataFileError, match=r"duration.kind.*duration.weight' = \[2\]"):
        scenario_from_dict(scenario(generators=[gen]), "bad.yaml")
    gen.update(duration=[{"kind": "exponential", "mean_s": -1.0}, {"kind": "exponential", "mean_s": [1]}])
    with pytest.raises(DataFileError, match=r"duration.0.mean_s' = -1.0.*duration.1.mean_s' = \[1\]"):
        scenario_from_dict(scenario(generators=[gen]), "bad.yaml")


def test_unknown_policy_and_bad_until_and_services_without_horizon():
    d = scenario(jobs=[{"name": "x", "gpus": 1, "duration_s": 1.0}])
    with pytest.raises(SimulatorError, match="unknown scheduling policy 'lottery'"):
        sim(d, policy="lottery")
    for bad in (-1.0, float("nan"), -1e9):
        with pytest.raises(SimulatorError, match="--until must be a positive number"):
            sim(d, until_s=bad)
    svc = scenario(services=[{"name": "s", "pool": "p", "peak_replicas": 1, "demand_curve": [0.5] * 24}])
    with pytest.raises(SimulatorError, match="runs forever"):
        sim(svc)
    with pytest.raises(SimulatorError, match="beyond the 100 years"):  # before hours of hourly service ticks
        sim(svc, until_s=1e12)
    gen = scenario(generators=[{"name": "g", "jobs_per_day": 1e6, "gpus": 1,
                                "duration": {"kind": "exponential", "mean_s": 1.0}}], horizon_s=365.0 * 86400.0)
    with pytest.raises(SimulatorError, match="would submit about 365M jobs"):  # before allocating them
        sim(gen)


@pytest.mark.parametrize("csv_text, needle", [
    ("job_id,submit_time,gpu_num\nj1,0,1\n", "missing column(s) duration"),
    ("job_id,submit_time,gpu_num,duration\nj1,10,1,5\nj2,5,1,5\n", "sort the trace by submit_time"),
    ("job_id,submit_time,gpu_num,duration\nj1,0,1,-5\n", "negative"),
    ("job_id,submit_time,gpu_num,duration\nj1,0,1,abc\n", "duration = 'abc' is not a number"),
    ("job_id,submit_time,gpu_num,duration\nj1,0,100,5\n", "asks for 100 GPUs"),
    ("job_id,submit_time,gpu_num,duration,state\nj1,0,1,5,EXPLODED\n", "state = 'EXPLODED'"),
    ("job_id,submit_time,gpu_num,duration\n", "no rows"),
])
def test_bad_traces_name_row_and_column(tmp_path: Path, csv_text, needle):
    (tmp_path / "t.csv").write_text(csv_text)
    with pytest.raises(DataFileError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        scenario_from_dict(scenario(trace={"path": "t.csv"}), str(tmp_path / "s.yaml"), tmp_path)


def test_missing_trace_file(tmp_path: Path):
    with pytest.raises(DataFileError, match="trace file"):
        scenario_from_dict(scenario(trace={"path": "nope.csv"}), str(tmp_path / "s.yaml"), tmp_path)


def test_scenario_kind_is_checked(tmp_path: Path):
    (tmp_path / "x.yaml").write_text("schema_version: 1\nkind: serving_scenario\nid: x\n")
    with pytest.raises(DataFileError, match="kind: cluster_scenario"):
        load_scenario(tmp_path / "x.yaml")


# ---------------------------------------------------------------- invariants over random small scenarios
job_st = st.fixed_dictionaries({"gpus": st.integers(1, 24), "duration_s": st.floats(10.0, 5e4),
                                "submit_s": st.floats(0.0, 5e4), "priority": st.integers(0, 3),
                                "whole_nodes": st.booleans(), "preemptible": st.booleans()})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(jobs=st.lists(job_st, min_size=1, max_size=25), policy=st.sampled_from(["fifo", "sjf", "priority", "easy"]),
       fail=st.sampled_from([0.0, 200.0]), seed=st.integers(0, 3))
def test_random_scenarios_conserve_jobs_and_capacity(jobs, policy, fail, seed):
    d = scenario(pools=[{"id": "p", "hardware": "h100-sxm-80gb", "nodes": 3}],
                 failures={"enabled": fail > 0, "failures_per_1000_node_days": fail or 1.0, "repair_time_s": 3600.0},
                 jobs=[{"name": f"j{i}", **j} for i, j in enumerate(jobs)], policy=policy)
    r = sim(d, seed=seed)
    s, frame = r.summary, r.jobs
    assert s["jobs_submitted"] == len(jobs)
    assert (s["jobs_completed"] + s["jobs_failed"] + s["jobs_cancelled"] + s["jobs_running_at_end"]
            + s["jobs_queued_at_end"]) == len(jobs)
    done = frame[frame["status"] == "COMPLETED"]
    assert np.allclose(done["productive_s"], done["work_s"], rtol=1e-9)
    assert (frame["wait_s"].dropna() >= -1e-9).all()
    ts = r.timeseries(500.0)
    assert (ts["allocated_gpus"] <= ts["up_gpus"] + 1e-9).all()
    t, v = r.levels["allocated_gpus"]
    assert v.min() >= 0 and v[-1] == 0 or s["jobs_running_at_end"] > 0
    if not math.isnan(s["utilization"] or math.nan):
        assert 0.0 <= s["utilization"] <= 1.0 + 1e-9
