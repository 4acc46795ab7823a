"""Lifecycle planning's quality model and data (simulator.core.scaling, workloads/scaling_laws/): formulas against hand
calculations from the published constants, the family rule against the shipped models it was read from, every data
file with its sources, and the API's refusals. The plans themselves: tests/test_lifecycle_plan.py."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

import simulator as sim
from simulator.core.scaling import (
    candidate_params,
    loss_delta_from_perplexity,
    shape_record,
    smallest_params,
    within_range,
)
from simulator.errors import BadValueError, DataFileError, UnknownIdError

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "workloads" / "scaling_laws"


def test_hoffmann_fit_predicts_chinchilla_by_hand():
    """70B on 1.4T tokens: 1.69 + 406.4 / 70e9^0.34 + 410.7 / 1.4e12^0.28 = 1.69 + 0.0836 + 0.1633 (by hand)."""
    law = sim.load_scaling_law("hoffmann2022")
    assert (law.e_nats, law.a, law.b, law.alpha, law.beta) == (1.69, 406.4, 410.7, 0.34, 0.28)
    assert sim.predicted_loss(law, 70e9, 1.4e12) == pytest.approx(1.937, abs=1e-3)


def test_besiroglu_constants_are_the_published_ones():
    law = sim.load_scaling_law("besiroglu2024")
    assert (law.e_nats, law.a, law.b, law.alpha, law.beta) == (1.8172, 482.01, 2085.43, 0.3478, 0.3658)


@pytest.mark.parametrize("law_id", ["hoffmann2022", "besiroglu2024"])
def test_tokens_for_loss_inverts_the_loss(law_id):
    law = sim.load_scaling_law(law_id)
    for n, d in ((1e9, 2e10), (8e9, 1.5e13), (7e10, 1.4e12)):
        assert sim.tokens_for_loss(law, n, sim.predicted_loss(law, n, d)) == pytest.approx(d, rel=1e-9)
    assert math.isinf(sim.tokens_for_loss(law, 1e9, law.e_nats + 1e-3))  # the N term alone is above the target


@pytest.mark.parametrize("law_id", ["hoffmann2022", "besiroglu2024"])
def test_compute_optimal_is_the_cheapest_point_of_the_iso_loss_curve(law_id):
    """Moving along the iso-loss curve either way from the optimum costs more FLOPs (6ND)."""
    law = sim.load_scaling_law(law_id)
    loss = sim.predicted_loss(law, 70e9, 1.4e12)
    n, d = sim.compute_optimal(law, loss)
    assert sim.predicted_loss(law, n, d) == pytest.approx(loss, rel=1e-12)
    for f in (0.8, 0.95, 1.05, 1.25):
        assert f * n * sim.tokens_for_loss(law, f * n, loss) > n * d


def _optimum_at_compute(law, flop):
    """(N, D) of the compute-optimal model of a FLOP budget: bisection on the loss until 6ND = flop."""
    lo, hi = law.e_nats + 1e-6, law.e_nats + 10
    for _ in range(200):
        mid = (lo + hi) / 2
        n, d = sim.compute_optimal(law, mid)
        lo, hi = (mid, hi) if 6 * n * d > flop else (lo, mid)
    return sim.compute_optimal(law, hi)


def test_the_refit_gives_about_twenty_tokens_per_parameter_at_chinchillas_budget():
    """Besiroglu et al.: their refit agrees with Hoffmann et al.'s approaches 1 and 2 (about 20 tokens per parameter);
    the rounded published fit does not (it asks for several times more)."""
    flop = 6 * 70e9 * 1.4e12
    n, d = _optimum_at_compute(sim.load_scaling_law("besiroglu2024"), flop)
    assert 15 < d / n < 25
    n, d = _optimum_at_compute(sim.load_scaling_law("hoffmann2022"), flop)
    assert d / n > 50


def test_candidates_span_the_smallest_reachable_to_the_compute_optimal_size():
    law = sim.load_scaling_law("hoffmann2022")
    loss = sim.predicted_loss(law, 8.03e9, 15e12)
    lo = smallest_params(law, loss)
    assert sim.tokens_for_loss(law, lo, loss) / lo == pytest.approx(law.max_tokens_per_param, rel=1e-6)
    sizes = candidate_params(law, loss, 5)
    assert sizes[0] == pytest.approx(lo) and sizes[-1] == pytest.approx(sim.compute_optimal(law, loss)[0])
    ratios = [b / a for a, b in zip(sizes, sizes[1:], strict=False)]
    assert all(r == pytest.approx(ratios[0]) for r in ratios)  # evenly spaced in log N


@pytest.mark.parametrize(("family", "model"), [("llama3", "llama3.1-8b"), ("mixtral", "mixtral-8x7b")])
def test_the_family_rule_reproduces_its_reference_model(family, model):
    ref = sim.load_model(model)
    spec = sim.family_shape(sim.load_model_family(family), ref.total_params())
    assert (spec.d_model, spec.n_layers, spec.n_heads, spec.n_kv_heads, spec.vocab_size) == (
        ref.d_model, ref.n_layers, ref.n_heads, ref.n_kv_heads, ref.vocab_size)
    assert spec.total_params() == ref.total_params()
    assert model in sim.load_model_family(family).references


def test_family_shapes_round_trip_as_model_files():
    """A generated shape is a valid model file (what `simulator plan --model FILE` reads) with the same count."""
    fam = sim.load_model_family("llama3")
    for n in (1e9, 3e9, 2e10, 7e10):
        spec = sim.family_shape(fam, n)
        back = sim.model_from_dict(shape_record(spec))
        assert back.total_params() == spec.total_params()
        assert abs(math.log(spec.total_params() / n)) < math.log(1.2)  # within 20% of the size asked for
        assert 0.5 < spec.d_model / spec.n_layers / fam.d_model_per_layer < 2.5  # Kaplan et al.: a flat range


def test_perplexity_pairs_give_the_awq_loss_cost_by_hand():
    """AWQ Table 4 (Llama-2 7B/13B/70B, INT4 g128): ln(5.60/5.47) = 0.02349, ln(4.97/4.88) = 0.01827,
    ln(3.41/3.32) = 0.02675; the median is 0.02349 nats."""
    assert loss_delta_from_perplexity([(5.47, 5.60), (4.88, 4.97), (3.32, 3.41)]) == pytest.approx(0.02349, abs=1e-5)
    assert sim.load_compression_method("int4-awq").loss_delta_nats == pytest.approx(0.02349, abs=1e-5)
    assert sim.load_compression_method("fp8").loss_delta_nats == pytest.approx(math.log(7.2752 / 7.2169))
    assert sim.load_compression_method("fp4-nvfp4").loss_delta_nats is None  # accuracy only: no loss published


def test_minitron_ratio_and_token_budget_are_the_published_ones():
    """MN-Minitron-8B: 8.4B from 12.2B on 380B tokens (Sreenivas et al. 2024 Table 1)."""
    m = sim.load_compression_method("minitron")
    assert m.student_fraction == pytest.approx(8.4 / 12.2)
    assert m.tokens_per_student_param == pytest.approx(380e9 / 8.4e9)


def test_fit_ranges_are_hoffmanns_runs():
    law = sim.load_scaling_law("hoffmann2022")
    assert law.params_range == (7e7, 1.6e10) and law.tokens_range == (5e9, 5e11)
    assert within_range(law, 1e9, 2e10) and not within_range(law, 8e9, 1.5e13)


@pytest.mark.parametrize("path", sorted(DATA.rglob("*.yaml")), ids=lambda p: str(p.relative_to(DATA)))
def test_every_lifecycle_data_file_loads_with_sources(path):
    data = yaml.safe_load(path.read_text())
    assert data["id"] == path.stem and data["sources"]
    loader = {"scaling_law": sim.load_scaling_law, "model_family": sim.load_model_family,
              "compression_method": sim.load_compression_method}[data["kind"]]
    assert loader(path.stem).sources
    for value in data.values():  # every sourced figure names where it comes from
        if isinstance(value, dict) and "value" in value:
            assert len(value["source"]) > 3


def test_a_user_fit_file_is_read_and_checked(tmp_path):
    data = yaml.safe_load((DATA / "besiroglu2024.yaml").read_text())
    data.update(id="mine", families=["mixtral"], e_nats={"value": 1.9, "source": "my own fit"})
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(data))
    law = sim.load_scaling_law(str(path))
    assert law.e_nats == 1.9 and law.families == ("mixtral",)
    data["alpha"] = {"value": 7.0, "source": "typo"}
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(DataFileError, match="alpha"):
        sim.load_scaling_law(str(path))
    with pytest.raises(UnknownIdError, match="hoffmann2022"):
        sim.load_scaling_law("chinchila")


QUICK = {"compression": (), "candidates": 1, "tps": (1,), "probe_requests": 20}


@pytest.mark.parametrize(("kw", "field"), [
    ({"target_loss": 1.5}, "--target-loss"),                                   # below Hoffmann's E = 1.69
    ({"target_loss": 1.69}, "--target-loss"),                                  # at E: no model reaches it
    ({"target_loss": 2.2, "tokens_per_day": 0}, "--tokens-per-day"),
    ({"target_loss": 2.2, "tokens_per_day": -1e9}, "--tokens-per-day"),
    ({"target_loss": 2.2, "requests_per_day": 0, "tokens_per_day": None}, "--requests-per-day"),
    ({"target_loss": 2.2, "deployment_months": 0}, "--deployment-months"),
    ({"target_loss": 2.2, "family": "mixtral"}, "--family"),                   # the shipped dense fits do not cover MoE
    ({"target_loss": 2.2, "reference_model": "llama3.1-8b", "reference_tokens": 1e12}, "--target-loss"),
    ({"target_loss": math.nan}, "--target-loss"),
    ({"target_loss": 2.2, "candidates": 0}, "--candidates"),
])
def test_bad_lifecycle_arguments_raise_naming_the_field(kw, field):
    args = {"tokens_per_day": 1e10, **QUICK, **kw}
    with pytest.raises(BadValueError, match=field.lstrip("-").split("-")[0]):
        sim.plan_lifecycle(**args)
