"""Quantization modes as data (workloads/quantization.yaml): what the file says reaches the model, and a mode a GPU
cannot run is refused naming the GPU and the modes it can."""

from __future__ import annotations

import pytest

import simulator as sim
from simulator import vocab
from simulator.catalog.quantization import QuantizationFile
from simulator.catalog.yamlio import read_yaml
from simulator.core.inference.deployment import supported_quantizations
from tests.cli_util import run_cli

FILE = sim.data_root() / "workloads" / "quantization.yaml"


def test_vocabulary_lists_the_files_modes_in_order():
    assert tuple(sim.QUANTIZATIONS) == vocab.QUANTIZATION_NAMES
    assert tuple(sim.KV_BYTES) == vocab.KV_PRECISIONS


def test_every_figure_has_a_source():
    f = QuantizationFile.model_validate(read_yaml(FILE))
    for name, m in f.modes.items():
        for field in (m.weight_bytes, m.activation_bytes, m.compute_dtype):
            assert len(field.source) > 10, name


@pytest.mark.parametrize(("mode", "bits", "group", "scale_bytes"), [
    ("int4", 4, 128, 4.0),  # fp16 scale + fp16 zero per 128 (AWQ/GPTQ)
    ("int4-g32", 4, 32, 4.0),
    ("fp4", 4, 16, 1.0),  # NVFP4: one E4M3 scale per 16
    ("mxfp4", 4, 32, 1.0),  # OCP MX: one E8M0 scale per 32
    ("fp8-block", 8, 128 * 128, 4.0),  # DeepSeek-V3: fp32 scale per 128x128 weight block
])
def test_weight_bytes_are_element_bits_plus_scales(mode, bits, group, scale_bytes):
    assert sim.QUANTIZATIONS[mode].weight_bytes == pytest.approx(bits / 8 + scale_bytes / group)


def test_weight_only_modes_compute_in_16_bits_and_w4a4_in_fp4():
    q = sim.QUANTIZATIONS
    assert {q[m].compute_dtype for m in ("int8-wo", "int4", "int4-g32", "fp8-wo", "mxfp4-wo")} == {"bf16"}
    assert q["fp4"].compute_dtype == q["mxfp4"].compute_dtype == "fp4"


def test_a_gpu_runs_the_modes_whose_peak_it_has():
    a100 = supported_quantizations(sim.load_hardware("a100-sxm-80gb"))
    assert "fp8" not in a100 and "fp4" not in a100 and "mxfp4" not in a100
    assert {"fp8-wo", "int4", "mxfp4-wo"} <= set(a100)
    h100 = supported_quantizations(sim.load_hardware("h100-sxm-80gb"))
    assert {"fp8", "fp8-block"} <= set(h100) and "fp4" not in h100
    assert {"fp4", "mxfp4"} <= set(supported_quantizations(sim.load_hardware("b200-sxm-180gb")))


def test_fp4_on_a100_names_the_gpu_and_what_it_runs(capsys):
    code, _, err = run_cli(capsys, ["infer", "--model", "llama3.1-8b", "--hardware", "a100-sxm-80gb", "--precision", "fp4",
                 "--input-len", "100", "--output-len", "10"])
    assert code == 2
    line, = err.strip().splitlines()
    assert "a100-sxm-80gb" in line and "fp4" in line and "int4" in line and "fp8-wo" in line


def test_smaller_weights_mean_faster_memory_bound_decode():
    """Batch-1 decode of a 70B model reads its weights every step: fewer weight bytes, shorter step."""
    hw = "h100-sxm-80gb"
    tpot = {p: sim.estimate_inference("llama3.1-70b", hw, sim.Deployment(tp=4, precision=p), batch=1,
                                      input_len=128, output_len=128).tpot_s
            for p in ("bf16", "fp8", "fp8-block", "int4", "mxfp4-wo")}
    assert tpot["int4"] < tpot["fp8"] < tpot["bf16"]
    assert tpot["mxfp4-wo"] < tpot["fp8"]
    assert tpot["fp8-block"] == pytest.approx(tpot["fp8"], rel=0.05)  # scales cost a few percent at most
