"""The failure model with sources: failure profiles (workloads/failures) hold what published fleets reported, the
cluster simulation picks one by name, and the model is checked leave one source out against the publications.

The published figures below are typed from the papers and logs (citation beside each), never copied from the
program; the leave-one-source-out predictions are recomputed here by hand from those figures.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from simulator.catalog.failures import COMPONENT_CLASSES, failure_profile_ids, load_failure_profile
from simulator.cluster.failures import component_rates, profile_rate
from simulator.cluster.scenario import scenario_from_dict
from simulator.cluster.schema import DEFAULT_FAILURES_PER_1000_NODE_DAYS, DEFAULT_PLANNED_PER_1000_NODE_DAYS
from simulator.errors import DataFileError, UnknownIdError
from simulator.validation.cluster import failure_model_checks, format_profile_table, format_source_table

# Grattafiori et al. (Meta), "The Llama 3 Herd of Models", arXiv 2407.21783, sec. 3.3.4: in a 54-day snapshot,
# 466 job interruptions, 47 planned and 419 unexpected, on 16K H100 (16,384 GPUs, 8 per server); Table 5 root causes.
LLAMA3_UNEXPECTED, LLAMA3_PLANNED, LLAMA3_GPUS, LLAMA3_DAYS = 419, 47, 16384, 54
# Kokolis et al. (Meta), "Revisiting Reliability in Large-Scale Machine Learning Research Clusters", arXiv 2410.21680
# (HPCA 2025): job mean time to failure 47.7 days for 8-GPU jobs and 7.9 hours for 1,024-GPU jobs (A100).
RSC_MTTF_8_GPUS_DAYS, RSC_MTTF_1024_GPUS_H = 47.7, 7.9
# Zhang et al. (Meta), "OPT: Open Pre-trained Transformer Language Models", arXiv 2205.01068, sec. 2.4-2.5: 992 80GB
# A100; hardware failures caused at least 35 manual restarts and an estimated 70+ automatic restarts over 2 months.
OPT_RESTARTS, OPT_GPUS, OPT_DAYS = 35 + 70, 992, 60
# BigScience tr11-176B-ml chronicles (github.com/bigscience-workshop/bigscience), 2022-04: "Every week or so we have
# hardware issues where one of the gpus dies"; BLOOM trained on 48 nodes of 8 A100 80GB (384 GPUs).
BLOOM_FAILURES_PER_WEEK, BLOOM_NODES = 1, 48

SRC = [{"title": "test", "where": "tests", "date": "2026"}]


def per_1000_node_days(events: float, nodes: float, days: float) -> float:
    return 1000.0 * events / (nodes * days)


R_LLAMA3 = per_1000_node_days(LLAMA3_UNEXPECTED, LLAMA3_GPUS / 8, LLAMA3_DAYS)  # 3.79
R_RSC = math.sqrt(per_1000_node_days(1, 1, RSC_MTTF_8_GPUS_DAYS)  # 21.0 (one node)
                  * per_1000_node_days(1, 1024 / 8, RSC_MTTF_1024_GPUS_H / 24))  # 23.7
R_OPT = per_1000_node_days(OPT_RESTARTS, OPT_GPUS / 8, OPT_DAYS)  # 14.1
R_BLOOM = per_1000_node_days(BLOOM_FAILURES_PER_WEEK, BLOOM_NODES, 7)  # 2.98


def gmean(*xs: float) -> float:
    return math.prod(xs) ** (1 / len(xs))


def rows(method_prefix: str = "other fleets") -> dict[str, object]:
    return {r.source: r for r in failure_model_checks() if r.method.startswith(method_prefix)}


def test_profiles_hold_the_published_figures():
    assert {"meta-llama3-h100-2024", "meta-rsc-a100-2024", "meta-opt175b-a100-2021", "bigscience-bloom-a100-2022",
            "crusoe-h200-2025"} <= set(failure_profile_ids())
    checked = {r.source: r.published for r in failure_model_checks()}
    assert checked["meta-llama3-h100-2024"] == LLAMA3_UNEXPECTED
    assert checked["meta-rsc-a100-2024"] == pytest.approx(RSC_MTTF_1024_GPUS_H * 3600)
    assert checked["meta-opt175b-a100-2021"] == OPT_RESTARTS
    assert checked["bigscience-bloom-a100-2022"] == BLOOM_FAILURES_PER_WEEK
    # every profile names where it comes from, and every figure has its own source
    for pid in failure_profile_ids():
        p = load_failure_profile(pid)
        assert p.sources and all(len(o.source) > 3 for o in p.observations)


def test_fitted_rates_match_the_hand_calculation():
    rate = {pid: profile_rate(load_failure_profile(pid)) for pid in failure_profile_ids()}
    assert rate["meta-llama3-h100-2024"] == pytest.approx(R_LLAMA3, rel=1e-12)
    assert rate["meta-rsc-a100-2024"] == pytest.approx(R_RSC, rel=1e-12)
    assert rate["meta-opt175b-a100-2021"] == pytest.approx(R_OPT, rel=1e-12)
    assert rate["bigscience-bloom-a100-2022"] == pytest.approx(R_BLOOM, rel=1e-12)
    assert rate["crusoe-h200-2025"] is None  # a component mix only: its count and size are an onlooker's inference
    assert profile_rate(load_failure_profile("meta-llama3-h100-2024"), planned=True) == pytest.approx(
        per_1000_node_days(LLAMA3_PLANNED, 2048, LLAMA3_DAYS))
    # the rounded defaults a scenario without a profile gets are the Llama 3 profile's rates
    assert DEFAULT_FAILURES_PER_1000_NODE_DAYS == pytest.approx(R_LLAMA3, abs=0.005)
    assert DEFAULT_PLANNED_PER_1000_NODE_DAYS == pytest.approx(per_1000_node_days(47, 2048, 54), abs=0.0005)


def test_leave_one_source_out_predictions_and_errors():
    """Each fleet predicted from the geometric mean of the other fleets' per-node rates, never its own."""
    by = rows()
    llama3, rsc, opt, bloom = (by[k] for k in ("meta-llama3-h100-2024", "meta-rsc-a100-2024",
                                               "meta-opt175b-a100-2021", "bigscience-bloom-a100-2022"))
    assert llama3.predicted == pytest.approx(2048 * 54 * gmean(R_RSC, R_OPT, R_BLOOM) / 1000, rel=1e-9)
    assert rsc.predicted / 3600 == pytest.approx(24 / (128 * gmean(R_LLAMA3, R_OPT, R_BLOOM) / 1000), rel=1e-9)
    assert opt.predicted == pytest.approx(124 * 60 * gmean(R_LLAMA3, R_RSC, R_BLOOM) / 1000, rel=1e-9)
    assert bloom.predicted == pytest.approx(48 * 7 * gmean(R_LLAMA3, R_RSC, R_OPT) / 1000, rel=1e-9)
    for r in (llama3, rsc, opt, bloom):
        assert r.source not in r.fitted_on
    # errors against the typed published figures (hand: 1,082 of 419; 34.6 h of 7.9 h; 47 of 105; 3.6 a week of 1)
    assert llama3.predicted / LLAMA3_UNEXPECTED - 1 == pytest.approx(1.58, abs=0.01)
    assert rsc.predicted / 3600 / RSC_MTTF_1024_GPUS_H - 1 == pytest.approx(3.38, abs=0.01)
    assert opt.predicted / OPT_RESTARTS - 1 == pytest.approx(-0.553, abs=0.005)
    assert bloom.predicted / BLOOM_FAILURES_PER_WEEK - 1 == pytest.approx(2.56, abs=0.01)


def test_same_generation_pools_miss_as_well():
    by = rows("other A100")
    assert set(by) == {"meta-rsc-a100-2024", "meta-opt175b-a100-2021", "bigscience-bloom-a100-2022"}
    assert by["meta-opt175b-a100-2021"].predicted == pytest.approx(124 * 60 * gmean(R_RSC, R_BLOOM) / 1000, rel=1e-9)
    assert by["bigscience-bloom-a100-2022"].predicted == pytest.approx(48 * 7 * gmean(R_RSC, R_OPT) / 1000, rel=1e-9)
    assert all(not r.passed for r in by.values())  # the A100 fleets alone span 7.5x (BLOOM 2.98 .. RSC 22.3)
    assert "meta-llama3-h100-2024" not in by  # no other H100 fleet publishes a rate


def test_the_size_law_holds_within_one_fleet():
    """MTTI proportional to 1/nodes: RSC's 8-GPU MTTF alone predicts its 1,024-GPU MTTF within 25%."""
    (r,) = rows("same fleet").values()
    assert r.source == "meta-rsc-a100-2024"
    assert r.predicted / 3600 == pytest.approx(RSC_MTTF_8_GPUS_DAYS * 24 / 128, rel=1e-9)  # 8.94 h
    assert r.predicted / 3600 / RSC_MTTF_1024_GPUS_H - 1 == pytest.approx(0.132, abs=0.002)
    assert r.passed


@pytest.mark.xfail(strict=True, reason="issue 19's target: every published fleet within 25% from the other fleets' "
                   "rates; the fleets' per-node rates differ 7.5x (BLOOM 2.98 .. RSC 22.3 per 1000 node-days)")
def test_every_fleet_within_25_percent_from_the_other_fleets():
    assert all(r.passed for r in failure_model_checks() if r.cross_fleet)


def test_component_mix_of_llama3():
    p = load_failure_profile("meta-llama3-h100-2024")
    shares = dict(p.component_shares)
    assert tuple(shares) == COMPONENT_CLASSES and sum(shares.values()) == pytest.approx(1.0)
    # Table 5: GPU 148 + 19 + 17 + 6 + 6, HBM3 72 (of 419)
    assert shares["gpu"] == pytest.approx(196 / 419) and shares["hbm"] == pytest.approx(72 / 419)
    split = component_rates(p, R_LLAMA3)
    assert sum(split.values()) == pytest.approx(R_LLAMA3)
    assert load_failure_profile("meta-opt175b-a100-2021").component_shares == ()  # no counts published


def test_tables_name_every_profile_and_check():
    text = format_profile_table() + format_source_table(failure_model_checks())
    for pid in failure_profile_ids():
        assert pid in text


def small(failures: dict) -> dict:
    return {"schema_version": 1, "kind": "cluster_scenario", "id": "t", "name": "t", "sources": SRC,
            "pools": [{"id": "p", "hardware": "a100-sxm-80gb", "nodes": 4}], "failures": failures,
            "jobs": [{"name": "a", "gpus": 8, "duration_s": 100.0}]}


def test_a_scenario_names_a_profile_and_explicit_rates_still_work():
    sc = scenario_from_dict(small({"profile": "meta-opt175b-a100-2021"}))
    assert sc.pools[0].failures_per_1000_node_days == pytest.approx(R_OPT)
    assert sc.pools[0].planned_per_1000_node_days == 0.0  # OPT publishes no planned maintenance
    assert sc.reliability.failure_profile == "meta-opt175b-a100-2021"
    assert any("failure profile meta-opt175b-a100-2021" in s for s in sc.sources)
    over = scenario_from_dict(small({"profile": "meta-llama3-h100-2024", "failures_per_1000_node_days": 10.0}))
    assert over.pools[0].failures_per_1000_node_days == 10.0  # a written rate overrides the profile's
    assert over.pools[0].planned_per_1000_node_days == pytest.approx(per_1000_node_days(47, 2048, 54))
    plain = scenario_from_dict(small({"failures_per_1000_node_days": 5.0, "planned_per_1000_node_days": 0.5}))
    assert (plain.pools[0].failures_per_1000_node_days, plain.pools[0].planned_per_1000_node_days) == (5.0, 0.5)
    assert plain.reliability.failure_profile is None
    off = scenario_from_dict(small({"profile": "meta-rsc-a100-2024", "enabled": False}))
    assert off.pools[0].failures_per_1000_node_days == 0.0


def test_shipped_scenarios_name_a_profile():
    from simulator.cluster.scenario import cluster_scenario_ids, scenario_data

    for sid in cluster_scenario_ids():
        assert scenario_data(sid)["failures"]["profile"] in failure_profile_ids(), sid


def test_bad_profiles_are_refused_in_one_line(tmp_path: Path):
    with pytest.raises(DataFileError, match="no job interruption rate"):
        scenario_from_dict(small({"profile": "crusoe-h200-2025"}))
    with pytest.raises(DataFileError, match="unknown failure profile 'nope'.*meta-llama3-h100-2024"):
        scenario_from_dict(small({"profile": "nope"}))
    with pytest.raises(UnknownIdError):
        load_failure_profile("nope")
    good = Path(load_failure_profile("bigscience-bloom-a100-2022").path).read_text()
    row = good[good.index("  - {quantity"):good.index("causes_note")]
    cases = {"source": good.replace('source: "BigScience chronicles 2022-03-18: a checkpoint is saved in 40 secs"',
                                    'note: "x"'),
             "causes_note": good[:good.index("causes_note")] + good[good.index("recovery:"):],
             "at most one": good.replace("causes_note:", row + "causes_note:")}
    for i, (match, text) in enumerate(cases.items()):
        f = tmp_path / f"profile{i}.yaml"
        f.write_text(text)
        with pytest.raises(DataFileError, match=match) as exc:
            load_failure_profile(f)
        assert "\n" not in str(exc.value) and str(f) in str(exc.value), match
