"""Every term of an inference breakdown says where it comes from, and what it says follows the data files."""

from __future__ import annotations

import pytest

import simulator as sim
from simulator.catalog.engines import engine_file
from simulator.core.inference import provenance as pv


@pytest.mark.parametrize("engine", list(sim.vocab.ENGINE_NAMES))
def test_engine_terms_say_fitted_or_assumed_as_the_engine_file_does(engine):
    f = engine_file(engine)
    host = f.versions[f.default_version].host
    p = pv.breakdown_provenance(sim.load_model("llama3.1-8b"), sim.load_hardware("h100-sxm-80gb"),
                                sim.Deployment(engine=engine))
    no_terms = host.step_overhead_s.value == host.layer_launch_s.value == host.seq_overhead_s.value == 0.0
    expected = pv.NONE if no_terms else (pv.FITTED_ENGINE if host.fitted.value else pv.ASSUMED_ENGINE)
    assert p["overhead"]["kind"] == expected


def test_every_breakdown_term_has_a_provenance():
    m, hw = sim.load_model("mixtral-8x7b"), sim.load_hardware("h100-sxm-80gb")
    dep = sim.Deployment(tp=2, pp=2)
    r = sim.estimate_inference(m, hw, dep, batch=8, input_len=256, output_len=32).to_dict()
    p = pv.breakdown_provenance(m, hw, dep)
    assert set(r["decode_breakdown_s"]) - {"draft"} <= set(p)
    assert p["tp_comm"]["kind"] == p["pp_comm"]["kind"] == pv.FITTED_COMM
    assert "MoE" in p["linear"]["basis"]
    one = pv.breakdown_provenance(m, hw, sim.Deployment())
    assert one["tp_comm"]["kind"] == one["pp_comm"]["kind"] == pv.NONE


def test_gemm_basis_names_the_efficiency_of_the_precision_run():
    hw = sim.load_hardware("h100-sxm-80gb")
    m = sim.load_model("llama3.1-8b")
    bf16 = pv.breakdown_provenance(m, hw, sim.Deployment(engine="ideal"))["linear"]["basis"]
    fp8 = pv.breakdown_provenance(m, hw, sim.Deployment(engine="ideal", precision="fp8"))["linear"]["basis"]
    assert f"compute {hw.gemm.compute_efficiency:.2f}" in bf16
    assert f"compute {hw.gemm.fp8_compute_efficiency:.2f}" in fp8


def test_infer_says_where_each_term_comes_from(capsys):
    from tests.cli_util import run_cli

    args = ["infer", "--model", "llama3.1-8b", "--hardware", "h100-sxm-80gb", "--tp", "2", "--input-len", "256",
            "--output-len", "32", "--batch", "4"]
    code, out, _ = run_cli(capsys, args)
    line = next(row for row in out.splitlines() if row.strip().startswith("from"))
    assert code == 0 and "linear" in line and pv.MEASURED in line and pv.FITTED_COMM in line
    code, out, _ = run_cli(capsys, [*args, "--json"])
    import json

    rec = json.loads(out)
    assert set(rec["breakdown_provenance"]) == set(rec["decode_breakdown_s"])
    assert rec["breakdown_provenance"]["overhead"]["kind"] == pv.ASSUMED_ENGINE  # vllm's host terms are priors
