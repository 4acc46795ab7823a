"""Streamlit AppTest for every page: renders with defaults, reacts to widgets, shows errors not tracebacks."""

from pathlib import Path

import pytest
from apptest_util import error_shown_by, page
from streamlit.testing.v1 import AppTest

PAGES = ["training_page", "inference_page", "cluster_page", "hardware_page", "validation_page"]


@pytest.mark.parametrize("mod", PAGES)
def test_page_renders_with_defaults(mod):
    at = page(mod).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def test_app_entry_point_renders():
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=600).run()
    assert not at.exception
    assert any(m.label == "MFU" for m in at.metric)


def _metric(at, label):
    return next(m.value for m in at.metric if m.label == label)


def test_training_page_reacts_to_token_budget_and_model():
    at = page("training_page").run()
    days = _metric(at, "Wall-clock")
    at.sidebar.number_input[0].set_value(1.5).run()
    assert not at.exception
    assert _metric(at, "Wall-clock") != days
    at.sidebar.selectbox[0].set_value("llama3.1-8b").run()
    assert not at.exception
    assert "llama3.1-8b" not in days and _metric(at, "GPU-hours")


def test_training_page_stack_choice_changes_the_estimate_and_shows_its_band():
    import simulator as sim

    at = page("training_page").run()
    days = _metric(at, "Wall-clock")
    choice = next(s for s in at.sidebar.selectbox if s.label == "Software stack")
    assert set(sim.stack_ids()) <= {o.split()[0] for o in choice.options}
    choice.set_value("torchtitan").run()
    assert not at.exception and _metric(at, "Wall-clock") != days
    assert any("torch.compile" == c.label for c in at.sidebar.checkbox)
    recipe = next(s for s in at.sidebar.selectbox if s.label.startswith("fp8 scaling recipe"))
    # the stack's default first (kept as "" in the URL, so a link does not pin it), then each recipe it offers
    assert recipe.options == ["as the stack does (tensorwise)", "tensorwise", "rowwise"] and recipe.value == ""
    assert any("Stack torchtitan" in c.value and "percentile" in c.value for c in at.caption)


def test_training_page_explains_when_nothing_fits():
    at = page("training_page").run()
    at.sidebar.selectbox[0].set_value("llama3.1-405b").run()
    at.sidebar.multiselect[0].set_value(["l40s-48gb"]).run()
    at.sidebar.multiselect[1].set_value([8]).run()
    assert not at.exception
    assert any("No plan fits" in e.value for e in at.error)


def test_rank_by_cost_keeps_unpriced_hardware_and_says_why():
    """h800 has no on_demand price and no hardware has a spot price: the plans are still listed, unpriced."""
    at = page("training_page").run()
    at.sidebar.multiselect[0].set_value(["h100-sxm-80gb", "h800-sxm-80gb"]).run()
    next(r for r in at.sidebar.radio if r.label == "Rank plans by").set_value("cost").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("no on_demand price for h800-sxm-80gb" in w.value for w in at.warning)
    next(s for s in at.sidebar.selectbox if s.label == "Purchase option").set_value("spot").run()
    assert not at.exception and not any("No plan fits" in e.value for e in at.error)
    assert any("no spot price for h100-sxm-80gb, h800-sxm-80gb" in w.value for w in at.warning)


def test_low_mfu_warning_names_the_cause():
    """405B at 128k tokens per sequence on 16k GPUs: unfused attention, not the batch, is what drags MFU down."""
    at = page("training_page").run()
    at.sidebar.selectbox[0].set_value("llama3.1-405b").run()
    at.sidebar.multiselect[0].set_value(["h100-sxm-80gb"]).run()
    at.sidebar.multiselect[1].set_value([16384]).run()
    next(s for s in at.sidebar.select_slider if s.label == "Sequence length").set_value(131072).run()
    next(s for s in at.sidebar.selectbox if s.label == "Attention kernel").set_value("unfused").run()
    assert not at.exception
    low = [w.value for w in at.warning if w.value.startswith("MFU is only")]
    assert low and "unfused attention kernel" in low[0] and "global batch" not in low[0]


def test_invalid_uploaded_model_shows_error_not_exception():
    msg = error_shown_by("from simulator.ui import common", "common.resolve_model(None, 'name: x\\nn_layers: -3\\n')")
    assert "n_layers" in msg


def test_validation_page_runs_inference_validation_on_click():
    at = page("validation_page").run()
    assert not at.exception
    at.button(key="val-infer").click().run()
    assert not at.exception and not at.error
    blocks = [df.value for df in at.dataframe if df.value.index.name == "block"]
    assert blocks and {"bs1_decode", "prefill", "max_throughput"} <= set(blocks[0].index)


def test_validation_page_shows_the_fused_moe_check_per_kernel_group():
    """The fused-MoE section lists every kernel-GPU group of the fit rows with its held-out error, as make validate
    prints it (simulator.validation.moe_kernels)."""
    from simulator.validation import moe_kernels

    at = page("validation_page").run()
    assert not at.exception
    groups = set(moe_kernels.load_reference()["group"])
    tables = [df.value for df in at.dataframe if "held-out median |error| %" in df.value.columns]
    assert tables and set(tables[0]["group"]) == groups and len(groups) >= 5
    assert any("leave-one-group-out median |error|" in c.value for c in at.caption)


def test_validation_page_shows_trtllms_own_moe_modules_with_the_engine_terms():
    """The engine section lists every GPU and quantization of the engine rows, with the error of the engine terms
    (fitted on the other GPUs, or on its own where no other has the quantization) where TensorRT-LLM's profile slows
    that quantization (fp8 block scales, fp4)."""
    from simulator.validation import moe_kernels

    at = page("validation_page").run()
    assert not at.exception
    rows = moe_kernels.load_reference(use="engine")
    tables = [df.value for df in at.dataframe if "with engine terms |error| %" in df.value.columns]
    assert tables and len(tables[0]) == rows.groupby(["group", "precision"]).ngroups
    slowed = tables[0][tables[0]["precision"].isin(["fp8-block", "fp4"])]
    assert len(slowed) >= 4 and slowed["with engine terms |error| %"].notna().all()
    assert any("TensorRT-LLM's own fused-MoE modules (aiconfigurator" in c.value for c in at.caption)


def test_training_download_keeps_the_records_units():
    """The comparison's CSV holds MFU and HFU as fractions, time in seconds and cost in dollars, as --json does
    (the screen's percent, days and $M are display only); cells without a plan keep their reason."""
    import simulator as sim
    from simulator.ui.training_page import export_frame

    df = sim.compare_training("llama3.1-8b", ["h100-sxm-80gb"], [8, 7], global_batch=64, seq_len=4096,
                              train_tokens=1e9)
    out = export_frame(df)
    ok = out[out.feasible.astype(bool)]
    assert len(ok) == 1 and 0 < ok.mfu.iloc[0] <= ok.hfu.iloc[0] < 1
    assert ok.total_time_s.iloc[0] == df.loc[df.feasible.astype(bool), "total_time_s"].iloc[0]
    assert "days" not in out and "cost_musd" not in out and "breakdown" not in out
    assert out.plan.str.len().min() > 0 and (out.reason[~out.feasible.astype(bool)] != "").all()
