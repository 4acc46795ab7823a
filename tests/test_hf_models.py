"""Hugging Face config.json files as models: the shipped configs plan end to end through the CLI and a scenario, their
parameter counts agree with what their makers published, and a bad config is one line naming the key and the fix."""

import json
import math
import shutil
from pathlib import Path

import pytest
from cli_util import run_cli

import simulator as sim
from simulator.catalog.hf_config import ARCHITECTURES, MAX_CONFIG_BYTES, model_file_from_hf
from simulator.catalog.models import HF_DIR, hf_model_ids, hf_source, model_from_hf_config

ROOT = Path(__file__).resolve().parent.parent
QWEN3 = HF_DIR / "qwen3-30b-a3b" / "config.json"




def config(name="qwen3-30b-a3b", **changes):
    cfg = json.loads((HF_DIR / name / "config.json").read_text())
    for key, value in changes.items():
        if value is ...:
            cfg.pop(key)
        else:
            cfg[key] = value
    return cfg


def test_every_family_is_shipped_with_its_sources_and_ids_do_not_clash():
    shipped = {model_file_from_hf(json.loads((HF_DIR / i / "config.json").read_text()), i, i, i)["notes"]
               .split()[2] for i in hf_model_ids()}
    # one config per family (Mixtral and Gemma 3 are checked below from configs quoted in the tests)
    assert shipped >= set(ARCHITECTURES) - {"MixtralForCausalLM", "GemmaForCausalLM", "Gemma3ForCausalLM"}
    yaml_ids = {p.stem for p in (ROOT / "workloads" / "models").glob("*.yaml")}
    assert not yaml_ids & set(hf_model_ids())
    assert set(hf_model_ids()) <= set(sim.model_ids())
    for i in hf_model_ids():
        assert hf_source(i).url.startswith("https://huggingface.co/")


# (id, train argv, infer argv): each family through `simulator train` and `simulator infer`
PLANS = {
    "qwen3-30b-a3b": (["--gpus", "64", "--zero", "3"], ["--tp", "1"]),
    "qwen3-0.6b": (["--gpus", "64"], ["--tp", "1"]),
    "qwen1.5-moe-a2.7b": (["--gpus", "64", "--zero", "3"], ["--tp", "1"]),
    "qwen2.5-7b-instruct": (["--gpus", "64", "--zero", "3"], ["--tp", "1"]),
    "deepseek-r1": (["--gpus", "1024", "--tp", "2", "--ep", "32", "--zero", "3"],
                    ["--tp", "8", "--precision", "fp8", "--hardware", "b200-sxm-180gb"]),
    "gpt-oss-120b": (["--gpus", "64", "--zero", "3", "--recompute", "full"], ["--tp", "4"]),
    "gemma-2-9b": (["--gpus", "64", "--zero", "3"], ["--tp", "1"]),
    "mistral-7b-v0.3": (["--gpus", "64", "--zero", "3"], ["--tp", "1"]),
    "llama3.2-3b-instruct": (["--gpus", "64"], ["--tp", "1"]),
    "qwen3-235b-a22b": (["--gpus", "256", "--tp", "4", "--ep", "8", "--zero", "3"],
                        ["--tp", "8", "--precision", "fp8", "--hardware", "h200-sxm-141gb"]),
}


def test_plans_cover_the_shipped_configs():
    assert set(PLANS) == set(hf_model_ids())


@pytest.mark.parametrize("model_id", sorted(PLANS))
def test_train_and_infer_through_the_cli_by_id(capsys, model_id):
    train, infer = PLANS[model_id]
    code, out, err = run_cli(capsys, ["train", "--model", model_id, "--hardware", "h100-sxm-80gb", "--global-batch",
                                  "1024", "--seq-len", "4096", *train, "--json"])
    assert code == 0, err
    r = json.loads(out)
    assert r["feasible"] and 0.05 < r["mfu"] < 0.8
    args = ["infer", "--model", model_id, "--hardware", "h100-sxm-80gb", "--batch", "8", "--input-len", "1024",
            "--output-len", "128", *infer, "--json"]
    code, out, err = run_cli(capsys, args)
    assert code == 0, err
    assert json.loads(out)["tpot_s"] > 0


def test_a_path_to_the_file_or_its_folder_and_a_scenario_model_field(capsys, tmp_path):
    folder = tmp_path / "my-qwen"
    folder.mkdir()
    shutil.copy(QWEN3, folder / "config.json")
    by_id = sim.load_model("qwen3-30b-a3b")
    for ref in (folder, folder / "config.json", str(folder) + "/"):
        m = sim.load_model(ref)
        assert m.total_params() == by_id.total_params() and m.id == "my-qwen" and sim.model_source(m) == str(
            folder / "config.json")
    base = ["--hardware", "h100-sxm-80gb", "--gpus", "64", "--zero", "3", "--global-batch", "256", "--seq-len",
            "4096", "--json"]
    code, out, err = run_cli(capsys, ["train", "--model", str(folder), *base])
    assert code == 0 and json.loads(out)["feasible"], err
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"schema_version: 1\nkind: training\nmodel: {folder / 'config.json'}\nhardware: h100-sxm-80gb\n"
                        "gpus: 64\nglobal_batch: 256\nseq_len: 4096\nplan: {zero: 3}\n")
    code, out, err = run_cli(capsys, ["run", str(scenario), "--json"])
    assert code == 0, err
    assert json.loads(out)["step_time_s"] == pytest.approx(sim.estimate_training(
        by_id, "h100-sxm-80gb", 64, zero=3, global_batch=256, seq_len=4096).step_time_s)


def test_list_models_says_where_each_model_comes_from(capsys):
    code, out, _ = run_cli(capsys, ["list", "models"])
    rows = {r.split()[0]: r for r in out.splitlines()[1:-1]}
    assert code == 0 and set(rows) == set(sim.model_ids())
    assert rows["llama3.1-8b"].endswith("shipped YAML")
    assert rows["gpt-oss-120b"].endswith("shipped HF config https://huggingface.co/openai/gpt-oss-120b/blob/main/"
                                         "config.json")


# Published counts. Tolerance on the total: 1% (the figures are rounded to 3-4 digits; Mistral's "7.3B" is v0.1's
# rounded count). Active counts: 2%, and the makers differ on whether the input embedding is in it: Qwen's
# "activated" includes both embedding tables (30.5B total vs 29.9B non-embedding in the same card), gpt-oss's model
# card counts the unembedding only, DeepSeek's 37B is closest to ours with the embedding.
ACTIVE_HAS_EMBEDDING = {"qwen3-30b-a3b": True, "qwen1.5-moe-a2.7b": True, "deepseek-r1": True, "gpt-oss-120b": False,
                        "qwen3-235b-a22b": True}


@pytest.mark.parametrize("model_id", sorted(PLANS))
def test_parameter_count_matches_published(model_id):
    m, src = sim.load_model(model_id), hf_source(model_id)
    assert m.published_params == src.published_params
    assert m.total_params() == pytest.approx(src.published_params, rel=0.01)
    if src.published_active_params is not None:
        active = m.active_matmul_params() + (m.vocab_size * m.d_model if ACTIVE_HAS_EMBEDDING[model_id] else 0)
        assert active == pytest.approx(src.published_active_params, rel=0.02)


# Mixtral-8x7B-v0.1's config.json (as in mlc-llm's model_preset.py), the keys the mapping reads: the same model as the
# shipped mixtral-8x7b.yaml, which was written by hand from the same file
MIXTRAL = {"architectures": ["MixtralForCausalLM"], "hidden_size": 4096, "intermediate_size": 14336,
           "max_position_embeddings": 32768, "model_type": "mixtral", "num_attention_heads": 32,
           "num_experts_per_tok": 2, "num_hidden_layers": 32, "num_key_value_heads": 8, "num_local_experts": 8,
           "sliding_window": None, "tie_word_embeddings": False, "vocab_size": 32000}
# gemma-3-1b-it's config.json (mlc-llm's preset gemma3_1b_it), the keys read: 1.0B published (Gemma 3 report)
GEMMA3_1B = {"architectures": ["Gemma3ForCausalLM"], "head_dim": 256, "hidden_size": 1152,
             "intermediate_size": 6912, "max_position_embeddings": 32768, "num_attention_heads": 4,
             "num_hidden_layers": 26, "num_key_value_heads": 1, "sliding_window": 512, "vocab_size": 262144}


def test_a_config_and_the_hand_written_yaml_of_the_same_model_agree():
    def shape(m):
        return (m.n_layers, m.d_model, m.n_heads, m.n_kv_heads, m.d_ff, m.vocab_size, m.head_dim, m.tied_embeddings,
                m.moe, m.mla, m.context_window_tokens, m.total_params(), m.active_matmul_params())

    assert shape(model_from_hf_config(MIXTRAL)) == shape(sim.load_model("mixtral-8x7b"))
    assert shape(sim.load_model("deepseek-r1")) == shape(sim.load_model("deepseek-v3"))
    gemma3 = model_from_hf_config(GEMMA3_1B)
    assert gemma3.tied_embeddings and gemma3.head_dim == 256 and gemma3.total_params() == pytest.approx(1.0e9, rel=0.01)


def test_approximations_are_written_into_the_notes():
    notes = model_file_from_hf(config("gpt-oss-120b"), "x", "x", "x")["notes"]
    assert "sinks" in notes and "a 128-token sliding window on 18 of its 36 layers" in notes
    # Qwen2.5 names a sliding_window but has use_sliding_window false; Mistral v0.3's window is null
    for name in ("qwen2.5-7b-instruct", "mistral-7b-v0.3"):
        assert "sliding window" not in model_file_from_hf(config(name), "x", "x", "x")["notes"]
    # every other layer sparse, and a non-prefix dense layer: counted as the first layers, and said so
    moe = model_file_from_hf(config("qwen1.5-moe-a2.7b", decoder_sparse_step=2), "x", "x", "x")
    assert moe["moe"]["first_dense_layers"] == 12 and "counted as the first 12" in moe["notes"]
    moe = model_file_from_hf(config(mlp_only_layers=[47]), "x", "x", "x")
    assert moe["moe"]["first_dense_layers"] == 1 and "dense layers [47] are counted as the first 1" in moe["notes"]
    assert model_from_hf_config(config(mlp_only_layers=[47]), name="q").name == "q [dense layers [47] are counted " \
                                                                                "as the first 1]"
    moe = model_file_from_hf(config(shared_expert_intermediate_size=1000), "x", "x", "x")  # qwen3 has none
    assert moe["moe"]["n_shared_experts"] == 1 and "counted as 1 experts 768 wide" in moe["notes"]


@pytest.mark.parametrize("changes, needle", [
    ({"architectures": ["FalconForCausalLM"]}, "architecture 'FalconForCausalLM' (key 'architectures') is not "
                                               "supported"),
    ({"architectures": "Qwen3MoeForCausalLM"}, "key 'architectures' = 'Qwen3MoeForCausalLM': expected a list"),
    ({"architectures": ..., "model_type": "falcon"}, "key 'architectures' is missing"),
    ({"num_hidden_layers": ...}, "key 'num_hidden_layers' is missing or null; Qwen3MoeForCausalLM configs need it "
                                 "(Qwen3MoeConfig.num_hidden_layers)"),
    ({"moe_intermediate_size": None}, "key 'moe_intermediate_size' is missing or null"),
    ({"num_hidden_layers": 10**12}, "key 'num_hidden_layers' = 1000000000000 is out of range (1 to 10000)"),
    ({"num_hidden_layers": -4}, "key 'num_hidden_layers' = -4 is out of range"),
    ({"num_hidden_layers": 48.5}, "key 'num_hidden_layers' = 48.5: expected a whole number, got a fraction"),
    ({"hidden_size": [2048]}, "key 'hidden_size' = [2048]: expected a whole number, got a list"),
    ({"vocab_size": "151936"}, "key 'vocab_size' = '151936': expected a whole number, got text"),
    ({"num_experts": True}, "key 'num_experts' = True: expected a whole number"),
    ({"num_key_value_heads": 5}, "'num_attention_heads' (32) must be a multiple of 'num_key_value_heads' (5)"),
    ({"num_experts_per_tok": 129}, "key 'num_experts_per_tok' (129) exceeds the number of experts (128)"),
    ({"tie_word_embeddings": "no"}, "key 'tie_word_embeddings' = 'no': expected true or false"),
    ({"mlp_only_layers": [48]}, "key 'mlp_only_layers' = [48]: expected a list of layer indices from 0 to 47"),
    ({"head_dim": ...}, "key 'head_dim' is missing or null"),
])
def test_a_bad_config_is_one_line_naming_the_key(changes, needle):
    with pytest.raises(sim.DataFileError) as exc:
        model_from_hf_config(config(**changes), "cfg.json")
    msg = str(exc.value)
    assert needle in msg and "\n" not in msg and msg.startswith("cfg.json: "), msg


@pytest.mark.parametrize("text, needle", [
    ("[1, 2]", "expected a JSON object of keys at the top level, got list"),
    ('{"hidden_size": NaN}', "NaN is not a number a config holds"),
    ('{"a": 1, "a": 2}', "key 'a' appears twice"),
    ('{"a": 1,', "is not valid JSON"),
    ('{"a": ' + "9" * 5000 + "}", "not a usable config.json"),
    ("[" * 100_000 + "]" * 100_000, "not a usable config.json"),
    (" " * (MAX_CONFIG_BYTES + 1), "more than a config.json holds"),
])
def test_untrusted_json_is_refused_in_one_line(text, needle):
    with pytest.raises(sim.DataFileError) as exc:
        sim.model_from_hf_text(text, "up.json")
    assert needle in str(exc.value) and "\n" not in str(exc.value), exc.value


def test_the_cli_prints_one_line_and_exits_2(capsys, tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text(json.dumps(config(num_hidden_layers=-1)))
    for ref in (str(bad), str(tmp_path), str(tmp_path / "missing.json"), str(ROOT / "workloads"), "qwen3-30b-a3"):
        code, out, err = run_cli(capsys, ["infer", "--model", ref, "--hardware", "h100-sxm-80gb", "--batch", "1",
                                      "--input-len", "8", "--output-len", "8"])
        assert code == 2 and out == "" and err.count("\n") == 1 and err.startswith("simulator: "), err
    assert "did you mean qwen3-30b-a3b" in err


def test_an_upload_reads_the_config_text():
    m = sim.model_from_hf_text(QWEN3.read_text(), "uploaded config.json")
    assert m.moe is not None and m.moe.n_experts == 128 and math.isclose(m.total_params(), sim.load_model(
        "qwen3-30b-a3b").total_params())
