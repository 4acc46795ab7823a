"""The app as a shared workspace: settings in the URL, scenario files loaded on the page that exports them, A/B."""

from __future__ import annotations

from apptest_util import page

import simulator as sim


def _clean(at) -> None:
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def _notes(at) -> str:
    return " ".join(i.value for i in at.info)


def test_training_link_reproduces_the_view_and_bad_parameters_fall_back():
    at = page("training_page")
    at.query_params.update({"tr-hw": "a100-sxm-80gb", "tr-gpus": "64,128", "tr-batch": "512", "tr-stack": "torchtitan",
                            "train-id": "llama3.1-8b"})
    at.run()
    _clean(at)
    ss = at.session_state
    assert ss["tr-hw"] == ["a100-sxm-80gb"] and ss["tr-gpus"] == [64, 128] and ss["tr-batch"] == 512
    assert ss["tr-stack"] == "torchtitan" and ss["train-id"] == "llama3.1-8b"
    assert at.dataframe  # the page answered for the linked settings
    # the URL now carries what differs from the defaults, so a copied link opens the same view
    assert at.query_params["tr-gpus"] == ["64,128"] or at.query_params["tr-gpus"] == "64,128"

    bad = page("training_page")
    bad.query_params.update({"tr-gpus": "64,nonsense", "tr-hw": "h999", "tr-batch": "1e400", "nope": "1"})
    bad.run()
    _clean(bad)
    assert bad.session_state["tr-gpus"] == [256, 512, 1024, 2048] and bad.session_state["tr-batch"] == 1024
    notes = _notes(bad)
    assert "tr-hw" in notes and "tr-gpus" in notes and "tr-batch" in notes and "'nope'" in notes


def test_training_scenario_export_loads_back_on_the_page():
    scenario = sim.TrainingScenario(name="t", model="llama3.1-8b", hardware="h200-sxm-141gb", gpus=128,
                                    global_batch=256, seq_len=4096, train_tokens=2e12, stack="torchtitan",
                                    precisions=["bf16", "fp8"], objective="cost",
                                    options=sim.TrainingOptionsSpec(compile=True, uneven_pp=False))
    at = page("training_page").run()
    at.sidebar.file_uploader(key="training-scenario-up").upload("t.yaml", sim.scenario_to_yaml(scenario).encode())
    at.run()
    _clean(at)
    ss = at.session_state
    assert ss["train-id"] == "llama3.1-8b" and ss["tr-hw"] == ["h200-sxm-141gb"] and ss["tr-gpus"] == [128]
    assert ss["tr-batch"] == 256 and ss["tr-seq"] == 4096 and ss["tr-tokens"] == 2.0
    assert ss["tr-stack"] == "torchtitan" and ss["tr-prec"] == ["bf16", "fp8"] and ss["tr-objective"] == "cost"
    assert ss["tr-compile"] is True and ss["tr-uneven"] is False
    # a change after loading stands: the file is applied once, not on every rerun
    at.sidebar.number_input(key="tr-batch").set_value(512).run()
    assert at.session_state["tr-batch"] == 512


def test_a_scenario_of_another_kind_names_its_page_and_paths_are_not_opened(tmp_path):
    at = page("training_page").run()
    at.sidebar.file_uploader(key="training-scenario-up").upload(
        "c.yaml", b"schema_version: 1\nkind: cluster\nscenario: research-1k-h100\n")
    at.run()
    _clean(at)
    assert "Cluster simulation page" in _notes(at)
    secret = tmp_path / "model.yaml"
    secret.write_text("not read")
    at = page("training_page").run()
    at.sidebar.file_uploader(key="training-scenario-up").upload(
        "t.yaml", f"kind: training\nmodel: {secret}\nhardware: /etc/passwd\ngpus: 64\nglobal_batch: 64\n"
                  f"seq_len: 4096\n".encode())
    at.run()
    _clean(at)
    assert at.session_state["train-id"] == "llama3.1-70b" and at.session_state["tr-hw"] != ["/etc/passwd"]
    assert "not a shipped id" in _notes(at)


def test_training_ab_pins_a_view_and_shows_it_beside_the_new_one():
    at = page("training_page")
    at.query_params.update({"tr-hw": "h100-sxm-80gb", "tr-gpus": "64", "tr-batch": "256", "train-id": "llama3.1-8b",
                            "tr-tokens": "1"})
    at.run()
    _clean(at)
    at.button(key="training-pin").click().run()
    at.sidebar.multiselect(key="tr-gpus").set_value([128]).run()
    _clean(at)
    tables = [d.value for d in at.dataframe]
    diff = next(t for t in tables if list(t.columns) == ["", "A (pinned)", "B (now)"] and "GPU counts" in set(t[""]))
    row = diff[diff[""] == "GPU counts"].iloc[0]
    assert row["A (pinned)"] == "64" and row["B (now)"] == "128"
    figures = next(t for t in tables if list(t.columns) == ["", "A (pinned)", "B (now)"] and "wall-clock" in set(t[""]))
    wall = figures[figures[""] == "configuration"].iloc[0]
    assert wall["A (pinned)"].startswith("64 x") and wall["B (now)"].startswith("128 x")
    assert any(b.label.startswith("Download a one-page report") for b in at.download_button)


def test_report_is_one_self_contained_page_with_its_chart_drawn():
    import altair as alt
    import pandas as pd

    from simulator.ui.report import report_html

    chart = alt.Chart(pd.DataFrame({"x": [1, 2], "y": [3, 4]})).mark_line().encode(x="x:Q", y="y:Q")
    page_html = report_html("Plan <b>", {"GPUs": 64}, {"price book": "hyperscaler-2025-03, prices of 2025-03-01"},
                            {"cost": "$1.2M"}, charts=[("Time vs cost", chart)],
                            tables=[("Alternatives", pd.DataFrame({"plan": ["tp8 <pp2>"]}))])
    assert page_html.startswith("<!doctype html>") and "<svg" in page_html
    assert "<script" not in page_html and "http" not in page_html.split("<svg")[0]  # nothing fetched to render it
    assert "Plan &lt;b&gt;" in page_html and "tp8 &lt;pp2&gt;" in page_html  # user text is escaped
    assert "prices of 2025-03-01" in page_html and "$1.2M" in page_html


def test_inference_serving_scenario_round_trip_and_link():
    serve = sim.ServingScenario(name="s", model="llama3.1-8b", hardware="h200-sxm-141gb",
                                deployment=sim.DeploymentSpec(tp=2, precision="fp8", kv_precision="fp8", pp=2),
                                replicas=3, rate_per_s=7.5, requests=500, input_len=2048, output_len=128,
                                length_dist="lognormal", slo_ttft_s=1.5, slo_tpot_s=0.05, seed=4)
    at = page("inference_page").run()
    at.sidebar.file_uploader(key="inference-scenario-up").upload("s.yaml", sim.scenario_to_yaml(serve).encode())
    at.run()
    _clean(at)
    ss = at.session_state
    assert (ss["inf-id"], ss["inf-hw"], ss["inf-tp"], ss["inf-prec"], ss["inf-kv"]) == (
        "llama3.1-8b", "h200-sxm-141gb", 2, "fp8", "fp8")
    assert (ss["inf-replicas"], ss["inf-rate"], ss["inf-n"], ss["inf-in"], ss["inf-out"]) == (3, 7.5, 500, 2048, 128)
    assert ss["inf-dist"] == "lognormal" and ss["inf-slo-ttft"] == 1.5 and ss["inf-slo-tpot"] == 50.0  # ms on the page
    assert "deployment.pp" in _notes(at)  # what the page cannot set is named, not dropped silently

    link = page("inference_page")
    link.query_params.update({"inf-out": "7231000000", "inf-tp": "8"})  # past the widget's bound: refused
    link.run()
    _clean(link)
    assert link.session_state["inf-out"] == 256 and link.session_state["inf-tp"] == 8
    assert "inf-out" in _notes(link)


def test_capacity_curve_sizes_whole_replicas_with_headroom():
    deployments = [{"deployment": "tp2 fp8", "max_rate_per_unit_per_s": 3.0, "gpus_per_unit": 2}]
    curve = sim.capacity_curve(deployments, [1.0, 3.0, 10.0], 0.2, 4.0, 1000.0)
    # ceil(rate x 1.2 / 3): 1, 2 and 4 replicas of 2 GPUs at $4 per GPU-hour
    assert curve.units.tolist() == [1, 2, 4] and curve.gpus.tolist() == [2, 4, 8]
    assert curve.cost_per_hour_usd.tolist() == [8.0, 16.0, 32.0]
    assert abs(curve.cost_per_million_tokens_usd.iloc[0] - 8.0 / (1.0 * 1000 * 3600) * 1e6) < 1e-9
    import pytest

    with pytest.raises(sim.PlanError, match="headroom"):
        sim.capacity_curve(deployments, [1.0], -0.1, 4.0, 1000.0)


def test_cluster_page_loads_the_run_file_it_exports_and_its_link():
    run = sim.ClusterRunScenario(name="r", scenario="research-1k-h100", policy="easy", seed=3,
                                 overrides={"failures.failures_per_1000_node_days": 6.5,
                                            "checkpoint.interval_s": 7200.0, "failures.repair_time_s": 7200.0})
    at = page("cluster_page").run()
    at.sidebar.file_uploader(key="cluster-scenario-up").upload("r.yaml", sim.scenario_to_yaml(run).encode())
    at.run()
    _clean(at)
    ss = at.session_state
    assert ss["cl-src"] == "Shipped" and ss["cl-id"] == "research-1k-h100" and ss["cl-seed"] == 3
    k = "research-1k-h100"
    assert ss[f"cl-policy-{k}"] == "easy" and ss[f"cl-rate-{k}"] == 6.5
    assert ss[f"cl-fixed-{k}"] == 2.0 and ss[f"cl-repair-{k}"] == 2.0  # hours on the page, seconds in the file

    link = page("cluster_page")
    link.query_params.update({"scenario": "research-1k-h100", "policy": "sjf", "failure_rate": "-3", "seed": "2"})
    link.run()
    _clean(link)
    assert link.session_state["cl-id"] == "research-1k-h100" and link.session_state[f"cl-policy-{k}"] == "sjf"
    assert link.session_state["cl-seed"] == 2 and link.session_state[f"cl-rate-{k}"] >= 0
    assert "failure_rate" in _notes(link)


def test_an_uploaded_cluster_definition_cannot_make_the_server_open_files():
    base = sim.cluster_scenario_data("research-1k-h100")
    for field, value in (("price_book", "/etc/os-release"), ("trace", {"path": "../../../../etc/passwd"}),
                         ("trace", {"path": "/dev/zero"})):
        raw = {**base, field: value}
        import yaml

        at = page("cluster_page").run()
        at.sidebar.file_uploader(key="cluster-scenario-up").upload("c.yaml", yaml.safe_dump(raw).encode())
        at.run()
        assert not at.exception
        assert "not loaded" in _notes(at) and "cl-loaded" not in at.session_state, field
    at = page("cluster_page").run()
    at.sidebar.file_uploader(key="cluster-scenario-up").upload("ok.yaml", yaml.safe_dump(base).encode())
    at.run()
    _clean(at)
    assert at.session_state["cl-src"] == "Loaded file" and any(m.label == "Utilization" for m in at.metric)


def test_custom_prices_set_in_the_app_price_the_plans():
    at = page("training_page")
    at.query_params.update({"tr-hw": "h100-sxm-80gb", "tr-gpus": "64", "train-id": "llama3.1-8b", "tr-tokens": "1",
                            "tr-batch": "256"})
    at.run()
    cost = next(m.value for m in at.metric if m.label == "Cost")
    at.sidebar.selectbox(key="tr-book").set_value("custom (set here)").run()
    _clean(at)
    default = at.number_input(key="tr-usd-h100-sxm-80gb").value
    assert next(m.value for m in at.metric if m.label == "Cost") == cost  # the default book's price to start from
    at.number_input(key="tr-usd-h100-sxm-80gb").set_value(round(default / 2, 2)).run()
    _clean(at)
    halved = next(m.value for m in at.metric if m.label == "Cost")
    assert halved != cost and float(halved.strip("$kM")) < float(cost.strip("$kM"))


def test_every_number_widget_has_a_maximum():
    """A shared app keeps time and memory bounded: no number input or slider without an upper bound (issue 19)."""
    import ast
    from pathlib import Path

    ui = Path(sim.__file__).resolve().parent / "ui"
    unbounded = []
    for path in ui.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in ("number_input", "slider"):
                named = {k.arg for k in node.keywords}
                positional_max = len(node.args) >= 3  # st.slider(label, min, max, ...) / number_input(label, min, max)
                if "max_value" not in named and not positional_max:
                    unbounded.append(f"{path.name}:{node.lineno}")
    assert not unbounded, unbounded
