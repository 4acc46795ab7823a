"""Formula tests for parameter and FLOP counts against hand calculations and published counts."""

import pytest

from simulator import load_model, model_ids
from simulator.validation.training import megatron_mfu_flop_per_step


@pytest.mark.parametrize("model_id", model_ids())
def test_parameter_count_matches_published(model_id):
    m = load_model(model_id)
    assert m.published_params, f"{model_id} needs published_params"
    # within 1%, or within the rounding of tables that quote one decimal in billions (Narayanan Table 1)
    assert abs(m.total_params() - m.published_params) <= max(0.01 * m.published_params, 0.05e9)


def test_gpt_model_flops_equal_megatron_formula():
    """6N + attention per token reproduces Korthikanti et al.'s 72*B*s*l*h^2*(1+s/6h+V/12lh)."""
    m = load_model("megatron-18b")  # MHA, d_ff = 4h, tied embeddings, learned positions
    b, s = 8, 2048
    ours = m.model_flop_per_token(s) * b * s
    paper = megatron_mfu_flop_per_step(b, s, m.n_layers, m.d_model, m.vocab_size)
    assert ours == pytest.approx(paper, rel=2e-3)


def test_six_n_plus_attention_by_hand():
    m = load_model("llama2-7b")
    h, L, s, V, dff = 4096, 32, 4096, 32000, 11008
    n_matmul = L * (4 * h * h + 3 * h * dff) + V * h  # attention + SwiGLU MLP + LM head
    hand = 6 * n_matmul + 12 * L * h * s
    assert m.model_flop_per_token(s) == pytest.approx(hand, rel=1e-9)


def test_gqa_shrinks_kv_projection():
    m = load_model("llama3.1-70b")
    h = 8192
    assert m.kv_dim == 8 * 128
    assert m.attention_params_per_layer() == pytest.approx(h * h * 2 + 2 * h * 1024)


def test_moe_active_params_much_smaller_than_total():
    m = load_model("mixtral-8x7b")
    assert m.total_params() == pytest.approx(46.7e9, rel=0.01)
    # top-2 of 8 experts: about 12.9B active (Mistral AI announcement), LM head included
    assert m.active_matmul_params() == pytest.approx(12.9e9, rel=0.03)
    ds = load_model("deepseek-v3")
    assert ds.active_matmul_params() == pytest.approx(37e9, rel=0.05)  # DeepSeek-V3 report: 37B activated
