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
    assert m0.window_share == 0.0 and m1.window_share == 0.5
    # a 4,000-token sequence holds 250 blocks of 16 on a full layer and ceil(128 / 16) + 1 = 9 on a windowed one
    assert float(m1.blocks_for(4000)) == pytest.approx(0.5 * 250 + 0.5 * 9)
    assert int(m0.blocks_for(4000)) == 250
    r1 = estimate_inference(model, H100, v1, batch=64, input_len=3000, output_len=1000).to_dict()
    r0 = estimate_inference(model, H100, v0, batch=64, input_len=3000, output_len=1000).to_dict()
    assert r1["max_concurrent_seqs"] > 1.8 * r0["max_concurrent_seqs"]
    assert r1["kv_cache_bytes_per_seq"] < 0.52 * r0["kv_cache_bytes_per_seq"]
