"""Sweeps: grid expansion, vectorised vs per-scenario agreement, crash + resume, Dask, bad input."""

import json
import multiprocessing as mp
import os
import signal
import time
from pathlib import Path

import pandas as pd
import pytest

from simulator import DataFileError, SimulatorError, estimate_training
from simulator.cli import main
from simulator.runs.grid import load_grid, parse_grid
from simulator.runs.sweep import read_results, run_shard, run_sweep

BASE = {"kind": "training", "model": "llama3.1-8b", "hardware": "h100-sxm-80gb", "gpus": 64,
        "global_batch": 256, "seq_len": 4096, "train_tokens": 1e12, "plan": {"tp": 2, "pp": 1}}


def grid(**kw):
    data = {"base": BASE, "axes": {"gpus": [32, 64, 128], "plan.tp": [1, 2, 4, 8], "plan.micro_batch": [1, 2]},
            "shard_size": 5}
    data.update(kw)
    return parse_grid(data)


def test_grid_size_and_order():
    g = grid(zip=[{"seq_len": [2048, 4096], "global_batch": [512, 256]}])
    assert len(g) == 3 * 4 * 2 * 2
    first, inputs = g.scenario(0)
    assert first["gpus"] == 32 and first["plan"]["tp"] == 1 and first["seq_len"] == 2048
    last, _ = g.scenario(len(g) - 1)
    assert last["gpus"] == 128 and last["plan"]["micro_batch"] == 2 and last["global_batch"] == 256
    assert inputs["input.gpus"] == 32


def test_ranges():
    g = parse_grid({"base": BASE, "axes": {"gpus": {"range": [16, 128], "scale": "log2"},
                                           "plan.micro_batch": {"range": [1, 3], "step": 1}}})
    assert len(g) == 4 * 3


def test_vectorised_rows_equal_single_estimates(tmp_path):
    g = grid()
    df = run_shard(g, 0, len(g))
    for i in (0, 7, 13, len(g) - 1):
        data, _ = g.scenario(i)
        ref = estimate_training(data["model"], data["hardware"], data["gpus"], global_batch=256, seq_len=4096,
                                train_tokens=1e12, **data["plan"]).to_dict()
        row = df[df.scenario_id == i].iloc[0]
        assert row["error"] == ""
        assert row["step_time_s"] == pytest.approx(ref["step_time_s"], rel=1e-12)
        assert row["breakdown.compute"] == pytest.approx(ref["breakdown"]["compute"], rel=1e-12)


def test_failed_scenarios_are_recorded_and_counted(tmp_path):
    g = parse_grid({"base": BASE, "axes": {"plan.tp": [2, 3]}})  # tp 3 does not divide 32 heads
    rep = run_sweep(g, tmp_path / "out")
    df = read_results(tmp_path / "out")
    assert rep.failed == 1 and len(df) == 2
    assert "not divisible" in df.loc[df["input.plan.tp"] == 3, "error"].iloc[0]


@pytest.mark.parametrize("bad, needle", [
    ({"axes": {"plan.tpp": [1]}}, "plan.tpp"),
    ({"axes": {"gpus": []}}, "no values"),
    ({"axes": {"gpu": [1, 2]}}, "names no field"),
    ({"zip": [{"seq_len": [1, 2], "global_batch": [1]}]}, "different lengths"),
    ({"base": {**BASE, "seq_len": -1}}, "seq_len"),
    ({"axes": {"gpus": {"range": [1, 0], "scale": "log2"}}}, "log2 range"),
    ({"axes": {"gpus": [32, -5]}}, r"axis gpus = -5\): field 'gpus'"),  # a later value, not only the first
    ({"axes": {"hardware": ["h100-sxm-80gb", "h100-sxm-80gbb"]}}, "axis hardware = 'h100-sxm-80gbb'.*did you mean"),
    ({"zip": [{"plan.tp": [1, 2], "plan.micro_batch": [1, "two"]}]}, "axis plan.tp, plan.micro_batch = 2, 'two'"),
    ({"axes": {"plan": [{"tp": 1}, {"tp": 2}], "plan.tp": [4]}}, "axes 'plan' and 'plan.tp' overlap"),
    ({"zip": [{"gpus": [64, 128], "global_batch": [256, 512]}]}, "axes 'gpus' and 'gpus' overlap"),
])
def test_bad_grids_fail_before_running(bad, needle):
    data = {"base": BASE, "axes": {"gpus": [32]}}
    data.update(bad)
    with pytest.raises((DataFileError, SimulatorError), match=needle):
        parse_grid(data)


def _run_in_child(grid_path, out):
    from simulator.runs.grid import load_grid as lg
    from simulator.runs.sweep import run_sweep as rs

    rs(lg(grid_path), out)


def test_kill_and_resume_gives_identical_content(tmp_path):
    grid_path = tmp_path / "grid.yaml"
    grid_path.write_text(json.dumps({"base": BASE, "axes": {"gpus": [16, 32, 64, 128, 256, 512, 1024, 2048],
                                                             "plan.tp": [1, 2, 4, 8], "plan.pp": [1, 2, 4, 8],
                                                             "plan.micro_batch": [1, 2, 4, 8],
                                                             "plan.recompute": ["none", "selective", "full"]},
                                     "shard_size": 16}))
    g = load_grid(grid_path)
    full = tmp_path / "full"
    run_sweep(g, full)
    reference = read_results(full)

    part = tmp_path / "part"
    ctx = mp.get_context("spawn")
    child = ctx.Process(target=_run_in_child, args=(str(grid_path), str(part)))
    child.start()
    deadline = time.time() + 120
    while time.time() < deadline and len(list(part.glob("part-*.parquet"))) < 10:
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    finished = len(list(part.glob("part-*.parquet")))
    assert 0 < finished < len(g) // 16, "the child must be killed halfway"
    with pytest.raises(SimulatorError, match="--resume"):
        run_sweep(g, part)
    rep = run_sweep(g, part, resume=True)
    assert rep.skipped > 0 and rep.computed < len(g)
    pd.testing.assert_frame_equal(read_results(part), reference)


def test_resume_refuses_a_different_grid(tmp_path):
    run_sweep(grid(), tmp_path / "o")
    with pytest.raises(SimulatorError, match="different grid"):
        run_sweep(grid(axes={"gpus": [32]}), tmp_path / "o", resume=True)


def test_dask_local_cluster_gives_identical_results(tmp_path):
    distributed = pytest.importorskip("distributed")
    g = grid()
    run_sweep(g, tmp_path / "local")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl:
        run_sweep(g, tmp_path / "dask", engine="dask", scheduler=cl.scheduler_address)
    pd.testing.assert_frame_equal(read_results(tmp_path / "dask"), read_results(tmp_path / "local"))


def test_cli_sweep_summarises_failures_and_exits_zero_once_it_ran(tmp_path, capsys):
    grid_path = tmp_path / "g.yaml"
    grid_path.write_text(json.dumps({"base": BASE, "axes": {"plan.tp": [1, 3, 5, 2]}}))
    code = main(["sweep", str(grid_path), "--out", str(tmp_path / "o"), "--no-progress", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["failed"] == 2 and out["scenarios"] == 4
    assert sum(out["failures"].values()) == 2 and all(r for r in out["failures"])  # each failure has its reason
    code = main(["sweep", str(grid_path), "--out", str(tmp_path / "o"), "--no-progress", "--resume", "--strict"])
    text = capsys.readouterr().out
    assert code == 1  # --strict: a failed scenario fails the command; resumed runs count earlier shards' failures
    assert "2 failed" in text and "x " in text
    code = main(["sweep", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "x"), "--no-progress"])
    assert code == 2


def test_cluster_sweep_seeds_are_common_across_cells_and_reproducible(tmp_path):
    """Replica r has the same seed under every policy (common random numbers: the same job stream, so the
    comparison is fair); replicas differ; workers do not change results."""
    g = parse_grid({"base": {"kind": "cluster", "scenario": "research-1k-h100", "until_s": 2 * 86400,
                             "overrides": {"warmup_s": 0}},
                    "axes": {"policy": ["fifo", "easy"]}, "seeds": 2, "seed": 3, "shard_size": 2})
    run_sweep(g, tmp_path / "a", workers=2)
    run_sweep(g, tmp_path / "b", workers=1)  # 2 workers against 1: the worker count does not change results
    a, b = read_results(tmp_path / "a"), read_results(tmp_path / "b")
    pd.testing.assert_frame_equal(a, b)
    assert (a["error"] == "").all()
    assert a["input.seed"].nunique() == 2
    by_replica = a.groupby("input.replica")
    assert (by_replica["input.seed"].nunique() == 1).all() and (by_replica["offered_load"].nunique() == 1).all()
    assert a.groupby("input.policy")["utilization"].nunique().min() == 2  # seeds differ between replicas


def test_seed_axis_is_used_as_given():
    g = parse_grid({"base": {"kind": "cluster", "scenario": "research-1k-h100"}, "axes": {"seed": [1, 1, 2]}})
    assert [g.scenario(i)[0]["seed"] for i in range(3)] == [1, 1, 2]
    with pytest.raises(DataFileError, match="not both"):
        parse_grid({"base": {"kind": "cluster", "scenario": "research-1k-h100"}, "axes": {"seed": [1, 2]},
                    "seeds": 2})


def test_cluster_sweep_rejects_unknown_top_field():
    with pytest.raises(DataFileError, match="names no field"):
        parse_grid({"base": {"kind": "cluster", "scenario": "research-1k-h100"}, "axes": {"polcy": ["fifo"]}})


@pytest.mark.parametrize("bad, needle", [
    ({"axes": {"gpus": {"range": [8]}}}, "two numbers"),
    ({"axes": {"gpus": {"range": ["a", "b"]}}}, "two numbers"),
    ({"axes": {"gpus": {"range": [8, 64], "scale": "cubic"}}}, "scale must be"),
    ({"axes": ["gpus"]}, "'axes' must map"),
    ({"shard_size": 0}, "shard_size"),
    ({"seeds": "many"}, "integers"),
])
def test_malformed_grids_give_clear_errors(bad, needle):
    data = {"base": BASE, "axes": {"gpus": [32]}}
    data.update(bad)
    with pytest.raises(DataFileError, match=needle):
        parse_grid(data)


def test_per_plan_uneven_stages_in_one_vectorised_batch(tmp_path):
    """126 layers on pp 16: refused unless the plan says uneven_pp, which a search record carries; the
    even pp 2 plan of the same batch is unaffected by its neighbour's flag."""
    base = {**BASE, "model": "llama3.1-405b", "gpus": 2048, "global_batch": 512, "seq_len": 4096,
            "plan": {"tp": 8, "micro_batch": 1, "zero": 1, "recompute": "full"}}
    g = parse_grid({"base": base, "axes": {"plan.pp": [2, 16], "plan.uneven_pp": [None, True]}})
    df = run_shard(g, 0, len(g))
    rows = {(g.scenario(i)[0]["plan"]["pp"], g.scenario(i)[0]["plan"]["uneven_pp"]): df.iloc[i] for i in range(len(g))}
    assert "do not divide the number of layers" in rows[(16, None)].error
    assert rows[(16, True)].error == rows[(2, None)].error == rows[(2, True)].error == ""
    assert rows[(2, None)].step_time_s == rows[(2, True)].step_time_s
    single = estimate_training("llama3.1-405b", "h100-sxm-80gb", 2048, global_batch=512, seq_len=4096, tp=8, pp=16,
                               recompute="full", uneven_pp=True).to_dict()
    assert rows[(16, True)].step_time_s == pytest.approx(single["step_time_s"], rel=1e-12)
    assert rows[(16, True)].uneven_pp in (True,)


def test_boolean_columns_stay_boolean_next_to_error_rows(tmp_path):
    g = parse_grid({"base": BASE, "axes": {"plan.tp": [2, 3]}})  # tp 3 fails: its row has no `feasible`
    df = run_shard(g, 0, len(g))
    assert str(df["feasible"].dtype) == "boolean" and df["feasible"].isna().sum() == 1


def test_ctrl_c_stops_a_parallel_sweep_promptly(tmp_path):
    """SIGINT (Ctrl-C) during a 24-shard sweep on two workers: exit 130 within seconds (before, the pool ran
    every queued shard first), no traceback, no worker left, finished shards kept for --resume."""
    import subprocess
    import sys

    grid_path = tmp_path / "grid.yaml"
    grid_path.write_text(json.dumps({
        "base": {"kind": "cluster", "scenario": "research-1k-h100", "overrides": {"warmup_s": 0},
                 "until_s": 120 * 86400}, "axes": {"policy": ["fifo", "sjf", "priority", "easy"]}, "seeds": 6,
        "shard_size": 1}))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "simulator", "sweep", str(grid_path), "--out", str(out),
                             "--workers", "2", "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.glob("part-*.parquet")):
        time.sleep(0.05)
    sent = time.time()
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the sweep did not stop within 60 s of SIGINT")
    assert time.time() - sent < 15.0, "the sweep ran the queued shards before stopping"  # they take ~24 s; a
    # prompt stop took 0.16 s idle, 2.1 s on a loaded machine
    assert proc.returncode == 130 and "Traceback" not in err and "rerun with --resume" in err
    assert 0 < len(list(out.glob("part-*.parquet"))) < 20
    time.sleep(0.5)
    left = [p for p in Path("/proc").glob("[0-9]*/cmdline") if str(out).encode() in _read_bytes(p)]
    assert not left, "worker processes outlived the sweep"


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:  # the process ended while we looked
        return b""


def test_axis_file_references_are_relative_to_the_grid_file(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    model = (Path(__file__).resolve().parent.parent / "workloads" / "models" / "llama3.1-8b.yaml").read_text()
    (sub / "my8b.yaml").write_text(model.replace("id: llama3.1-8b", "id: my8b"))
    (sub / "grid.yaml").write_text("kind: sweep\nbase: {kind: training, model: llama3.1-8b, hardware: h100-sxm-80gb, "
                                   "gpus: 64, global_batch: 512, seq_len: 4096}\naxes:\n  model: [llama3.1-8b, my8b.yaml]\n")
    g = load_grid(sub / "grid.yaml")  # from another working directory, the axis value still resolves
    assert len(g) == 2 and g.scenario(1)[0]["model"] == str((sub / "my8b.yaml").resolve())


def test_inference_grids_run(tmp_path):
    """Inference is exact: its scenarios take no seed (a seed used to be written into every non-training one)."""
    g = parse_grid({"base": {"kind": "inference", "model": "llama3.1-8b", "hardware": "h100-sxm-80gb", "batch": 8,
                             "input_len": 512, "output_len": 128}, "axes": {"deployment.tp": [1, 2]}})
    rep = run_sweep(g, tmp_path / "out")
    df = read_results(tmp_path / "out")
    assert rep.failed == 0 and df["tpot_s"].iloc[1] < df["tpot_s"].iloc[0]
