"""Sliding-window attention (Mistral 7B v0.1, Gemma 2/3, gpt-oss): which layers have the window is read from a config
as transformers builds it, a windowed layer attends to and caches at most its window, and a window longer than every
sequence changes nothing."""

import json
from dataclasses import replace

import numpy as np
import pytest

import simulator as sim
from simulator.catalog.hf_config import model_file_from_hf
from simulator.catalog.models import HF_DIR, model_from_dict
from simulator.core.inference import Deployment, decode_step_time_s, prefill_time_s
from simulator.core.inference.memory import kv_bytes_per_seq, kv_bytes_per_token, memory_plan
from simulator.core.inference.static import estimate_inference
from simulator.core.model import causal_pairs
from simulator.errors import DataFileError, SimulatorError

H100 = sim.load_hardware("h100-sxm-80gb")


def hf(name, **changes):
    cfg = json.loads((HF_DIR / name / "config.json").read_text())
    cfg.update(changes)
    return model_file_from_hf(cfg, "x", "x", "x")


def window(name, **changes):
    att = hf(name, **changes)["attention"]
    return att.get("sliding_window_tokens"), att.get("sliding_window_layers")


def test_the_windowed_layers_are_counted_as_transformers_lays_them_out():
    assert window("gpt-oss-120b") == (128, 18)  # its layer_types list, alternating
    assert window("gemma-2-9b") == (4096, 21)  # Gemma2Config: even layers (0, 2, ...) of 42
    # Mistral 7B v0.1 (MistralConfig): a window on every layer; v0.3 has none (null)
    assert window("mistral-7b-v0.3", sliding_window=4096) == (4096, 32)
    assert window("mistral-7b-v0.3") == (None, None)
    # Qwen2: only with use_sliding_window, on the layers from max_window_layers on
    assert window("qwen2.5-7b-instruct") == (None, None)
    assert window("qwen2.5-7b-instruct", use_sliding_window=True, max_window_layers=20) == (131072, 8)
    # a layer_types list wins over the class rule
    assert window("gemma-2-9b", layer_types=["sliding_attention"] * 40 + ["full_attention"] * 2) == (4096, 40)
    # Gemma 3: all but every sliding_window_pattern-th layer (default 6): 26 layers, 22 windowed
    gemma3 = {"architectures": ["Gemma3ForCausalLM"], "head_dim": 256, "hidden_size": 1152,
              "intermediate_size": 6912, "max_position_embeddings": 32768, "num_attention_heads": 4,
              "num_hidden_layers": 26, "num_key_value_heads": 1, "sliding_window": 512, "vocab_size": 262144}
    att = model_file_from_hf(gemma3, "x", "x", "x")["attention"]
    assert (att["sliding_window_tokens"], att["sliding_window_layers"]) == (512, 22)
    loaded = sim.load_model("gpt-oss-120b")
    assert (loaded.window_tokens, loaded.n_window_layers, loaded.n_full_attention_layers) == (128, 18, 18)


def test_a_bad_window_is_one_line_naming_the_key():
    with pytest.raises(DataFileError, match="layer_types"):
        hf("gpt-oss-120b", layer_types=["sliding_attention"] * 3)
    with pytest.raises(DataFileError, match="sliding_window"):
        hf("gemma-2-9b", sliding_window=[4096])
    base = {"name": "w", "n_layers": 4, "d_model": 256, "n_heads": 4, "d_ff": 1024, "vocab_size": 1000}
    with pytest.raises(SimulatorError, match="sliding_window_layers"):
        model_from_dict({**base, "attention": {"sliding_window_tokens": 64}})
    with pytest.raises(SimulatorError, match="exceeds n_layers"):
        model_from_dict({**base, "attention": {"sliding_window_tokens": 64, "sliding_window_layers": 5}})


def test_causal_pairs_with_a_window_is_the_sum_of_min_position_window():
    rng = np.random.default_rng(0)
    for _ in range(200):
        prefix, new, w = (int(x) for x in rng.integers(0, 300, 3))
        w += 1
        brute = sum(min(p, w) for p in range(prefix + 1, prefix + new + 1))
        assert causal_pairs(prefix, new, w) == pytest.approx(brute)
        assert causal_pairs(prefix, new, prefix + new + 5) == pytest.approx(causal_pairs(prefix, new))


def windowed(model, w, layers):
    return replace(model, window_tokens=w, window_layers=layers)


def test_a_window_longer_than_every_sequence_changes_nothing():
    base = sim.load_model("llama3.1-8b")
    wide = windowed(base, 1 << 20, base.n_layers // 2)
    dep = Deployment(tp=1, precision="fp8", kv_precision="fp8", engine="vllm")
    assert wide.attention_flop_per_token_fwd(8192) == pytest.approx(base.attention_flop_per_token_fwd(8192))
    a = estimate_inference(base, H100, dep, batch=16, input_len=2000, output_len=300).to_dict()
    b = estimate_inference(wide, H100, dep, batch=16, input_len=2000, output_len=300).to_dict()
    for key in ("ttft_s", "tpot_s", "e2e_s", "max_concurrent_seqs", "kv_cache_bytes_per_seq"):
        assert b[key] == pytest.approx(a[key], rel=1e-12), key


def test_windowed_layers_stop_growing_past_the_window():
    base = sim.load_model("llama3.1-8b")
    half = windowed(base, 1024, base.n_layers // 2)
    dep = Deployment(tp=1, precision="fp8", kv_precision="fp8", engine="vllm")
    # decode: past the window only the full layers' reads grow with the context (attention is linear in it)
    grow_base = float(decode_step_time_s(base, H100, dep, 64, 20000) - decode_step_time_s(base, H100, dep, 64, 10000))
    grow_half = float(decode_step_time_s(half, H100, dep, 64, 20000) - decode_step_time_s(half, H100, dep, 64, 10000))
    assert grow_half == pytest.approx(grow_base / 2, rel=0.02)
    # prefill of a long prompt is cheaper, a prompt inside the window costs the same
    assert prefill_time_s(half, H100, dep, 1, 16000) < prefill_time_s(base, H100, dep, 1, 16000)
    assert float(prefill_time_s(half, H100, dep, 1, 1000)) == pytest.approx(float(prefill_time_s(base, H100, dep, 1, 1000)))
    # training FLOPs: attention over at most the window on half the layers
    full = base.attention_flop_per_token_fwd(8192)
    assert half.attention_flop_per_token_fwd(8192) == pytest.approx(full / 2 + full / 2 * 1024 / 8192)


def test_the_kv_cache_holds_only_the_window_where_the_engine_pools_by_window():
    model = sim.load_model("gpt-oss-120b")  # 128-token window on 18 of 36 layers
    v1 = Deployment(tp=4, precision="bf16", kv_precision="bf16", engine="vllm", engine_version="0.10")
    v0 = Deployment(tp=4, precision="bf16", kv_precision="bf16", engine="vllm", engine_version="0.6")
    assert v1.profile.window_kv and not v0.profile.window_kv
    per_token = kv_bytes_per_token(model, "bf16")
    assert kv_bytes_per_seq(model, v0, 4000) == pytest.approx(per_token * 4000)
    assert kv_bytes_per_seq(model, v1, 4000) == pytest.approx(per_token / 2 * (4000 + 128))
    m1, m0 = memory_plan(model, H100, v1), memory_plan(model, H100, v0)
    assert m0.kv_window is None and m1.kv_window == (128, 18.0, 36.0)
    # a 4,000-token sequence holds 250 blocks of 16 on a full layer and ceil(128 / 16) + 1 = 9 on a windowed one:
    # (250 + 9) / 2 rounded up to whole blocks
    assert int(m1.blocks_for(4000)) == 130
    assert int(m0.blocks_for(4000)) == 250
    r1 = estimate_inference(model, H100, v1, batch=64, input_len=3000, output_len=1000).to_dict()
    r0 = estimate_inference(model, H100, v0, batch=64, input_len=3000, output_len=1000).to_dict()
    assert r1["max_concurrent_seqs"] > 1.8 * r0["max_concurrent_seqs"]
    assert r1["kv_cache_bytes_per_seq"] < 0.52 * r0["kv_cache_bytes_per_seq"]


def test_the_serving_table_costs_windowed_layers_as_iteration_time_s_does():
    from simulator.core.inference import IterationCostTable, iteration_time_s

    model = sim.load_model("gpt-oss-120b")
    dep = Deployment(tp=2, precision="mxfp4-wo", kv_precision="bf16", engine="vllm")
    table = IterationCostTable(model, H100, dep, 8192, 512)
    # 300 decodes at 2,000 cached tokens each and one 512-token chunk after 1,000 cached tokens
    w = model.window_tokens
    ctx = 300 * 2001.0
    window = (float(causal_pairs(1000, 512, w)), float(min(1000, w)), 300 * float(min(2001, w)))
    got = table.time_s(512, float(causal_pairs(1000, 512)), 1000.0, 300, ctx, 301, window)
    want = iteration_time_s(model, H100, dep, prefill_tokens=512, prefill_pairs=float(causal_pairs(1000, 512)),
                            prefill_prefix_tokens=1000.0, decode_seqs=300, decode_context_tokens=ctx, logits=301,
                            window_pairs=window[0], window_prefix_tokens=window[1], window_context_tokens=window[2])
    assert got == pytest.approx(float(want["total"]), rel=1e-9)
    # without the window sums every layer is costed as a full one: slower
    assert table.time_s(512, float(causal_pairs(1000, 512)), 1000.0, 300, ctx, 301) > got


@pytest.mark.parametrize("version", ["0.10", "0.6"])  # the KV cache capped at the window (V1) or not (V0)
def test_saturated_serve_agrees_with_infer_for_a_windowed_model(version):
    from simulator.serving import ServingConfig, simulate_serving
    from simulator.serving.workload import make_workload

    model = sim.load_model("gpt-oss-120b")
    dep = Deployment(tp=2, precision="mxfp4-wo", kv_precision="bf16", engine="vllm", engine_version=version,
                     max_seqs=128)
    batch, n_in, n_out = 128, 1024, 512
    inf = estimate_inference(model, H100, dep, batch=batch, input_len=n_in, output_len=n_out)
    assert inf.feasible
    wl = make_workload(4 * batch, input_len=n_in, output_len=n_out, arrival="offline", seed=1)
    srv = simulate_serving(model, H100, ServingConfig(dep, replicas=1), wl, seed=1).summary
    assert srv["requests_completed"] == 4 * batch
    assert srv["throughput_output_tokens_per_s"] == pytest.approx(inf.output_tokens_per_s, rel=0.05)


def test_serve_holds_more_sequences_where_the_engine_caps_windowed_layers():
    from simulator.core.inference.memory import window_cap
    from simulator.serving import ServingConfig, simulate_serving
    from simulator.serving.state import Engine
    from simulator.serving.workload import make_workload

    model = sim.load_model("gpt-oss-120b")
    base = Deployment(tp=1, precision="mxfp4-wo", kv_precision="bf16", engine="vllm", max_seqs=1024,
                      max_batched_tokens=16384)
    # the same engine with and without its per-window KV pools
    deps = {"capped": base, "full": replace(base, engine_profile=replace(base.profile, window_kv=False))}
    # the serving engine counts a sequence's blocks as the memory plan does: whole blocks of the layer-weighted count,
    # checked against integer arithmetic on a share that is not exact in floats (29 of 34 layers, Gemma-3-4b-like)
    dep = deps["capped"]
    assert window_cap(model, dep) == (128, 18.0, 36.0)
    odd = replace(model, n_layers=34, window_tokens=1024, window_layers=29)
    plan = memory_plan(odd, H100, dep)
    engine = Engine(0, "both", dep, None, 1000, 0.0, window_tokens=1024, kv_window=plan.kv_window)
    tokens = np.arange(1, 200_001)
    full = -(-tokens // 16)
    exact = -(-(5 * full + 29 * np.minimum(full, 1024 // 16 + 1)) // 34)
    assert np.array_equal(plan.blocks_for(tokens), exact) and np.array_equal(engine.blocks(tokens), exact)
    # decode-bound work on 4,000-token sequences: the capped cache holds about twice the sequences
    tput = {}
    for key, d in deps.items():
        wl = make_workload(200, input_len=2000, output_len=2000, arrival="offline", seed=2)
        res = simulate_serving(model, H100, ServingConfig(d, replicas=1), wl, seed=2)
        assert res.summary["requests_completed"] == 200
        tput[key] = res.summary["throughput_output_tokens_per_s"]
    held = {k: memory_plan(model, H100, d).max_concurrent_seqs(4000) for k, d in deps.items()}
    assert held["capped"] > 1.9 * held["full"]
    # serve gains what a static batch of that many sequences gains (the same iteration model, more in flight)
    static = {k: estimate_inference(model, H100, d, batch=int(held[k]), input_len=2000,
                                    output_len=2000).output_tokens_per_s for k, d in deps.items()}
    assert tput["capped"] / tput["full"] == pytest.approx(static["capped"] / static["full"], rel=0.1)
    assert tput["capped"] > 1.3 * tput["full"]


def test_training_time_and_flops_both_see_the_window():
    """A windowed model trains faster than its full-attention twin at a long sequence (FlashAttention skips past the
    window), and its model FLOPs count the window too: MFU stays comparable instead of dropping."""
    base = sim.load_model("llama3.1-8b")
    half = windowed(base, 1024, base.n_layers // 2)
    kw = dict(hardware="h100-sxm-80gb", gpus=8, tp=1, pp=1, seq_len=32768, global_batch=8)
    full = sim.estimate_training(base, **kw).to_dict()
    swa = sim.estimate_training(half, **kw).to_dict()
    assert swa["step_time_s"] < full["step_time_s"]
    assert swa["mfu"] == pytest.approx(full["mfu"], rel=0.15)
    # a window longer than the sequence changes nothing
    wide = windowed(base, 1 << 20, base.n_layers // 2)
    assert sim.estimate_training(wide, **kw).to_dict()["step_time_s"] == pytest.approx(full["step_time_s"], rel=1e-12)


def test_a_disaggregated_prefill_sends_only_the_cache_the_engine_keeps():
    from simulator.serving import ServingConfig, simulate_serving
    from simulator.serving.workload import make_workload

    model = sim.load_model("gpt-oss-120b")
    base = Deployment(tp=2, precision="mxfp4-wo", kv_precision="bf16", engine="vllm")
    full = replace(base, engine_profile=replace(base.profile, window_kv=False))
    ttft = {}
    for key, dep in (("capped", base), ("full", full)):
        cfg = ServingConfig(dep, prefill_replicas=1, decode_replicas=1)
        wl = make_workload(4, input_len=16000, output_len=2, arrival="poisson", rate_per_s=0.05, seed=4)
        ttft[key] = simulate_serving(model, H100, cfg, wl, seed=4).summary
    # the same prefill (first token); half the layers send 128 tokens instead of 16,000: the transfer, which the
    # second token waits for, is shorter
    assert ttft["capped"]["ttft_p50_s"] == pytest.approx(ttft["full"]["ttft_p50_s"])
    assert ttft["capped"]["e2e_p50_s"] < ttft["full"]["e2e_p50_s"]
    assert kv_bytes_per_seq(model, base, 16000) < 0.51 * kv_bytes_per_seq(model, full, 16000)
