"""Golden outputs: representative CLI and API calls, pinned byte for byte (syrupy snapshots in __snapshots__/).

They guard refactors: moving code must leave every line of output identical. A deliberate change of behaviour
updates them (`pytest tests/test_golden.py --snapshot-update`) in its own commit that says why.

Numbers are written at full precision (repr) and compared to 1e-12 relative: text and structure must match
exactly. The tolerance exists because numpy picks different SIMD kernels on different CPUs (AVX-512 or not), which
moves the last bit of a few results (measured: at most 1.6e-14 relative on the validation table, 4e-16 on the
evaluate arrays, with NPY_DISABLE_CPU_FEATURES); any change of behaviour moves them far more.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
from syrupy.extensions.amber import AmberSnapshotExtension

from simulator.cli import main

_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|nan|inf")
REL_TOL = 1e-12


def same_text(a: str, b: str) -> bool:
    """Equal text, every number in it equal to REL_TOL relative (see the module docstring)."""
    if a == b:
        return True
    if _NUMBER.sub("#", a) != _NUMBER.sub("#", b):
        return False
    for x, y in zip(_NUMBER.findall(a), _NUMBER.findall(b), strict=True):
        fx, fy = float(x), float(y)
        if not (fx == fy or (math.isnan(fx) and math.isnan(fy))
                or abs(fx - fy) <= REL_TOL * max(abs(fx), abs(fy))):
            return False
    return True


class ToleratingAmber(AmberSnapshotExtension):
    """Syrupy's amber snapshots, compared with same_text instead of string equality."""

    def matches(self, *, serialized_data: Any, snapshot_data: Any) -> bool:
        return same_text(str(serialized_data), str(snapshot_data))


@pytest.fixture
def snapshot(snapshot):
    return snapshot.use_extension(ToleratingAmber)

ROOT = Path(__file__).resolve().parent.parent

TRAIN_70B = ["train", "--model", "llama3.1-70b", "--hardware", "h100-sxm-80gb", "--gpus", "1024", "--tp", "8",
             "--pp", "4", "--global-batch", "1024", "--seq-len", "8192", "--train-tokens", "15e12"]
TRAIN_MOE = ["train", "--model", "mixtral-8x7b", "--hardware", "h100-sxm-80gb", "--gpus", "256", "--tp", "2",
             "--pp", "4", "--ep", "8", "--cp", "2", "--global-batch", "256", "--seq-len", "8192", "--zero", "1",
             "--precision", "fp8", "--pp-schedule", "interleaved", "--vpp", "2", "--recompute", "full",
             "--tp-comm-overlap", "--train-tokens", "2e12", "--purchase", "spot"]
TRAIN_405B = ["train", "--model", "llama3.1-405b", "--hardware", "h100-sxm-80gb", "--gpus", "16384", "--tp", "8",
              "--pp", "16", "--cp", "1", "--global-batch", "2048", "--seq-len", "8192", "--uneven-pp",
              "--pp-schedule", "interleaved", "--vpp", "2", "--recompute", "full", "--train-tokens", "15e12"]
TRAIN_FSDP = ["train", "--model", "gpt3-175b", "--hardware", "a100-sxm-80gb", "--gpus", "768", "--zero", "3",
              "--global-batch", "1536", "--seq-len", "2048", "--micro-batch", "1", "--recompute", "full",
              "--stack", "deepspeed-2021", "--attention-kernel", "unfused", "--grad-reduce", "bf16",
              "--no-dp-overlap"]
PLAN_8B = ["plan", "--model", "llama3.1-8b", "--hardware", "h100-sxm-80gb", "--gpus", "64", "--global-batch", "256",
           "--seq-len", "4096", "--top", "5", "--precision", "bf16", "fp8"]
PLAN_COUNTS = ["plan", "--model", "llama3.1-70b", "--hardware", "a100-sxm-80gb", "--gpus", "128", "256", "512",
               "--global-batch", "512", "--seq-len", "4096", "--train-tokens", "1e12", "--objective", "cost",
               "--per-gpu-count"]
INFER_70B = ["infer", "--model", "llama3.1-70b", "--hardware", "h100-sxm-80gb", "--tp", "4", "--precision", "fp8",
             "--batch", "16", "--input-len", "1024", "--output-len", "256"]
INFER_MOE = ["infer", "--model", "mixtral-8x22b", "--hardware", "h200-sxm-141gb", "--tp", "8", "--ep", "4",
             "--pp", "2", "--kv-precision", "fp8", "--engine", "trtllm", "--batch", "64", "--input-len", "2048",
             "--output-len", "128"]
INFER_OOM = ["infer", "--model", "llama3.1-405b", "--hardware", "a100-sxm-40gb", "--tp", "8", "--batch", "4",
             "--input-len", "512", "--output-len", "64"]
SERVE = ["serve", "--model", "llama3.1-8b", "--hardware", "h100-sxm-80gb", "--replicas", "2", "--rate", "20",
         "--requests", "300", "--length-dist", "lognormal:0.8", "--router", "jsq", "--slo-ttft", "0.5",
         "--slo-tpot", "0.05", "--seed", "3"]
SERVE_DISAGG = ["serve", "--model", "llama3.1-70b", "--hardware", "h100-sxm-80gb", "--tp", "4", "--precision", "fp8",
                "--prefill-replicas", "1", "--decode-replicas", "2", "--rate", "4", "--requests", "150",
                "--length-dist", "sharegpt", "--arrival", "gamma:2", "--seed", "1"]
CAPACITY = ["capacity", "--model", "llama3.1-8b", "--hardware", "h100-sxm-80gb", "--rate", "6", "--tp", "1", "2",
            "--precision", "bf16", "fp8", "--input-len", "512", "--output-len", "128", "--requests", "120",
            "--slo-ttft-p99", "1", "--slo-tpot-p99", "0.05", "--top", "2"]
CLUSTER = ["cluster", "--scenario", "trace-replay-64gpu", "--seed", "2", "--until", "259200"]
CLUSTER_FAIL = ["cluster", "--scenario", "research-1k-h100", "--seed", "5", "--until", "604800", "--policy", "easy"]
CLUSTER_SERVICES = ["cluster", "--scenario", "mixed-fleet-serving", "--seed", "1", "--until", "172800"]
CLUSTER_PRETRAIN = ["cluster", "--scenario", "pretrain-16k-h100-54d", "--seed", "3", "--until", "864000",
                    "--policy", "sjf"]


def run_cli(capsys, args: list[str]) -> str:
    """stdout, stderr and the exit code of one in-process CLI call, as one text."""
    try:
        code = main(args)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return f"exit {code}\n--- stdout\n{out}--- stderr\n{err}"


@pytest.mark.parametrize("name, args", [
    ("train_70b", TRAIN_70B), ("train_moe_fp8", TRAIN_MOE), ("train_405b_uneven", TRAIN_405B),
    ("train_zero3_deepspeed", TRAIN_FSDP), ("plan_8b", PLAN_8B), ("plan_per_count_cost", PLAN_COUNTS),
    ("infer_70b", INFER_70B), ("infer_moe_pp", INFER_MOE), ("infer_oom", INFER_OOM),
    ("serve", SERVE), ("serve_disaggregated", SERVE_DISAGG), ("capacity", CAPACITY),
    ("cluster_trace", CLUSTER), ("cluster_research_easy", CLUSTER_FAIL),
    ("cluster_services_priority", CLUSTER_SERVICES), ("cluster_pretrain_sjf", CLUSTER_PRETRAIN),
])
@pytest.mark.parametrize("fmt", ["json", "text"])
def test_cli_golden(capsys, snapshot, name, args, fmt):
    assert run_cli(capsys, args + (["--json"] if fmt == "json" else [])) == snapshot


@pytest.mark.parametrize("path", [
    "workloads/scenarios/train-llama3.1-70b-h100.yaml",
])
def test_run_scenario_golden(capsys, snapshot, path):
    assert run_cli(capsys, ["run", str(ROOT / path), "--json"]) == snapshot


@pytest.mark.parametrize("what", ["hardware", "models", "prices", "scenarios"])
def test_list_golden(capsys, snapshot, what):
    assert run_cli(capsys, ["list", what]) == snapshot


def test_scenario_kinds_golden(tmp_path, capsys, snapshot):
    """Inference and serving scenario files through `simulator run` (text and JSON)."""
    inf = tmp_path / "inf.yaml"
    inf.write_text("kind: inference\nmodel: llama3.1-8b\nhardware: l40s-48gb\ndeployment: {tp: 2, precision: fp8}\n"
                   "batch: 8\ninput_len: 2000\noutput_len: 300\n")
    srv = tmp_path / "srv.yaml"
    srv.write_text("kind: serving\nmodel: llama3.1-8b\nhardware: a100-sxm-80gb\nreplicas: 2\nrate_per_s: 6\n"
                   "requests: 200\nlength_dist: lognormal\nseed: 4\n")
    out = [run_cli(capsys, ["run", str(p)] + extra) for p in (inf, srv) for extra in ([], ["--json"])]
    assert "\n".join(out) == snapshot


def test_same_text_sees_small_changes():
    """The comparison is not blind: a change in the 10th digit, a changed word or a moved line fails it."""
    assert same_text("step 1.2345678901234567 s", "step 1.2345678901234569 s")
    assert not same_text("step 1.2345678901234567 s", "step 1.2345678902 s")
    assert not same_text("step 1.0 s", "time 1.0 s")
    assert not same_text("a 1\nb 2", "a 1 b 2")
    assert not same_text("x=nan", "x=1.0")


def test_explain_golden(snapshot):
    import simulator as sim

    r = sim.estimate_training("llama3.1-70b", "h100-sxm-80gb", 1024, tp=8, pp=4, global_batch=1024, seq_len=8192,
                              train_tokens=15e12)
    assert r.explain() == snapshot


def test_sweep_golden(tmp_path, snapshot):
    """A small training grid (vectorised fixed plans, one row fails) and a serving grid, as CSV text."""
    import simulator as sim

    grid = tmp_path / "grid.yaml"
    grid.write_text(
        "kind: sweep\nbase: {kind: training, model: llama3.1-8b, hardware: h100-sxm-80gb, gpus: 64, global_batch: 256,"
        " seq_len: 4096, train_tokens: 1.0e+12, plan: {tp: 2, pp: 2}}\n"
        "axes:\n  plan.tp: [1, 2, 3, 4]\n  plan.micro_batch: [1, 2]\n  gpus: [32, 64]\n")
    rep = sim.run_sweep(sim.load_grid(grid), tmp_path / "out")
    train = sim.read_results(tmp_path / "out")
    serve_grid = tmp_path / "serve.yaml"
    serve_grid.write_text(
        "kind: sweep\nbase: {kind: serving, model: llama3.1-8b, hardware: h100-sxm-80gb, requests: 80,"
        " rate_per_s: 5}\naxes:\n  rate_per_s: [5, 40]\nseeds: 2\n")
    sim.run_sweep(sim.load_grid(serve_grid), tmp_path / "serve", workers=1)
    serve = sim.read_results(tmp_path / "serve")
    text = (f"failed {rep.failed} of {rep.scenarios}\n" + train.to_csv(index=False, float_format=repr)
            + serve.to_csv(index=False, float_format=repr))
    assert text == snapshot


@pytest.mark.parametrize("scenario, policy, until_s", [
    ("mixed-fleet-serving", "priority", 172800.0), ("research-1k-h100", "fifo", 259200.0),
])
def test_cluster_records_golden(snapshot, scenario, policy, until_s):
    """Per-job and per-segment records of a run, as column sums at full precision (and the row counts)."""
    import simulator as sim

    res = sim.simulate_cluster(scenario, policy=policy, seed=7, until_s=until_s)
    lines = [f"jobs {len(res.jobs)} segments {len(res.segments)}"]
    for name, frame in (("jobs", res.jobs), ("segments", res.segments)):
        for col in frame.columns:
            values = frame[col]
            if values.dtype.kind in "if":
                lines.append(f"{name}.{col} sum={repr(float(values.sum()))} nan={int(values.isna().sum())}")
            else:
                lines.append(f"{name}.{col} " + ",".join(f"{k}:{v}" for k, v in sorted(values.astype(str).value_counts().items())[:20]))
    levels = res.timeseries(3600.0)
    lines += [f"levels.{c} sum={repr(float(levels[c].sum()))}" for c in levels.columns]
    assert "\n".join(lines) == snapshot


def _evaluate_grid():
    import simulator as sim

    model = sim.load_model("llama3.1-70b")
    hw = sim.load_hardware("h100-sxm-80gb")
    grid = sim.enumerate_plans(model, 512, 512, 8192, hw.scale_up_domain_gpus, precisions=("bf16", "fp8"),
                               zero_stages=(1, 3), recompute=("none", "full"), max_micro_batch=1, max_cp=2, max_vpp=2)
    opts = sim.TrainingOptions(seq_len=8192, global_batch=512, uneven_pp=False)
    return grid, sim.evaluate(model, hw, grid, opts)


def test_evaluate_arrays_golden(snapshot):
    """The raw arrays of the vectorised training core over a plan grid: every key, every plan."""
    grid, m = _evaluate_grid()
    assert len(grid) > 100
    rows = [" ".join(f"{k}={repr(float(v[i]))}" for k, v in sorted(m.items())) for i in range(len(grid))]
    assert "\n".join(rows) == snapshot


def test_validation_table_golden(snapshot):
    """Every published training row's prediction (the validation table the README quotes)."""
    import simulator as sim

    df = sim.validate_training()
    assert df.to_csv(index=False, float_format=repr) == snapshot
