"""`simulator cluster`: the CLI contract (JSON keys, records file, one-line errors with exit code 2)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from simulator import cli
from simulator.cli.cluster import CONTRACT_KEYS


@pytest.fixture()
def run_cli(monkeypatch, capsys):

    def _run(*argv: str) -> tuple[int, str, str]:
        try:
            code = cli.main(list(argv))
        except SystemExit as exc:  # argparse errors
            code = int(exc.code)
        out, err = capsys.readouterr()
        return code, out, err

    return _run


def test_json_contract_and_records(run_cli, tmp_path):
    rec = tmp_path / "jobs.csv"
    ts = tmp_path / "ts.parquet"
    code, out, err = run_cli("cluster", "--scenario", "trace-replay-64gpu", "--seed", "3", "--json",
                             "--records", str(rec), "--timeseries", str(ts))
    assert code == 0, err
    data = json.loads(out)
    assert list(data)[: len(CONTRACT_KEYS)] == list(CONTRACT_KEYS)
    assert data["seed"] == 3 and data["jobs_completed"] > 0 and data["sim_events"] > 0
    jobs = pd.read_csv(rec)
    assert len(jobs) == 1074 and {"wait_s", "jct_s", "cost_usd", "status"} <= set(jobs.columns)
    assert {"time_s", "allocated_gpus", "queued_jobs"} <= set(pd.read_parquet(ts).columns)


def test_same_seed_same_json(run_cli):
    a = run_cli("cluster", "--scenario", "trace-replay-64gpu", "--json", "--policy", "easy")[1]
    b = run_cli("cluster", "--scenario", "trace-replay-64gpu", "--json", "--policy", "easy")[1]
    assert a == b


def test_text_output_and_until(run_cli):
    code, out, _ = run_cli("cluster", "--scenario", "pretrain-16k-h100-54d", "--until", "864000")
    assert code == 0
    assert "interruptions" in out and "pool h100" in out and "10 days" in out


@pytest.mark.parametrize("argv, needle", [
    (("--scenario", "trace-replay-64gpu", "--policy", "lottery"), "invalid choice: 'lottery'"),
    (("--scenario", "no-such-scenario"), "unknown cluster scenario id 'no-such-scenario'"),
    (("--scenario", "trace-replay-64gpu", "--until", "-5"), "--until: expected seconds above 0"),
    (("--scenario", "trace-replay-64gpu", "--records", "/nonexistent-dir/x.csv"), "cannot write"),
    (("--scenario", "trace-replay-64gpu", "--records", "x.xlsx"), ".csv or .parquet"),
    (("--scenario", "trace-replay-64gpu", "--timeseries", "/"), "is a folder; give a file name"),
    (("--scenario", "trace-replay-64gpu", "--seed", "inf"), "expected an integer"),
])
def test_errors_are_one_line_exit_2(run_cli, argv, needle):
    code, out, err = run_cli("cluster", *argv)
    assert code == 2
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err


SMALL = ('schema_version: 1\nkind: cluster_scenario\nid: t\nname: t\nsources: [{title: me, where: here, date: "2026"}]\n'
         "pools:\n  - {id: p, hardware: h100-sxm-80gb, nodes: 2}\n")


def test_service_preempting_a_job_at_time_zero(run_cli, tmp_path):
    """A service that takes a node at t = 0 preempts the job started at t = 0 (a zero-length segment)."""
    f = tmp_path / "svc.yaml"
    f.write_text(SMALL + "horizon_s: 259200\npolicy: priority\nservices: [{name: s, pool: p, peak_replicas: 1, "
                 "demand_curve: [" + ", ".join(["1"] * 24) + "]}]\njobs: [{name: j, gpus: 16, duration_s: 3600}]\n")
    code, out, err = run_cli("cluster", "--scenario", str(f), "--json")
    assert code == 0, err
    assert 0.0 <= json.loads(out)["utilization"] <= 1.0


@pytest.mark.parametrize("job, needle", [
    ("{name: j, gpus: 8, duration_s: .inf}", "finite"),
    ("{name: j, gpus: 8, duration_s: 60, priority: 5000000}", "less than or equal to 999999"),
])
def test_job_fields_that_would_break_the_run_are_refused(run_cli, tmp_path, job, needle):
    f = tmp_path / "bad.yaml"
    f.write_text(SMALL + f"jobs: [{job}]\n")
    code, _, err = run_cli("cluster", "--scenario", str(f))
    assert code == 2 and needle in err and "Traceback" not in err


def test_until_beyond_the_horizon_keeps_jobs_arriving(run_cli, tmp_path):
    """horizon_s is only the default --until: a run three times as long keeps the generator running (before,
    arrivals stopped at the horizon and the cluster drained)."""
    f = tmp_path / "gen.yaml"
    f.write_text(SMALL + "horizon_s: 86400\ngenerators: [{name: g, jobs_per_day: 200, gpus: 1, "
                 "duration: {kind: fixed, value_s: 600}}]\n")
    submitted = {}
    for until in (None, 3 * 86400):
        code, out, err = run_cli("cluster", "--scenario", str(f), "--json", *(["--until", str(until)] if until else []))
        assert code == 0, err
        submitted[until] = json.loads(out)["jobs_submitted"]
    assert submitted[3 * 86400] > 2.5 * submitted[None] > 0


def test_a_single_job_waiting_for_repairs_is_not_overload(run_cli, tmp_path):
    """One 128-GPU job on 128 GPUs with frequent failures: it waits for repairs, arrivals do not outrun the
    cluster (this seed used to be flagged overloaded)."""
    f = tmp_path / "one.yaml"
    f.write_text(SMALL.replace("nodes: 2", "nodes: 16") + "failures: {failures_per_1000_node_days: 50}\n"
                 "jobs: [{name: j, gpus: 128, duration_s: 864000}]\ncheckpoint: {interval_s: 60}\n")
    code, out, err = run_cli("cluster", "--scenario", str(f), "--seed", "1", "--json")
    assert code == 0, err
    assert json.loads(out)["overloaded"] is False
