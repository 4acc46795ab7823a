"""The Lifecycle page (simulator.ui.lifecycle_page): it renders its question without planning, then plans on the
button and draws the crossover and the trend, with a small search so the test stays short."""

from __future__ import annotations

from apptest_util import page


def _by_label(widgets, label):
    return next(w for w in widgets if w.label.startswith(label))


def test_lifecycle_page_renders_without_planning():
    at = page("lifecycle_page").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert any("Plan the lifecycle" in i.value for i in at.info)


def test_lifecycle_page_plans_on_the_button_and_draws_its_charts():
    at = page("lifecycle_page").run()
    _by_label(at.number_input, "Training GPUs").set_value(256)
    _by_label(at.number_input, "Demand points").set_value(3)
    _by_label(at.number_input, "Model sizes").set_value(2)
    _by_label(at.number_input, "Requests per capacity probe").set_value(40)
    _by_label(at.multiselect, "Compression methods").set_value(["fp8"])
    at.run()
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("vega_lite_chart")) == 2  # the crossover and the trend
    assert any("Target:" in m.value for m in at.markdown)
    table = at.dataframe[0].value
    assert len(table) == 3 and table["params_b"].notna().all()


def test_lifecycle_page_shows_a_target_below_the_fit_as_an_error():
    at = page("lifecycle_page").run()
    _by_label(at.radio, "Target").set_value("a loss").run()
    _by_label(at.number_input, "Target loss").set_value(1.5)
    _by_label(at.number_input, "Model sizes").set_value(1)
    at.run()
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert at.error and "target-loss" in at.error[0].value.replace(" ", "-")
