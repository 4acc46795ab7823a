"""Known-gap configurations (catalog.bands.INFERENCE_GAPS) get the error band of their own published rows, marked not
calibrated with the reason, and set no other family's band."""

from __future__ import annotations

import pandas as pd

import simulator as sim
from simulator.catalog.bands import BANDS_CSV, GAP_KIND, INFERENCE_GAPS, band_words, inference_band
from simulator.validation import inference as vi


def test_every_known_gap_has_a_band_of_its_own_rows():
    table = pd.read_csv(BANDS_CSV)
    gaps = table[table["kind"] == GAP_KIND].set_index("family")
    assert set(gaps.index) == set(INFERENCE_GAPS)
    rows = vi.load_rows()
    check = rows[rows["split"] == "check"]
    counts = pd.Series([vi.known_gap(r) for r in check.itertuples(index=False)]).value_counts()
    for gap, r in gaps.iterrows():
        assert r["rows"] == counts[gap] and r["low"] < r["median"] < r["high"]
    # the families' bands hold the other check rows only
    everything = table[(table["kind"] == "inference") & (table["family"] == "*|*|*")]
    assert int(everything["rows"].iloc[0]) == len(check) - int(counts.sum())


def test_an_attention_dp_estimate_says_it_is_a_known_gap():
    dep = sim.Deployment(tp=8, ep=8, dp_attention=8, precision="fp8", kv_precision="fp8", engine="trtllm")
    res = sim.estimate_inference("deepseek-v3", "h200-sxm-141gb", dep, batch=64, input_len=1024, output_len=1024)
    band = res.to_dict()["error_band"]
    assert band["family"] == "attention-dp" and band["calibrated"] is False
    assert "attention-dp is a known gap" in band["reason"]
    words = band_words(band)
    assert words.startswith("published runs of the attention-dp configurations the model does not cost yet ran")
    same_without = sim.Deployment(tp=8, ep=8, precision="fp8", kv_precision="fp8", engine="trtllm")
    plain = sim.estimate_inference("deepseek-v3", "h200-sxm-141gb", same_without, batch=64, input_len=1024,
                                   output_len=1024).to_dict()["error_band"]
    # without attention DP it is no gap: an MoE estimate, whose own rows (one document) borrow the engine's band
    assert plain["for"] == "trtllm|hopper|moe" and plain["family"] == "trtllm|*|*" and plain["calibrated"] is False


def test_a_gap_model_is_flagged_and_other_models_are_not():
    gap = inference_band("trtllm", "h200-sxm-141gb", 1, "gpt-oss-120b")
    assert gap["family"] == "gpt-oss-120b" and not gap["calibrated"]
    assert inference_band("trtllm", "h200-sxm-141gb", 1, "llama3.1-8b") == sim.error_band("inference", "trtllm",
                                                                                           "h200-sxm-141gb", 1)


def test_serving_results_carry_the_gap_band():
    dep = sim.Deployment(tp=2, ep=2, dp_attention=2, engine="vllm", max_seqs=8)
    wl = sim.make_workload(6, input_len=64, output_len=8, rate_per_s=2.0)
    res = sim.simulate_serving("mixtral-8x7b", "h100-sxm-80gb", sim.ServingConfig(dep), wl)
    assert res.summary["error_band"]["family"] == "attention-dp"


def test_a_disaggregated_run_with_attention_dp_decode_gets_the_gap_band():
    prefill = sim.Deployment(tp=2, ep=2, engine="vllm", max_seqs=8)
    decode = sim.Deployment(tp=2, ep=2, dp_attention=2, engine="vllm", max_seqs=8)
    cfg = sim.ServingConfig(prefill, prefill_replicas=1, decode_replicas=1, decode_deployment=decode)
    wl = sim.make_workload(4, input_len=64, output_len=8, rate_per_s=2.0)
    res = sim.simulate_serving("mixtral-8x7b", "h100-sxm-80gb", cfg, wl)
    assert res.summary["error_band"]["family"] == "attention-dp"


def test_capacity_records_and_launch_settings_keep_the_engines_own_caps():
    """A plan's record keeps the engine's per-group max_seqs and the attention split, and its launch settings start
    the groups (trtllm-serve: enable_attention_dp in its options file)."""
    from simulator.serving.capacity import SLO

    dep = sim.Deployment(tp=2, dp_attention=2, engine="trtllm", max_seqs=64, max_batched_tokens=2048)
    plan = sim.plan_capacity("llama3.1-8b", "h100-sxm-80gb", rate_per_s=2.0, slo=SLO(5.0, 0.2), input_len=256,
                             output_len=32, n_requests=60, deployments=[dep], verify=False)
    rec = plan.best or plan.alternatives[0]
    assert (rec["max_seqs"], rec["dp_attention"], rec["ep"]) == (64, 2, 1)
    assert "max-seqs 64 x2 groups" in rec["deployment"]
    text = "\n".join(sim.serving_launch(dep, model="llama3.1-8b", hardware="h100-sxm-80gb").values())
    assert "--max_batch_size 64" in text and "enable_attention_dp: true" in text


def test_grouped_query_decode_on_trtllm_0_9_is_a_known_gap_and_multi_head_is_not():
    """Which decode kernel TensorRT-LLM 0.9 ran for a grouped-query model (XQA only with TRTLLM_ENABLE_XQA=1) is not
    modelled: such estimates get the gap's band; a multi-head model on that release, and the same grouped-query
    model on the current release, keep their engine's band."""
    gqa = sim.load_model("llama2-70b")
    mha = sim.load_model("llama2-7b")
    assert gqa.grouped_kv and not mha.grouped_kv and not sim.load_model("deepseek-v3").grouped_kv  # MLA is not GQA
    old = sim.Deployment(tp=4, precision="fp8", kv_precision="fp8", engine="trtllm@0.9")
    band = sim.estimate_inference(gqa, "h100-sxm-80gb", old, batch=8, input_len=128,
                                  output_len=128).to_dict()["error_band"]
    assert band["family"] == "trtllm-0.9-gqa" and band["calibrated"] is False
    assert "XQA" in band["reason"]
    one = sim.Deployment(tp=1, precision="fp8", kv_precision="fp8", engine="trtllm@0.9")
    plain = sim.estimate_inference(mha, "h100-sxm-80gb", one, batch=8, input_len=128,
                                   output_len=128).to_dict()["error_band"]
    assert plain["family"] != "trtllm-0.9-gqa"
    assert inference_band("trtllm", "h100-sxm-80gb", 4, "llama2-70b")["family"] != "trtllm-0.9-gqa"
    assert inference_band("trtllm@0.9", "h100-sxm-80gb", 4, "llama2-70b")["family"] == "trtllm-0.9-gqa"
    wl = sim.make_workload(4, input_len=64, output_len=8, rate_per_s=2.0)
    res = sim.simulate_serving(gqa, "h100-sxm-80gb", sim.ServingConfig(old), wl)
    assert res.summary["error_band"]["family"] == "trtllm-0.9-gqa"


def test_a_gap_model_under_another_name_is_still_a_known_gap(tmp_path):
    """The gap is the architecture, not the id: Qwen3-30B-A3B's Hugging Face config in a folder of another name gets
    the gap's band; a different MoE model does not."""
    import shutil

    from simulator.catalog.paths import MODELS_DIR

    folder = tmp_path / "my-finetune"
    shutil.copytree(MODELS_DIR / "hf" / "qwen3-30b-a3b", folder)
    m = sim.load_model(folder)
    assert m.id != "qwen3-30b-a3b"
    dep = sim.Deployment(tp=1, precision="fp8", kv_precision="fp8", engine="trtllm")
    band = sim.estimate_inference(m, "h100-sxm-80gb", dep, batch=8, input_len=256,
                                  output_len=64).to_dict()["error_band"]
    assert band["family"] == "qwen3-30b-a3b" and band["calibrated"] is False
    assert inference_band("trtllm", "h100-sxm-80gb", 2, "mixtral-8x7b")["for"] == "trtllm|hopper|moe"


def test_inference_families_split_dense_and_moe_models():
    """An inference family is engine | generation | architecture: the bands file's MoE and dense keys hold the
    non-gap check rows of MoE and dense models, a dense estimate gets its dense family's band, and an MoE estimate
    gets its own family's or, where that has too few sources, a wider one that says why."""
    table = pd.read_csv(BANDS_CSV)
    inf = table[table["kind"] == "inference"].set_index("family")
    rows = vi.load_rows()
    check = rows[(rows["split"] == "check") & pd.Series([vi.known_gap(r) is None for r in rows.itertuples(index=False)],
                                                          index=rows.index)]
    check = check[check["engine"].str.startswith("trtllm")]
    moe = pd.Series([vi.model_for(r).moe is not None for r in check.itertuples(index=False)], index=check.index)
    assert inf.loc["trtllm|*|moe", "rows"] == int(moe.sum()) > 100
    assert inf.loc["trtllm|*|dense", "rows"] == int((~moe).sum()) > 300
    assert inf.loc["trtllm|*|moe", "rows"] + inf.loc["trtllm|*|dense", "rows"] == inf.loc["trtllm|*|*", "rows"]
    # the MoE rows read more optimistic (predicted time short of the measured one) than the dense rows
    assert inf.loc["trtllm|*|moe", "median"] > inf.loc["trtllm|*|dense", "median"] + 0.05
    dense = inference_band("trtllm", "h200-sxm-141gb", 8, "llama3.1-70b")
    assert dense["for"] == dense["family"] == "trtllm|hopper|dense" and dense["calibrated"] is True
    mixtral = inference_band("trtllm", "h200-sxm-141gb", 8, "mixtral-8x7b")
    assert mixtral["for"] == "trtllm|hopper|moe" and mixtral["calibrated"] is False
    if inf.loc["trtllm|*|moe", "sources"] < 2:  # one document so far: the engine's band, with the reason
        assert mixtral["family"] == "trtllm|*|*"
        assert "trtllm on hopper (mixture-of-experts models) has" in mixtral["reason"]
        assert band_words(mixtral).startswith("published runs of trtllm (all hardware and models) ran")
        assert "a band needs 5 from two sources" in band_words(mixtral)
