"""Tensor-parallel all-reduces in serving: the engine's own kernel up to the message size its data file gives (by group
size), NCCL beyond it (TensorRT-LLM's AUTO strategy, vLLM's 8 MiB custom all-reduce)."""

import numpy as np
import pytest

import simulator as sim
from simulator.core import comm
from simulator.core.inference import ENGINES, Deployment
from simulator.core.inference.deployment import ACT_BYTES
from simulator.core.inference.kernels import layer_tp_comm_s

H100 = sim.load_hardware("h100-sxm-80gb")
MODEL = sim.load_model("llama3.1-70b")


def per_layer(engine, tp, tokens):
    dep = Deployment(tp=tp, precision="fp8", kv_precision="fp8", engine=engine)
    return float(layer_tp_comm_s(MODEL, H100, dep, tokens))


@pytest.mark.parametrize(("engine", "tp", "small", "large"), [
    ("trtllm@1.0", 8, 16, 4096),  # one-shot below 500 KB on 8 GPUs: 16 x 8192 x 2 B = 262 KB; 4096 tokens 67 MB
    ("trtllm@1.0", 4, 32, 1024),  # below 1 MB on 4 GPUs
    ("trtllm@1.0", 2, 512, 2048),  # the 16 MB workspace on 2 GPUs: 8.4 MB and 33.6 MB
    ("vllm@0.10", 8, 256, 1024),  # vLLM's 8 MiB: 4.2 MB and 16.8 MB
])
def test_small_messages_take_the_engines_kernel_and_large_ones_nccl(engine, tp, small, large):
    limit = ENGINES[engine].custom_allreduce_limit_bytes(tp)
    for tokens, own in ((small, True), (large, False)):
        msg = tokens * MODEL.d_model * ACT_BYTES
        assert (msg <= limit) == own
        expect = (comm.engine_allreduce_s(float(tp), msg, H100.intra) if own
                  else comm.ring_allreduce_s(float(tp), msg, H100.intra))
        assert per_layer(engine, tp, tokens) == pytest.approx(2.0 * float(expect))
    # NCCL's fitted regimes cost more than the engine kernel's base latency at the same size
    msg = large * MODEL.d_model * ACT_BYTES
    assert comm.ring_allreduce_s(float(tp), msg, H100.intra) > comm.engine_allreduce_s(float(tp), msg, H100.intra)


def test_an_engine_without_a_stated_limit_keeps_its_kernel_at_every_size():
    assert ENGINES["sglang"].custom_allreduce_limit_bytes(8) == 8 * 2**20 - 1  # SGLang's is vLLM's kernel
    assert ENGINES["vllm-2023"].custom_allreduce_limit_bytes(8) == float("inf")  # no limit stated in its file
    tokens = np.array([16.0, 4096.0])
    got = layer_tp_comm_s(MODEL, H100, Deployment(tp=8, engine="vllm-2023"), tokens)
    msg = tokens * MODEL.d_model * ACT_BYTES
    assert np.allclose(got, 2.0 * comm.engine_allreduce_s(8.0, msg, H100.intra))


def test_the_size_limits_are_the_engines_own_comparisons():
    """vLLM takes messages strictly below 8 MiB and only on 2, 4, 6 or 8 GPUs; TensorRT-LLM's one-shot kernel strictly
    below 1 MB on 3-4 GPUs, up to its 16 MB workspace (inclusive) on 2."""
    vllm, trt = ENGINES["vllm"], ENGINES["trtllm"]
    assert vllm.custom_allreduce_limit_bytes(8) == 8 * 2**20 - 1  # 1,024 tokens x 4,096 x 2 B = 8 MiB: NCCL
    assert [vllm.custom_allreduce_limit_bytes(n) for n in (3, 5, 7, 16)] == [0.0] * 4
    assert trt.custom_allreduce_limit_bytes(4) == 999_999 and trt.custom_allreduce_limit_bytes(2) == 16e6
    msg = 1024 * 4096 * ACT_BYTES
    model = sim.load_model("mixtral-8x7b")  # d_model 4096
    got = float(layer_tp_comm_s(model, H100, Deployment(tp=8, engine="vllm"), 1024.0))
    assert got == pytest.approx(2.0 * float(comm.ring_allreduce_s(8.0, msg, H100.intra)))


def test_only_nvlink_links_run_the_engines_kernels():
    """The PCIe-only profiles say engines cannot run their own all-reduce there; the NVLink ones say they can."""
    assert [sim.load_hardware(h).intra.engine_allreduce for h in ("l40s-48gb", "h100-pcie-80gb")] == [False, False]
    assert all(sim.load_hardware(h).intra.engine_allreduce for h in ("a100-sxm-80gb", "h100-sxm-80gb", "b200-sxm-180gb"))


@pytest.mark.parametrize("engine", ["trtllm@1.0", "trtllm@0.9", "vllm@0.10", "sglang", "vllm-2023"])
def test_without_nvlink_every_engine_takes_nccl_at_every_size(engine):
    """Four PCIe-only GPUs: TensorRT-LLM's AUTO strategy picks NCCL without NVLink, vLLM and SGLang switch their kernel
    off beyond two PCIe GPUs (custom_all_reduce.py), so even a message under the engine's size limit pays NCCL's
    fitted PCIe regimes, which cost more than the kernel's base latency would."""
    hw = sim.load_hardware("l40s-48gb")
    tokens = np.array([4.0, 16.0, 4096.0])
    msg = tokens * MODEL.d_model * ACT_BYTES
    got = layer_tp_comm_s(MODEL, hw, Deployment(tp=4, precision="fp8", kv_precision="fp8", engine=engine), tokens)
    assert np.allclose(got, 2.0 * comm.ring_allreduce_s(4.0, msg, hw.intra))
    assert (got > 2.0 * comm.engine_allreduce_s(4.0, msg, hw.intra)).all()


def test_two_pcie_gpus_keep_vllms_kernel_but_not_tensorrt_llms():
    """vLLM and SGLang run their kernel on two PCIe GPUs (peer-to-peer); TensorRT-LLM needs NVLink at any count."""
    hw = sim.load_hardware("l40s-48gb")
    msg = 16 * MODEL.d_model * ACT_BYTES
    for engine, own in (("vllm@0.10", True), ("sglang", True), ("trtllm@1.0", False), ("trtllm@0.9", False)):
        got = float(layer_tp_comm_s(MODEL, hw, Deployment(tp=2, engine=engine), 16.0))
        expect = comm.engine_allreduce_s(2.0, msg, hw.intra) if own else comm.ring_allreduce_s(2.0, msg, hw.intra)
        assert got == pytest.approx(2.0 * float(expect)), engine
