"""Analytical inference core: hand calculations, invariants and bad input."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import load_hardware, load_model
from simulator.core import comm
from simulator.core.inference import (
    ENGINES,
    Deployment,
    IterationCostTable,
    decode_step_time_s,
    engine_overhead_s,
    estimate_inference,
    iteration_time_s,
    kv_bytes_per_token,
    kv_elems_per_token_per_layer,
    layer_linear_s,
    layer_tp_comm_s,
    memory_plan,
    prefill_time_s,
    weight_bytes_per_gpu,
    workspace_bytes_per_gpu,
)
from simulator.errors import PlanError

H100 = load_hardware("h100-sxm-80gb")
A100 = load_hardware("a100-sxm-80gb")
L8B = load_model("llama3.1-8b")
L70B = load_model("llama2-70b")
MIX = load_model("mixtral-8x7b")
DSV3 = load_model("deepseek-v3")
IDEAL = Deployment(engine="ideal")


def test_kv_bytes_per_token_gqa_mla_and_replication_by_hand():
    # Llama-3.1-8B: 32 layers x (K and V) x 8 KV heads x 128 dims x 2 bytes
    assert kv_bytes_per_token(L8B, "bf16") == 32 * 2 * 8 * 128 * 2 == 131072
    assert kv_bytes_per_token(L8B, "fp8") == 65536
    # DeepSeek-V3 MLA: 61 layers x (latent 512 + rope key 64) x 2 bytes, one copy for all heads
    assert kv_bytes_per_token(DSV3, "bf16") == 61 * (512 + 64) * 2
    # TP 16 > 8 KV heads: every GPU keeps one whole KV head
    assert kv_elems_per_token_per_layer(L70B, 16) == 2 * 1 * 128
    assert kv_elems_per_token_per_layer(L70B, 4) == 2 * 2 * 128


def test_weight_bytes_by_hand():
    n = L8B.total_params()
    vocab = 2 * L8B.vocab_size * L8B.d_model  # embedding + untied LM head stay 16-bit
    assert weight_bytes_per_gpu(L8B, Deployment(precision="bf16")) == pytest.approx(2 * n)
    assert weight_bytes_per_gpu(L8B, Deployment(precision="fp8")) == pytest.approx((n - vocab) * 1 + vocab * 2)
    assert weight_bytes_per_gpu(L8B, Deployment(precision="int4")) == pytest.approx((n - vocab) * (0.5 + 4 / 128) + vocab * 2)
    assert weight_bytes_per_gpu(L8B, Deployment(tp=4)) == pytest.approx(2 * n / 4)


def test_memory_plan_blocks_by_hand():
    dep = Deployment(engine="vllm")
    mem = memory_plan(L8B, H100, dep)
    budget = (min(0.9 * H100.hbm_bytes, H100.usable_memory_bytes) - weight_bytes_per_gpu(L8B, dep)
              - workspace_bytes_per_gpu(L8B, dep))
    assert mem.kv_budget_bytes_per_gpu == pytest.approx(budget)
    assert mem.kv_blocks == int(budget // (16 * 131072))
    assert mem.max_concurrent_seqs(1000) == mem.kv_blocks // 63  # ceil(1000 / 16) = 63 blocks
    # TRT-LLM style: a share of the memory left free after weights and workspace
    trt = memory_plan(L8B, H100, Deployment(engine="trtllm"))
    free = H100.usable_memory_bytes - weight_bytes_per_gpu(L8B, Deployment(engine="trtllm")) - workspace_bytes_per_gpu(L8B, Deployment(engine="trtllm"))
    assert trt.kv_budget_bytes_per_gpu == pytest.approx(0.9 * free)


def test_decode_gemm_is_weight_streaming_at_batch_one():
    """T=1: the soft roofline reduces to launch + weight bytes / (efficiency x bandwidth) per GEMM."""
    t = float(layer_linear_s(L8B, H100, IDEAL, 1))
    layer_weights = (L8B.attention_params_per_layer() + L8B.dense_mlp_params_per_layer()) * 2.0
    hand = 4 * H100.gemm.launch_s + layer_weights / (H100.gemm.memory_efficiency * H100.hbm_bandwidth_bytes_per_s)
    assert t == pytest.approx(hand, rel=0.01)


def test_prefill_gemm_is_compute_bound_for_long_prompts():
    tokens = 16384
    t = float(layer_linear_s(L8B, H100, IDEAL, tokens))
    params = L8B.attention_params_per_layer() + L8B.dense_mlp_params_per_layer()
    hand = 2 * tokens * params / (H100.gemm.compute_efficiency * H100.peak("bf16"))
    assert hand < t < 1.08 * hand  # the p-norm adds the (small) memory term


def test_fp8_uses_fp8_peak_and_its_efficiency():
    tokens = 16384
    t8 = float(layer_linear_s(L8B, H100, Deployment(precision="fp8", engine="ideal"), tokens))
    params = L8B.attention_params_per_layer() + L8B.dense_mlp_params_per_layer()
    hand = 2 * tokens * params / (H100.gemm.fp8_compute_efficiency * H100.peak("fp8"))
    assert hand < t8 < 1.08 * hand


def test_moe_decode_reads_only_the_touched_experts():
    """One token touches top_k = 2 of 8 experts: the expert weights read are a quarter of the layer's, streamed at the
    fused-MoE memory scale, plus the fused layer's fixed time."""
    t1 = float(layer_linear_s(MIX, H100, IDEAL, 1, moe_layer=True))
    expert = MIX.mlp_params(MIX.moe.d_ff_expert) * 2.0
    attn = MIX.attention_params_per_layer() * 2.0
    bw = H100.gemm.memory_efficiency * H100.hbm_bandwidth_bytes_per_s
    hand = ((attn + MIX.d_model * 8 * 2.0) / bw + 2 * expert / (bw * H100.moe_memory_scale)
            + 5 * H100.gemm.launch_s + H100.moe_layer_overhead_s)  # QKV, O, router, 2 grouped; the fused layer
    assert t1 == pytest.approx(hand, rel=0.02)
    # many tokens touch every expert: far more than 2 experts' worth of weights
    assert float(layer_linear_s(MIX, H100, IDEAL, 64, moe_layer=True)) > 2.5 * t1


def test_tp_allreduce_per_layer_by_hand():
    dep = Deployment(tp=8, engine="ideal")
    msg = 4 * L70B.d_model * 2.0
    link = replace(H100.intra, regimes=(), in_network=None)  # the engine's own all-reduce: the link's base latency
    one = link.latency_s + 14 * link.hop_latency_s + 2 * 7 / 8 * msg / (link.bandwidth_bytes_per_s * link.bus_efficiency)
    assert float(layer_tp_comm_s(L70B, H100, dep, 4)) == pytest.approx(2 * one)
    assert float(layer_tp_comm_s(L70B, H100, dep, 4)) == pytest.approx(2 * float(comm.engine_allreduce_s(8, msg,
                                                                                                         H100.intra)))
    # small messages are latency-bound: 4 tokens cost almost what 1 token costs
    assert float(layer_tp_comm_s(L70B, H100, dep, 4)) < 1.05 * float(layer_tp_comm_s(L70B, H100, dep, 1))
    assert float(layer_tp_comm_s(L70B, H100, Deployment(tp=1), 4)) == 0.0


def test_prefill_attention_uses_causal_pairs():
    s = 4096.0
    direct = iteration_time_s(L8B, H100, IDEAL, prefill_tokens=s, prefill_pairs=s * (s + 1) / 2, logits=1)["total"]
    assert float(prefill_time_s(L8B, H100, IDEAL, 1, s)) == pytest.approx(float(direct))
    # attention is quadratic: 8k costs more than twice 4k in the attention part
    a4 = iteration_time_s(L8B, H100, IDEAL, prefill_tokens=4096, prefill_pairs=4096 * 4097 / 2)["attention"]
    a8 = iteration_time_s(L8B, H100, IDEAL, prefill_tokens=8192, prefill_pairs=8192 * 8193 / 2)["attention"]
    assert float(a8) > 3.5 * float(a4)


def test_engine_overhead_max_of_device_and_launch():
    prof = replace(ENGINES["vllm"], step_overhead_s=1e-3, layer_launch_s=1e-3, seq_overhead_s=1e-4,
                   host_terms_on_reference_host=True)
    # launch-bound: 32 layers x 1 ms of launching hides a 10 ms device time
    assert float(engine_overhead_s(prof, 32, 0.010, 4)) == pytest.approx(1e-3 + 4e-4 + 0.032 - 0.010)
    assert float(engine_overhead_s(prof, 32, 0.050, 4)) == pytest.approx(1e-3 + 4e-4)
    # a host twice as fast as the reference halves every host term
    assert float(engine_overhead_s(prof, 32, 0.010, 4, host_speed=2.0)) == pytest.approx((1e-3 + 4e-4) / 2 + 0.016 - 0.010)
    dep = Deployment(engine_profile=prof)
    for hw in (H100, replace(H100, host_speed=1.0)):
        k = 1.0 / hw.host_speed
        it = iteration_time_s(L8B, hw, dep, decode_seqs=4, decode_context_tokens=4000)
        assert float(it["total"]) == pytest.approx(max(float(it["total"] - it["overhead"]), 0.032 * k) + 1.4e-3 * k)
    # assumed priors (no measured host) are the same on every host
    prior = Deployment(engine_profile=replace(prof, host_terms_on_reference_host=False))
    fast, ref = (iteration_time_s(L8B, hw, prior, decode_seqs=4, decode_context_tokens=4000)["overhead"]
                 for hw in (H100, replace(H100, host_speed=1.0)))
    assert H100.host_speed != 1.0 and float(fast) == float(ref)
    # an empty iteration takes no time
    assert float(iteration_time_s(L8B, H100, dep)["total"]) == 0.0


def test_vectorised_over_batch_and_context():
    b = np.array([1, 8, 64])[:, None]
    ctx = np.array([128, 1024, 8192])[None, :]
    grid = decode_step_time_s(L8B, H100, Deployment(), b, ctx)
    assert grid.shape == (3, 3)
    assert float(grid[1, 2]) == pytest.approx(float(decode_step_time_s(L8B, H100, Deployment(), 8, 8192)))


def test_cost_table_equals_core():
    dep = Deployment(tp=2, precision="fp8", kv_precision="fp8", engine="vllm")
    table = IterationCostTable(L70B, H100, dep, 4096, 257)
    rng = np.random.default_rng(0)
    for _ in range(50):
        pt = int(rng.integers(0, 2000))
        ds = int(rng.integers(0, 256))
        ctx = float(ds * rng.integers(1, 4000))
        prefix = float(rng.integers(0, 3000)) if pt else 0.0
        pairs = pt * (prefix + (pt + 1) / 2)
        n_logits = ds + (1 if pt else 0)
        core = iteration_time_s(L70B, H100, dep, prefill_tokens=pt, prefill_pairs=pairs, prefill_prefix_tokens=prefix,
                                decode_seqs=ds, decode_context_tokens=ctx, logits=n_logits)["total"]
        assert table.time_s(pt, pairs, prefix, ds, ctx, n_logits) == pytest.approx(float(core), rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(b=st.integers(1, 512), db=st.integers(1, 512), ctx=st.integers(1, 32768), dctx=st.integers(1, 32768),
       tp=st.sampled_from([1, 2, 4, 8]), prec=st.sampled_from(["bf16", "fp8", "int4"]))
def test_decode_time_monotone_in_batch_and_context(b, db, ctx, dctx, tp, prec):
    dep = Deployment(tp=tp, precision=prec)
    t = float(decode_step_time_s(L70B, H100, dep, b, ctx))
    assert float(decode_step_time_s(L70B, H100, dep, b + db, ctx)) >= t
    assert float(decode_step_time_s(L70B, H100, dep, b, ctx + dctx)) >= t


@settings(max_examples=30, deadline=None)
@given(s=st.integers(1, 16384), ds=st.integers(1, 16384), b=st.integers(1, 16))
def test_prefill_time_monotone_in_length_and_batch(s, ds, b):
    t = float(prefill_time_s(L8B, A100, Deployment(), b, s))
    assert float(prefill_time_s(L8B, A100, Deployment(), b, s + ds)) >= t
    assert float(prefill_time_s(L8B, A100, Deployment(), b + 1, s)) >= t


@settings(max_examples=20, deadline=None)
@given(tp=st.sampled_from([1, 2, 4, 8]))
def test_quantization_orders_weights_and_decode_time(tp):
    w = {p: weight_bytes_per_gpu(L70B, Deployment(tp=tp, precision=p)) for p in ("bf16", "fp8", "int8-wo", "int4")}
    assert w["bf16"] > w["fp8"] == w["int8-wo"] > w["int4"]
    t = {p: float(decode_step_time_s(L70B, H100, Deployment(tp=tp, precision=p), 1, 512)) for p in ("bf16", "fp8", "int4")}
    assert t["bf16"] > t["fp8"] > t["int4"]


def test_static_batch_estimate_contract():
    r = estimate_inference(L70B, H100, Deployment(tp=4, precision="fp8"), batch=8, input_len=1000, output_len=200)
    d = r.to_dict()
    for key in ("feasible", "reason", "ttft_s", "tpot_s", "e2e_s", "output_tokens_per_s", "kv_cache_bytes_per_seq",
                "max_concurrent_seqs", "weights_bytes_per_gpu"):
        assert key in d
    assert d["feasible"] and d["reason"] == ""
    assert d["e2e_s"] == pytest.approx(d["ttft_s"] + 199 * d["tpot_s"])
    assert d["output_tokens_per_s"] == pytest.approx(8 * 200 / d["e2e_s"])
    assert d["kv_cache_bytes_per_seq"] == kv_bytes_per_token(L70B) * 1200


def test_infeasible_is_a_reason_not_an_exception():
    r = estimate_inference(L70B, H100, Deployment(tp=1), batch=1, input_len=100, output_len=100)
    assert not r.feasible and "do not fit" in r.reason
    long = estimate_inference(L70B, H100, Deployment(tp=8), batch=1, input_len=4000, output_len=200)
    assert not long.feasible and "context window" in long.reason
    big = estimate_inference(L8B, H100, Deployment(), batch=100000, input_len=4000, output_len=200)
    assert not big.feasible and "batch does not fit" in big.reason


@pytest.mark.parametrize("dep, words", [
    (Deployment(tp=3), "does not divide the 64 attention heads"),
    (Deployment(tp=0), "positive whole number"),
    (Deployment(pp=100), "exceeds the 80 layers"),
    (Deployment(precision="fp4"), "needs fp4 tensor cores, which h100-sxm-80gb lacks"),
    (Deployment(precision="int2"), "--precision"),
    (Deployment(kv_precision="fp4"), "--kv-precision"),
    (Deployment(engine="nope"), "--engine"),
    (Deployment(tp=2, ep=2), "mixture-of-experts"),
])
def test_bad_deployments_raise_clear_errors(dep, words):
    with pytest.raises(PlanError, match=words):
        estimate_inference(L70B, H100, dep, batch=1, input_len=10, output_len=10)


def test_bad_lengths_raise():
    with pytest.raises(PlanError, match="--input-len"):
        estimate_inference(L8B, H100, Deployment(), batch=1, input_len=0, output_len=10)
    with pytest.raises(PlanError, match="--batch"):
        estimate_inference(L8B, H100, Deployment(), batch=-2, input_len=10, output_len=10)
