"""AppTest for the inference/serving and cluster pages: defaults render, widgets change results, on-demand buttons
run, bad input shows an error element (never an exception), and what the pages export runs the same in the CLI."""

import pytest
from apptest_util import clean, error_shown_by, metric, page
from streamlit.testing.v1 import AppTest

from simulator.runs.scenario import run_cluster, serving_result
from simulator.runs.schema import ClusterRunScenario, DeploymentSpec, ServingScenario


# ----------------------------------------------------------------------------- inference and serving
@pytest.fixture(scope="module")
def inf() -> AppTest:
    return page("inference_page").run()


def test_inference_page_renders_with_defaults(inf):
    clean(inf)
    for label in ("TTFT", "TPOT", "Throughput", "Max concurrent sequences", "KV cache capacity", "Weights per GPU"):
        assert metric(inf, label)
    assert any("Latency vs throughput" in h.value for h in inf.subheader)


def test_inference_tp_changes_the_estimate():
    at = page("inference_page").run()
    tpot, cap = metric(at, "TPOT"), metric(at, "Max concurrent sequences")
    at.selectbox(key="inf-tp").set_value(8).run()
    clean(at)
    assert metric(at, "TPOT") != tpot
    assert metric(at, "Max concurrent sequences") != cap


def test_serving_simulation_runs_on_demand_and_follows_the_rate():
    at = page("inference_page").run()
    assert not any(m.label == "Served throughput" for m in at.metric)
    at.button(key="inf-serve-btn").click().run()
    clean(at)
    fast = metric(at, "Served throughput")
    at.number_input(key="inf-rate").set_value(1.0).run()
    clean(at)
    assert not any(m.label == "Served throughput" for m in at.metric)  # stale result hidden until rerun
    assert any("inputs changed" in c.value for c in at.caption)
    at.button(key="inf-serve-btn").click().run()
    clean(at)
    assert metric(at, "Served throughput") != fast


def test_capacity_plan_runs_on_demand():
    at = page("inference_page").run()
    at.number_input(key="inf-in").set_value(512).run()
    at.number_input(key="inf-out").set_value(128).run()
    at.button(key="inf-capacity-btn").click().run()
    clean(at)
    assert int(metric(at, "Fleet GPUs")) >= 1
    assert metric(at, "Fleet $ / M tokens").startswith("$")
    assert any("within the SLO" in s.value for s in at.success)
    fleet = next(s.value for s in at.success if "within the SLO" in s.value)  # "**2 x tp2 pp1 fp8 ...** (4 GPUs)"
    units_, tp = int(fleet.split("**")[1].split(" x ")[0]), int(fleet.split(" x tp")[1].split()[0])
    at.button(key="inf-adopt").click().run()
    clean(at)
    assert at.selectbox(key="inf-tp").value == tp and at.number_input(key="inf-replicas").value == units_
    assert not at.warning or not any("Session State" in w.value for w in at.warning)
    assert any("within the SLO" in s.value for s in at.success)  # the answer stays on the page


def test_capacity_in_the_app_and_the_cli_agree(capsys):
    """The same question (the page's defaults, 512 in / 128 out) gets the same answer from both, with the probe size
    stated (it had been 200 requests per probe in the app and 400 in the CLI: 7.24 vs 7.50 req/s per replica)."""
    import json

    from simulator.cli import main

    at = page("inference_page").run()
    at.number_input(key="inf-in").set_value(512).run()
    at.number_input(key="inf-out").set_value(128).run()
    at.button(key="inf-capacity-btn").click().run()
    clean(at)
    assert main(["capacity", "--model", "llama3.1-70b", "--hardware", "h100-sxm-80gb", "--rate", "5",
                 "--slo-ttft-p99", "2", "--slo-tpot-p99", "0.1", "--input-len", "512", "--output-len", "128",
                 "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    shown = next(c.value for c in at.caption if "One replica holds" in c.value)
    assert f"One replica holds {cli['best']['max_rate_per_unit_per_s']:.2f} requests/s" in shown
    assert any(f"{cli['probe_requests']:,} requests per probe" in c.value for c in at.caption)


def test_negative_rate_shows_an_error_and_the_rest_keeps_working():
    at = page("inference_page").run()
    at.number_input(key="inf-rate").set_value(-2.0).run()
    assert not at.exception
    assert at.error and "positive" in at.error[0].value
    assert metric(at, "TTFT")  # the static estimate still renders


def test_bad_request_trace_shows_error_not_exception():
    msg = error_shown_by("from simulator.ui import serving_view",
                         "guarded(serving_view.parse_request_trace, b'arrival_s,prompt_tokens\\n0,10\\n')")
    assert "output_tokens" in msg


def test_good_request_trace_parses():
    from simulator.ui.serving_view import parse_request_trace

    wl = parse_request_trace(b"arrival_s,prompt_tokens,output_tokens\n0,100,20\n0.5,200,30\n")
    assert len(wl) == 2 and list(wl.output_tokens) == [20, 30]


def test_exported_serving_scenario_reproduces_the_page():
    from simulator.core.inference import Deployment
    from simulator.ui.serving_view import _serve

    dep = Deployment(tp=4, precision="fp8")
    summary, _, _ = _serve("llama3.1-8b", "h100-sxm-80gb", dep, 1, "least_outstanding", (2.0, 0.1),
                           (120, 512, 64, "poisson", 4.0, "fixed"), None, 3)
    cli = serving_result(ServingScenario(model="llama3.1-8b", hardware="h100-sxm-80gb",
                                      deployment=DeploymentSpec(tp=4, precision="fp8"), rate_per_s=4.0,
                                      requests=120, input_len=512, output_len=64, seed=3)).summary
    assert cli["ttft_p99_s"] == pytest.approx(summary["ttft_p99_s"])
    assert cli["throughput_requests_per_s"] == pytest.approx(summary["throughput_requests_per_s"])


# ----------------------------------------------------------------------------- cluster
@pytest.fixture(scope="module")
def cl() -> AppTest:
    return page("cluster_page").run()


def test_cluster_page_renders_with_defaults(cl):
    clean(cl)
    for label in ("Utilization", "Goodput", "Queue wait (mean)", "Cost", "Energy", "Renting (reserved_1y)", "Owning"):
        assert metric(cl, label)


def test_rent_vs_buy_break_even_explained_for_reserved_and_given_for_hourly():
    at = page("cluster_page").run()
    assert metric(at, "Break-even utilization") == "n/a"
    assert any("No break-even utilization for reserved_1y" in c.value for c in at.caption)
    at.selectbox(key=next(k for k in (w.key for w in at.selectbox) if k.startswith("cl-rvb-option-"))).set_value(
        "on_demand").run()
    clean(at)
    assert metric(at, "Break-even utilization").endswith("%") or metric(at, "Break-even utilization") == "never"
    assert not any("No break-even utilization" in c.value for c in at.caption)


def test_scenario_switch_resets_rent_option_and_horizon_zero_runs_to_completion():
    at = page("cluster_page").run()
    at.selectbox(key="cl-id").set_value("pretrain-16k-h100-54d").run()
    clean(at)
    assert metric(at, "Jobs completed") == "0"  # the 54-day window ends before the run does
    assert any(m.label == "Renting (reserved_3y)" for m in at.metric)  # this scenario's pool, not the last one's
    at.selectbox(key="cl-id").set_value("trace-replay-64gpu").run()
    clean(at)
    rent = next(s for s in at.selectbox if s.label == "Rental prices")
    assert rent.value == "neocloud-2025-03"  # the file's own rental book, not the previous scenario's pick
    at.selectbox(key="cl-id").set_value("pretrain-16k-h100-54d").run()
    at.number_input(key="cl-horizon-pretrain-16k-h100-54d").set_value(0.0).run()
    clean(at)
    assert metric(at, "Jobs completed") == "1"


def test_cluster_failure_rate_and_policy_change_results():
    at = page("cluster_page").run()
    at.selectbox(key="cl-id").set_value("trace-replay-64gpu").run()
    clean(at)
    goodput, wait = metric(at, "Goodput"), metric(at, "Queue wait (mean)")
    at.number_input(key="cl-rate-trace-replay-64gpu").set_value(200.0).run()
    clean(at)
    assert metric(at, "Goodput") != goodput
    at.selectbox(key="cl-policy-trace-replay-64gpu").set_value("sjf").run()
    clean(at)
    assert metric(at, "Queue wait (mean)") != wait


def test_policy_comparison_runs_on_demand():
    at = page("cluster_page").run()
    at.selectbox(key="cl-id").set_value("trace-replay-64gpu").run()
    at.button(key="cl-compare-btn").click().run()
    clean(at)
    table = at.dataframe[-1].value
    assert list(table["policy"]) == ["fifo", "sjf", "priority", "easy"]


def test_negative_failure_rate_is_refused_by_the_widget():
    at = page("cluster_page").run()
    at.number_input(key="cl-rate-mixed-fleet-serving").set_value(-1.0).run()
    clean(at)
    assert at.number_input(key="cl-rate-mixed-fleet-serving").value >= 0  # clamped to the widget's minimum, not -1
    assert at.button(key="cl-compare-btn")


@pytest.mark.parametrize("text, expect", [
    ("kind: cluster_scenario\nid: x\nname: x\nschema_version: 1\nsources: []\npools: []\n", "pools"),
    ("kind: training\nid: x\n", "cluster_scenario"),
    ("pools: [\n", "not valid YAML"),
])
def test_invalid_uploaded_scenario_shows_error_not_exception(text, expect):
    msg = error_shown_by("import simulator as sim", f"guarded(sim.parse_cluster_scenario_text, {text!r}, 'uploaded scenario')")
    assert expect in msg


def test_trace_with_missing_columns_shows_error_not_exception():
    msg = error_shown_by("import simulator as sim\nraw = sim.cluster_scenario_data('trace-replay-64gpu')",
                         "guarded(sim.build_cluster_scenario, raw, (), b'job_id,submit_time\\nj1,0\\n')")
    assert "gpu_num" in msg and "uploaded trace" in msg
    assert "/tmp" not in msg


def test_uploaded_trace_replaces_the_job_mix():
    import simulator as sim

    trace = b"job_id,submit_time,gpu_num,duration\na,0,8,3600\nb,10,16,600\n"
    sc = sim.build_cluster_scenario(sim.cluster_scenario_data("mixed-fleet-serving"), (), trace)
    assert [j.name for j in sc.jobs] == ["a", "b"] and not sc.generators
    assert len(sc.services) == 1  # the inference service stays


def test_exported_cluster_run_reproduces_the_page():
    from simulator.ui.cluster_page import _simulate

    overrides = (("failures.failures_per_1000_node_days", 50.0), ("checkpoint.interval", "young"))
    summary, _, _ = _simulate("id", "trace-replay-64gpu", overrides, None, "easy", 2, None)
    cli = run_cluster(ClusterRunScenario(scenario="trace-replay-64gpu", overrides=dict(overrides), policy="easy",
                                         seed=2))
    for key in ("utilization", "goodput", "queue_wait_mean_s", "interruptions", "cost_usd"):
        assert cli[key] == pytest.approx(summary[key]), key


def test_expert_and_attention_parallelism_reach_the_estimate_and_bad_splits_are_one_line():
    """A mixture-of-experts deployment sets EP and attention DP in the sidebar and the estimate takes them; a split
    that does not divide TP is one line in an error element, not an exception."""
    at = page("inference_page").run()
    at.selectbox(key="inf-id").set_value("mixtral-8x7b").run()
    at.selectbox(key="inf-tp").set_value(4).run()
    clean(at)
    tpot = metric(at, "TPOT")
    at.selectbox(key="inf-ep").set_value(4).run()
    at.selectbox(key="inf-dpa").set_value(2).run()
    clean(at)
    assert metric(at, "TPOT") != tpot
    assert any("no expert or attention data parallelism" in c.value for c in at.caption)
    at.selectbox(key="inf-dpa").set_value(8).run()
    assert not at.exception
    assert [e.value for e in at.error if "must divide" in e.value] == [
        "dp attention 8 must divide tp 4 (each attention group runs tp / dp_attention GPUs)"]


def test_a_scenario_with_expert_and_attention_parallelism_loads_onto_the_page():
    """ep and dp_attention of a scenario file become the page's settings; pp, which the page has no widget for, is
    reported as left to `simulator run`."""
    from simulator.ui.inference_settings import scenario_settings

    f = {"kind": "inference", "model": "deepseek-v3", "hardware": "h200-sxm-141gb",
         "deployment": {"tp": 8, "ep": 8, "dp_attention": 8, "precision": "fp8"}}
    out, skipped = scenario_settings(f)
    assert (out["inf-tp"], out["inf-ep"], out["inf-dpa"]) == (8, 8, 8) and skipped == []
    _, skipped = scenario_settings({**f, "deployment": {**f["deployment"], "pp": 2}})
    assert len(skipped) == 1 and skipped[0].startswith("deployment.pp = 2")
