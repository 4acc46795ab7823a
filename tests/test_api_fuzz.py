"""Hypothesis over the public entry points of the `simulator` facade: whatever the arguments, only SimulatorError
subclasses escape, and a feasible result has no NaN, None or negative value in its headline fields.

Each argument is drawn mostly from values that work (so the search reaches the model) and otherwise from anything:
wrong types, non-finite and negative numbers, integers past 2**63, huge sizes, lists where a scalar belongs.

The examples per entry point default to a few hundred; to run more, set API_FUZZ_EXAMPLES, e.g.
    API_FUZZ_EXAMPLES=5000 python -m pytest tests/test_api_fuzz.py -q -p no:warnings
(`make fuzz`). The draws are derandomized (each test's sample follows from its source); API_FUZZ_SEED=N draws another
sample, the same one on each run with that N.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, seed, settings
from hypothesis import strategies as st

import simulator as sim
from simulator import limits

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "0")) or None
SEED = os.environ.get("API_FUZZ_SEED")


def fuzz(default: int) -> Any:
    """Deterministic settings: `default` examples (API_FUZZ_EXAMPLES overrides), no deadline (a shared machine);
    derandomized, or seeded with API_FUZZ_SEED."""
    chosen = settings(max_examples=EXAMPLES or default, deadline=None, derandomize=SEED is None, database=None,
                      suppress_health_check=list(HealthCheck))
    if SEED is None:
        return chosen
    return lambda test: seed(int(SEED))(chosen(test))


ANYTHING = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 2**63, 2**64, 10**30, 1e300, -1e300, math.inf, -math.inf, math.nan, 1.5, 0.5]),
    st.sampled_from([1.0, 2.0, 8.0, 64.0]),  # whole floats: check_int accepts them, so they must come out as ints
    st.text(max_size=8), st.sampled_from(["", "x" * 5000, "a/" * 3000, "\x00", "nul\x00x", "/", "."]),
    st.lists(st.integers(-3, 3), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.just(b"bytes"), st.just(object()), st.just(Path("/nonexistent/file.yaml")),
)


def mostly(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Good values 19 times in 20, anything otherwise: with a dozen arguments, a good share of the examples reach the
    model and its results (one bad argument per example is enough to test the refusal)."""
    return st.tuples(st.sampled_from([False] * 19 + [True]), good, ANYTHING).map(lambda t: t[2] if t[0] else t[1])


def assert_headline(rec: dict[str, Any], keys: tuple[str, ...], where: str) -> None:
    for key in keys:
        value = rec.get(key)
        assert value is not None, (where, key, rec)
        assert isinstance(value, (int, float)) and math.isfinite(value) and value >= 0, (where, key, value)


def call(fn: Any, *args: Any, **kw: Any) -> Any:
    """The entry point's result, or None when it raised a SimulatorError (any other exception fails the test)."""
    try:
        return fn(*args, **kw)
    except sim.SimulatorError:
        return None


MODELS = st.sampled_from(["llama3.1-8b", "llama3.1-70b", "mixtral-8x7b", "llama2-7b"])
HARDWARE = st.sampled_from(["h100-sxm-80gb", "a100-sxm-80gb", "b200-sxm-180gb"])
SMALL = st.sampled_from([1, 2, 4, 8])


@fuzz(300)
@given(model=mostly(MODELS), hw=mostly(HARDWARE), gpus=mostly(st.sampled_from([8, 16, 64, 1024])),
       tp=mostly(SMALL), pp=mostly(SMALL), cp=mostly(st.just(1)), ep=mostly(st.just(1)),
       dp=mostly(st.none()), micro_batch=mostly(SMALL), global_batch=mostly(st.sampled_from([64, 256, 1024])),
       seq_len=mostly(st.sampled_from([1024, 4096, 8192])), zero=mostly(st.sampled_from([None, 0, 1, 3])),
       recompute=mostly(st.sampled_from([None, "selective", "full"])), precision=mostly(st.sampled_from(["bf16", "fp8"])),
       vpp=mostly(st.none()), train_tokens=mostly(st.sampled_from([None, 1e9, 15e12])),
       purchase=mostly(st.sampled_from(["on_demand", "spot"])),
       attention_kernel=mostly(st.sampled_from([None, "flash"])), fsdp_shard=mostly(st.none()))
def test_estimate_training(model, hw, gpus, tp, pp, cp, ep, dp, micro_batch, global_batch, seq_len, zero, recompute,
                           precision, vpp, train_tokens, purchase, attention_kernel, fsdp_shard) -> None:
    res = call(sim.estimate_training, model, hw, gpus, tp=tp, pp=pp, cp=cp, ep=ep, dp=dp, micro_batch=micro_batch,
               global_batch=global_batch, seq_len=seq_len, zero=zero, recompute=recompute, precision=precision,
               vpp=vpp, train_tokens=train_tokens, purchase=purchase, attention_kernel=attention_kernel,
               fsdp_shard=fsdp_shard)
    if res is not None and res.feasible:
        rec = res.to_dict()
        assert_headline(rec, ("step_time_s", "tokens_per_s", "tokens_per_s_per_gpu", "mfu", "memory_per_gpu_bytes"),
                        "estimate_training")
        if train_tokens is not None:
            assert_headline(rec, ("total_time_s", "gpu_hours", "energy_kwh"), "estimate_training run totals")


@fuzz(200)
@given(model=mostly(MODELS), hw=mostly(HARDWARE), gpus=mostly(st.sampled_from([8, 16, [8, 16]])),
       global_batch=mostly(st.sampled_from([64, 256])), seq_len=mostly(st.sampled_from([2048, 4096])),
       train_tokens=mostly(st.sampled_from([None, 1e10])), objective=mostly(st.sampled_from(["time", "cost"])),
       precisions=mostly(st.sampled_from([("bf16",), ["bf16", "fp8"], "bf16"])),
       purchase=mostly(st.just("on_demand")))
def test_plan_training(model, hw, gpus, global_batch, seq_len, train_tokens, objective, precisions, purchase) -> None:
    res = call(sim.plan_training, model, hw, gpus, global_batch=global_batch, seq_len=seq_len,
               train_tokens=train_tokens, objective=objective, precisions=precisions, purchase=purchase)
    if res is not None:
        for rec in res.top(3):
            assert rec["feasible"]
            assert_headline(rec, ("step_time_s", "tokens_per_s", "mfu", "memory_per_gpu_bytes"), "plan_training")


DEPLOYMENT = st.builds(sim.Deployment, tp=mostly(SMALL), pp=mostly(st.just(1)), ep=mostly(st.just(1)),
                       dp_attention=mostly(st.sampled_from([1, 2])),
                       precision=mostly(st.sampled_from(["bf16", "fp8", "int4"])),
                       kv_precision=mostly(st.sampled_from(["bf16", "fp8"])),
                       engine=mostly(st.sampled_from(["vllm", "trtllm"])),
                       max_seqs=mostly(st.sampled_from([None, 8, 256])),
                       max_batched_tokens=mostly(st.sampled_from([None, 2048, 8192])))


@fuzz(300)
@given(model=mostly(MODELS), hw=mostly(HARDWARE), dep=mostly(DEPLOYMENT), batch=mostly(st.integers(1, 64)),
       input_len=mostly(st.integers(1, 4096)), output_len=mostly(st.integers(1, 1024)))
def test_estimate_inference(model, hw, dep, batch, input_len, output_len) -> None:
    res = call(sim.estimate_inference, model, hw, dep, batch=batch, input_len=input_len, output_len=output_len)
    if res is not None and res.feasible:
        assert_headline(res.to_dict(), ("ttft_s", "tpot_s", "e2e_s", "output_tokens_per_s", "weights_bytes_per_gpu"),
                        "estimate_inference")


@pytest.mark.parametrize("batch", [1, limits.MAX_BATCH])
@pytest.mark.parametrize("input_len", [1, limits.MAX_TOKENS])
@pytest.mark.parametrize("output_len", [1, 2, limits.MAX_TOKENS])
def test_estimate_inference_at_the_size_bounds(batch, input_len, output_len) -> None:
    """Every corner of batch x prompt x output at 1 and at its bound: an answer (feasible with finite figures, or
    a SimulatorError) in bounded time; the engine's caps raised to the bound too, so nothing is refused early."""
    import time

    start = time.perf_counter()
    dep = sim.Deployment(tp=8, max_seqs=limits.MAX_BATCH, max_batched_tokens=limits.MAX_BATCHED_TOKENS)
    res = call(sim.estimate_inference, "llama3.1-70b", "h100-sxm-80gb", dep, batch=batch, input_len=input_len,
               output_len=output_len)
    assert time.perf_counter() - start < 120  # a hang guard: each corner takes seconds at most
    if res is not None and res.feasible:
        assert_headline(res.to_dict(), ("ttft_s", "tpot_s", "e2e_s", "output_tokens_per_s", "weights_bytes_per_gpu"),
                        "estimate_inference at the bounds")


def test_estimate_inference_takes_whole_floats() -> None:
    """A whole float passes check_int, so it must go on as an int: output_len=16.0 reached range() (TypeError)."""
    floats = sim.Deployment(tp=2.0, pp=1.0, ep=1.0, max_seqs=8.0, max_batched_tokens=2048.0)
    ints = sim.Deployment(tp=2, pp=1, ep=1, max_seqs=8, max_batched_tokens=2048)
    got = sim.estimate_inference("llama3.1-8b", "h100-sxm-80gb", floats, batch=4.0, input_len=128.0, output_len=16.0)
    want = sim.estimate_inference("llama3.1-8b", "h100-sxm-80gb", ints, batch=4, input_len=128, output_len=16)
    assert got.feasible and got.to_dict() == want.to_dict()
    assert sim.memory_plan("llama3.1-8b", "h100-sxm-80gb", floats) == sim.memory_plan("llama3.1-8b", "h100-sxm-80gb",
                                                                                       ints)


def test_whole_floats_are_taken_everywhere_an_int_is() -> None:
    """make_workload(n=4.0), a capacity search's n_requests=20.0 and training zero=1.0 were refused while every other
    count took a whole float: each now gives what its int gives."""
    a = sim.make_workload(4.0, input_len=64, output_len=8, rate_per_s=1.0)
    b = sim.make_workload(4, input_len=64, output_len=8, rate_per_s=1.0)
    assert len(a) == 4 and a.prompt_tokens.tolist() == b.prompt_tokens.tolist() and a.arrival_s.tolist() == b.arrival_s.tolist()
    kw = {"gpus": 8, "global_batch": 64, "seq_len": 2048, "tp": 2.0, "micro_batch": 1.0}
    got = sim.estimate_training("llama3.1-8b", "h100-sxm-80gb", zero=1.0, **kw)
    want = sim.estimate_training("llama3.1-8b", "h100-sxm-80gb", zero=1, **{**kw, "tp": 2, "micro_batch": 1})
    assert got.to_dict() == want.to_dict()
    with pytest.raises(sim.SimulatorError, match="zero"):
        sim.estimate_training("llama3.1-8b", "h100-sxm-80gb", zero=1.5, **kw)


# The good draws simulate at most 40 requests of 2,304 tokens. Sizes the simulator accepts up to its bounds take
# minutes to hours to simulate (limits.py: an unbatched trickle of MAX_SIMULATED_TOKENS is ~100x slower than a batched
# run; a capacity search replays MAX_PROBE_REQUESTS in each of dozens of probes): n=2,859,998 requests of 175 tokens
# at 0.25/s ran for over 15 minutes. That cost is the bounds' business, so an example past this many simulated tokens
# is skipped where the sizes are accepted; sizes past a bound are still drawn, to be refused.
FUZZ_MAX_TOKENS = 200_000


def slow_size(n: Any, input_len: Any, output_len: Any, max_requests: int) -> bool:
    """Whether n requests of input_len + output_len tokens are accepted sizes past FUZZ_MAX_TOKENS simulated tokens."""
    sizes = (n, input_len, output_len)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in sizes):
        return False
    accepted = 1 <= n <= max_requests and 1 <= input_len <= limits.MAX_TOKENS and 1 <= output_len <= limits.MAX_TOKENS
    return accepted and FUZZ_MAX_TOKENS < n * (input_len + output_len) <= limits.MAX_SIMULATED_TOKENS


def _workload(n, input_len, output_len, rate, seed):
    return sim.make_workload(n, input_len=input_len, output_len=output_len, rate_per_s=rate, seed=seed)


@fuzz(200)
@given(model=mostly(st.just("llama3.1-8b")), hw=mostly(HARDWARE), dep=mostly(DEPLOYMENT),
       replicas=mostly(st.integers(1, 3)), router=mostly(st.sampled_from(["jsq", "round_robin"])),
       n=mostly(st.integers(1, 40)), input_len=mostly(st.integers(1, 2048)), output_len=mostly(st.integers(1, 256)),
       rate=mostly(st.floats(0.1, 100)), seed=mostly(st.integers(0, 2**32)),
       slo=mostly(st.sampled_from([math.inf, 0.5])), concurrency=mostly(st.sampled_from([None, None, 4])))
def test_simulate_serving(model, hw, dep, replicas, router, n, input_len, output_len, rate, seed, slo,
                          concurrency) -> None:
    assume(not slow_size(n, input_len, output_len, limits.MAX_REQUESTS))
    wl = call(_workload, n, input_len, output_len, rate, seed)
    if wl is None:
        return
    cfg = call(sim.ServingConfig, dep, replicas=replicas, router=router, slo_ttft_s=slo, slo_tpot_s=slo)
    if cfg is None:
        return
    res = call(sim.simulate_serving, model, hw, cfg, wl, seed=seed, concurrency=concurrency)
    if res is not None and res.summary["requests_completed"] > 0:
        s = res.summary
        assert_headline(s, ("ttft_p50_s", "ttft_p99_s", "e2e_p50_s", "e2e_p99_s", "throughput_requests_per_s",
                            "throughput_output_tokens_per_s"), "simulate_serving")
        if int(wl.output_tokens.max()) > 1:  # TPOT needs a second output token
            assert_headline(s, ("tpot_p50_s", "tpot_p99_s"), "simulate_serving tpot")


@fuzz(100)
@given(model=mostly(st.just("llama3.1-8b")), hw=mostly(st.just("h100-sxm-80gb")),
       rate=mostly(st.floats(0.5, 50)), ttft=mostly(st.just(2.0)), tpot=mostly(st.just(0.1)),
       input_len=mostly(st.integers(16, 1024)), output_len=mostly(st.integers(2, 128)),
       n_requests=mostly(st.integers(20, 40)), top=mostly(st.integers(1, 3)), seed=mostly(st.integers(0, 10)),
       disaggregation=mostly(st.sampled_from([(), ((1, 1),)])))
def test_plan_capacity(model, hw, rate, ttft, tpot, input_len, output_len, n_requests, top, seed,
                       disaggregation) -> None:
    assume(not slow_size(n_requests, input_len, output_len, limits.MAX_PROBE_REQUESTS))
    slo = call(sim.SLO, ttft, tpot)
    if slo is None:
        return
    plan = call(sim.plan_capacity, model, hw, rate_per_s=rate, slo=slo, input_len=input_len, output_len=output_len,
                n_requests=n_requests, deployments=[sim.Deployment(tp=1)], disaggregation=disaggregation, top=top,
                seed=seed, verify=False)
    if plan is not None and plan.best is not None:
        assert_headline(plan.best, ("gpus", "max_rate_per_unit_per_s"), "plan_capacity")


# simulator/serving goes on with the ints its checks return (simulation._check, capacity._check_inputs and
# _check_request_args): a whole float (replicas=1.0) was a range() count or a slice bound, a TypeError
@pytest.mark.parametrize("config, kw", [
    ({"replicas": 1.0}, {}), ({"replicas": 0, "prefill_replicas": 1.0, "decode_replicas": 1.0}, {}),
    ({}, {"concurrency": 2.0}), ({"deployment": sim.Deployment(pp=1.0)}, {}),
    ({"deployment": sim.Deployment(dp_attention=1.0)}, {})],
    ids=["replicas", "prefill-decode-replicas", "concurrency", "pp", "dp-attention"])
def test_simulate_serving_takes_whole_floats(config, kw) -> None:
    wl = sim.make_workload(4, input_len=16, output_len=4, rate_per_s=1.0, seed=0)
    cfg = sim.ServingConfig(**{"deployment": sim.Deployment(tp=1), **config})
    assert sim.simulate_serving("llama3.1-8b", "h100-sxm-80gb", cfg, wl, **kw).summary["requests_completed"] == 4


@pytest.mark.parametrize("kw", [{"top": 2.0}, {"disaggregation": ((1.0, 1.0),)}], ids=["top", "disaggregation"])
def test_plan_capacity_takes_whole_floats(kw) -> None:
    plan = sim.plan_capacity("llama3.1-8b", "h100-sxm-80gb", rate_per_s=2.0, slo=sim.SLO(2.0, 0.1), input_len=64,
                             output_len=8, n_requests=20, deployments=[sim.Deployment(tp=1)], verify=False, **kw)
    assert plan.best is not None


@fuzz(100)
@given(scenario=mostly(st.sampled_from(["research-1k-h100", "trace-replay-64gpu"])),
       policy=mostly(st.sampled_from([None, "fifo", "easy"])), seed=mostly(st.integers(0, 2**40)),
       until_s=mostly(st.floats(60, 3600)))
def test_simulate_cluster(scenario, policy, seed, until_s) -> None:
    res = call(sim.simulate_cluster, scenario, policy=policy, seed=seed, until_s=until_s)
    if res is not None:
        s = res.summary
        for key in ("utilization", "goodput", "cost_usd", "energy_kwh"):
            v = s.get(key)
            assert v is None or (math.isfinite(v) and v >= 0), (key, v)


@fuzz(300)
@given(ref=ANYTHING)
@pytest.mark.parametrize("loader", [
    "load_model", "load_hardware", "load_price_book", "load_stack", "load_cluster_scenario", "load_failure_profile",
    "load_scenario", "read_trace"])
def test_loaders(loader, ref) -> None:
    if ref is None and loader in ("load_price_book", "load_stack"):  # None: the default
        return
    call(getattr(sim, loader), ref)


MODEL_TEXT = (ROOT / "workloads/models/mixtral-8x7b.yaml").read_text()
HW_TEXT = (ROOT / "hardware_profiles/h100-sxm-80gb.yaml").read_text()
HF_TEXT = (ROOT / "workloads/models/hf/qwen3-0.6b/config.json").read_text()


def _mutated(text: str) -> st.SearchStrategy[str]:
    """A shipped file with one number replaced by something else, a line dropped or the text cut short."""
    import re

    numbers = [m.span() for m in re.finditer(r"(?<![\w.])-?\d[\d.e+_-]*", text)]
    swap = st.tuples(st.sampled_from(numbers), st.sampled_from(
        ["0", "-1", "1e400", ".inf", ".nan", "1.0e+300", "1.0e-300", "99999999999999999999", "[1, 2]", "{a: 1}",
         "true", "null", "'x'", "2.5"])).map(lambda t: text[:t[0][0]] + t[1] + text[t[0][1]:])
    cut = st.integers(0, len(text)).map(lambda n: text[:n])
    return st.one_of(swap, cut)


UPLOADS = {"model_from_yaml_text": _mutated(MODEL_TEXT), "hardware_from_yaml_text": _mutated(HW_TEXT),
           "model_from_hf_text": _mutated(HF_TEXT), "parse_yaml_text": _mutated(MODEL_TEXT)}
# mixtral-8x7b's bf16 weights (87 GiB) do not fit one H100, so an accepted model upload estimates in fp8: in bf16
# nearly every accepted upload was infeasible and its figures went unchecked
UPLOAD_DEPLOYMENT = {"model_from_yaml_text": sim.Deployment(tp=1, precision="fp8")}


@fuzz(300)
@given(data=st.data())
@pytest.mark.parametrize("loader", list(UPLOADS))
def test_uploads(loader, data) -> None:
    """What the app hands the catalog from an upload: a shipped file mutated, or anything at all; an accepted model
    or device still estimates with finite figures."""
    text = data.draw(st.one_of(UPLOADS[loader], UPLOADS[loader], ANYTHING))
    fn = getattr(sim, loader)
    got = call(fn, text, "upload") if loader != "model_from_hf_text" else call(fn, text)
    if got is None or loader == "parse_yaml_text":
        return
    model, hw = (got, "h100-sxm-80gb") if loader != "hardware_from_yaml_text" else ("llama3.1-8b", got)
    dep = UPLOAD_DEPLOYMENT.get(loader, sim.Deployment(tp=1))
    res = call(sim.estimate_inference, model, hw, dep, batch=2, input_len=128, output_len=16)
    if res is not None and res.feasible:
        assert_headline(res.to_dict(), ("ttft_s", "tpot_s", "e2e_s", "output_tokens_per_s"), loader)


SCENARIO_BASE = {"kind": "inference", "model": "llama3.1-8b", "hardware": "h100-sxm-80gb", "input_len": 64,
                 "output_len": 8}


@fuzz(300)
@given(field=st.sampled_from(["kind", "model", "hardware", "input_len", "output_len", "batch", "deployment",
                              "schema_version", "name", "extra"]), value=ANYTHING)
def test_run_scenario(field, value) -> None:
    data = {**SCENARIO_BASE, field: value}
    rec = call(sim.run_scenario, data)
    if rec is not None and rec.get("feasible"):
        assert_headline(rec, ("ttft_s", "tpot_s"), "run_scenario")


@fuzz(200)
@given(field=st.sampled_from(["axes", "zip", "seeds", "seed", "shard_size", "base", "kind"]), value=ANYTHING)
def test_load_grid(field, value, tmp_path_factory) -> None:
    import yaml

    grid = {"schema_version": 1, "kind": "sweep", "base": dict(SCENARIO_BASE), "axes": {"batch": [1, 2]}, field: value}
    try:
        text = yaml.safe_dump(grid)
    except yaml.YAMLError:  # not representable as YAML (object(), bytes are): nothing a file could hold
        return
    path = tmp_path_factory.mktemp("grid") / "g.yaml"
    path.write_text(text)
    g = call(sim.load_grid, path)
    if g is not None:
        assert 1 <= len(g) <= 10_000_000


def test_limits_are_consistent() -> None:
    """Bounds that must nest: a pool holds at most MAX_GPUS, a probe at most a simulation's requests."""
    assert limits.MAX_PROBE_REQUESTS <= limits.MAX_REQUESTS
    assert limits.MAX_NODES * 8 >= limits.MAX_GPUS
    assert max(limits.MAX_GPUS, limits.MAX_REQUESTS, limits.MAX_TOKENS, limits.MAX_BATCH) < 2**63
