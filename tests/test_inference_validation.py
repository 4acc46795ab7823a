"""Inference predictions against published engine measurements (simulator/validation/data/inference_reference.csv).

Tolerances on the median absolute error of the check rows are the issue's targets: batch-1 decode 15 %,
prefill 20 %, max-load throughput 25 % (measured: 10.9 %, 8.9 %, 9.1 %). The 2023-vLLM host terms are
fitted on DGX-A100 rows (split=fit), the DGX-H100 host speed on six H100 TP8 batch-1 decode rows
(split=fit-host); neither fit sees a check row. Those six were the worst batch-1 rows before the host
speed existed (47-55 % slow): moving them out of the check set alone took the batch-1 median from 17.0 %
to 13.4 % on the remaining 25 rows, and the host speed then to 10.9 %; over all 31 published rows
(fit-host included) it is 4.7 %. Every check row within 60 %; the Vidur operator rows (the profiles the
GEMM curves were first fitted on) within 10 % median. `simulator validate inference --rows` prints
the full table.
"""

from pathlib import Path

import pytest

from simulator.catalog import load_hardware
from simulator.core.inference import ENGINES
from simulator.validation import inference as vi


@pytest.fixture(scope="module")
def table():
    return vi.validate(vi.load_rows())


def test_reference_file_is_well_formed():
    df = vi.load_rows()
    assert df["row_id"].is_unique
    assert (df["source"].str.len() > 10).all()
    assert set(df["split"]) == {"fit", "fit-host", "check", "consistency"}
    assert all(engine in ENGINES for engine in set(df["engine"]))  # a family, or family@version shipped
    assert (df.loc[df["split"].isin(["fit", "fit-host"]), "engine"] == "vllm-2023").all()
    # engine terms are fitted on the reference host only; host speeds on other hosts only
    assert (df.loc[df["split"] == "fit", "hardware"].map(lambda h: load_hardware(h).host_speed) == 1.0).all()
    assert (df.loc[df["split"] == "fit-host", "hardware"] != "a100-sxm-80gb").all()


TOLERANCES = {"bs1_decode": 0.15, "prefill": 0.20, "max_throughput": 0.25}


@pytest.mark.parametrize("block, target", sorted(TOLERANCES.items()))
def test_check_rows_meet_the_median_targets(table, block, target):
    err = table.loc[(table["block"] == block) & (table["split"] == "check"), "error"].abs()
    assert len(err) >= 10
    assert err.median() <= target, f"{block}: median {err.median():.3f} > {target}"


def test_every_check_row_within_bound(table):
    """Every check row within 60%, except the families validation.inference.KNOWN_GAPS names with the reason; each
    of those still has a row beyond the bound (so a fix that brings a family within it must also remove it)."""
    gap = {row.row_id: vi.known_gap(row) for row in vi.load_rows().itertuples(index=False)}
    check = table[table["split"] == "check"]
    modelled = check[[gap[r] is None for r in check["row_id"]]]
    worst = modelled.loc[modelled["error"].abs().idxmax()]
    assert abs(worst["error"]) <= 0.60, f"{worst['row_id']}: {worst['error']:+.2f}"
    for family in vi.KNOWN_GAPS:
        rows_of = check[[gap[r] == family for r in check["row_id"]]]
        assert (rows_of["error"].abs() > 0.60).any(), f"{family} is within the bound now: drop it from KNOWN_GAPS"


def test_operator_rows_are_consistent_with_the_profiles(table):
    err = table.loc[table["split"] == "consistency", "error"].abs()
    assert err.median() <= 0.10


def test_fitted_engine_terms_come_from_the_fit_rows():
    """Re-running the fit on the fit rows reproduces the shipped vllm-2023 terms (to rounding)."""
    fitted = vi.fit_engine(vi.load_rows(), "vllm-2023")
    for p in vi.FIT_PARAMS:
        assert getattr(fitted, p) == pytest.approx(getattr(ENGINES["vllm-2023"], p), rel=0.05), p


def test_host_speed_comes_from_the_fit_host_rows():
    """Re-fitting the DGX-H100 host speed reproduces the profile's value; the DGX H200 shares its CPUs."""
    fitted = vi.fit_host_speed(vi.load_rows(), "h100-sxm-80gb")
    assert fitted == pytest.approx(load_hardware("h100-sxm-80gb").host_speed, rel=0.01)
    assert load_hardware("h200-sxm-141gb").host_speed == load_hardware("h100-sxm-80gb").host_speed


def test_host_speed_on_the_h100_decode_rows_it_was_not_fitted_on(table):
    """Every DGX-H100 decode check row of the 2023-vLLM data, none in the host fit. Llama-2-70B at TP4 and at
    TP8 with batches 2-64 land within 12% (they were 37-54% slow before the host speed); the misses are
    named: TP2 (device and launch time overlap less than max() assumes) comes out 18-19% fast, BLOOM-176B
    25% fast (it is 16-18% fast on the A100 host too: a model-specific cost, not the host)."""
    rows = table[table["row_id"].str.startswith("splitwise-") & table["row_id"].str.contains("-h100-")
                 & (table["split"] == "check") & table["metric"].eq("decode_step_time_ms")]
    assert len(rows) == 13
    tp2 = rows["row_id"].str.contains("-tp2-")
    bloom = rows["row_id"].str.contains("bloom")
    assert rows.loc[~tp2 & ~bloom, "error"].abs().max() <= 0.12
    assert rows.loc[tp2 | bloom, "error"].abs().max() <= 0.30


def test_readme_inference_line_is_what_validate_prints():
    """The README's inference figures (rows, check rows, medians per block) are `simulator validate inference`'s."""
    import re
    from pathlib import Path

    from simulator.core.inference import ENGINES
    from simulator.validation.inference import load_rows, validate

    text = Path(__file__).resolve().parent.parent.joinpath("README.md").read_text()
    m = re.search(r"`simulator validate inference`: (\d+) published rows, (\d+) of them check rows, which the figures\s+"
                  r"are on\): median \|error\| ([\d.]+)% over all check rows; max-load throughput \(TensorRT-LLM\) "
                  r"([\d.]+)%, prefill vs prompt\s+length ([\d.]+)%, batch-1 decode ([\d.]+)%", text)
    assert m, "README inference validation line not found"
    rows = load_rows()
    table = validate(rows, dict(ENGINES))
    check = table[table["split"] == "check"]

    def med(block=None):
        e = check["error"] if block is None else check.loc[check["block"] == block, "error"]
        return f"{e.abs().median() * 100:.1f}"

    assert (int(m[1]), int(m[2])) == (len(rows), len(check))
    assert (m[3], m[4], m[5], m[6]) == (med(), med("max_throughput"), med("prefill"), med("bs1_decode"))


def test_data_readme_counts_are_the_files():
    """The row counts simulator/validation/data/README.md gives for the inference file and its TensorRT-LLM 0.9 rows
    (whole file, static-batch and TTFT rows, the known-gap rows) are counted from the file."""
    import re

    text = (vi.DATA.parent / "README.md").read_text()
    rows = vi.load_rows()
    assert int(re.search(r"`inference_reference\.csv` \| (\d+) \|", text)[1]) == len(rows)
    old = rows[rows["row_id"].str.startswith("trtllm09-")]
    assert int(re.search(r"`trtllm09-\*`, (\d+) rows", text)[1]) == len(old)
    assert int(re.search(r"Peak Throughput tables \((\d+) rows", text)[1]) == (old["block"] == "static_batch").sum()
    assert int(re.search(r"Low Latency tables \((\d+) rows", text)[1]) == (old["block"] == "prefill").sum()
    gap = sum(vi.known_gap(r) == "trtllm-0.9-gqa" for r in old.itertuples(index=False))
    assert int(re.search(r"their (\d+) rows \(Mistral 7B", text)[1]) == gap


def test_collectives_row_counts_are_the_file():
    """The collectives row count the data README and the project README give is counted from the file."""
    import re

    from simulator.validation import collectives

    rows = len(collectives.load_reference())
    text = (vi.DATA.parent / "README.md").read_text()
    assert int(re.search(r"`collectives_reference\.csv` \| (\d+) \|", text)[1]) == rows
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert int(re.search(r"checks them on (\d+) published\s+nccl-tests-style rows", readme)[1]) == rows
