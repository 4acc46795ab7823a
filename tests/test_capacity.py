"""Capacity planning: SLO checks, rate bisection, cheapest deployment and bad input."""

import math

import pytest

from simulator import load_hardware, load_model, load_price_book
from simulator.core.inference import Deployment
from simulator.errors import InfeasiblePlanError, PlanError
from simulator.serving import ServingConfig, make_workload, simulate_serving, with_rate
from simulator.serving.capacity import SLO, candidate_deployments, max_sustainable_rate, plan_capacity

H100 = load_hardware("h100-sxm-80gb")
A40 = load_hardware("a100-sxm-40gb")
L8B = load_model("llama3.1-8b")
L405B = load_model("llama3.1-405b")


def test_slo_check_is_a_pure_predicate():
    base = {"ttft_p99_s": 1.0, "tpot_p99_s": 0.05, "requests_completed": 10, "requests_total": 10, "overloaded": False}
    assert SLO(2.0, 0.1).check(base)
    assert not SLO(0.5, 0.1).check(base)
    assert not SLO(2.0, 0.01).check(base)
    assert not SLO(2.0, 0.1).check({**base, "overloaded": True})
    assert not SLO(2.0, 0.1).check({**base, "requests_completed": 9})
    assert SLO(2.0, 0.1).check({**base, "tpot_p99_s": math.nan})  # one-token outputs have no TPOT
    with pytest.raises(PlanError, match="percentile"):
        SLO(2.0, 0.1, percentile=95).check(base)


def test_max_sustainable_rate_brackets_the_slo():
    dep = Deployment()
    slo = SLO(ttft_s=0.5, tpot_s=0.03)
    wl = make_workload(200, input_len=1000, output_len=100, rate_per_s=1.0, seed=0)
    found = max_sustainable_rate(L8B, H100, dep, slo, wl)
    assert 0 < found.max_rate_per_s <= found.saturation_rate_per_s
    assert slo.check(found.summary_at_max)
    if found.max_rate_per_s < found.saturation_rate_per_s:
        over = simulate_serving(L8B, H100, ServingConfig(dep, max_waiting=512), with_rate(wl, 1.2 * found.max_rate_per_s))
        assert not slo.check(over.summary)
    tighter = max_sustainable_rate(L8B, H100, dep, SLO(ttft_s=0.2, tpot_s=0.03), wl)
    assert tighter.max_rate_per_s <= found.max_rate_per_s * 1.05


def test_unreachable_slo_gives_zero_rate():
    wl = make_workload(50, input_len=2000, output_len=50, rate_per_s=1.0, seed=0)
    found = max_sustainable_rate(L8B, H100, Deployment(), SLO(ttft_s=1e-4, tpot_s=1.0), wl)
    assert found.max_rate_per_s == 0.0


def test_plan_picks_the_cheapest_and_prices_it():
    deps = [Deployment(tp=1, precision="bf16"), Deployment(tp=2, precision="bf16"), Deployment(tp=1, precision="fp8")]
    plan = plan_capacity(L8B, H100, rate_per_s=20, slo=SLO(2.0, 0.05), input_len=500, output_len=100,
                         n_requests=150, deployments=deps)
    best = plan.best
    price = load_price_book().gpu_hour_usd("h100-sxm-80gb")
    assert best["gpus"] == best["units"] * best["gpus_per_unit"]
    assert best["units"] >= math.ceil(20 / best["max_rate_per_unit_per_s"])
    assert best["cost_per_hour_usd"] == pytest.approx(best["gpus"] * price)
    assert best["cost_per_million_tokens_usd"] == pytest.approx(best["cost_per_hour_usd"] / (20 * 600 * 3600) * 1e6)
    assert best["verified_meets_slo"]
    for alt in plan.alternatives:
        assert alt["cost_per_hour_usd"] >= best["cost_per_hour_usd"]
    d = plan.to_dict()
    assert d["best"] == best and d["target_rate_per_s"] == 20


def test_huge_rate_is_verified_on_a_slice_of_the_fleet():
    """A billion requests/s needs ~1e8 replicas; verification simulates a 64-unit slice at its share of the
    rate instead of allocating tens of billions of requests (an out-of-memory error before)."""
    plan = plan_capacity(L8B, H100, rate_per_s=1e9, slo=SLO(2.0, 0.05), input_len=500, output_len=100,
                         n_requests=150, deployments=[Deployment(tp=1, precision="fp8")])
    best = plan.best
    assert best["units"] > 1e6 and best["verified_units_simulated"] == 64
    assert best["units"] >= math.ceil(1e9 / best["max_rate_per_unit_per_s"])


def test_disaggregated_units_are_searched_when_asked():
    plan = plan_capacity(L8B, H100, rate_per_s=5, slo=SLO(2.0, 0.05), input_len=2000, output_len=100,
                         n_requests=100, deployments=[Deployment()], disaggregation=((1, 1),), verify=False)
    rows = [plan.best] + plan.alternatives
    labels = [r["deployment"] for r in rows] + list(plan.skipped)
    assert any("1P:1D" in label for label in labels)


def test_candidates_filter_impossible_and_oversized():
    deps, rejected = candidate_deployments(L405B, H100, precisions=["bf16", "fp8"], tps=[3, 4, 8])
    assert {(d.tp, d.precision) for d in deps} == {(8, "fp8")}
    assert any("does not divide" in v for v in rejected.values())
    assert any("no room" in v for v in rejected.values())


def test_bad_capacity_input():
    with pytest.raises(PlanError, match="--rate"):
        plan_capacity(L8B, H100, rate_per_s=-3, slo=SLO(), input_len=100, output_len=10)
    with pytest.raises(PlanError, match="SLO"):
        plan_capacity(L8B, H100, rate_per_s=3, slo=SLO(ttft_s=0), input_len=100, output_len=10)
    deps, _ = candidate_deployments(L405B, A40, precisions=["bf16"])
    assert deps == []
    with pytest.raises(InfeasiblePlanError, match="no candidate deployment"):
        plan_capacity(L405B, A40, rate_per_s=1, slo=SLO(), input_len=100, output_len=10, deployments=deps)


def test_reported_latencies_follow_the_slo_percentile():
    """A 30 ms TTFT target binds at p50 and at p99 (max rate below saturation). A median target is looser,
    so it sustains a higher rate, and the latency reported under the p50 key meets the p50 target."""
    deps = [Deployment(tp=1, precision="bf16")]
    plans = {q: plan_capacity(L8B, H100, rate_per_s=5, slo=SLO(0.03, 0.05, percentile=q), input_len=500,
                              output_len=100, n_requests=150, deployments=deps) for q in (50, 99)}
    d = plans[50].to_dict()
    assert d["slo_ttft_p50_s"] == 0.03 and "slo_ttft_p99_s" not in d
    p50, p99 = plans[50].best, plans[99].best
    assert p99["max_rate_per_unit_per_s"] < p50["max_rate_per_unit_per_s"] < p50["saturation_rate_per_unit_per_s"]
    assert p50["ttft_p50_s_at_max_rate"] <= 0.03 and p50["verified_ttft_p50_s"] <= 0.03


@pytest.mark.parametrize("ttft, tpot", [(0.0, 0.1), (2.0, -1.0), (float("inf"), 0.1), (float("nan"), 0.1), ("2", 0.1)])
def test_an_slo_refuses_targets_that_are_not_positive_finite_seconds(ttft, tpot):
    with pytest.raises(PlanError, match="SLO targets must be positive, finite seconds"):
        SLO(ttft, tpot)
