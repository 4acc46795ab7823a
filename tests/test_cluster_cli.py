"""`simulator cluster`: the CLI contract (JSON keys, records file, one-line errors with exit code 2)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from simulator import cli
from simulator.cli_cluster import CONTRACT_KEYS


@pytest.fixture()
def run_cli(monkeypatch, capsys):
    monkeypatch.setattr(cli, "EXTENSIONS", ("simulator.cli_cluster",))

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
    (("--scenario", "trace-replay-64gpu", "--until", "-5"), "positive number of seconds"),
    (("--scenario", "trace-replay-64gpu", "--records", "/nonexistent-dir/x.csv"), "cannot write"),
    (("--scenario", "trace-replay-64gpu", "--records", "x.xlsx"), ".csv or .parquet"),
])
def test_errors_are_one_line_exit_2(run_cli, argv, needle):
    code, out, err = run_cli("cluster", *argv)
    assert code == 2
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err
