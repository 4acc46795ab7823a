"""Pipelined replicas (issue 16, item 3): `infer` and `serve` agree for pp > 1.

A pipelined replica keeps min(pp, batch) micro-batches in flight (vLLM's pp virtual engines, TensorRT-LLM's
micro-batches), so saturated decode runs at pp x (sequences per micro-batch) / max(latency, pp x busiest stage),
while one request alone still waits for every stage. Expected values below come from the iteration model's own
latency and stage times (iteration_time_s), never from the static or serving results they check.
"""

from __future__ import annotations

import numpy as np
import pytest

from simulator.catalog import load_hardware, load_model
from simulator.core.inference import (
    Deployment,
    IterationCostTable,
    decode_step_time_s,
    estimate_inference,
    iteration_time_s,
    pipelined_step_s,
    prefill_time_s,
)
from simulator.serving import ServingConfig, simulate_serving
from simulator.serving.state import Pipeline
from simulator.serving.workload import make_workload

H100 = load_hardware("h100-sxm-80gb")
CASES = [("llama3.1-70b", 4, "bf16"), ("llama3.1-405b", 8, "fp8")]
MICRO, IN, OUT, WAVES = 64, 128, 512, 4  # sequences per virtual engine; a decode-bound offline load


def _dep(tp: int, pp: int, precision: str) -> Deployment:
    return Deployment(tp=tp, pp=pp, precision=precision, engine="vllm", max_seqs=MICRO)


def _saturated_tokens_per_s(model, dep: Deployment) -> float:
    """pp micro-batches of MICRO sequences in flight: each request's prefill pass, then OUT - 1 decode steps of
    max(latency, pp x stage) at the mean context; pp x MICRO x OUT tokens over that time."""
    pre = iteration_time_s(model, H100, dep, prefill_tokens=MICRO * IN, prefill_pairs=MICRO * IN * (IN + 1) / 2.0,
                           logits=MICRO)
    it = iteration_time_s(model, H100, dep, decode_seqs=MICRO, decode_context_tokens=MICRO * (IN + OUT / 2),
                          logits=MICRO)
    step = max(float(it["total"]), dep.pp * float(it["stage"]))
    prefill = max(float(pre["total"]), dep.pp * float(pre["stage"]))
    return dep.pp * MICRO * OUT / (prefill + (OUT - 1) * step)


@pytest.mark.parametrize("model_id, tp, precision", CASES)
@pytest.mark.parametrize("pp", [2, 4])
def test_infer_and_serve_agree_on_saturated_throughput(model_id, tp, precision, pp):
    model, dep = load_model(model_id), _dep(tp, pp, precision)
    batch = pp * MICRO  # the same effective batch: serve's pp virtual engines each hold MICRO sequences
    inf = estimate_inference(model, H100, dep, batch=batch, input_len=IN, output_len=OUT)
    assert inf.feasible
    wl = make_workload(WAVES * batch, input_len=IN, output_len=OUT, arrival="offline", seed=3)
    srv = simulate_serving(model, H100, ServingConfig(dep, replicas=1), wl, seed=3).summary
    assert srv["requests_completed"] == WAVES * batch
    infer_tps, serve_tps = inf.output_tokens_per_s, srv["throughput_output_tokens_per_s"]
    assert serve_tps == pytest.approx(infer_tps, rel=0.05)
    physics = _saturated_tokens_per_s(model, dep)
    assert infer_tps == pytest.approx(physics, rel=0.05)
    assert serve_tps == pytest.approx(physics, rel=0.05)
    # and a pipelined replica is not a serial one: about pp x the throughput of one micro-batch through all stages
    pre = iteration_time_s(model, H100, dep, prefill_tokens=MICRO * IN, prefill_pairs=MICRO * IN * (IN + 1) / 2.0,
                           logits=MICRO)["total"]
    dec = iteration_time_s(model, H100, dep, decode_seqs=MICRO, logits=MICRO,
                           decode_context_tokens=MICRO * (IN + np.arange(1, OUT, dtype=float)))["total"]
    serial = MICRO * OUT / float(pre + dec.sum())
    assert 0.8 * pp * serial < infer_tps <= pp * serial * 1.001


@pytest.mark.parametrize("model_id, tp, precision", CASES)
@pytest.mark.parametrize("pp", [2, 4])
def test_one_request_waits_for_every_stage(model_id, tp, precision, pp):
    model, dep = load_model(model_id), _dep(tp, pp, precision)
    pre = iteration_time_s(model, H100, dep, prefill_tokens=IN, prefill_pairs=IN * (IN + 1) / 2.0, logits=1)
    ctx = IN + np.arange(1, OUT, dtype=float)
    dec = iteration_time_s(model, H100, dep, decode_seqs=1, decode_context_tokens=ctx, logits=1)
    # the latency is the sum of the stages: every layer, the pp - 1 send/recvs and the host's step
    parts = ("linear", "attention", "elementwise", "tp_comm", "lm_head", "pp_comm", "overhead")
    assert float(pre["total"]) == pytest.approx(sum(float(pre[k]) for k in parts), rel=1e-12)
    assert float(pre["pp_comm"]) > 0 and float(pre["stage"]) < float(pre["total"]) / pp * 1.5
    ttft, e2e = float(pre["total"]), float(pre["total"]) + float(dec["total"].sum())
    one = estimate_inference(model, H100, dep, batch=1, input_len=IN, output_len=OUT)
    assert one.ttft_s == pytest.approx(ttft, rel=1e-12) and one.e2e_s == pytest.approx(e2e, rel=1e-12)
    wl = make_workload(1, input_len=IN, output_len=OUT, arrival="offline", seed=0)
    srv = simulate_serving(model, H100, ServingConfig(dep, replicas=1), wl, seed=0).summary
    assert srv["ttft_p50_s"] == pytest.approx(ttft, rel=1e-9)
    assert srv["e2e_p50_s"] == pytest.approx(e2e, rel=1e-9)


def test_static_batch_fills_the_pipeline():
    """n micro-batches entering together: the last one's first token comes (n - 1) busiest-stage times after the
    first's (GPipe's n + pp - 1 slots); each decode step is max(latency, n x stage)."""
    model, dep = load_model("llama3.1-70b"), _dep(4, 2, "bf16")
    pre = iteration_time_s(model, H100, dep, prefill_tokens=MICRO * IN, prefill_pairs=MICRO * IN * (IN + 1) / 2.0,
                           logits=MICRO)
    res = estimate_inference(model, H100, dep, batch=2 * MICRO, input_len=IN, output_len=OUT)
    assert res.ttft_s == pytest.approx(float(pre["total"]) + float(pre["stage"]), rel=1e-12)
    it = iteration_time_s(model, H100, dep, decode_seqs=MICRO, decode_context_tokens=MICRO * (IN + 7.0),
                          logits=MICRO)
    step = float(decode_step_time_s(model, H100, dep, MICRO, IN + 7.0, 2))
    assert step == pytest.approx(max(float(it["total"]), 2 * float(it["stage"])), rel=1e-12)
    assert res.record["batch"] == 2 * MICRO and res.feasible  # 2 x 64 sequences fit 2 virtual engines of 64


def test_serving_pipeline_settles_at_the_shared_step():
    """The serving simulation's per-replica rule, cycled by n virtual engines, settles at max(latency, n x stage)."""
    for latency, stage, n in ((10.0, 2.0, 4), (10.0, 4.0, 4), (1.0, 1.0, 2)):
        pipe, free, last = Pipeline(), [0.0] * n, [0.0] * n
        for _ in range(20 * n):
            j = int(np.argmin(free))  # the virtual engine whose iteration ended first starts its next one at once
            last[j] = pipe.step_s(free[j], latency, stage)
            free[j] += last[j]
        period = max(latency, n * stage)
        assert last == pytest.approx([period] * n, rel=1e-12)
        assert float(pipelined_step_s(latency, stage, (n - 1) * stage)) == period


@pytest.mark.parametrize("model_id, tp, precision", CASES)
def test_pp1_is_the_plain_iteration(model_id, tp, precision):
    model, dep = load_model(model_id), _dep(tp, 1, precision)
    pre = iteration_time_s(model, H100, dep, prefill_tokens=8 * IN, prefill_pairs=8 * IN * (IN + 1) / 2.0, logits=8)
    assert float(prefill_time_s(model, H100, dep, 8, IN)) == float(pre["total"])
    ctx = IN + np.arange(1, OUT, dtype=float)
    dec = iteration_time_s(model, H100, dep, decode_seqs=8, decode_context_tokens=8 * ctx, logits=8)
    assert np.array_equal(decode_step_time_s(model, H100, dep, 8, ctx), dec["total"])
    res = estimate_inference(model, H100, dep, batch=8, input_len=IN, output_len=OUT)
    assert res.ttft_s == float(pre["total"])
    assert res.tpot_s == float(dec["total"].sum()) / (OUT - 1)
    table = IterationCostTable(model, H100, _dep(tp, 2, precision), 8192, 65)
    it = iteration_time_s(model, H100, _dep(tp, 2, precision), decode_seqs=32, decode_context_tokens=32 * 900.0,
                          logits=32)
    total, stage = table.time_and_stage_s(0, 0.0, 0.0, 32, 32 * 900.0, 32)
    assert total == pytest.approx(float(it["total"]), rel=1e-12)
    assert stage == pytest.approx(float(it["stage"]), rel=1e-9)
