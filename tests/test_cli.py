"""The `simulator` command in process: JSON contract, tables, and one-line errors with exit code 2."""

import json
from pathlib import Path

import pytest

from simulator.cli import main

ROOT = Path(__file__).resolve().parent.parent

TRAIN = ["train", "--model", "llama3.1-70b", "--hardware", "h100-sxm-80gb", "--gpus", "1024", "--tp", "8",
         "--pp", "4", "--global-batch", "1024", "--seq-len", "8192"]


def run(capsys, args):
    try:
        code = main(args)
    except SystemExit as exc:  # argparse rejects the arguments themselves
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_train_json_contract(capsys):
    code, out, err = run(capsys, TRAIN + ["--train-tokens", "15e12", "--json"])
    assert code == 0, err
    r = json.loads(out)
    for key in ("feasible", "reason", "step_time_s", "tokens_per_s", "tflops_per_gpu", "mfu", "memory_per_gpu_bytes",
                "breakdown", "memory_breakdown", "total_time_s", "gpu_hours", "energy_kwh"):
        assert key in r, key
    assert r["feasible"] is True and r["dp"] == 32
    assert 0.2 < r["mfu"] < 0.7
    assert r["gpu_hours"] == pytest.approx(r["total_time_s"] * 1024 / 3600)
    assert sum(r["breakdown"].values()) == pytest.approx(r["step_time_s"])


def test_train_table(capsys):
    code, out, _ = run(capsys, TRAIN)
    assert code == 0 and "MFU" in out and "step breakdown" in out


def test_infeasible_plan_is_json_with_reason_and_exit_2(capsys):
    args = ["train", "--model", "llama3.1-405b", "--hardware", "h100-sxm-80gb", "--gpus", "8", "--global-batch", "8",
            "--seq-len", "8192", "--zero", "0", "--json"]
    code, out, err = run(capsys, args)
    assert code == 2
    r = json.loads(out)
    assert r["feasible"] is False and "memory" in r["reason"]
    assert "infeasible" in err and err.count("\n") == 1


@pytest.mark.parametrize("args, needle", [
    (["--model", "llama3-70b"], "did you mean"),
    (["--hardware", "h100"], "unknown hardware id"),
    (["--tp", "3", "--gpus", "1020"], "does not divide the number of attention heads"),
    (["--pp", "3", "--gpus", "1032", "--tp", "8"], "do not divide the number of layers"),
    (["--gpus", "0"], "--gpus: expected a GPU count from 1 to 1,000,000, got '0'"),
    (["--global-batch", "-4"], "--global-batch: expected a batch size from 1"),
    (["--gpus", "1000"], "not divisible by tp x pp x cp"),
    (["--precision", "fp8", "--hardware", "a100-sxm-80gb"], "no fp8"),
])
def test_bad_input_one_line_exit_2(capsys, args, needle):
    argv = list(TRAIN)
    for i in range(0, len(args), 2):
        flag, value = args[i], args[i + 1]
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    code, out, err = run(capsys, argv)
    assert code == 2
    assert needle in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_malformed_model_file(capsys, tmp_path):
    bad = tmp_path / "m.yaml"
    bad.write_text("name: broken\nn_layers: 'many'\n")
    argv = list(TRAIN)
    argv[argv.index("--model") + 1] = str(bad)
    code, _, err = run(capsys, argv)
    assert code == 2 and "n_layers" in err and "m.yaml" in err


def test_non_utf8_data_file_is_named_not_a_traceback(capsys, tmp_path):
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("name: café\nn_layers: 2\n".encode("latin-1"))
    argv = list(TRAIN)
    argv[argv.index("--model") + 1] = str(bad)
    code, _, err = run(capsys, argv)
    assert code == 2 and "latin1.yaml" in err and "UTF-8" in err and "Traceback" not in err


def test_plan_json(capsys):
    args = ["plan", "--model", "llama3.1-8b", "--hardware", "h100-sxm-80gb", "--gpus", "64", "--global-batch", "256",
            "--seq-len", "4096", "--train-tokens", "1e12", "--top", "5", "--json"]
    code, out, err = run(capsys, args)
    assert code == 0, err
    top = json.loads(out)
    assert len(top) == 5
    times = [r["step_time_s"] for r in top]
    assert times == sorted(times)
    assert all(r["feasible"] for r in top)


def test_plan_table_and_cost_objective(capsys):
    args = ["plan", "--model", "llama2-7b", "--hardware", "a100-sxm-80gb", "--gpus", "16", "32", "--global-batch", "256",
            "--seq-len", "4096", "--train-tokens", "1e11", "--objective", "cost", "--top", "3"]
    code, out, err = run(capsys, args)
    assert code == 0, err
    assert "plans evaluated" in out


def test_plan_without_feasible_plan(capsys):
    args = ["plan", "--model", "llama3.1-405b", "--hardware", "l40s-48gb", "--gpus", "8", "--global-batch", "8",
            "--seq-len", "8192"]
    code, out, err = run(capsys, args)
    assert code == 2 and "0 fit" in out
    assert "no feasible plan" in err and "does not fit in device memory" in err
    code, out, err = run(capsys, args + ["--json"])
    assert code == 2 and json.loads(out) == [] and "does not fit in device memory" in err


@pytest.mark.parametrize("top", ["0", "-1", "2.5"])
def test_plan_top_must_be_positive(capsys, top):
    args = ["plan", "--model", "llama3.1-8b", "--hardware", "h100-sxm-80gb", "--gpus", "8", "--global-batch", "64",
            "--seq-len", "4096", "--top", top]
    code, _, err = run(capsys, args)
    assert code == 2 and "--top" in err


def test_plan_searches_uneven_stages_by_default(capsys):
    """126 layers and a power-of-two GPU count leave only pp 1 or 2 with equal stages; the default search
    also tries unequal ones, marks them, and `train` reproduces the plan only with --uneven-pp."""
    base = ["--model", "llama3.1-405b", "--hardware", "h100-sxm-80gb", "--global-batch", "2048", "--seq-len", "8192",
            "--json"]
    code, out, _ = run(capsys, ["plan", "--gpus", "16384", "--top", "1", *base])
    best = json.loads(out)[0]
    code_even, out_even, _ = run(capsys, ["plan", "--gpus", "16384", "--top", "1", "--even-pp-only", *base])
    best_even = json.loads(out_even)[0]
    assert code == code_even == 0
    assert best["uneven_pp"] and best["pp"] * best["vpp"] > 2 and 126 % (best["pp"] * best["vpp"])
    assert not best_even["uneven_pp"] and best_even["pp"] in (1, 2)
    assert best["step_time_s"] < best_even["step_time_s"]
    plan = ["--gpus", "16384", "--tp", str(best["tp"]), "--pp", str(best["pp"]), "--cp", str(best["cp"]),
            "--vpp", str(best["vpp"]), "--pp-schedule", best["pp_schedule"], "--micro-batch", str(best["micro_batch"]),
            "--zero", str(best["zero"]), "--recompute", best["recompute"]]
    code, _, err = run(capsys, ["train", *plan, *base])
    assert code == 2 and "--uneven-pp" in err
    code, out, _ = run(capsys, ["train", *plan, "--uneven-pp", *base])
    assert code == 0 and json.loads(out)["step_time_s"] == pytest.approx(best["step_time_s"])


def test_grad_reduce_dtype_sets_gradient_bytes(capsys):
    """Unsharded (ZeRO-0) model states: 2 B weights + 4 B fp32 gradients (Megatron main_grad) + 12 B
    Adam/master = 18 B per parameter by default; bf16 gradients give the 16 B of Rajbhandari et al."""
    args = ["train", "--model", "llama3.1-8b", "--hardware", "h100-sxm-80gb", "--gpus", "8", "--global-batch", "8",
            "--seq-len", "4096", "--zero", "0", "--json"]
    per_param = {}
    for dtype in ("fp32", "bf16"):
        code, out, _ = run(capsys, [*args, "--grad-reduce", dtype])
        mem = json.loads(out)["memory_breakdown"]
        per_param[dtype] = (mem["weights"] + mem["gradients"] + mem["optimizer_states"]) / mem["weights"] * 2
    assert per_param == {"fp32": pytest.approx(18.0), "bf16": pytest.approx(16.0)}


def test_infeasible_plan_has_no_run_totals(capsys):
    args = ["train", "--model", "llama3.1-70b", "--hardware", "h100-sxm-80gb", "--gpus", "8", "--global-batch", "8",
            "--seq-len", "4096", "--zero", "0", "--train-tokens", "1e9", "--json"]
    code, out, _ = run(capsys, args)
    rec = json.loads(out)
    assert code == 2 and rec["feasible"] is False
    assert all(rec[k] is None for k in ("total_time_s", "gpu_hours", "energy_kwh", "cost_usd"))


def test_dense_model_rejects_expert_parallelism(capsys):
    args = ["train", "--model", "llama3.1-8b", "--hardware", "h100-sxm-80gb", "--gpus", "8", "--global-batch", "8",
            "--seq-len", "4096", "--ep", "8"]
    code, _, err = run(capsys, args)
    assert code == 2 and "dense model" in err


def test_mfu_above_one_is_explained(capsys):
    """At 1M tokens attention dominates; the full-attention MFU convention then exceeds 100% and the
    table says why."""
    args = ["train", "--model", "llama3.1-8b", "--hardware", "a100-sxm-80gb", "--gpus", "128", "--tp", "8",
            "--cp", "16", "--global-batch", "1", "--seq-len", "1048576"]
    code, out, _ = run(capsys, [*args, "--json"])
    rec = json.loads(out)
    assert code == 0 and rec["mfu"] > 1.0 and rec["hfu"] >= rec["mfu"]
    code, out, _ = run(capsys, args)
    assert "non-causal" in out


def test_list(capsys):
    code, out, _ = run(capsys, ["list", "hardware", "--json"])
    assert code == 0 and "h100-sxm-80gb" in json.loads(out)
    for what in ("hardware", "models"):  # the table keeps the ids in its first column, one row each
        _, ids, _ = run(capsys, ["list", what, "--json"])
        code, out, _ = run(capsys, ["list", what])
        rows = out.splitlines()[1:-1]
        assert code == 0 and [r.split()[0] for r in rows] == json.loads(ids)
    deepseek = next(r for r in rows if r.startswith("deepseek-v3 "))
    assert "MoE 256 experts, top-8, MLA" in deepseek and " 671B " in deepseek  # DeepSeek-V3 report: 671B total
    assert " 128k " in next(r for r in rows if r.startswith("llama3.1-8b "))  # Llama 3.1: a 128k context


def test_python_m_entry_point():
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "simulator", "list", "models"], capture_output=True, text=True)
    assert p.returncode == 0 and "llama3.1-405b" in p.stdout


@pytest.mark.parametrize("extra, needle", [
    (["--pp-schedule", "interleaved", "--vpp", "-2"], "--vpp: expected a parallel size from 1"),
    (["--pp-schedule", "interleaved", "--vpp", "1"], "needs --pp >= 2 and --vpp >= 2"),
    (["--train-tokens", "nan"], "--train-tokens: expected a token count above 0"),
    (["--tp", "inf"], "--tp: expected an integer, got 'inf'"),  # float('inf') has no int(): once a traceback
    (["--gpus", "1e400"], "--gpus: expected an integer, got '1e400'"),
])
def test_more_bad_plan_values(capsys, extra, needle):
    code, _, err = run(capsys, TRAIN + extra)
    assert code == 2 and needle in err and "Traceback" not in err


ZERO3 = ["train", "--model", "llama2-13b", "--hardware", "a100-sxm-80gb", "--gpus", "64", "--global-batch", "64",
         "--seq-len", "4096", "--zero", "3", "--recompute", "full", "--json"]


def test_stack_flag_changes_the_estimate_prints_the_stack_and_names_bad_values(capsys):
    code, out, err = run(capsys, ZERO3)
    assert code == 0, err
    default = json.loads(out)
    assert default["stack"] == "megatron-core" and default["error_band"]["family"].startswith("megatron-core|ampere")
    code, out, err = run(capsys, ZERO3 + ["--stack", "deepspeed-2021"])
    assert code == 0, err
    deepspeed = json.loads(out)
    assert deepspeed["stack"] == "deepspeed-2021"
    assert deepspeed["breakdown"]["dp_comm"] > 10 * default["breakdown"]["dp_comm"]
    code, _, err = run(capsys, ZERO3 + ["--stack", "nope"])
    assert code == 2 and "unknown stack 'nope'" in err and "torchtitan" in err and "Traceback" not in err
    assert err.count("\n") == 1
    code, out, err = run(capsys, ZERO3[:-1])
    assert code == 0 and "stack           megatron-core" in out and "percentile" in out


def test_stack_refuses_a_plan_it_cannot_run(capsys):
    code, _, err = run(capsys, ZERO3 + ["--stack", "llm-foundry", "--pp", "2"])
    assert code == 2 and "stack llm-foundry cannot run pipeline parallelism (it has none; use --pp 1)" in err
    assert "Traceback" not in err
    code, _, err = run(capsys, ZERO3 + ["--stack", "nemo", "--compile"])
    assert code == 2 and "stack nemo has no torch.compile" in err


def test_bad_stack_file_names_the_field(tmp_path, capsys):
    import yaml

    data = yaml.safe_load(open("workloads/stacks/torchtitan.yaml"))
    data["id"] = "mine"
    del data["figures"]["step_overhead_s"]["source"]
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(data))
    code, _, err = run(capsys, ZERO3 + ["--stack", str(path)])
    assert code == 2 and "figures.step_overhead_s.source" in err and "Traceback" not in err
    del data["figures"]["compute_efficiency_scale"]
    path.write_text(yaml.safe_dump(data))
    code, _, err = run(capsys, ZERO3 + ["--stack", str(path)])
    assert code == 2 and "compute_efficiency_scale" in err


def test_scenario_stack(tmp_path, capsys):
    base = ("schema_version: 1\nkind: training\nmodel: llama2-13b\nhardware: a100-sxm-80gb\ngpus: 64\n"
            "global_batch: 64\nseq_len: 4096\nplan: {zero: 3, recompute: full}\n")
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(base + "stack: torchtitan\noptions: {compile: true}\n")
    bad.write_text(base + "stack: nope\n")
    code, out, err = run(capsys, ["run", str(good), "--json"])
    assert code == 0, err
    rec = json.loads(out)
    assert rec["stack"] == "torchtitan" and rec["compile"] is True and rec["fp8_recipe"] is None
    code, _, err = run(capsys, ["run", str(bad), "--json"])
    assert code == 2 and "unknown stack 'nope'" in err and "Traceback" not in err


def test_searched_scenario_plan_reruns_as_a_fixed_plan(tmp_path, capsys):
    """A scenario without `plan:` searches (unequal stages allowed); its record, pasted back as `plan:`
    with the record's uneven_pp, reproduces the estimate; without uneven_pp the split is refused."""
    import yaml

    base = ("schema_version: 1\nkind: training\nmodel: llama3.1-405b\nhardware: h100-sxm-80gb\ngpus: 16384\n"
            "global_batch: 2048\nseq_len: 8192\n")
    search = tmp_path / "search.yaml"
    search.write_text(base)
    code, out, err = run(capsys, ["run", str(search), "--json"])
    assert code == 0, err
    best = json.loads(out)
    assert best["uneven_pp"] is True
    plan = {k: best[k] for k in ("tp", "pp", "cp", "ep", "micro_batch", "zero", "recompute", "precision",
                                 "pp_schedule", "vpp", "sequence_parallel")}
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(base + yaml.safe_dump({"plan": {**plan, "uneven_pp": True}}))
    code, out, err = run(capsys, ["run", str(fixed), "--json"])
    assert code == 0, err
    assert json.loads(out)["step_time_s"] == pytest.approx(best["step_time_s"])
    fixed.write_text(base + yaml.safe_dump({"plan": plan}))
    code, _, err = run(capsys, ["run", str(fixed), "--json"])
    assert code == 2 and "plan.uneven_pp: true" in err


def test_scenario_refuses_a_boolean_for_a_number(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema_version: 1\nkind: training\nmodel: llama3.1-8b\nhardware: h100-sxm-80gb\ngpus: 8\n"
                   "global_batch: 8\nseq_len: 4096\ntrain_tokens: true\n")
    code, _, err = run(capsys, ["run", str(bad)])
    assert code == 2 and "train_tokens" in err and "boolean" in err


def test_best_plan_per_gpu_count_marks_the_pareto_front(capsys):
    args = ["plan", "--model", "llama3.1-70b", "--hardware", "h100-sxm-80gb", "--gpus", "128", "256", "1024", "4096",
            "--global-batch", "1024", "--seq-len", "8192", "--per-gpu-count", "--json"]
    code, out, err = run(capsys, args)
    assert code == 0, err
    recs = json.loads(out)
    assert [r["gpus"] for r in recs] == [128, 256, 1024, 4096]
    front = [r for r in recs if r["pareto"]]
    assert min(recs, key=lambda r: r["step_time_s"]) in front
    assert min(recs, key=lambda r: r["usd_per_million_tokens"]) in front
    for r in recs:  # off the front exactly when another count is at least as fast and cheaper
        dominated = any(o["step_time_s"] <= r["step_time_s"] and o["usd_per_million_tokens"] < r["usd_per_million_tokens"]
                        for o in recs if o is not r)
        assert r["pareto"] is not dominated
    code, out, _ = run(capsys, args[:-1])
    assert code == 0 and "Pareto" in out and sum(line[3:4] == "*" for line in out.splitlines()) == len(front)


def test_per_gpu_count_names_the_counts_where_nothing_fits(capsys):
    args = ["plan", "--model", "llama3.1-70b", "--hardware", "h100-sxm-80gb", "--gpus", "8", "1000", "256", "256",
            "--global-batch", "1024", "--seq-len", "8192", "--per-gpu-count", "--json"]
    code, out, err = run(capsys, args)
    assert code == 0, err
    assert [r["gpus"] for r in json.loads(out)] == [256]  # 256 given twice, searched once
    assert "no plan fits on 8 GPUs: does not fit in device memory" in err
    assert "no plan fits on 1,000 GPUs: no tp x pp x cp x dp factorisation" in err


def test_plan_says_why_costs_are_missing(capsys):
    args = ["plan", "--model", "llama3.1-8b", "--hardware", "h800-sxm-80gb", "--gpus", "64",
            "--global-batch", "512", "--seq-len", "4096", "--top", "1"]
    code, out, err = run(capsys, args)
    assert code == 0 and "has no on_demand price for h800-sxm-80gb" in err
    code, out, err = run(capsys, args[:4] + ["h100-sxm-80gb"] + args[5:])
    assert code == 0 and "price" not in err and "/Mtok" in out


def test_plan_api_refuses_an_empty_gpu_list():
    from simulator import plan_training
    from simulator.errors import PlanError

    with pytest.raises(PlanError, match="gpus is empty"):
        plan_training("llama3.1-8b", "h100-sxm-80gb", [], global_batch=512, seq_len=4096)


def test_owned_hardware_is_costed_per_busy_gpu_hour(capsys):
    from simulator import busy_gpu_hour_usd, load_hardware, load_price_book

    args = TRAIN + ["--train-tokens", "1e12", "--purchase", "owned", "--json"]
    code, out, err = run(capsys, args + ["--price-book", "owned-colo-2025-03"])
    rec = json.loads(out)
    rate = busy_gpu_hour_usd(load_price_book("owned-colo-2025-03"), load_hardware("h100-sxm-80gb"), "owned")
    assert code == 0 and rec["cost_usd"] == pytest.approx(rec["gpu_hours"] * rate)
    code, out, err = run(capsys, args)  # the default (rental) book has no owned figures: say so, keep the rest
    assert code == 0 and json.loads(out)["cost_usd"] is None and "no owned price" in err and "owned-colo" in err


def test_run_totals_are_null_not_missing_without_a_token_budget(capsys):
    code, out, _ = run(capsys, TRAIN + ["--json"])
    rec = json.loads(out)
    assert code == 0 and all(rec[k] is None for k in ("total_time_s", "gpu_hours", "energy_kwh", "co2e_kg", "cost_usd"))


def test_impossible_tp_lists_the_sizes_that_work(capsys):
    argv = list(TRAIN)
    argv[argv.index("--tp") + 1] = "3"
    argv[argv.index("--gpus") + 1] = "1536"
    code, _, err = run(capsys, argv)
    assert code == 2 and "tensor parallel sizes that work for llama3.1-70b on h100-sxm-80gb: 1, 2, 4, 8" in err
    assert "1, 2, 4, 8 " in err  # 16 and up are refused on 8-GPU NVLink domains (reason 512), so not offered


def test_version(capsys):
    code, out, _ = run(capsys, ["--version"])
    assert code == 0 and out.startswith("simulator ")


def test_run_takes_a_cluster_scenario_id_and_points_a_sweep_grid_to_sweep(capsys):
    code, out, _ = run(capsys, ["run", "trace-replay-64gpu", "--json"])
    assert code == 0 and json.loads(out)["scenario"] == "trace-replay-64gpu"
    from pathlib import Path

    grid = Path(__file__).resolve().parent.parent / "workloads" / "sweeps" / "serving-rate-tp-precision.yaml"
    code, _, err = run(capsys, ["run", str(grid)])
    assert code == 2 and "is a sweep grid" in err and "simulator sweep" in err


def test_run_prints_inference_and_serving_scenarios_as_their_commands_do(tmp_path, capsys):
    inf = tmp_path / "inf.yaml"
    inf.write_text("kind: inference\nmodel: llama3.1-8b\nhardware: h100-sxm-80gb\nbatch: 8\ninput_len: 512\n"
                   "output_len: 128\n")
    code, out, _ = run(capsys, ["run", str(inf)])
    assert code == 0 and "TPOT" in out and "KV cache per seq" in out and "decode_breakdown_s" not in out
    srv = tmp_path / "srv.yaml"
    srv.write_text("kind: serving\nmodel: llama3.1-8b\nhardware: h100-sxm-80gb\nrate_per_s: 5\nrequests: 50\n"
                   "input_len: 512\noutput_len: 64\n")
    code, out, _ = run(capsys, ["run", str(srv)])
    assert code == 0 and "TTFT p50/p90/p99" in out and "llama3.1-8b on 1 x h100-sxm-80gb" in out


def test_plan_with_an_own_price_book_lacking_the_hardware_warns(capsys, tmp_path):
    """A user's price book file has an id no shipped book has: the no-price warning must not look it up by id
    (it once ended `simulator plan` with exit 2 after printing the table)."""
    book = (ROOT / "workloads/prices/hyperscaler-2025-03.yaml").read_text()
    book = book.replace("id: hyperscaler-2025-03", "id: my-own-book").replace("  a100-sxm-80gb:", "  a100-other:")
    path = tmp_path / "book.yaml"
    path.write_text(book)
    code, out, err = run(capsys, ["plan", "--model", "llama3.1-8b", "--hardware", "a100-sxm-80gb", "--gpus", "8",
                                  "--global-batch", "64", "--seq-len", "4096", "--price-book", str(path)])
    assert code == 0, err
    assert "price book 'my-own-book' has no on_demand price for a100-sxm-80gb" in err


@pytest.mark.parametrize("argv", [["run", "{d}"], ["sweep", "{d}", "--out", "{d}/out"],
                                  ["calibrate", "fit", "--profile", "host-cpu", "--measurements", "{d}"]])
def test_a_folder_where_a_file_belongs_is_named_as_such(capsys, tmp_path, argv):
    code, _, err = run(capsys, [a.format(d=tmp_path) for a in argv])
    assert code == 2 and "is a folder; give the path of the file" in err and err.count("\n") == 1


def test_a_scenario_file_names_itself_in_an_unknown_id_and_is_not_taken_for_a_model(capsys, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("kind: training\nmodel: llama9-999b\nhardware: h100-sxm-80gb\ngpus: 8\nglobal_batch: 8\n"
                    "seq_len: 1024\n")
    code, _, err = run(capsys, ["run", str(path)])
    assert code == 2 and f"{path}: unknown model id 'llama9-999b'" in err
    # the same file given where a model belongs: one line naming the kind, not a wall of missing model fields
    code, _, err = run(capsys, ["train", "--model", str(path), "--hardware", "h100-sxm-80gb", "--gpus", "8",
                                "--global-batch", "8", "--seq-len", "8"])
    assert code == 2 and "field 'kind' = 'training': this is not a model file (kind: model)" in err
    assert "n_layers" not in err and err.count("\n") == 1


def test_plan_defaults_follow_the_stack(capsys):
    """Without --zero and --recompute a plan takes its stack's: ZeRO-1 and selective on Megatron-Core, FSDP and
    op-level checkpointing on torchtitan, FSDP and full checkpointing on llm-foundry."""
    base = ["train", "--model", "llama3.1-8b", "--hardware", "h100-sxm-80gb", "--gpus", "8", "--global-batch", "16",
            "--seq-len", "8192", "--json"]
    for stack, zero, recompute, extra in (("megatron-core", 1, "selective", ["--tp", "4"]),
                                          ("torchtitan", 3, "op", []), ("llm-foundry", 3, "full", [])):
        code, out, err = run(capsys, base + ["--stack", stack] + extra)
        assert code == 0, err
        rec = json.loads(out)
        assert (rec["zero"], rec["recompute"]) == (zero, recompute)
    code, _, err = run(capsys, base + ["--stack", "torchtitan", "--recompute", "selective"])
    assert code == 2 and "cannot run recompute 'selective' (it offers none, full, op)" in err


def test_stack_refuses_hardware_it_does_not_run_on_and_notes_what_it_leaves_out(capsys):
    base = ["train", "--model", "llama2-70b", "--hardware", "tpu-v5p", "--gpus", "512", "--global-batch", "512",
            "--seq-len", "4096"]
    code, _, err = run(capsys, base + ["--stack", "nemo"])
    assert code == 2 and "stack nemo runs on NVIDIA accelerators, not on tpu-v5p (Google)" in err
    code, out, err = run(capsys, base + ["--stack", "maxtext", "--json"])
    assert code == 0 and json.loads(out)["stack"] == "maxtext", err
    eager_fp8 = ["train", "--model", "llama3.1-8b", "--hardware", "h100-sxm-80gb", "--gpus", "8", "--global-batch",
                 "16", "--seq-len", "8192", "--stack", "torchtitan", "--precision", "fp8", "--json"]
    code, out, _ = run(capsys, eager_fp8)
    assert code == 0 and any("without torch.compile" in n for n in json.loads(out)["notes"])
    code, out, _ = run(capsys, eager_fp8 + ["--compile"])
    assert code == 0 and json.loads(out)["notes"] == []
