"""Launch settings for a chosen plan (simulator.training_launch / serving_launch, `--launch`): the text carries the
plan's own degrees, obeys the frameworks' own consistency rules, parses in each framework's syntax (argparse built
from the data file's flags, tomllib, Python's ast), and says in one line when a stack or engine has no launcher.
Every expected value is computed from the plan's inputs, never read back from the program's output."""

from __future__ import annotations

import argparse
import ast
import json
import math
import shlex
import tomllib
from dataclasses import replace

import pytest
import yaml
from cli_util import run_cli

import simulator as sim
from simulator.api.launch import uneven_split
from simulator.catalog.launchers import launchers_file

H100 = "h100-sxm-80gb"
GPUS, TP, PP, VPP, GBS, MB, SEQ = 64, 8, 4, 2, 128, 1, 8192  # llama3.1-70b: 80 layers, interleaved 1F1B
LAYERS_70B = 80


def parser_for(fmt: str, positional: bool = False) -> argparse.ArgumentParser:
    """An argparse parser built from the data file's flags of one command-line format (switches store_true)."""
    p = argparse.ArgumentParser(prog=fmt, exit_on_error=False, allow_abbrev=False)
    if positional:
        p.add_argument("model")
    types = {"int": int, "float": float, "str": str}
    for name, f in launchers_file().frameworks[fmt].flags.items():
        if f.flag.startswith("-"):
            if f.type == "switch":
                p.add_argument(f.flag, dest=name, action="store_true")
            else:
                p.add_argument(f.flag, dest=name, type=types[f.type])
    return p


def command_words(text: str) -> list[str]:
    """The words of the last command of a launch text: comments, exports and heredoc files left out."""
    lines, skipping = [], False
    for line in text.splitlines():
        if line.startswith("cat > "):
            skipping = True
        elif skipping:
            skipping = line != "EOF"
        elif line and not line.startswith(("#", "export ")):
            lines.append(line)
    return shlex.split(" ".join(lines).replace("\\ ", " "))


def heredoc(text: str) -> str:
    start = text.index("<<'EOF'\n") + len("<<'EOF'\n")
    return text[start:text.index("\nEOF", start)]


def split_torchrun(words: list[str], script: str) -> tuple[argparse.Namespace, list[str]]:
    """torchrun's own arguments (parsed with its flags from the data file) and the script's."""
    at = words.index(script)
    return parser_for("torchrun").parse_args(words[1:at]), words[at + 1:]


@pytest.fixture(scope="module")
def plan70b():
    return sim.estimate_training("llama3.1-70b", H100, GPUS, tp=TP, pp=PP, vpp=VPP, pp_schedule="interleaved",
                                 global_batch=GBS, micro_batch=MB, seq_len=SEQ)


def test_megatron_arguments_carry_the_plans_degrees_and_obey_megatrons_rules(plan70b):
    text = sim.training_launch(plan70b, train_tokens=1e12)["megatron-lm"]
    run, script = split_torchrun(command_words(text), launchers_file().frameworks["megatron-lm"].command)
    a = parser_for("megatron-lm").parse_args(script)
    assert (a.tp, a.pp, a.cp, a.ep) == (TP, PP, 1, 1)
    world = run.nnodes * run.nproc_per_node
    assert world == GPUS and run.nproc_per_node == sim.load_hardware(H100).gpus_per_node
    dp = world // (a.tp * a.pp * a.cp)
    assert world == a.tp * a.pp * a.cp * dp and dp == GPUS // (TP * PP)
    assert (a.micro_batch, a.global_batch, a.seq_len) == (MB, GBS, SEQ)
    assert a.global_batch % (a.micro_batch * dp) == 0
    assert a.num_layers == LAYERS_70B and a.num_layers % a.pp == 0
    vpp = a.num_layers // a.pp // a.vpp_layers  # Megatron's derivation of the virtual stages per rank
    assert vpp == VPP and a.num_layers % (a.pp * vpp) == 0
    assert a.sequence_parallel and a.bf16 and a.distributed_optimizer  # tp > 1; Megatron's default ZeRO-1
    assert a.recompute_granularity == "selective" and a.recompute_method is None  # Megatron refuses a method here
    assert a.train_samples == math.ceil(1e12 / SEQ)
    assert a.num_query_groups == 8 and a.attention_dropout == 0.0  # the model file: GQA 8, no dropout


def test_megatron_fp8_and_full_recompute_and_fsdp():
    rec = sim.estimate_training("llama3.1-8b", H100, 16, tp=2, global_batch=32, seq_len=4096, precision="fp8",
                                recompute="full", zero=3, fp8_recipe="current")
    a = parser_for("megatron-lm").parse_args(split_torchrun(command_words(sim.training_launch(rec)["megatron-lm"]),
                                                            "pretrain_gpt.py")[1])
    values = launchers_file().frameworks["megatron-lm"].values
    assert a.bf16 and a.fp8_format == values["fp8_format"] and a.fp8_recipe == values["fp8_recipe"]["current"]
    assert (a.recompute_granularity, a.recompute_method, a.recompute_num_layers) == ("full", "uniform", 1)
    assert a.megatron_fsdp and not a.distributed_optimizer and a.ckpt_format == "fsdp_dtensor"
    assert "CUDA_DEVICE_MAX_CONNECTIONS" not in sim.training_launch(rec)["megatron-lm"]  # Megatron FSDP refuses it


@pytest.mark.parametrize("layers, pp, vpp", [(126, 16, 1), (126, 8, 2), (61, 4, 1), (94, 8, 2), (10, 2, 1)])
def test_uneven_stages_follow_megatrons_first_last_rule(layers, pp, vpp):
    first, last = uneven_split(layers, pp, vpp)
    middle_total = layers - first - last
    heaviest = math.ceil(layers / (pp * vpp)) * vpp  # the planner's heaviest stage
    assert first % vpp == 0 and last % vpp == 0 and 0 < first <= heaviest and 0 < last <= heaviest
    if pp > 2:
        assert middle_total % (pp - 2) == 0 and (middle_total // (pp - 2)) % vpp == 0
        assert middle_total // (pp - 2) <= heaviest
    else:
        assert middle_total == 0


def test_no_uneven_split_when_chunks_cannot_add_up():
    assert uneven_split(95, 8, 3) is None  # every stage a multiple of 3 layers cannot sum to 95


def test_uneven_405b_plan_writes_first_and_last_stage_layers():
    rec = sim.estimate_training("llama3.1-405b", H100, 2048, tp=8, pp=16, global_batch=2048, seq_len=8192,
                                uneven_pp=True)
    a = parser_for("megatron-lm").parse_args(split_torchrun(command_words(sim.training_launch(rec)["megatron-lm"]),
                                                            "pretrain_gpt.py")[1])
    middle = (126 - a.first_stage_layers - a.last_stage_layers) / (16 - 2)
    assert middle == int(middle) and middle <= math.ceil(126 / 16) and a.vpp_layers is None


def test_nemo_recipe_is_python_with_the_plans_strategy(plan70b):
    text = sim.training_launch(plan70b, formats=["nemo"])["nemo"]
    tree = ast.parse(text)
    assigned = {ast.unparse(n.targets[0]): ast.literal_eval(n.value) for n in tree.body
                if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)}
    strategy = {k.rsplit(".", 1)[1]: v for k, v in assigned.items() if k.startswith("recipe.trainer.strategy.")}
    assert strategy["tensor_model_parallel_size"] == TP and strategy["pipeline_model_parallel_size"] == PP
    assert strategy["virtual_pipeline_model_parallel_size"] == VPP and strategy["context_parallel_size"] == 1
    assert strategy["sequence_parallel"] is True
    assert assigned["recipe.data.micro_batch_size"] == MB and assigned["recipe.data.global_batch_size"] == GBS
    assert assigned["recipe.data.seq_length"] == SEQ
    call = next(n.value for n in tree.body if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call))
    kw = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    assert kw["num_nodes"] * kw["num_gpus_per_node"] == GPUS


def test_torchtitan_toml_parses_and_its_degrees_multiply_to_the_gpus():
    gpus, tp, pp, fsdp_shard, gbs, mb = 64, 4, 2, 4, 256, 2
    rec = sim.estimate_training("llama3.1-70b", H100, gpus, tp=tp, pp=pp, global_batch=gbs, micro_batch=mb,
                                seq_len=8192, stack="torchtitan", zero=3, fsdp_shard=fsdp_shard, compile=True)
    text = sim.training_launch(rec)["torchtitan"]
    cfg = tomllib.loads(heredoc(text))
    par, train = cfg["parallelism"], cfg["training"]
    dp = gpus // (tp * pp)
    assert (par["data_parallel_shard_degree"], par["data_parallel_replicate_degree"]) == (fsdp_shard, dp // fsdp_shard)
    product = (par["data_parallel_replicate_degree"] * par["data_parallel_shard_degree"] * par["context_parallel_degree"]
               * par["tensor_parallel_degree"] * par["pipeline_parallel_degree"])
    assert product == gpus and (par["tensor_parallel_degree"], par["pipeline_parallel_degree"]) == (tp, pp)
    # torchtitan: gradient accumulation = global / (local x dp); with pp, micro-batches = local / microbatch size
    assert train["global_batch_size"] == gbs and train["global_batch_size"] % (train["local_batch_size"] * dp) == 0
    assert train["local_batch_size"] // par["pipeline_parallel_microbatch_size"] == gbs // dp // mb
    stages = math.ceil(80 / par["pipeline_parallel_layers_per_stage"])
    assert stages % pp == 0 and stages // pp == 1  # 1F1B: one stage per rank
    assert cfg["compile"]["enable"] is True and cfg["model"]["flavor"] == "70B"
    run, rest = split_torchrun(command_words(text), "-m")
    assert run.nnodes * run.nproc_per_node == gpus and rest[0] == "torchtitan.train"


def test_vllm_arguments_parse_with_the_data_files_flags():
    dep = sim.Deployment(tp=4, precision="fp8", kv_precision="fp8")
    rec = sim.estimate_inference("llama3.1-70b", H100, dep, batch=16, input_len=1024, output_len=256)
    words = command_words(sim.serving_launch(rec)["vllm"])
    assert words[:2] == ["vllm", "serve"]
    a = parser_for("vllm", positional=True).parse_args(words[2:])
    assert a.model == launchers_file().checkpoints.repos["llama3.1-70b"]
    assert (a.tp, a.pp, a.max_model_len) == (4, 1, 1024 + 256)
    assert a.quantization == "fp8" and a.kv_cache_dtype == "fp8"
    assert a.max_num_seqs == sim.ENGINES["vllm"].max_seqs
    assert a.memory_fraction == pytest.approx(sim.ENGINES["vllm"].gpu_memory_utilization)  # the same sense: as is


def test_sglang_memory_fraction_is_converted_from_the_memory_plan():
    dep = sim.Deployment(tp=2, engine="vllm")
    text = sim.serving_launch(dep, model="llama3.1-8b", hardware=H100, formats=["sglang"])["sglang"]
    words = command_words(text)
    a = parser_for("sglang").parse_args(words[3:])
    mp = sim.memory_plan("llama3.1-8b", H100, dep)
    static = (mp.weights_bytes_per_gpu + mp.kv_budget_bytes_per_gpu) / sim.load_hardware(H100).hbm_bytes
    assert static - 0.001 < a.memory_fraction <= static  # SGLang's static share: weights + KV pool, rounded down
    assert a.tp == 2 and a.max_model_len is None


def test_trtllm_fp8_kv_goes_in_the_extra_options_file():
    dep = sim.Deployment(tp=8, ep=8, engine="trtllm", kv_precision="fp8")
    text = sim.serving_launch(dep, model="mixtral-8x7b", hardware=H100, replicas=3)["trtllm-serve"]
    assert yaml.safe_load(heredoc(text)) == {"kv_cache_config": {"dtype": "fp8"}}
    a = parser_for("trtllm-serve", positional=True).parse_args(command_words(text)[1:])
    assert (a.tp, a.ep, a.max_num_seqs) == (8, 8, sim.ENGINES["trtllm"].max_seqs)
    assert a.memory_fraction == pytest.approx(sim.ENGINES["trtllm"].gpu_memory_utilization)
    assert "3 replicas" in text


def test_vllm_cannot_split_experts_inside_tp_and_says_so():
    dep = sim.Deployment(tp=8, ep=2)
    text = sim.serving_launch(dep, model="mixtral-8x7b", hardware=H100)["vllm"]
    assert "--enable-expert-parallel" not in text and "note:" in text


def test_unsupported_stack_and_engine_say_so_in_one_line():
    rec = sim.estimate_training("llama3.1-8b", H100, 8, global_batch=8, seq_len=4096, stack="deepspeed")
    out = sim.training_launch(rec)
    assert list(out) == ["unsupported"] and len(out["unsupported"].splitlines()) == 1 and "deepspeed" in out["unsupported"]
    out = sim.serving_launch(sim.Deployment(engine="gpt-fast"), model="llama3.1-8b", hardware=H100)
    assert list(out) == ["unsupported"] and len(out["unsupported"].splitlines()) == 1 and "gpt-fast" in out["unsupported"]
    with pytest.raises(sim.PlanError, match="unknown training launch format"):
        sim.training_launch(rec, formats=["deepspeed-json"])


def test_every_framework_names_its_release_and_sources():
    for name, fw in launchers_file().frameworks.items():
        assert fw.version and fw.checked_against and fw.docs.startswith("http"), name
    assert set(sim.launch_formats("training")) == {"megatron-lm", "nemo", "torchtitan"}




def test_cli_train_launch_prints_megatron_arguments_and_puts_them_in_json(capsys):
    args = ["train", "--model", "llama3.1-70b", "--hardware", H100, "--gpus", str(GPUS), "--tp", str(TP), "--pp",
            str(PP), "--global-batch", str(GBS), "--seq-len", str(SEQ), "--launch"]
    code, out, err = run_cli(capsys, args)
    assert code == 0, err
    assert f"--tensor-model-parallel-size {TP}" in out and f"--pipeline-model-parallel-size {PP}" in out
    code, out, err = run_cli(capsys, [*args, "--json"])
    assert code == 0, err
    assert f"--global-batch-size {GBS}" in json.loads(out)["launch"]["megatron-lm"]


def test_cli_infer_launch_and_unknown_format(capsys):
    args = ["infer", "--model", "llama3.1-8b", "--hardware", H100, "--tp", "2", "--input-len", "512",
            "--output-len", "128", "--launch"]
    code, out, err = run_cli(capsys, args)
    assert code == 0, err
    assert "vllm serve" in out and f"--max-model-len {512 + 128}" in out and "--tensor-parallel-size 2" in out
    code, out, err = run_cli(capsys, [*args, "no-such-format"])
    assert code == 2 and "unknown serving launch format" in err and err.count("\n") == 1


def test_cli_plan_launch_gives_each_listed_plan_its_settings(capsys):
    gbs, seq = 64, 4096
    args = ["plan", "--model", "llama3.1-8b", "--hardware", H100, "--gpus", "16", "--global-batch", str(gbs),
            "--seq-len", str(seq), "--top", "2", "--stack", "torchtitan", "--json", "--launch"]
    code, out, err = run_cli(capsys, args)
    assert code == 0, err
    for r in json.loads(out):
        cfg = tomllib.loads(heredoc(r["launch"]["torchtitan"]))
        par = cfg["parallelism"]
        assert (cfg["training"]["global_batch_size"], cfg["training"]["seq_len"]) == (gbs, seq)
        assert (par["tensor_parallel_degree"], par["pipeline_parallel_degree"], par["context_parallel_degree"]) == (
            r["tp"], r["pp"], r["cp"])
    code, _, err = run_cli(capsys, [*args[:-1], "--launch", "vllm"])  # refused before the search
    assert code == 2 and "unknown training launch format" in err


def test_cli_serve_launch_in_json(capsys):
    args = ["serve", "--model", "llama3.1-8b", "--hardware", H100, "--replicas", "2", "--rate", "5", "--requests",
            "40", "--engine", "trtllm", "--json", "--launch"]
    code, out, err = run_cli(capsys, args)
    assert code == 0, err
    text = json.loads(out)["launch"]["trtllm-serve"]
    assert "2 replicas" in text and "--tp_size 1" in text and f"--max_seq_len {512 + 128}" in text  # serve's defaults


def test_attention_data_parallelism_is_written_in_each_engines_own_terms():
    """DeepSeek-V3 as 8 attention groups with 8-way experts (DEP8): vLLM runs 8 data-parallel ranks of TP 1,
    trtllm-serve keeps TP 8 and sets enable_attention_dp in its options file, SGLang keeps TP 8 with --dp-size 8;
    groups of more than one GPU are refused by TensorRT-LLM in a note, never a guessed flag."""
    dep = sim.Deployment(tp=8, ep=8, dp_attention=8, precision="fp8", kv_precision="fp8", engine="vllm")
    vllm = sim.serving_launch(dep, model="deepseek-v3", hardware="h200-sxm-141gb")["vllm"]
    assert "--tensor-parallel-size 1 " in vllm and "--data-parallel-size 8 " in vllm
    assert "--enable-expert-parallel" in vllm
    sglang = sim.serving_launch(dep, model="deepseek-v3", hardware="h200-sxm-141gb", formats="sglang")["sglang"]
    assert "--tp-size 8 " in sglang and "--dp-size 8 " in sglang and "--enable-dp-attention" in sglang
    trt = sim.serving_launch(replace(dep, engine="trtllm"), model="deepseek-v3",
                             hardware="h200-sxm-141gb")["trtllm-serve"]
    options = trt.split("<<'EOF'\n")[1].split("\nEOF")[0].splitlines()
    assert options == ["enable_attention_dp: true", "kv_cache_config:", "  dtype: fp8"]
    assert "--tp_size 8 " in trt and "--ep_size 8 " in trt
    groups = sim.Deployment(tp=4, dp_attention=2, precision="fp8", engine="trtllm")
    trt2 = sim.serving_launch(groups, model="llama3.1-70b", hardware="h100-sxm-80gb")["trtllm-serve"]
    assert "2 groups of 2 GPUs are not expressible" in trt2
    assert "<<'EOF'" not in trt2  # no options file: no attention-DP key and a bf16 KV cache (the default)
