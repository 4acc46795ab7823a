"""Memory and time model: hand calculations, published memory figures, and invariants."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import TrainingOptions, estimate_training, evaluate, load_hardware, load_model, load_stack, single_plan
from simulator.core import comm
from simulator.core.hardware import GemmCurve
from simulator.core.plans import PlanGrid
from simulator.core.roofline import soft_roofline_s
from simulator.core.training import Stack
from simulator.validation import DATA_DIR
from simulator.validation.training import _model_for

H100 = load_hardware("h100-sxm-80gb")
A100 = load_hardware("a100-sxm-80gb")
GIB = 2.0**30


def _eval(model, hw=H100, seq_len=4096, global_batch=512, options=None, **plan):
    o = options or TrainingOptions(seq_len=seq_len, global_batch=global_batch)
    return {k: v[0] for k, v in evaluate(load_model(model), hw, single_plan(**plan), o).items()}


def test_adam_mixed_precision_is_16_bytes_per_param_before_sharding():
    m = load_model("llama2-7b")
    o = TrainingOptions(seq_len=2048, global_batch=8, grad_reduce_fp32=False)
    r = _eval("llama2-7b", options=o, dp=8, zero=0)
    states = r["weights"] + r["gradients"] + r["optimizer_states"]
    params = m.total_params() - m.d_model  # the final norm is not counted as a stage parameter
    assert states / params == pytest.approx(16.0, rel=1e-3)


def test_fp32_gradient_accumulation_is_18_bytes_per_param():
    m = load_model("llama2-7b")
    r = _eval("llama2-7b", seq_len=2048, global_batch=8, dp=8, zero=0)
    states = r["weights"] + r["gradients"] + r["optimizer_states"]
    assert states / (m.total_params() - m.d_model) == pytest.approx(18.0, rel=1e-3)


def test_zero_stages_shard_what_they_should():
    r = {z: _eval("llama2-13b", dp=8, zero=z) for z in range(4)}
    assert r[1]["optimizer_states"] == pytest.approx(r[0]["optimizer_states"] / 8)
    assert r[2]["gradients"] == pytest.approx(r[0]["gradients"] / 8)
    assert r[3]["weights"] == pytest.approx(r[0]["weights"] / 8)
    assert r[1]["weights"] == r[0]["weights"]


MEMORY_ROWS = pd.read_csv(DATA_DIR / "memory_reference.csv")


@pytest.mark.parametrize("row", [r for _, r in MEMORY_ROWS.iterrows()], ids=list(MEMORY_ROWS.row_id))
def test_memory_matches_korthikanti_figure_1(row):
    """Korthikanti et al. 2022 Fig. 1 per-GPU memory (the paper's formula values, so agreement is exact)."""
    grid = PlanGrid.from_columns(tp=[row.tp], pp=[row.pp], dp=[row.dp], cp=[1], ep=[1],
                                 micro_batch=[row.micro_batch], zero=[0],
                                 recompute=[["none", "selective", "full"].index(row.recompute)],
                                 vpp=[row.vpp], precision=[1], sequence_parallel=[int(bool(row.sequence_parallel))])
    o = TrainingOptions(seq_len=int(row.seq_len), global_batch=int(row.global_batch), attention_kernel="unfused",
                        dropout=True)  # the Figure 1 models train with dropout
    r = evaluate(_model_for(row), A100, grid, o)
    if row.metric == "activation_gib_per_gpu":
        # Figure 1 counts the activations of the first stage, layers only (no logits buffer)
        ours = r["activations"][0] / GIB
    else:
        # Figure 1 counts the transformer layers only (18 bytes x 12 L h^2 / (t p)); remove the
        # embedding matrix our first stage also holds (18 bytes per parameter, split by TP)
        embedding = 18.0 * row.vocab_size * row.d_model / row.tp
        ours = (r["weights"][0] + r["gradients"][0] + r["optimizer_states"][0] - embedding) / GIB
    assert ours == pytest.approx(row.value, rel=1e-3), (row.row_id, ours, row.value)


def test_selective_recompute_removes_attention_scores_only():
    o = TrainingOptions(seq_len=2048, global_batch=8, attention_kernel="unfused")
    none = _eval("megatron-18b", hw=A100, options=o, tp=8, dp=1, recompute="none", sequence_parallel=True)
    sel = _eval("megatron-18b", hw=A100, options=o, tp=8, dp=1, recompute="selective", sequence_parallel=True)
    full = _eval("megatron-18b", hw=A100, options=o, tp=8, dp=1, recompute="full", sequence_parallel=True)
    assert full["activations"] < sel["activations"] < none["activations"]
    assert none["recompute"] == 0 < sel["recompute"] < full["recompute"]
    assert full["hfu"] > full["mfu"] and none["hfu"] == pytest.approx(none["mfu"])


@pytest.mark.parametrize("recompute", ["none", "selective", "full"])
@pytest.mark.parametrize("model, plan", [("llama3.1-70b", dict(tp=8, pp=4, dp=16, vpp=2)),
                                         ("mixtral-8x7b", dict(tp=2, cp=2, dp=8, ep=8, zero=1))])
def test_step_breakdown_adds_up(model, plan, recompute):
    o = TrainingOptions(seq_len=4096, global_batch=512, attention_kernel="unfused")
    r = _eval(model, options=o, recompute=recompute, **plan)
    parts = sum(r[k] for k in ("compute", "recompute", "tp_comm", "cp_comm", "ep_comm", "pp_comm",
                               "bubble", "dp_comm", "optimizer"))
    assert parts == pytest.approx(r["step_time_s"], rel=1e-9)
    assert all(r[k] >= 0 for k in ("compute", "recompute", "tp_comm", "dp_comm", "bubble"))


def test_zero3_pays_for_expert_and_dense_gathers():
    """FSDP gathers every parameter (experts included) each micro-batch; it is never free."""
    z1 = _eval("mixtral-8x7b", seq_len=1024, global_batch=64, tp=1, dp=64, ep=8, zero=1)
    z3 = _eval("mixtral-8x7b", seq_len=1024, global_batch=64, tp=1, dp=64, ep=8, zero=3)
    assert z3["dp_comm"] > 0 and z1["dp_comm"] > 0
    no_overlap = _eval("mixtral-8x7b", seq_len=1024, global_batch=64, tp=1, dp=64, ep=8, zero=3,
                       options=TrainingOptions(seq_len=1024, global_batch=64, dp_overlap=False))
    assert no_overlap["dp_comm"] > z3["dp_comm"]


def test_stack_zero3_terms_by_hand():
    """A stack with its own gather path: per micro-batch, the other ranks' (n-1)/n of the 16-bit stage
    weights over zero3_bytes_per_s plus zero3_rank_layer_s per layer for each other rank, nothing hidden;
    alone on one GPU there is nothing to gather."""
    st = Stack("test", fsdp_overlap=False, zero3_bytes_per_s=10e9, zero3_rank_layer_s=1e-4)
    m = load_model("llama2-13b")
    o = TrainingOptions(seq_len=4096, global_batch=64, stack=st)
    r = _eval("llama2-13b", options=o, dp=16, zero=3, micro_batch=1)  # 4 micro-batches
    stage_weight_bytes = 2.0 * m.total_params()
    expected = 4 * (stage_weight_bytes * 15 / 16 / 10e9 + 1e-4 * m.n_layers * 15)
    assert r["dp_comm"] == pytest.approx(expected, rel=0.01)
    alone = _eval("llama2-13b", options=TrainingOptions(seq_len=4096, global_batch=4, stack=st), dp=1, zero=3)
    assert alone["dp_comm"] == 0.0


def test_deepspeed_2021_changes_only_zero3_plans():
    std = TrainingOptions(seq_len=4096, global_batch=64)
    ds = TrainingOptions(seq_len=4096, global_batch=64, stack=replace(load_stack("deepspeed-2021"),
                                                                        zero_stages=(0, 1, 2, 3)))
    for zero in (0, 1, 2):
        assert _eval("llama2-13b", options=ds, dp=16, zero=zero)["step_time_s"] == pytest.approx(
            _eval("llama2-13b", options=replace(std, attention_kernel="unfused"), dp=16, zero=zero)["step_time_s"])
    assert _eval("llama2-13b", options=ds, dp=16, zero=3)["step_time_s"] > \
        _eval("llama2-13b", options=replace(std, attention_kernel="unfused"), dp=16, zero=3)["step_time_s"]


def test_step_overhead_is_added_once_per_step_and_shown():
    base = Stack()
    slow = Stack(step_overhead_s=0.25)
    a = _eval("llama2-7b", options=TrainingOptions(seq_len=4096, global_batch=64, stack=base), dp=8)
    b = _eval("llama2-7b", options=TrainingOptions(seq_len=4096, global_batch=64, stack=slow), dp=8)
    assert b["step_time_s"] - a["step_time_s"] == pytest.approx(0.25)
    assert b["overhead"] == 0.25 and a["overhead"] == 0.0


def test_compute_scale_slows_compute_not_communication():
    half = Stack(compute_efficiency_scale=0.5)
    a = _eval("llama2-7b", options=TrainingOptions(seq_len=4096, global_batch=64), dp=8, zero=1)
    b = _eval("llama2-7b", options=TrainingOptions(seq_len=4096, global_batch=64, stack=half), dp=8, zero=1)
    assert 1.6 < b["compute"] / a["compute"] < 2.05  # GEMMs and attention slow down; memory-bound kernels do not
    assert b["optimizer"] == a["optimizer"]


def test_stack_rules_refuse_what_the_stack_lacks():
    """A plan a stack cannot run carries the stack reason in a grid and is refused with the stack named alone."""
    from simulator.core.plans import STACK_LACKS
    from simulator.errors import PlanError

    titan = load_stack("torchtitan")
    r = _eval("llama2-7b", options=TrainingOptions(seq_len=4096, global_batch=64, stack=titan), dp=8, zero=1)
    assert int(r["reason"]) & STACK_LACKS
    with pytest.raises(PlanError, match="stack llm-foundry cannot run .*pipeline"):
        estimate_training("llama2-7b", "h100-sxm-80gb", 16, global_batch=64, seq_len=4096, pp=2,
                          stack="llm-foundry")
    with pytest.raises(PlanError, match="no torch.compile"):
        estimate_training("llama2-7b", "h100-sxm-80gb", 8, global_batch=64, seq_len=4096, stack="nemo", compile=True)
    with pytest.raises(PlanError, match="no fp8 recipe 'rowwise'; it offers delayed, current"):
        estimate_training("llama2-7b", "h100-sxm-80gb", 8, global_batch=64, seq_len=4096, precision="fp8",
                          stack="megatron-core", fp8_recipe="rowwise")


def test_fsdp_with_pipeline_runs_where_the_stack_offers_it():
    """torchtitan and Llama 3 run FSDP with pipeline stages; Megatron-Core (no FSDP+PP) refuses it by name."""
    from simulator.errors import PlanError

    rec = estimate_training("llama3.1-70b", "h100-sxm-80gb", 256, global_batch=64, seq_len=8192, tp=8, pp=4, zero=3,
                            recompute="full", stack="torchtitan").record
    assert rec["feasible"] and rec["stack"] == "torchtitan"
    # the stage stays unsharded across its micro-batches: 16-bit weights and gradients of the stage on top of shards
    stage_params = load_model("llama3.1-70b").total_params() / (4 * 8)
    assert rec["memory_breakdown"]["weights"] > 2.0 * stage_params * 0.9
    with pytest.raises(PlanError, match="stack megatron-core cannot run ZeRO-3/FSDP together with pipeline"):
        estimate_training("llama3.1-70b", "h100-sxm-80gb", 64, global_batch=64, seq_len=8192, pp=4, zero=3,
                          stack="megatron-core")


def test_op_level_checkpointing_sits_between_none_and_full():
    """torchtitan's op-level SAC stores less than no recompute and more than full, and recomputes in between."""
    o = TrainingOptions(seq_len=8192, global_batch=16, stack=load_stack("torchtitan"))
    none, op, full = (_eval("llama3.1-8b", options=o, dp=8, zero=3, recompute=r) for r in ("none", "op", "full"))
    assert full["activations"] < op["activations"] < none["activations"]
    assert none["recompute"] == 0.0 < op["recompute"] < full["recompute"]


def test_compile_fuses_elementwise_work():
    eager = TrainingOptions(seq_len=8192, global_batch=16, stack=load_stack("torchtitan"))
    compiled = TrainingOptions(seq_len=8192, global_batch=16, stack=load_stack("torchtitan", compile=True))
    a = _eval("llama3.1-8b", options=eager, dp=8, zero=3, recompute="none")
    b = _eval("llama3.1-8b", options=compiled, dp=8, zero=3, recompute="none")
    assert b["compute"] < a["compute"]


def test_pipeline_peak_is_the_heavier_of_first_and_last_stage():
    """With pp > 1 the first stage holds pp micro-batches of activations and no logits, the last one micro-batch
    and the logits: the peak is the larger, not their sum."""
    o = TrainingOptions(seq_len=4096, global_batch=64)
    r = _eval("llama2-7b", options=o, pp=4, dp=2, micro_batch=1, recompute="none")
    flat = _eval("llama2-7b", options=o, pp=1, dp=8, micro_batch=1, recompute="none")
    logits = 4096 * 32000 * 6.0
    per_stage_layers = r["activations"] / 4  # 4 micro-batches in flight on the first stage, a quarter of the layers
    assert r["activations"] + r["buffers"] < per_stage_layers * 4 + logits + 1  # not both
    assert flat["buffers"] == pytest.approx(logits)


def _no_contention(hw):
    return replace(hw, intra=replace(hw.intra, overlap_compute_penalty=0.0),
                   inter=replace(hw.inter, overlap_compute_penalty=0.0))


def test_hidden_communication_costs_the_links_compute_penalty():
    """FSDP inside one node, fully hidden: without contention it costs nothing; with it, exactly the NVLink
    penalty (0.15 on H100) times the collective time, which dp_overlap=False exposes in full."""
    o = TrainingOptions(seq_len=4096, global_batch=64)
    free = _eval("llama2-13b", hw=_no_contention(H100), options=o, dp=8, zero=3)
    charged = _eval("llama2-13b", hw=H100, options=o, dp=8, zero=3)
    exposed = _eval("llama2-13b", hw=_no_contention(H100), dp=8, zero=3,
                    options=TrainingOptions(seq_len=4096, global_batch=64, dp_overlap=False))
    assert free["dp_comm"] == 0.0
    assert H100.intra.overlap_compute_penalty == 0.15
    assert charged["dp_comm"] == pytest.approx(0.15 * exposed["dp_comm"], rel=1e-9)


def test_contention_penalty_weights_the_links_by_time():
    one_node = comm.overlap_penalty(*comm.hierarchical_gather_parts_s(8, 1e9, 1, H100), H100)
    two_nodes = comm.overlap_penalty(*comm.hierarchical_gather_parts_s(16, 1e9, 1, H100), H100)
    assert float(one_node) == pytest.approx(H100.intra.overlap_compute_penalty)
    assert H100.inter.overlap_compute_penalty < float(two_nodes) < H100.intra.overlap_compute_penalty


def test_zero2_reduces_every_micro_batch():
    one = _eval("llama2-13b", seq_len=4096, global_batch=64, dp=64, zero=1)
    many = _eval("llama2-13b", seq_len=4096, global_batch=256, dp=64, zero=2)
    few = _eval("llama2-13b", seq_len=4096, global_batch=64, dp=64, zero=2)
    assert many["dp_comm"] >= few["dp_comm"] and few["dp_comm"] >= one["dp_comm"] * 0.99


def test_interleaving_shrinks_the_bubble():
    a = _eval("llama3.1-70b", tp=8, pp=4, dp=16, vpp=1)
    b = _eval("llama3.1-70b", tp=8, pp=4, dp=16, vpp=2)
    assert b["bubble"] == pytest.approx(a["bubble"] / 2, rel=0.01)


def test_tp_shrinks_gemms_and_adds_communication():
    t1 = _eval("llama2-13b", tp=1, dp=8, zero=3)
    t8 = _eval("llama2-13b", tp=8, dp=1)
    assert t1["tp_comm"] == 0 and t8["tp_comm"] > 0


def test_out_of_memory_is_flagged_with_reason():
    r = _eval("llama3.1-405b", tp=1, dp=8, zero=0)
    assert not r["feasible"] and r["reason"] & 256


def test_moe_plan_runs_with_expert_parallelism():
    r = _eval("mixtral-8x7b", tp=2, dp=8, ep=8, zero=1, global_batch=256)
    assert r["feasible"] and r["ep_comm"] > 0


def test_soft_roofline_between_max_and_sum_bounds():
    curve = GemmCurve(compute_efficiency=0.8, memory_efficiency=0.9, p=1.3, launch_s=0.0)
    flop, moved = np.array([1e9, 1e12, 5e13]), np.array([1e9, 1e9, 1e9])
    t = soft_roofline_s(flop, moved, 1e15, 3e12, curve)
    tc, tm = flop / (0.8e15), moved / (0.9 * 3e12)
    assert np.all(t >= np.maximum(tc, tm) - 1e-15) and np.all(t <= tc + tm + 1e-15)


plans = st.fixed_dictionaries({
    "tp": st.sampled_from([1, 2, 4, 8]), "pp": st.sampled_from([1, 2, 4]), "dp": st.sampled_from([1, 2, 4, 8]),
    "micro_batch": st.sampled_from([1, 2, 4]), "recompute": st.sampled_from(["none", "selective", "full"]),
})


@settings(max_examples=40, deadline=None)
@given(plans)
def test_higher_zero_stage_never_uses_more_memory(p):
    mems = [_eval("llama2-13b", global_batch=64, zero=z, **p)["memory_per_gpu_bytes"] for z in (0, 1, 2)]
    assert mems[0] >= mems[1] >= mems[2]
    if p["pp"] == 1:
        assert mems[2] >= _eval("llama2-13b", global_batch=64, zero=3, **p)["memory_per_gpu_bytes"]


@settings(max_examples=40, deadline=None)
@given(plans, st.sampled_from([0, 1, 2, 3]))
def test_more_data_parallelism_never_raises_weight_memory(p, zero):
    if zero == 3 and p["pp"] > 1:
        return
    small = _eval("llama2-13b", global_batch=64, zero=zero, **p)
    p2 = dict(p, dp=p["dp"] * 2)
    big = _eval("llama2-13b", global_batch=64, zero=zero, **p2)
    assert big["weights"] <= small["weights"]


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([1024, 2048, 4096]), st.sampled_from([1, 2, 8]))
def test_time_monotone_in_flop(seq_len, tp):
    """A strictly larger model (more layers, wider MLP) never trains a step faster."""
    m = load_model("llama2-7b")
    small = evaluate(m, H100, single_plan(tp=tp, dp=8 // tp if tp < 8 else 1), TrainingOptions(seq_len=seq_len, global_batch=64))
    from dataclasses import replace
    bigger = replace(m, d_ff=m.d_ff * 2, n_layers=m.n_layers * 2)
    big = evaluate(bigger, H100, single_plan(tp=tp, dp=8 // tp if tp < 8 else 1), TrainingOptions(seq_len=seq_len, global_batch=64))
    assert big["step_time_s"][0] > small["step_time_s"][0]


@pytest.mark.parametrize("kw, match", [
    ({"gpus": "1024"}, "--gpus must be a positive whole number.*str"),
    ({"seq_len": 8192.5}, "--seq-len must be a whole number"),
    ({"tp": True}, "--tp must be a positive whole number"),
])
def test_api_refuses_wrong_types_with_the_field_name(kw, match):
    from simulator import PlanError, estimate_training

    args = {"gpus": 8, "global_batch": 8, "seq_len": 4096} | kw
    with pytest.raises(PlanError, match=match):
        estimate_training("llama3.1-8b", "h100-sxm-80gb", args.pop("gpus"), **args)


def test_search_top_needs_a_positive_count():
    from simulator import PlanError, plan_training

    res = plan_training("llama3.1-8b", "h100-sxm-80gb", 8, global_batch=64, seq_len=4096)
    assert len(res.top(3)) == 3
    for bad in (0, -1):
        with pytest.raises(PlanError, match="--top"):
            res.top(bad)


def test_deepspeed_zero3_gathers_matrices_not_blocks():
    """FSDP holds two gathered blocks (12h^2 each for a GPT); DeepSpeed's per-module gathers hold two of the
    largest matrix, the 4h^2 MLP projection: the buffers differ by 2 x 2 B x 8h^2 (biases and norms aside)."""
    h = load_model("megatron-530b").d_model
    plan = dict(tp=1, pp=1, dp=640, micro_batch=4, zero=3, recompute="full")
    std, ds = (_eval("megatron-530b", A100, 2048, 2560, TrainingOptions(seq_len=2048, global_batch=2560, stack=f),
                     **plan) for f in (Stack(), load_stack("deepspeed-2021")))
    assert std["buffers"] - ds["buffers"] == pytest.approx(2 * 2 * 8 * h * h, rel=1e-3)
    assert std["step_time_s"] != ds["step_time_s"] and ds["memory_per_gpu_bytes"] < std["memory_per_gpu_bytes"]


def test_api_search_tries_unequal_stages_unless_told_not_to():
    from simulator import plan_training

    kw = dict(global_batch=2048, seq_len=8192)
    best = plan_training("llama3.1-405b", "h100-sxm-80gb", 16384, **kw).top(1)[0]
    even = plan_training("llama3.1-405b", "h100-sxm-80gb", 16384, option_kw={"uneven_pp": False}, **kw).top(1)[0]
    assert best["uneven_pp"] and not even["uneven_pp"] and even["pp"] in (1, 2)


def test_empty_search_gives_an_empty_frame():
    from simulator import plan_training

    res = plan_training("llama3.1-405b", "a100-sxm-40gb", np.int64(8), global_batch=8, seq_len=8192)
    assert len(res.ranking) == 0 and res.to_frame().empty


def test_compare_training_refuses_bad_arguments_once_and_accepts_scalars():
    import simulator as sim
    from simulator.errors import PlanError

    kw = dict(global_batch=256, seq_len=4096, train_tokens=1e12)
    t = sim.compare_training("llama3.1-8b", "h100-sxm-80gb", 64, **kw)  # one hardware id, one count
    assert list(t["hardware"]) == ["h100-sxm-80gb"] and bool(t["feasible"].iloc[0])
    for bad, needle in [(dict(objective="speed"), "objective 'speed'"), (dict(precisions=["fp4"]), "precision 'fp4'"),
                        (dict(train_tokens=-5), "train-tokens"), (dict(option_kw={"dropuot": 1}), "unknown training"),
                        (dict(purchase="bogus"), "purchase option 'bogus'"), (dict(gpu_counts=[64.7]), "whole number"),
                        (dict(hardware=[]), "at least one hardware")]:
        args = {"hardware": ["h100-sxm-80gb"], "gpu_counts": [64], **kw, **bad}
        with pytest.raises(PlanError, match=needle):  # not a table of "no plan fits" rows
            sim.compare_training("llama3.1-8b", **args)


def test_hsdp_shards_inside_a_group_and_replicates_across():
    """HSDP (shard over 8 data-parallel ranks, replicate over the other 32): model states 8x the full-FSDP shard,
    and the gradients also cross the replicas (an all-reduce of each shard) on top of the in-group reduce-scatter."""
    from simulator.errors import PlanError

    kw = dict(global_batch=256, seq_len=4096, zero=3, recompute="full", stack="torchtitan")
    full = estimate_training("llama2-13b", "h100-sxm-80gb", 256, **kw).record
    hsdp = estimate_training("llama2-13b", "h100-sxm-80gb", 256, fsdp_shard=8, **kw).record
    assert hsdp["fsdp_shard"] == 8 and full["fsdp_shard"] == 256
    ratio = hsdp["memory_breakdown"]["optimizer_states"] / full["memory_breakdown"]["optimizer_states"]
    assert ratio == pytest.approx(32.0)
    assert hsdp["breakdown"]["dp_comm"] != full["breakdown"]["dp_comm"]
    with pytest.raises(PlanError, match="--fsdp-shard 7 must divide dp x cp = 256"):
        estimate_training("llama2-13b", "h100-sxm-80gb", 256, fsdp_shard=7, **kw)
    with pytest.raises(PlanError, match="stack megatron-core cannot run HSDP"):
        estimate_training("llama2-13b", "h100-sxm-80gb", 256, fsdp_shard=8, **{**kw, "stack": "megatron-core"})


def test_search_tries_hsdp_where_the_stack_offers_it():
    import simulator as sim

    titan = sim.plan_training("llama2-13b", "h100-sxm-80gb", 256, global_batch=256, seq_len=4096,
                              option_kw={"stack": "torchtitan"})
    mcore = sim.plan_training("llama2-13b", "h100-sxm-80gb", 256, global_batch=256, seq_len=4096)
    assert (titan.grid.shard > 0).any() and not (mcore.grid.shard > 0).any()


def test_pipeline_schedules_bubble_and_memory():
    """Zero bubble (ZB-H1) keeps 1F1B's memory with a third of its bubble; GPipe keeps 1F1B's bubble and stores every
    micro-batch; a stack refuses a schedule it does not offer, and the search tries the ones it does."""
    import simulator as sim
    from simulator.errors import PlanError

    kw = dict(global_batch=64, seq_len=8192, tp=8, pp=4, zero=3, recompute="full", stack="torchtitan")
    runs = {s: estimate_training("llama3.1-70b", "h100-sxm-80gb", 256, pp_schedule=s, **kw).record
            for s in ("1f1b", "zb", "gpipe")}
    assert runs["zb"]["breakdown"]["bubble"] == pytest.approx(runs["1f1b"]["breakdown"]["bubble"] / 3)
    assert runs["zb"]["memory_breakdown"]["activations"] == runs["1f1b"]["memory_breakdown"]["activations"]
    assert runs["gpipe"]["breakdown"]["bubble"] == pytest.approx(runs["1f1b"]["breakdown"]["bubble"])
    assert runs["1f1b"]["n_micro_batches"] == 8  # GPipe holds 8 micro-batches where 1F1B holds pp = 4
    assert runs["gpipe"]["memory_breakdown"]["activations"] > 1.5 * runs["1f1b"]["memory_breakdown"]["activations"]
    assert runs["zb"]["pp_schedule"] == "zb"
    with pytest.raises(PlanError, match="stack megatron-core cannot run the zb pipeline schedule"):
        estimate_training("llama3.1-70b", "h100-sxm-80gb", 256, pp_schedule="zb", **{**kw, "zero": 1,
                                                                                      "stack": "megatron-core"})
    with pytest.raises(PlanError, match="--vpp > 1 needs --pp-schedule interleaved"):
        estimate_training("llama3.1-70b", "h100-sxm-80gb", 256, pp_schedule="zb", vpp=2, **kw)
    res = sim.plan_training("llama3.1-70b", "h100-sxm-80gb", 256, global_batch=64, seq_len=8192,
                            option_kw={"stack": "torchtitan"})
    from simulator.vocab import PP_SCHEDULES
    assert PP_SCHEDULES.index("zb") in set(res.grid.schedule.tolist())


def test_published_megatron_recipes_fit():
    """NeMo's Llama 3.1 405B recipe (TP8 PP8 CP2 VP8, uneven stages, no recompute, bf16 gradient reduction as its
    recipes set it) and a GPT-3 175B recipe ran on 80 GB H100s: neither may be called 'does not fit'."""
    for precision in ("bf16", "fp8"):
        r = estimate_training("llama3.1-405b", "h100-sxm-80gb", 512, global_batch=252, seq_len=8192, tp=8, pp=8, cp=2,
                              pp_schedule="interleaved", vpp=8, uneven_pp=True, precision=precision, recompute="none",
                              stack="nemo").record
        assert r["feasible"], (precision, r["reason"])
        g = estimate_training("gpt3-175b", "h100-sxm-80gb", 512, global_batch=2048, seq_len=2048, tp=4, pp=8,
                              pp_schedule="interleaved", vpp=6, precision=precision, stack="nemo").record
        assert g["feasible"], (precision, g["reason"])
    titan = estimate_training("llama3.1-8b", "h100-sxm-80gb", 8, global_batch=16, seq_len=8192, micro_batch=2,
                              stack="torchtitan").record  # FSDP2 with op-level SAC (torchtitan's 8B recipe)
    assert titan["feasible"] and titan["recompute"] == "op"
