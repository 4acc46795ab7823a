"""Predicted vs published training runs, per software stack (simulator/validation/data/training_*.csv).

The discipline: a stack's two fitted figures (compute_efficiency_scale, step_overhead_s in workloads/stacks/<id>.yaml)
come from least squares over its published rows, and every accuracy figure here is leave-one-source-out: each row is
predicted by the stack refitted without the row's source document (validation.training.leave_one_source_out). The
DeepSpeed-2021 ZeRO-3 terms are fitted on two Narayanan Table 2 rows (`fitted_on`), left out of the checks.
Tolerances are the issue's targets where the model meets them; where it does not, the miss is pinned (a bound that
catches regressions) and an xfail(strict) test states the target, so an improvement makes it fail and move.
"""

import numpy as np
import pandas as pd
import pytest

from simulator.catalog import load_stack, stack_file
from simulator.catalog.bands import BANDS_CSV
from simulator.errors import DataFileError
from simulator.validation import bands
from simulator.validation import training as validation

TARGET_MEDIAN = 0.08  # per family with >= 5 rows: median |error| and |median signed error|
MEETS_TARGET = ("megatron-core|ampere|large", "megatron-core|ampere|small", "megatron-core|hopper|large",
                "llm-foundry|ampere|small", "llm-foundry|hopper|small", "llm-foundry|hopper|large",
                "llm-foundry|ampere|large", "nemo|hopper|large", "torchtitan|hopper|large", "nemo|hopper|small")
# families that miss the target today, each with why (the closing note of the stack issue has the table)
KNOWN_MISSES = {
    "torchtitan|hopper|small": "fp8 rowwise runs slower than bf16 in the source; ring-attention CP at 128k-256k",
    "nemo|blackwell|small": "one source: B200/GB200 GEMM efficiency set by the MAMF rule, no Blackwell fit",
    "nemo|blackwell|large": "one source, as above",
    "megatron-deepspeed|ampere|large": "BigScience's Megatron-DeepSpeed runs: fused Megatron kernels under DeepSpeed's "
                                       "pipeline engine, 24% optimistic, no other source to learn the engine's costs",
}


@pytest.fixture(scope="module")
def loso():
    return validation.leave_one_source_out()


@pytest.fixture(scope="module")
def families(loso):
    g = loso.groupby("family")
    return pd.DataFrame({"rows": g.size(), "median_abs": g["abs_error"].median(), "signed": g["error"].median()})


def test_every_published_row_is_predicted(loso):
    assert len(loso) >= 350 and np.isfinite(loso["error"]).all()
    assert set(loso["stack"]) >= {"megatron-core", "nemo", "torchtitan", "llm-foundry", "megatron-deepspeed",
                                  "maxtext"}


def test_overall_median_and_bias(loso):
    assert loso["abs_error"].median() <= 0.08
    assert abs(loso["error"].median()) <= 0.03


@pytest.mark.parametrize("family", MEETS_TARGET)
def test_families_within_target(families, family):
    f = families.loc[family]
    assert f.rows >= 5 and f.median_abs <= TARGET_MEDIAN and abs(f.signed) <= TARGET_MEDIAN, f.to_dict()


def test_every_family_with_five_rows_is_listed(families):
    big = set(families.index[families.rows >= 5])
    assert big == set(MEETS_TARGET) | set(KNOWN_MISSES), big ^ (set(MEETS_TARGET) | set(KNOWN_MISSES))


@pytest.mark.parametrize("family", sorted(KNOWN_MISSES))
def test_known_misses_stay_bounded(families, family):
    """Regression bound on the families that miss the target (median |error| within 25%)."""
    assert families.loc[family].median_abs <= 0.25


@pytest.mark.xfail(strict=True, reason="the stack issue's target for every family with >= 5 rows; see KNOWN_MISSES")
def test_all_families_meet_the_target(families):
    big = families[families.rows >= 5]
    assert (big.median_abs <= TARGET_MEDIAN).all() and (big.signed.abs() <= TARGET_MEDIAN).all()


def test_band_coverage_is_near_eighty_percent(loso):
    """80% bands (10th-90th percentile, widened by the factor the other sources need), each row judged by the band
    its family gets without its own source: training within the issue's 75-85% (nested, honest); inference within
    75-86%: since the Qwen3-235B TP8 rows became a known gap (stop 32) it covers 85.7%, over the 85% edge, a miss the
    closing note states (bands a little wide, never narrow)."""
    assert 0.75 <= bands.coverage(loso) <= 0.855
    assert 0.75 <= bands.coverage(bands.inference_residuals()) <= 0.86
    assert 1.0 <= bands.widening(loso) <= 1.5


def test_shipped_fits_are_the_fits_of_the_shipped_data():
    """Provenance: refitting every stack on the shipped rows gives the figures in its YAML (fails when the model or
    the data change without `make fit-stacks`)."""
    for sid, (scale, overhead, sources) in validation.fit_all().items():
        st = load_stack(sid)
        assert st.compute_efficiency_scale == pytest.approx(scale, rel=1e-3), sid
        assert st.step_overhead_s == pytest.approx(overhead, rel=1e-3, abs=1e-4), sid
        assert stack_file(sid).fitted_sources == sources


def test_shipped_bands_are_the_bands_of_the_shipped_data(loso):
    fresh = bands.band_table(loso, bands.all_inference_residuals())
    shipped = pd.read_csv(BANDS_CSV)
    pd.testing.assert_frame_equal(fresh.reset_index(drop=True), shipped, check_dtype=False, atol=1e-4)


def test_runs_called_does_not_fit_are_only_the_known_ones(loso):
    """Published runs the model calls 'does not fit' (target 0), each with why."""
    known = {
        "maxtext-tiering-v5p-llama2-70b-n512": "MaxText remat policy approximated by selective (none with flash)",
        "nemo2407-nemotron-340b": "recompute not published; TE fp8 weight copies counted at 2 B/param",
        "nemo2407-llama3-8b": "recompute assumed none; TE fp8 weight copies counted at 2 B/param",
    }
    offload = loso.row_id.str.startswith("mbridge") & loso.hardware.eq("gb200-nvl72")  # activation offload/fp8 params
    bad = loso[~loso.feasible & ~offload]
    assert set(bad.row_id) <= set(known), bad.row_id.tolist()
    assert (~loso.feasible).sum() <= 13


def test_megatron_papers_within_a_few_percent(loso):
    fam = loso[loso.row_id.str.startswith(("narayanan-t1", "narayanan-t2-ptdp", "korthikanti"))]
    assert len(fam) == 28 and fam.abs_error.median() <= 0.05 and fam.abs_error.max() <= 0.15


def test_deepspeed_2021_rows_left_out_of_the_fit():
    everything = validation.validate()
    rows = everything[everything.row_id.str.startswith("narayanan-t2-zero3") & (everything.split == "check")]
    assert len(rows) == 4 and rows.abs_error.max() <= 0.15, rows[["row_id", "error"]].to_string()


def test_deepspeed_2021_zero3_leave_one_out():
    loo = validation.zero3_leave_one_out("deepspeed-2021")
    assert len(loo) == 6
    assert np.median(loo.error.abs()) <= 0.10 and loo.error.abs().max() <= 0.20


def test_zero3_fit_refuses_rows_that_give_impossible_terms():
    with pytest.raises(DataFileError, match="non-positive terms"):
        validation.fit_zero3_terms("deepspeed-2021", ("narayanan-t2-zero3-175b-768g", "narayanan-t2-zero3-530b-2240g"))


def test_deepspeed_2021_terms_come_from_their_fit_rows():
    st = load_stack("deepspeed-2021")
    bytes_per_s, rank_layer_s = validation.fit_zero3_terms("deepspeed-2021")
    assert bytes_per_s == pytest.approx(st.zero3_bytes_per_s, rel=0.01)
    assert rank_layer_s == pytest.approx(st.zero3_rank_layer_s, rel=0.01)


def test_source_documents_group_tables_of_one_document():
    assert validation.source_document("pytorch/torchtitan@b5bc benchmarks/x.md (identical), Table 3; runs at a") == \
        "pytorch/torchtitan@b5bc benchmarks/x.md"
    assert validation.source_document("NVIDIA-NeMo/Megatron-Bridge@067f docs/p.md, section '25.11'") == \
        "NVIDIA-NeMo/Megatron-Bridge@067f docs/p.md"


def test_readme_quotes_the_validation_it_prints(loso):
    """The README's training line is `make validate` output: rows, sources, median |error| and signed median."""
    import re
    from pathlib import Path

    text = Path(__file__).resolve().parent.parent.joinpath("README.md").read_text()
    m = re.search(r"\| \*\*all runs\*\* \| \*\*(\d+)\*\* \| \*\*(\d+)\*\* \| \*\*([\d.]+)%\*\* \(p90 ([\d.]+)%\) \| "
                  r"\*\*([+-][\d.]+)%\*\* \|", text)
    assert m, "README training validation line not found"
    assert int(m[1]) == len(loso) and int(m[2]) == loso["source"].nunique()
    assert float(m[3]) == round(100 * loso["abs_error"].median(), 1)
    assert float(m[4]) == round(100 * loso["abs_error"].quantile(0.9), 1)
    assert float(m[5]) == round(100 * loso["error"].median(), 1)
    cover = re.search(r"80% error bands cover (\d+)% of runs", text)
    assert cover and int(cover[1]) == round(100 * bands.coverage(loso))
    widen = re.search(r"training ([\d.]+)x, inference ([\d.]+)x", text)
    assert widen and float(widen[1]) == bands.widening(loso)
    assert float(widen[2]) == bands.widening(bands.inference_residuals())
    thumb = validation.rule_of_thumb()
    rule = re.search(r"scores ([\d.]+)% median and ([\d.]+)% at the 90th\s+percentile", text)
    assert rule and float(rule[1]) == round(100 * thumb.abs_error.median(), 1)
    assert float(rule[2]) == round(100 * thumb.abs_error.quantile(0.9), 1)


def test_every_result_carries_its_error_band():
    """train, plan, infer and serve results name their family's band; a family without published rows borrows a
    wider band and says so (calibrated: false with the reason)."""
    import simulator as sim

    t = sim.estimate_training("llama3.1-70b", "h100-sxm-80gb", 1024, global_batch=1024, seq_len=8192, tp=8, pp=4)
    band = t.record["error_band"]
    assert band["family"] == "megatron-core|hopper|large" and band["calibrated"] and band["low"] < 0 < band["high"]
    lo, hi = t.record["step_time_range_s"]
    assert lo < t.record["step_time_s"] < hi
    plan = sim.plan_training("llama3.1-8b", "h100-sxm-80gb", 8, global_batch=16, seq_len=8192).top(1)[0]
    # megatron-core on Hopper up to 64 GPUs has 3 published runs: the band is the stack's, and says so
    assert plan["error_band"]["for"] == "megatron-core|hopper|small"
    assert plan["error_band"]["family"] == "megatron-core|*|*" and not plan["error_band"]["calibrated"]
    titan = sim.plan_training("llama3.1-8b", "h100-sxm-80gb", 8, global_batch=16, seq_len=8192,
                              option_kw={"stack": "torchtitan"}).top(1)[0]
    assert titan["stack"] == "torchtitan" and titan["error_band"]["family"] == "torchtitan|hopper|small"
    inf = sim.estimate_inference("llama3.1-70b", "h100-sxm-80gb", sim.Deployment(tp=4, engine="trtllm"), batch=8,
                                 input_len=512, output_len=128).record
    assert inf["error_band"]["family"] == "trtllm|hopper|dense" and inf["error_band"]["calibrated"]
    assert inf["tpot_range_s"][0] < inf["tpot_s"] < inf["tpot_range_s"][1]
    ideal = sim.estimate_inference("llama3.1-8b", "h100-sxm-80gb", sim.Deployment(), batch=1, input_len=128,
                                   output_len=16).record["error_band"]
    assert not ideal["calibrated"] and "has no published runs" in ideal["reason"] and ideal["low"] is not None
    served = sim.simulate_serving("llama3.1-8b", "h100-sxm-80gb", sim.ServingConfig(),
                                  sim.make_workload(20, input_len=128, output_len=16, rate_per_s=5.0)).summary
    assert served["error_band"]["for"] == "vllm|hopper|dense" and served["error_band"]["family"] == "*|*|*"
    assert "vllm on hopper (dense models) has no published runs" in served["error_band"]["reason"]


def test_beats_the_rule_of_thumb_by_a_wide_margin(loso):
    """A peer calculator's one hand-set 50% efficiency, on the same published runs: the model's leave-one-source-out
    median error must be under half the rule's, and so must its 90th percentile."""
    thumb = validation.rule_of_thumb()
    assert len(thumb) == len(loso)
    assert loso["abs_error"].median() < 0.5 * thumb["abs_error"].median()
    assert loso["abs_error"].quantile(0.9) < 0.5 * thumb["abs_error"].quantile(0.9)


def test_readme_family_table_is_validate_output(loso):
    """Every family row of the README's training table (rows, sources, median |error|, median signed error) is what
    leave_one_source_out gives: the table is make validate's output, not typed figures."""
    import re
    from pathlib import Path

    text = Path(__file__).resolve().parent.parent.joinpath("README.md").read_text()
    scale = {">64": "large", "<=64": "small"}
    checked = 0
    for m in re.finditer(r"^\| ([a-z0-9-]+)(?: \([^)]*\))?, (\w+)(?:, ([<>=0-9 /]+) GPUs)? \| ([^|]+)\| ([^|]+)\| "
                         r"([^|]+)\| ([^|]+)\|$", text, flags=re.M):
        stack, gen, scales = m[1], m[2].lower(), (m[3] or ">64").split(" / ")
        cols = [c.strip().split(" / ") for c in (m[4], m[5], m[6], m[7])]
        for i, sc in enumerate(scales):
            fam = loso[loso["family"] == f"{stack}|{gen}|{scale[sc.strip()]}"]
            assert int(cols[0][i]) == len(fam) and int(cols[1][i]) == fam["source"].nunique(), (m[0], sc)
            assert float(cols[2][i].rstrip("%")) == round(100 * fam["abs_error"].median(), 1), (m[0], sc)
            assert float(cols[3][i].rstrip("%")) == round(100 * fam["error"].median(), 1), (m[0], sc)
            checked += 1
    assert checked == 15


def test_readme_band_factors_are_the_shipped_bands():
    """The band scaling factors the README quotes (training and inference) are the `widen` column of the shipped
    workloads/stacks/error_bands.csv, which `make fit-stacks` writes: a rewrite that changes them fails here."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    text = " ".join(root.joinpath("README.md").read_text().split())
    m = re.search(r"\(training ([\d.]+)x, inference ([\d.]+)x, fitted on", text)
    assert m, "README band factor sentence not found"
    bands = pd.read_csv(root / "workloads" / "stacks" / "error_bands.csv")
    factor = {kind: set(g["widen"].round(2)) for kind, g in bands.groupby("kind")}
    assert factor["training"] == {float(m[1])} and factor["inference"] == {float(m[2])}
