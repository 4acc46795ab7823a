"""AppTest: the Inference page's speculative-decoding and prefix-caching inputs change the estimate as the core does,
say where their figures come from, and travel in the exported scenario files."""

import pytest
import yaml
from apptest_util import clean, metric, page
from streamlit.testing.v1 import AppTest

import simulator as sim
from simulator.ui.inference_settings import speculative_fields


@pytest.fixture(scope="module")
def at() -> AppTest:
    return page("inference_page").run()


def _ms(text: str) -> float:
    value, unit = text.split()
    return float(value) * {"ms": 1.0, "s": 1e3, "us": 1e-3, "µs": 1e-3}[unit]


def test_speculative_decoding_and_prefix_caching_on_the_page(at):
    clean(at)
    tpot, ttft = _ms(metric(at, "TPOT")), _ms(metric(at, "TTFT"))
    at.selectbox(key="inf-spec").set_value("MTP/EAGLE heads").run()
    at.number_input(key="inf-spec-a").set_value(0.8).run()
    clean(at)
    assert _ms(metric(at, "TPOT")) < tpot  # the default batch is decode-bound: speculation pays off
    assert any("Speculative decoding: k=3, acceptance 0.8 (user-stated)" in c.value for c in at.caption)
    at.number_input(key="inf-prefix").set_value(0.5).run()
    clean(at)
    assert _ms(metric(at, "TTFT")) < ttft
    assert any(c.value.startswith("Prefix cache: 512 of 1,024 prompt tokens") for c in at.caption)
    # the scenario the page exports (its deployment.speculative and prefix_hit_rate) runs the same question
    spec = speculative_fields(sim.SpeculativeDecoding(3, 0.8))
    scenario = sim.InferenceScenario(model="llama3.1-70b", hardware="h100-sxm-80gb", batch=32, input_len=1024,
                                     output_len=256, prefix_hit_rate=0.5,
                                     deployment=sim.DeploymentSpec(tp=4, speculative=spec))
    rec = sim.run_scenario(yaml.safe_load(sim.scenario_to_yaml(scenario)))
    assert _ms(metric(at, "TPOT")) == pytest.approx(rec["tpot_s"] * 1e3, rel=0.01)


def test_a_scenario_with_speculation_loads_onto_the_page():
    from simulator.ui.inference_settings import scenario_settings

    f = {"kind": "serving", "model": "llama3.1-70b", "hardware": "h100-sxm-80gb", "prefix_hit_rate": 0.25,
         "deployment": {"tp": 8, "speculative": {"num_speculative_tokens": 4, "acceptance_rate": 0.6,
                                                 "draft_model": "llama3.2-3b-instruct", "draft_tp": 1}}}
    out, skipped = scenario_settings(f)
    assert out["inf-spec"] == "draft model" and out["inf-spec-k"] == 4 and out["inf-spec-a"] == 0.6
    assert out["inf-draft"] == "llama3.2-3b-instruct" and out["inf-prefix"] == 0.25
    assert any("draft_tp" in s for s in skipped)
