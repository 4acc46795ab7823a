"""Decode-only steps that nothing can change run as one SimPy event (Simulation.leap): the results must be the ones
of one event per step, to the last bit, and a quiet engine must take far fewer events."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import simulator as sim
from simulator.core.inference import IterationCostTable
from simulator.serving import simulation

CASES = {  # light and heavy load, paged and reserved KV, several replicas, long mixed lengths, a time limit, a full KV
    "trickle-vllm": (dict(tp=1, engine="vllm"), dict(n=300, rate_per_s=0.5, input_len=512, output_len=300), {}),
    "busy-vllm": (dict(tp=1, engine="vllm"), dict(n=400, rate_per_s=40.0, input_len=700, output_len=200,
                                                   length_dist="lognormal"), {}),
    "trtllm-replicas": (dict(tp=2, engine="trtllm", precision="fp8", kv_precision="fp8"),
                        dict(n=300, rate_per_s=3.0, input_len=300, output_len=400, arrival="gamma"),
                        dict(replicas=3, router="jsq")),
    "long-mixed": (dict(tp=1, engine="vllm", max_seqs=64), dict(n=200, rate_per_s=8.0, input_len=3000,
                                                                output_len=1500, length_dist="lognormal"),
                   dict(replicas=2)),
    "time-limit": (dict(tp=1, engine="vllm"), dict(n=200, rate_per_s=0.2, input_len=128, output_len=900),
                   dict(max_time_s=400.0)),
    # Llama 3.1 70B on two H100s in bf16: the KV cache fills, thousands of preemptions, leaps cut by free blocks
    "preemptions": (dict(tp=2, engine="vllm"), dict(n=150, rate_per_s=0.5, input_len=3000, output_len=3000,
                                                    length_dist="lognormal"), dict(model="llama3.1-70b")),
}


def _run(case: str, leap: bool, monkeypatch) -> sim.ServingResult:
    dep_kw, wl_kw, cfg_kw = CASES[case]
    cfg_kw = dict(cfg_kw)
    model = cfg_kw.pop("model", "llama3.1-8b")
    with monkeypatch.context() as m:
        if not leap:
            m.setattr(simulation.Simulation, "leap", lambda self, e, now: 0.0)
        wl = sim.make_workload(**wl_kw, seed=3)
        return sim.simulate_serving(model, "h100-sxm-80gb",
                                    sim.ServingConfig(sim.Deployment(**dep_kw), **cfg_kw), wl, seed=1)


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_event_per_step_and_leaps_give_the_same_run(case, monkeypatch):
    leapt, stepped = _run(case, True, monkeypatch), _run(case, False, monkeypatch)
    assert leapt.summary == stepped.summary  # sim_events counts iterations either way
    pd.testing.assert_frame_equal(leapt.requests, stepped.requests, check_exact=True)
    pd.testing.assert_frame_equal(leapt.timeseries, stepped.timeseries, check_exact=True)


def test_a_quiet_engine_leaps(monkeypatch):
    """At 0.5 requests/s each request decodes alone: its steps between arrivals are a handful of events."""
    calls = {"leapt": 0}
    original = simulation.Simulation.leap

    def counting(self, e, now):
        got = original(self, e, now)
        calls["leapt"] += got > 0.0
        return got

    monkeypatch.setattr(simulation.Simulation, "leap", counting)
    res = _run("trickle-vllm", True, monkeypatch)
    assert res.summary["requests_completed"] == 300
    assert 250 <= calls["leapt"] < res.summary["sim_events"] / 50


def test_decode_times_are_the_scalar_times_bit_for_bit():
    rng = np.random.default_rng(0)
    for model, tp in (("llama3.1-8b", 1), ("mixtral-8x7b", 2)):
        dep = sim.Deployment(tp=tp, engine="vllm")
        table = IterationCostTable(sim.load_model(model), sim.load_hardware("h100-sxm-80gb"), dep, dep.token_cap,
                                   dep.seq_cap + 1)
        for n in (1, 3, 64, 200):
            sums = rng.integers(0, 10**7, 40)
            vec = table.decode_times_s(n, sums.astype(float) + n)
            assert list(vec) == [table.time_s(0, 0.0, 0.0, n, float(s) + n, n) for s in sums]


def test_the_preemption_case_runs_out_of_blocks(monkeypatch):
    """The case meant to cut leaps at the free blocks really fills the KV cache and preempts."""
    res = _run("preemptions", True, monkeypatch)
    assert res.summary["kv_occupancy_max"] == 1.0 and res.requests["preemptions"].sum() > 100


@pytest.mark.parametrize("engine", ["vllm", "trtllm"])
def test_leap_blocks_are_the_schedulers_step_by_step(engine):
    """decode_run_blocks / advance_decodes against the scheduler itself run k times: the blocks each step takes (paged
    vLLM; none for TensorRT-LLM's reserve-at-admission), and the state k steps later."""
    from simulator.serving import scheduler
    from simulator.serving.state import Engine, Queues, Requests

    rng = np.random.default_rng(7)
    dep = sim.Deployment(tp=1, engine=engine)

    def running() -> Engine:
        e = Engine(0, "both", dep, None, 10_000, 0.0)
        ctx = np.random.default_rng(7).integers(1, 300, 9)
        n = ctx.size
        e.ids[:n], e.ctx[:n], e.tgt[:n], e.out[:n] = np.arange(n), ctx, ctx, 10**6
        e.blk[:n] = e.blocks(ctx)  # as a prefill leaves them
        e.n, e.free = n, int(10_000 - e.blk[:n].sum())
        return e

    k = int(rng.integers(40, 90))
    stepped, leapt = running(), running()
    req, q = Requests(sim.make_workload(9, input_len=1, output_len=1, rate_per_s=1.0)), Queues(1)
    taken = []
    for _ in range(k):
        dec, chunks, n_dec = scheduler.schedule_counted(stepped, req, q, 0.0)
        assert n_dec == 9 and not chunks
        taken.append(leapt.free - stepped.free)
        stepped.ctx[:9] += 1
        stepped.gen[:9] += 1
    assert list(scheduler.decode_run_blocks(leapt, k)) == taken
    assert (engine == "trtllm") == (taken[-1] == 0)
    scheduler.advance_decodes(leapt, k)
    for row in ("ctx", "gen", "blk"):
        assert list(getattr(leapt, row)[:9]) == list(getattr(stepped, row)[:9]), row
    assert leapt.free == stepped.free
