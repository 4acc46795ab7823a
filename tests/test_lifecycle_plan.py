"""Lifecycle plans: every figure reconciles with the training planner and the capacity planner run separately for
the same settings (API and `simulator plan` / `simulator capacity`), Sardana et al.'s trend holds over a demand
sweep, and the command prints its JSON and table. Settings are small (few candidates, short capacity probes) so the
file runs in about a minute."""

from __future__ import annotations

import json
import math

import pytest
import yaml
from cli_util import run_cli

import simulator as sim

SETTINGS = {"reference_model": "llama3.1-8b", "reference_tokens": 15e12, "train_gpus": 256, "candidates": 3,
            "compression": ("fp8", "minitron"), "tps": (1, 2), "probe_requests": 60}
HW, GPUS, BATCH, SEQ = "h100-sxm-80gb", 256, 1024, 4096  # the planner's defaults besides train_gpus
TOKENS_PER_DAY = 2e10
HOURS_12_MONTHS = 365.25 * 24  # the default deployment: 12 months = a 365.25-day year = 8,766 h


@pytest.fixture(scope="module")
def plan():
    return sim.plan_lifecycle(tokens_per_day=TOKENS_PER_DAY, **SETTINGS)


def test_the_plan_lists_every_kind_and_chooses_the_cheapest_that_reaches_the_target(plan):
    kinds = {r["kind"] for r in plan.options}
    assert kinds == {"base", "quantization", "prune_distill"}
    ok = [r for r in plan.options if r["feasible"] and r["meets_target"]]
    assert plan.chosen == min(ok, key=lambda r: r["total_cost_usd"])
    for r in plan.options:
        for key in ("params", "train_tokens", "predicted_loss", "train_cost_usd", "train_days", "serve_gpus",
                    "serve_cost_usd", "total_cost_usd", "energy_kwh", "co2e_kg"):
            assert key in r
    target = sim.predicted_loss(sim.load_scaling_law("hoffmann2022"), sim.load_model("llama3.1-8b").total_params(),
                                15e12)
    assert plan.inputs["target_loss"] == pytest.approx(target)
    assert plan.demand["rate_per_s"] == pytest.approx(TOKENS_PER_DAY / 1280 / 86400)


def _shape(row, role):
    return sim.model_from_dict(row["teacher_model"] if role.startswith("teacher") else row["model"])


def test_training_costs_reconcile_with_the_training_planner(plan):
    for row in (r for r in plan.options if r["feasible"]):
        for part in row["train_plans"]:
            best = sim.plan_training(_shape(row, part["role"]), HW, GPUS, global_batch=BATCH, seq_len=SEQ,
                                     train_tokens=part["tokens"], objective="cost").top(1)[0]
            share = 1 / 3 if part["role"] == "teacher forward" else 1.0  # a forward pass is 2N of training's 6N
            assert part["cost_usd"] == pytest.approx(best["cost_usd"] * share, rel=1e-9)
            assert part["days"] == pytest.approx(best["total_time_s"] * share / 86400, rel=1e-9)
            assert part["energy_kwh"] == pytest.approx(best["energy_kwh"] * share, rel=1e-9)
        assert row["train_cost_usd"] == pytest.approx(sum(p["cost_usd"] for p in row["train_plans"]))


def test_serving_fleets_reconcile_with_the_capacity_planner(plan):
    rate = plan.demand["rate_per_s"]
    hw = sim.load_hardware(HW)
    book = sim.load_price_book(None)
    for row in (r for r in plan.options if r["feasible"]):
        cap = sim.plan_capacity(sim.model_from_dict(row["model"]), HW, rate_per_s=rate, slo=sim.SLO(), input_len=1024,
                                output_len=256, n_requests=60, verify=False,
                                space=sim.CandidateSpace(tps=(1, 2), precisions=(row["precision"],)))
        assert (cap.best["deployment"], cap.best["gpus"]) == (row["serve_deployment"], row["serve_gpus"])
        assert row["serve_usd_per_hour"] == pytest.approx(cap.best["cost_per_hour_usd"])
        assert row["serve_cost_usd"] == pytest.approx(cap.best["cost_per_hour_usd"] * HOURS_12_MONTHS)
        facility_kw = hw.tdp_w * hw.average_utilization_of_tdp * hw.server_to_gpu_power_ratio * book.pue / 1000
        serve_kwh = row["serve_gpus"] * facility_kw * HOURS_12_MONTHS
        assert row["energy_kwh"] == pytest.approx(sum(p["energy_kwh"] for p in row["train_plans"]) + serve_kwh)
        assert row["total_cost_usd"] == pytest.approx(row["train_cost_usd"] + row["serve_cost_usd"])
        lo, hi = row["total_cost_range_usd"]
        assert lo <= row["total_cost_usd"] <= hi


def test_the_chosen_option_reconciles_with_plan_and_capacity_at_the_command_line(plan, tmp_path, capsys):
    row = plan.chosen
    for part in row["train_plans"]:
        path = tmp_path / f"{part['model']}.yaml"
        path.write_text(yaml.safe_dump(row["teacher_model"] if part["role"].startswith("teacher") else row["model"]))
        code, out, err = run_cli(capsys, ["plan", "--model", str(path), "--hardware", HW, "--gpus", str(GPUS),
                                          "--global-batch", str(BATCH), "--seq-len", str(SEQ), "--train-tokens",
                                          repr(part["tokens"]), "--objective", "cost", "--top", "1", "--json"])
        assert code == 0, err
        share = 1 / 3 if part["role"] == "teacher forward" else 1.0
        assert part["cost_usd"] == pytest.approx(json.loads(out)[0]["cost_usd"] * share, rel=1e-9)
    path = tmp_path / "served.yaml"
    path.write_text(yaml.safe_dump(row["model"]))
    code, out, err = run_cli(capsys, ["capacity", "--model", str(path), "--hardware", HW, "--rate",
                                      repr(plan.demand["rate_per_s"]), "--input-len", "1024", "--output-len", "256",
                                      "--tp", "1", "2", "--precision", row["precision"], "--requests", "60",
                                      "--top", "0", "--json"])
    assert code == 0, err
    best = json.loads(out)["best"]
    assert (best["deployment"], best["gpus_per_unit"]) == (row["serve_deployment"], row["serve_gpus_per_unit"])
    assert best["max_rate_per_unit_per_s"] == pytest.approx(row["serve_max_rate_per_unit_per_s"])
    # `capacity` then simulates the whole fleet at the rate and adds a unit if it misses the SLO
    assert best["gpus"] in (row["serve_gpus"], row["serve_gpus"] + row["serve_gpus_per_unit"])


def test_the_cheapest_model_gets_smaller_and_longer_trained_as_demand_grows():
    """Sardana et al. 2023: at a fixed quality, more lifetime demand makes the cheapest model smaller and trained on
    more tokens (expected from the paper, not from this code: the test only checks the direction)."""
    demand = [1e9, 1e10, 3e10, 1e11, 3e11, 1e12, 1e13]
    sweep = sim.lifecycle_sweep(tokens_per_day=demand, **{**SETTINGS, "candidates": 4, "compression": ()})
    chosen = sweep.chosen_frame()
    params, tokens = list(chosen["params"]), list(chosen["train_tokens"])
    assert all(b <= a for a, b in zip(params, params[1:], strict=False)), params
    assert all(b >= a for a, b in zip(tokens, tokens[1:], strict=False)), tokens
    assert params[-1] < params[0] and tokens[-1] > tokens[0]
    frame = sweep.to_frame()
    assert len(frame) == len(demand) * 4 and frame["chosen"].sum() == len(demand)


def test_the_command_prints_json_and_a_table(capsys):
    args = ["lifecycle", "--reference-model", "llama3.1-8b", "--reference-tokens", "15e12", "--train-gpus", "256",
            "--tokens-per-day", "2e10", "--candidates", "3", "--compression", "fp8", "minitron", "--tp", "1", "2",
            "--requests", "60"]
    code, out, err = run_cli(capsys, [*args, "--json"])
    assert code == 0, err
    data = json.loads(out)
    assert data["chosen"]["option"] and len(data["options"]) >= 6
    assert all(math.isfinite(r["total_cost_usd"]) for r in data["options"] if r["feasible"])
    code, out, err = run_cli(capsys, args)
    assert code == 0, err
    assert "* " + data["chosen"]["option"][:46] in out and "hoffmann2022" in out


def test_worker_processes_give_the_same_plan():
    """The serving simulations run in worker processes are the same runs: every figure is identical."""
    kw = {**SETTINGS, "candidates": 2, "compression": ("fp8",)}
    one = sim.plan_lifecycle(tokens_per_day=TOKENS_PER_DAY, workers=1, **kw).to_dict()
    two = sim.plan_lifecycle(tokens_per_day=TOKENS_PER_DAY, workers=2, **kw).to_dict()
    assert json.dumps(one, sort_keys=True, default=str) == json.dumps(two, sort_keys=True, default=str)


def test_the_readme_lifecycle_command_runs(capsys):
    """The README's `simulator lifecycle` example (test_readme_commands only parses it) runs and prints the crossover:
    the cheapest model at the highest demand is smaller than at the lowest."""
    from test_readme_commands import COMMANDS

    commands = [c for c in COMMANDS if c[0] == "lifecycle"]
    assert commands
    for argv in commands:
        code, out, err = run_cli(capsys, [*argv, "--json"])
        assert code == 0, err
        plans = json.loads(out)
        sizes = [p["chosen"]["params"] for p in plans]
        assert sizes[-1] < sizes[0]
