"""Predicted vs published training throughput (simulator/validation/data/training_reference.csv).

No efficiency in the model is fitted on these rows: GEMM, attention and bandwidth efficiencies come
from kernel measurements recorded in the hardware profiles. Two exceptions, both named:
- the H100-class GEMM cap (0.72 = 0.9 x MAMF rather than the Vidur per-operator 0.77) was chosen on the
  21 Megatron-Core and NeMo H100 rows, which are therefore selection rows (SELECTION_PREFIXES);
  test_median_error_without_the_selection_rows keeps the target on the rest;
- the two terms of the deepspeed-zero3-2021 framework (simulator.core.training.FRAMEWORKS) are fitted on two
  Narayanan Table 2 rows; those `split == "fit"` rows are left out of every accuracy check.
Tolerances are the issue's targets; the rows listed in KNOWN_OUTLIERS miss the per-row bound for reasons
the model does not capture, and are reported rather than hidden (their count is bounded too).
"""

import numpy as np
import pytest

from simulator.core.training import FRAMEWORKS
from simulator.errors import DataFileError
from simulator.validation import training as validation

MEDIAN_TOLERANCE = 0.08
ROW_TOLERANCE = 0.25

KNOWN_OUTLIERS = {
    # small models whose per-step framework overheads (launch, optimizer, data) are not modelled
    "mcore-h100-weak-1.7b": "0.45 s steps: fixed per-step framework overhead dominates",
    "mcore-h100-weak-7.1b": "0.80 s steps: fixed per-step framework overhead dominates",
    "foundry-a100-80gb-mpt-30b-s8192-n8-gbs168": "FSDP with one micro-batch of 8k tokens",
    "foundry-a100-80gb-mpt-760m-s512-n8-gbs1536": "16% slower than the same model, sequence, GPUs and batch on "
                                                   "A100-40GB (micro-batch 96 vs 48)",
    "foundry-a100-40gb-mpt-70b-s2048-n64-gbs128": "one micro-batch per step: FSDP prefetch cannot hide gathers",
    "foundry-a100-40gb-mpt-1b-s2048-n32-gbs320": "18% below the median of its 16-, 64- and 128-GPU neighbours",
}


@pytest.fixture(scope="module")
def everything():
    return validation.validate()


@pytest.fixture(scope="module")
def table(everything):
    """The check rows: every row except the framework fit rows."""
    return everything[everything.split == "check"].reset_index(drop=True)


def test_fit_rows_are_the_framework_fit_rows(everything):
    fit = everything[everything.split == "fit"]
    assert set(fit.row_id) == {"narayanan-t2-zero3-175b-768g", "narayanan-t2-zero3-175b-1536g"}
    assert len(everything) == 194


def test_every_fully_specified_row_is_evaluated(table):
    assert len(table) >= 190
    assert np.isfinite(table["error"]).all()


SELECTION_PREFIXES = ("mcore-h100", "nemo2407")


def test_median_error_within_target(table):
    assert np.median(table["abs_error"]) <= MEDIAN_TOLERANCE


def test_median_error_without_the_selection_rows(table):
    rest = table[~table.row_id.str.startswith(SELECTION_PREFIXES)]
    assert len(rest) == len(table) - 21
    assert np.median(rest["abs_error"]) <= MEDIAN_TOLERANCE


def test_each_row_within_bound_except_documented_outliers(table):
    ok = table[~table.row_id.isin(KNOWN_OUTLIERS)]
    worst = ok.loc[ok.abs_error.idxmax()]
    assert worst.abs_error <= ROW_TOLERANCE, f"{worst.row_id}: error {worst.error:+.1%}"
    assert len(KNOWN_OUTLIERS) <= 0.1 * len(table)


def test_megatron_families_within_a_few_percent(table):
    """Megatron-LM papers (fused kernels, TP/PP): the configurations the model is built around."""
    fam = table[table.row_id.str.startswith(("narayanan-t1", "narayanan-t2-ptdp", "korthikanti"))]
    assert np.median(fam.abs_error) <= 0.05
    assert fam.abs_error.max() <= 0.15


def test_known_outliers_still_exist(table):
    """Outliers are real check rows still beyond the bound; when the model improves past one, this fails
    so that it leaves the list."""
    assert set(KNOWN_OUTLIERS) <= set(table.row_id)
    listed = table[table.row_id.isin(KNOWN_OUTLIERS)]
    assert (listed.abs_error > ROW_TOLERANCE).all(), listed[["row_id", "error"]].to_string()


def test_published_runs_mostly_fit_in_memory(table):
    """Runs that really ran should be feasible. 1 of the 192 check rows is predicted not to fit today
    (NeMo Nemotron-340B, whose recompute recipe is not published)."""
    assert (~table["feasible"]).sum() <= 1


def test_deepspeed_zero3_rows_left_out_of_the_fit(table):
    """The four Table 2 ZeRO-3 rows not used to fit deepspeed-zero3-2021: another micro-batch size (4 at 384
    GPUs) and another model size (530B at 640, 1,120 and 2,240 GPUs). Before the framework terms the
    standard NCCL model was 46-323% optimistic on them."""
    rows = table[table.row_id.str.startswith("narayanan-t2-zero3")]
    assert len(rows) == 4
    assert rows.abs_error.max() <= 0.15, rows[["row_id", "error"]].to_string()


def test_deepspeed_framework_leave_one_out():
    """Independent of which two rows fit the shipped terms: each of the six Table 2 ZeRO-3 rows predicted
    from a fit on the other five (median 7.7%, worst 16% today)."""
    loo = validation.framework_leave_one_out("deepspeed-zero3-2021")
    assert len(loo) == 6
    assert np.median(loo.error.abs()) <= 0.10 and loo.error.abs().max() <= 0.20


def test_framework_fit_refuses_rows_that_give_impossible_terms():
    with pytest.raises(DataFileError, match="non-positive terms"):
        validation.fit_framework("deepspeed-zero3-2021", ("narayanan-t2-zero3-175b-768g", "narayanan-t2-zero3-530b-2240g"))


def test_deepspeed_framework_terms_come_from_their_fit_rows():
    """Provenance: refitting on the fit rows gives the shipped terms (fails if the model or the profile
    changes without a refit). Accuracy evidence is the check rows, above."""
    fw = FRAMEWORKS["deepspeed-zero3-2021"]
    bytes_per_s, rank_layer_s = validation.fit_framework("deepspeed-zero3-2021")
    assert bytes_per_s == pytest.approx(fw.zero3_bytes_per_s, rel=0.01)
    assert rank_layer_s == pytest.approx(fw.zero3_rank_layer_s, rel=0.01)


@pytest.fixture(scope="module")
def holdout():
    return validation.validate(validation.HOLDOUT_H100_CSV)


def test_h100_holdout_bias_is_tracked(holdout):
    """Looked-at check (llm-foundry H100 table, same software stack as the A100 rows, never fitted on):
    10.6% at the median; rows of 4k tokens and shorter are ~13% optimistic while the same stack is within
    ~6% on A100. These bounds catch regressions; the real target is below."""
    assert len(holdout) == 52 and holdout["feasible"].all()
    assert np.median(holdout["abs_error"]) <= 0.15
    short = holdout[~holdout.row_id.str.contains(r"-s(?:8192|16384|32768|65536)-")]
    assert len(short) == 35
    assert (short["error"] > 0).mean() >= 0.9  # one-sided at short sequences: a missing H100-specific cost


@pytest.mark.xfail(strict=True, reason="known H100 bias (~+11% median, +13% at <=4k tokens): H100-era software not modelled")
def test_h100_holdout_meets_the_accuracy_target(holdout):
    assert np.median(holdout["abs_error"]) <= MEDIAN_TOLERANCE
