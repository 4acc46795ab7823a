"""Engine profiles as versioned data (workloads/engines/), each engine's KV-cache rule, the published TensorRT-LLM
batches, and the ShareGPT length distribution against the benchmarks' published sample statistics."""

from pathlib import Path

import numpy as np
import pytest
import yaml

import simulator as sim
from simulator.catalog import engine_file, engine_ids, engine_versions, load_engine, load_hardware, load_model
from simulator.catalog.engines import ENGINES_DIR
from simulator.cli import main
from simulator.core.inference import (
    Deployment,
    estimate_inference,
    memory_plan,
    weight_bytes_per_gpu,
    workspace_bytes_per_gpu,
)
from simulator.errors import DataFileError, UnknownIdError
from simulator.serving.workload import SHAREGPT_FILTER, SHAREGPT_PUBLISHED, make_workload
from simulator.validation.inference import deployment_for, load_rows, model_for
from simulator.vocab import ENGINE_NAMES

H100 = load_hardware("h100-sxm-80gb")
H200 = load_hardware("h200-sxm-141gb")
L8B = load_model("llama3.1-8b")
L70B = load_model("llama3.1-70b")
GIB = 2**30


def test_every_engine_file_and_version_loads():
    assert engine_ids() == list(ENGINE_NAMES)  # one file per family the CLI offers, in its order
    for family in engine_ids():
        versions = engine_versions(family)
        assert versions[0] == engine_file(family).default_version
        for v in versions:
            prof = load_engine(f"{family}@{v}")
            assert (prof.name, prof.version) == (family, v)
            assert prof.ref == (family if v == versions[0] else f"{family}@{v}")
        assert load_engine(family) == load_engine(f"{family}@{versions[0]}")
    for family in ("vllm", "trtllm", "sglang"):
        assert len(engine_versions(family)) >= 2, family


def _figures(version: dict):
    for section in ("host", "scheduler", "memory"):
        for key, fig in version[section].items():
            yield f"{section}.{key}", fig


def test_every_figure_has_its_source():
    for path in sorted(ENGINES_DIR.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text())
        assert raw["sources"], path
        for v, version in raw["versions"].items():
            for name, fig in _figures(version):
                assert isinstance(fig, dict) and set(fig) == {"value", "source"}, f"{path.name} {v} {name}"
                assert len(fig["source"].strip()) >= 10, f"{path.name} {v} {name}"


def test_unsourced_figure_is_refused_in_one_line(tmp_path: Path):
    raw = yaml.safe_load((ENGINES_DIR / "vllm.yaml").read_text())
    raw["versions"]["0.10"]["host"]["step_overhead_s"] = 0.0005  # a bare number, no source
    path = tmp_path / "vllm.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(DataFileError) as err:
        engine_file(str(path))
    assert "step_overhead_s" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, 10**9])
def test_a_pcie_group_that_is_no_gpu_count_is_refused_in_one_line(tmp_path: Path, bad):
    raw = yaml.safe_load((ENGINES_DIR / "vllm.yaml").read_text())
    raw["versions"]["0.10"]["collectives"]["pcie_max_gpus"]["value"] = bad
    path = tmp_path / "vllm.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(DataFileError) as err:
        engine_file(str(path))
    assert "pcie_max_gpus" in str(err.value) and "\n" not in str(err.value)


def test_unknown_version_is_refused_in_one_line(capsys):
    with pytest.raises(UnknownIdError, match="no version '0.3'.*0.10, 0.6") as err:
        load_engine("vllm@0.3")
    assert "\n" not in str(err.value)
    with pytest.raises(UnknownIdError):
        estimate_inference(L8B, H100, Deployment(engine="vllm", engine_version="9.9"), batch=1, input_len=8,
                           output_len=8)
    code = main(["infer", "--model", "llama3.1-8b", "--hardware", "h100-sxm-80gb", "--engine", "sglang@0.1", "--input-len", "64", "--output-len", "8"])
    out, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "sglang has no version '0.1'" in err and "Traceback" not in err


def test_engine_version_selects_the_profile(capsys):
    assert Deployment(engine="vllm@0.6").profile.version == "0.6"
    assert Deployment(engine="vllm", engine_version="0.6").profile == Deployment(engine="vllm@0.6").profile
    assert Deployment(engine="vllm").profile.version == "0.10"
    assert not Deployment(engine="vllm@0.6").profile.chunked_prefill  # V0: no chunking by default
    code = main(["infer", "--model", "llama3.1-8b", "--hardware", "h100-sxm-80gb", "--engine", "vllm@0.6", "--input-len", "64", "--output-len", "8", "--json"])
    out, _ = capsys.readouterr()
    assert code == 0 and '"engine": "vllm@0.6"' in out


def _inputs(model, hw, dep):
    return weight_bytes_per_gpu(model, dep), workspace_bytes_per_gpu(model, dep), hw.hbm_bytes, hw.reserved_bytes


def test_vllm_budget_is_its_share_of_total_memory_less_weights_and_activations():
    dep = Deployment(engine="vllm")
    w, act, hbm, reserved = _inputs(L8B, H100, dep)
    # gpu_memory_utilization 0.9 of the 81559 MiB (8.5521e10 B) is below the usable 8.3521e10 B
    assert 0.9 * hbm < hbm - reserved
    assert memory_plan(L8B, H100, dep).kv_budget_bytes_per_gpu == pytest.approx(0.9 * 8.5521e10 - w - act)


def test_trtllm_budget_is_its_share_of_the_memory_left_free():
    dep = Deployment(engine="trtllm", precision="fp8", kv_precision="fp8")
    w, act, hbm, reserved = _inputs(L70B, H200, dep)
    want = 0.9 * (1.5075e11 - 2.0e9 - w - act)  # free_gpu_memory_fraction 0.9 of (HBM - runtime - weights - act.)
    assert memory_plan(L70B, H200, dep).kv_budget_bytes_per_gpu == pytest.approx(want)


def test_sglang_budget_is_mem_fraction_static_of_total_less_weights():
    # 0.4.7 rule on an 80 GB H100 (81559 MiB = 79.65 GiB, in the 35-90 GiB class): reserve 9.5 + 0.5 x tp GiB
    gib = 8.5521e10 / GIB
    for tp, reserve_gib in ((1, 10.0), (2, 10.5), (8, 13.5)):
        dep = Deployment(engine="sglang", tp=tp)
        fraction = round((gib - reserve_gib) / gib, 3)
        assert dep.profile.memory_fraction(H100.hbm_bytes, tp) == fraction
        w = weight_bytes_per_gpu(L70B, dep)
        assert memory_plan(L70B, H100, dep).kv_budget_bytes_per_gpu == pytest.approx(fraction * 8.5521e10 - w)
    # an H200 (143771 MiB = 140.4 GiB, the 100-160 GiB class): 12 + 0.5 x tp GiB
    gib200 = 1.5075e11 / GIB
    assert load_engine("sglang").memory_fraction(H200.hbm_bytes, 4) == round((gib200 - 14.0) / gib200, 3)
    # 0.3 rule: by the tensor-parallel size only
    old = load_engine("sglang@0.3")
    assert [old.memory_fraction(H100.hbm_bytes, tp) for tp in (1, 2, 4, 8, 16)] == [0.88, 0.87, 0.85, 0.81, 0.79]
    dep = Deployment(engine="sglang@0.3", tp=4)
    w = weight_bytes_per_gpu(L70B, dep)
    assert memory_plan(L70B, H100, dep).kv_budget_bytes_per_gpu == pytest.approx(0.85 * 8.5521e10 - w)


def test_sglang_host_terms_are_marked_assumed():
    prof = load_engine("sglang")
    assert not prof.host_terms_fitted and not prof.host_terms_on_reference_host
    assert load_engine("vllm-2023").host_terms_fitted  # the only family fitted on published rows
    band = sim.error_band("inference", "sglang", "h100-sxm-80gb", 1)
    assert band["calibrated"] is False


def test_published_tensorrt_llm_batches_fit():
    """Every batch TensorRT-LLM ran in the published rows fits our KV budget: the max-load rows hold at least one
    request of their lengths, the static-batch rows their whole batch (0 called 'does not fit')."""
    rows = load_rows()
    rows = rows[rows["engine"] == "trtllm"]
    assert len(rows) >= 50
    does_not_fit = []
    for r in rows.itertuples(index=False):
        m, hw, dep = model_for(r), load_hardware(r.hardware), deployment_for(r)
        i, o = int(r.input_len), int(r.output_len)
        b = 1 if r.batch == "max" else int(r.batch)
        res = estimate_inference(m, hw, dep, batch=b, input_len=i, output_len=o)
        if not res.feasible or memory_plan(m, hw, dep).max_concurrent_seqs(i + o) < 1:
            does_not_fit.append(r.row_id)
    assert does_not_fit == []


def test_sharegpt_matches_the_benchmarks_published_sample():
    """Our `sharegpt` against the means of the ShareGPT samples the vLLM/SGLang benchmarks drew (published totals /
    requests, Llama-3 tokenizer): within 5%. No median is published; ours is checked to be below the mean (the
    sample is right-skewed) and within the benchmarks' filter."""
    want_in = np.mean([float(p["mean_prompt_tokens"]) for p in SHAREGPT_PUBLISHED])
    want_out = np.mean([float(p["mean_output_tokens"]) for p in SHAREGPT_PUBLISHED])
    assert 215 < want_in < 232 and 195 < want_out < 205  # 229.7/224.0/216.6 in, 203.1/198.1/196.5 out
    wl = make_workload(50_000, input_len=1, output_len=1, rate_per_s=1, length_dist="sharegpt", seed=3)
    p, o = wl.prompt_tokens, wl.output_tokens
    assert p.mean() == pytest.approx(want_in, rel=0.05)
    assert o.mean() == pytest.approx(want_out, rel=0.05)
    assert np.median(p) < p.mean() and np.median(o) < o.mean()
    low, max_prompt, max_total = SHAREGPT_FILTER
    assert p.min() >= low and o.min() >= low and p.max() <= max_prompt and (p + o).max() <= max_total
    for pub in SHAREGPT_PUBLISHED:  # each published run within 10% of ours
        assert float(pub["mean_output_tokens"]) == pytest.approx(o.mean(), rel=0.10)
        assert float(pub["mean_prompt_tokens"]) == pytest.approx(p.mean(), rel=0.10)
