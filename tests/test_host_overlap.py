"""An overlap scheduler hides the host's per-request work behind the device (core.inference.engine.exposed_host_s):
an iteration lasts step + max(device, launches, per-request work); a serial host adds its work to the device's."""

from dataclasses import replace

import numpy as np
import pytest

import simulator as sim
import simulator.catalog  # noqa: F401  (installs the shipped engine profiles)
from simulator.core.inference import ENGINES, iteration_time_s
from simulator.core.inference.engine import exposed_host_s
from simulator.core.inference.iteration import IterationCostTable


@pytest.mark.parametrize("device, n", [(0.010, 100), (0.010, 1000), (0.0005, 10)])
def test_serial_host_adds_its_work_and_an_overlapped_one_only_what_outlasts_the_device(device, n):
    step, seq, launch = 0.001, 20e-6, 0.002
    serial = exposed_host_s(step, seq, launch, False, device, n)
    hidden = exposed_host_s(step, seq, launch, True, device, n)
    assert serial == pytest.approx(step + seq * n + max(launch - device, 0.0))
    assert device + hidden == pytest.approx(step + max(device, launch, seq * n))
    # arrays give the scalars' values
    arr = exposed_host_s(step, seq, launch, True, np.array([device, 2 * device]), np.array([n, n]))
    assert arr[0] == pytest.approx(hidden)


def _decode_s(prof, n, dp=1, model="qwen3-30b-a3b", hw="b200-sxm-180gb"):
    m, h = sim.load_model(model), sim.load_hardware(hw)
    dep = sim.Deployment(tp=dp, ep=dp, dp_attention=dp, precision="fp4", engine="trtllm", engine_profile=prof)
    return iteration_time_s(m, h, dep, decode_seqs=n, decode_context_tokens=n * 1000.0)


def test_tensorrt_llm_pytorch_overlaps_its_per_request_work():
    """TensorRT-LLM 1.0 runs the overlap scheduler (engine data): 4,096 sequences of a 3B-active MoE on a B200 are
    host-bound (step + per-request work, whatever the device), 16 are device-bound (step + device)."""
    prof = ENGINES["trtllm"]
    assert prof.host_overlap and prof.seq_overhead_s > 0
    many, few = _decode_s(prof, 4096), _decode_s(prof, 16)
    device_many = float(many["total"] - many["overhead"])
    assert prof.seq_overhead_s * 4096 > device_many
    assert float(many["total"]) == pytest.approx(prof.step_overhead_s + prof.seq_overhead_s * 4096)
    assert float(few["overhead"]) == pytest.approx(prof.step_overhead_s)
    # without the overlap the same work is serial: slower at every batch
    serial = replace(prof, host_overlap=False)
    assert float(_decode_s(serial, 4096)["total"]) > float(many["total"])
    assert float(_decode_s(serial, 16)["total"]) > float(few["total"])


def test_each_attention_group_schedules_its_own_requests():
    """With attention data parallelism every rank's executor handles its own group's requests: the host's
    per-request work is the busiest group's whole sequences, ceil(n / dp), not the replica's n."""
    prof = replace(ENGINES["trtllm"], step_overhead_s=0.0, seq_overhead_s=1e-3)  # host-bound at any batch
    it = _decode_s(prof, 4097, dp=4)
    assert float(it["total"]) == pytest.approx(1e-3 * 1025)


def test_the_cost_table_applies_the_same_rule():
    m, hw = sim.load_model("qwen3-30b-a3b"), sim.load_hardware("b200-sxm-180gb")
    for dp in (1, 4):
        dep = sim.Deployment(tp=dp, ep=dp, dp_attention=dp, precision="fp4", engine="trtllm")
        table = IterationCostTable(m, hw, dep, 8192, 4096)
        for n in (8, 512, 4096):
            core = iteration_time_s(m, hw, dep, decode_seqs=n, decode_context_tokens=n * 700.0)
            assert table.time_s(0, 0.0, 0.0, n, n * 700.0, n) == pytest.approx(float(core["total"]), rel=1e-12)
            assert table.decode_times_s(n, np.array([n * 700.0]))[0] == pytest.approx(float(core["total"]), rel=1e-12)


@pytest.mark.parametrize("model, dp, pp", [("qwen3-30b-a3b", 2, 2), ("llama3.1-8b", 2, 1), ("qwen3-30b-a3b", 1, 2)])
def test_the_table_stage_and_prefill_follow_the_core(model, dp, pp):
    """time_and_stage_s (a pipelined replica's latency and busiest stage) equals iteration_time_s's total and stage on
    an overlap engine, with prompts in the batch, for an MoE model (groups in lockstep) and a dense one (even share)."""
    m, hw = sim.load_model(model), sim.load_hardware("b200-sxm-180gb")
    dep = sim.Deployment(tp=dp, pp=pp, ep=dp if m.moe else 1, dp_attention=dp, precision="fp4", engine="trtllm")
    table = IterationCostTable(m, hw, dep, 8192, 4096)
    for pt, n in ((0, 3000), (2000, 1500), (512, 8)):
        pairs = pt * (pt + 1) / 2.0
        core = iteration_time_s(m, hw, dep, prefill_tokens=pt, prefill_pairs=pairs, decode_seqs=n,
                                decode_context_tokens=n * 900.0, logits=n + (pt > 0))
        total, stage = table.time_and_stage_s(pt, pairs, 0.0, n, n * 900.0, n + (pt > 0))
        assert total == pytest.approx(float(core["total"]), rel=1e-12)
        assert stage == pytest.approx(float(core["stage"]), rel=1e-12)
    host_bound = replace(dep, engine_profile=replace(ENGINES["trtllm"], seq_overhead_s=1e-3))
    it = iteration_time_s(m, hw, host_bound, decode_seqs=3000, decode_context_tokens=3000 * 900.0)
    assert float(it["stage"]) >= 1e-3 * 3000 / dp  # the host's per-request work bounds the stage too


def test_a_verify_pass_samples_each_sequence_once():
    """Speculative decoding scores k + 1 positions of every sequence but the host samples it once: the per-request
    term counts sequences, in the static estimate and in the serving simulation alike."""
    from simulator.core.inference.speculative import verify_iteration

    m, hw = sim.load_model("llama3.1-8b"), sim.load_hardware("b200-sxm-180gb")
    prof = replace(ENGINES["trtllm"], step_overhead_s=0.0, seq_overhead_s=1e-3)  # host-bound
    dep = sim.Deployment(precision="fp8", engine="trtllm", engine_profile=prof)
    v = verify_iteration(512, 512 * 1000.0, 3)
    it = iteration_time_s(m, hw, dep, **v)
    assert float(it["total"]) == pytest.approx(1e-3 * 512)
    table = IterationCostTable(m, hw, dep, 8192, 4096)
    assert table.time_s(int(v["prefill_tokens"]), float(v["prefill_pairs"]), 0.0, 512, float(v["decode_context_tokens"]),
                        int(v["logits"]), None, None, 512) == pytest.approx(1e-3 * 512)
