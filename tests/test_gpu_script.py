"""benchmarks/gpu (the prepared one-call GPU measurement) works before it ever meets a GPU: it compiles, --help and
--plan need no torch, run.sh exits 0 with a note where torch is missing, and the pure parts (model sizing, the
deadline scheduler, the result writer) do what the run relies on. With torch importable, one tiny config runs on
the CPU."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import py_compile
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GPU = ROOT / "benchmarks" / "gpu"
SCRIPT = GPU / "train_step.py"


def _load():
    sys.dont_write_bytecode = True  # leave no __pycache__ in benchmarks/gpu
    spec = importlib.util.spec_from_file_location("gpu_train_step", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up by name
    spec.loader.exec_module(mod)
    return mod


ts = _load()


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_the_script_compiles_and_its_functions_stay_small(tmp_path):
    py_compile.compile(str(SCRIPT), cfile=str(tmp_path / "train_step.pyc"), doraise=True)
    tree = ast.parse(SCRIPT.read_text(encoding="utf-8"))
    long = [f"{n.name} ({n.end_lineno - n.lineno + 1})" for n in ast.walk(tree)
            if isinstance(n, ast.FunctionDef) and n.end_lineno - n.lineno + 1 > 60]
    assert not long


def test_help_and_plan_need_no_torch():
    env = {**os.environ, "PYTHONPATH": ""}
    out = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert "--deadline-s" in out.stdout and "--out" in out.stdout
    out = subprocess.run([sys.executable, str(SCRIPT), "--plan", "--gpu-mem-gib", "80"], capture_output=True,
                         text=True, timeout=120, env=env)
    plan = json.loads(out.stdout)
    assert plan["batch"] == {"flash": 4, "math": 3}
    assert [t["name"] for t in plan["tasks"]][:3] == ["eager-flash-bf16", "eager-math-bf16", "gemm"]


def test_bad_arguments_are_refused_with_the_reason():
    for argv in (["--plan", "--configs", "eager-flash-int4"], ["--plan", "--parts", "train,nccl"], []):
        out = subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True, text=True, timeout=120)
        assert out.returncode == 2 and "error:" in out.stderr


def test_model_sizes_and_step_flop():
    assert ts.param_count(ts.MODELS["1b"]) == 886_114_304
    assert 0.4e9 < ts.param_count(ts.MODELS["0.5b"]) < 0.6e9
    c = ts.MODELS["1b"]
    flop = ts.step_flop(c, 4, 2048)
    dense = 6.0 * (ts.param_count(c) - c.vocab * c.d_model - (2 * c.n_layers + 1) * c.d_model) * 4 * 2048
    assert flop == pytest.approx(dense + 6.0 * 16 * 2048 * 2048 * 4 * 2048)
    assert c.head_dim == 128


def test_batch_sizing_follows_memory_and_the_attention_backend():
    c, gib = ts.MODELS["1b"], 2**30
    assert ts.choose_batch(c, 2048, 80 * gib, False, 4) == 4
    assert ts.choose_batch(c, 2048, 80 * gib, True, 4) == 3  # the math backend's fp32 score matrices
    assert ts.choose_batch(c, 2048, 141 * gib, True, 4) == 4
    assert ts.choose_batch(c, 2048, 1 * gib, False, 4) == 1  # never below one
    assert ts.estimate_memory(c, 2, 2048, True) > ts.estimate_memory(c, 2, 2048, False)


def test_configs_parse_and_the_plan_keeps_its_priority_order():
    assert ts.parse_config("compile-flash-fp8_rowwise") == ts.TrainSpec(True, "flash", "fp8_rowwise")
    assert ts.parse_config("eager-math-bf16").kind == "eager"
    assert ts.parse_config("compile-flash-fp8_tensorwise").kind == "compile_fp8"
    for bad in ("eager-flash", "jit-flash-bf16", "eager-flash-int8"):
        with pytest.raises(ValueError, match="expected"):
            ts.parse_config(bad)
    plan = ts.build_plan(ts.PARTS, ts.TRAIN_CONFIGS)
    assert [p.name for p in plan] == [*ts.TRAIN_CONFIGS[:2], "gemm", "attention", "elementwise", *ts.TRAIN_CONFIGS[2:]]
    assert all(p.est_s == ts.DEFAULT_COST_S[p.kind] for p in plan)
    assert [p.name for p in ts.build_plan(("gemm", "attention"), ts.TRAIN_CONFIGS)] == ["gemm", "attention"]


def test_deadline_admits_what_fits_and_learns_costs():
    clock = FakeClock()
    d = ts.Deadline(100, clock=clock, margin_s=5)
    assert d.admit("compile", 70) == (True, 70)
    clock.t += 40
    assert d.left() == 60 and d.elapsed() == 40
    assert d.admit("compile", 70) == (False, 70)
    d.record("compile", 20)
    d.record("compile", 10)  # the slowest seen is kept
    assert d.estimate("compile", 70) == pytest.approx(24)
    assert d.admit("compile", 70) == (True, pytest.approx(24))


def test_run_tasks_writes_a_row_for_every_task_whatever_happens(tmp_path):
    clock = FakeClock()
    d = ts.Deadline(60, clock=clock, margin_s=5)
    w = ts.ResultWriter(tmp_path, {"gpu": "test-gpu", "date": "2026-01-01"})
    ran, cleaned = [], []

    def slow():
        ran.append("slow")
        clock.t += 30
        w.write("train", {"name": "slow", "status": "ok", "step_s_median": 0.1})

    def skip():
        raise ts.Skip("no torchao")

    def boom():
        raise RuntimeError("CUDA out of memory")

    tasks = [ts.Task("slow", "train", "eager", 10, slow), ts.Task("fp8", "train", "eager_fp8", 5, skip),
             ts.Task("oom", "gemm", "gemm", 5, boom), ts.Task("again", "train", "eager", 10, slow)]
    ts.run_tasks(tasks, d, w, lambda: cleaned.append(1))
    assert ran == ["slow"] and len(cleaned) == 3
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [(r["name"], r["status"]) for r in rows] == [("slow", "ok"), ("fp8", "skipped"), ("oom", "error"),
                                                        ("again", "skipped")]
    assert rows[1]["reason"] == "no torchao" and "out of memory" in rows[2]["reason"]
    assert rows[3]["reason"].startswith("deadline: needs ~36 s")  # 1.2 x the 30 s the first one took
    assert all(r["env_gpu"] == "test-gpu" for r in rows)
    assert w.counts() == {"train": {"ok": 1, "skipped": 2}, "gemm": {"error": 1}}


def test_a_task_running_past_the_deadline_is_stopped_and_the_run_goes_on(tmp_path):
    import time

    d = ts.Deadline(0.5, margin_s=0)
    w = ts.ResultWriter(tmp_path, {})
    t0 = time.monotonic()
    ts.run_tasks([ts.Task("hang", "train", "eager", 0, lambda: time.sleep(20)),
                  ts.Task("next", "gemm", "gemm", 0, lambda: None)], d, w, hard=True)
    assert time.monotonic() - t0 < 5
    assert [(r["name"], r["status"]) for r in w.rows["train"] + w.rows["gemm"]] == [("hang", "stopped"),
                                                                                   ("next", "skipped")]


def test_result_writer_keeps_every_column_and_the_environment(tmp_path):
    w = ts.ResultWriter(tmp_path / "out", {"gpu": "H100", "torch": "2.6"})
    w.write("gemm", {"name": "a", "status": "ok", "m": 1})
    w.write("gemm", {"name": "b", "status": "error", "reason": "x"})
    header, *lines = (tmp_path / "out" / "gemm.csv").read_text().splitlines()
    assert header == "part,name,status,m,env_gpu,env_torch,reason"
    assert len(lines) == 2 and lines[1].endswith(",x")
    assert json.loads((tmp_path / "out" / "env.json").read_text()) == {"gpu": "H100", "torch": "2.6"}
    assert not list((tmp_path / "out").glob(".*.tmp"))


def test_summary_statistics_and_names():
    s = ts.summarize([4.0, 1.0, 3.0, 2.0], "step_s")
    assert s == {"reps": 4, "step_s_median": 2.5, "step_s_min": 1.0, "step_s_p25": 1.75, "step_s_p75": 3.25,
                 "step_s_max": 4.0}
    assert ts.summarize([0.5])["time_s_median"] == 0.5
    assert ts.gpu_slug("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"
    assert ts.gpu_slug("") == "unknown-gpu"


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="a GPU is here: run.sh would measure for minutes")
def test_run_sh_without_a_gpu_exits_0_and_says_why(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    for name in ("python3", "python"):
        (fake / name).write_text("#!/bin/sh\nexit 1\n")
        (fake / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "PYTHON": ""}
    out = subprocess.run(["bash", str(GPU / "run.sh"), str(tmp_path / "out"), "60"], capture_output=True, text=True,
                         timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    notes = list((tmp_path / "out").rglob("note.json"))  # no torch here, or torch without a GPU
    assert notes and json.loads(notes[0].read_text())["status"] == "skipped"
    assert (tmp_path / "out" / "run.log").read_text().startswith("== run.sh: budget 60s")


def test_run_sh_calls_the_existing_calibration_in_its_quick_mode():
    text = (GPU / "run.sh").read_text()
    assert "-m simulator calibrate run" in text and "--backend torch --suite quick" in text
    assert "pip install" not in text
    assert subprocess.run(["bash", "-n", str(GPU / "run.sh")]).returncode == 0


def test_a_tiny_config_trains_on_the_cpu_when_torch_is_here(tmp_path):
    pytest.importorskip("torch")
    argv = [sys.executable, str(SCRIPT), "--device", "cpu", "--model", "tiny", "--seq-len", "32", "--target-batch",
            "2", "--steps", "2", "--warmup", "1", "--parts", "train", "--configs", "eager-math-bf16",
            "--out", str(tmp_path), "--deadline-s", "120"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    (row,) = [json.loads(x) for x in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert row["status"] == "ok" and row["tokens_per_s"] > 0 and row["batch"] == 2 and row["reps"] == 2
    assert row["env_torch"] and json.loads((tmp_path / "summary.json").read_text())["status"] == "done"
