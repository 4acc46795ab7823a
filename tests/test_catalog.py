"""Data files: every shipped file validates; bad files give one clear message naming the field."""

import pytest

from simulator import DataFileError, UnknownIdError, hardware_ids, load_hardware, load_model, load_price_book
from simulator.catalog import HARDWARE_DIR

REQUIRED_HARDWARE = ["a100-sxm-40gb", "a100-sxm-80gb", "h100-sxm-80gb", "h100-pcie-80gb", "h800-sxm-80gb",
                     "h200-sxm-141gb", "b200-sxm-180gb", "gb200-nvl72", "mi300x-192gb", "l40s-48gb", "tpu-v5e",
                     "tpu-v5p", "gaudi3", "host-cpu"]
REQUIRED_MODELS = ["gpt3-175b", "llama2-7b", "llama2-13b", "llama2-70b", "llama3.1-8b", "llama3.1-70b",
                   "llama3.1-405b", "mixtral-8x7b", "mixtral-8x22b", "deepseek-v3", "bloom-176b", "opt-175b",
                   "megatron-1.7b", "megatron-3.6b", "megatron-7.5b", "megatron-18b", "megatron-39b", "megatron-76b",
                   "megatron-145b", "megatron-310b", "megatron-530b", "megatron-1t"]


@pytest.mark.parametrize("hw_id", REQUIRED_HARDWARE)
def test_required_hardware_loads(hw_id):
    hw = load_hardware(hw_id)
    assert hw.id == hw_id
    assert hw.sources
    assert 0 < hw.gemm.compute_efficiency <= 1
    assert hw.peak("bf16") > hw.peak("fp32") or hw_id == "host-cpu"


@pytest.mark.parametrize("model_id", REQUIRED_MODELS)
def test_required_models_load(model_id):
    assert load_model(model_id).n_layers > 0


def test_datasheet_numbers_for_h100():
    hw = load_hardware("h100-sxm-80gb")
    assert hw.peak("bf16") == 989e12 and hw.peak("fp8") == 1979e12  # dense, not sparse
    assert hw.hbm_bytes == pytest.approx(81559 * 2**20, rel=1e-4)  # nvidia-smi total (binary GB)
    assert hw.hbm_bandwidth_bytes_per_s == 3.35e12


def test_unknown_id_suggests_nearest():
    with pytest.raises(UnknownIdError, match="h100-sxm-80gb"):
        load_hardware("h100-sxm")
    with pytest.raises(UnknownIdError, match="llama3.1-70b"):
        load_model("llama3-70b")


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def _h100_with(tmp_path, old, new):
    """The shipped H100 profile with one line edited, written to a temporary file (asserts the edit applies)."""
    text = (HARDWARE_DIR / "h100-sxm-80gb.yaml").read_text()
    assert old in text
    return _write(tmp_path, "h100-edited.yaml", text.replace(old, new))


def test_unknown_key_is_rejected_with_field_name(tmp_path):
    with pytest.raises(DataFileError, match="memory.hbm_gigabytes.*not allowed"):
        load_hardware(_h100_with(tmp_path, "hbm_bytes:", "hbm_gigabytes:"))


def test_bad_value_names_field_and_value(tmp_path):
    with pytest.raises(DataFileError, match=r"power.tdp_w.*-5"):
        load_hardware(_h100_with(tmp_path, "tdp_w: 700", "tdp_w: -5"))


def test_host_block_is_optional_and_validated(tmp_path):
    """The host CPU speed scales serving-engine overheads; absent means the reference host's speed."""
    assert load_hardware("b200-sxm-180gb").host_speed == 1.0
    with pytest.raises(DataFileError, match=r"node.host.speed_vs_reference.*greater than 0"):
        load_hardware(_h100_with(tmp_path, "speed_vs_reference: 1.52", "speed_vs_reference: 0"))


@pytest.mark.parametrize("text, needle", [
    ("name: x\n  n_layers: [1, 2\n", "line 2 is not valid YAML"),
    ("# nothing yet\n", "the file is empty"),
])
def test_unreadable_model_files_say_why(tmp_path, text, needle):
    with pytest.raises(DataFileError, match=needle):
        load_model(_write(tmp_path, "m.yaml", text))


def test_incomplete_model_names_missing_field(tmp_path):
    with pytest.raises(DataFileError, match="missing required field: d_ff"):
        load_model(_write(tmp_path, "m.yaml", "name: x\nn_layers: 2\nd_model: 64\nn_heads: 4\nvocab_size: 100\n"))
    with pytest.raises(DataFileError, match="missing required fields: n_layers, d_model, n_heads, d_ff, vocab_size$"):
        load_model(_write(tmp_path, "m2.yaml", "name: x\n"))


def test_user_model_file_by_path(tmp_path):
    p = _write(tmp_path, "tiny.yaml", "name: tiny\nn_layers: 2\nd_model: 64\nn_heads: 4\nd_ff: 256\nvocab_size: 1000\n")
    m = load_model(p)
    assert m.n_kv_heads == 4 and m.head_dim == 16


def test_yaml_is_parsed_safely(tmp_path):
    p = _write(tmp_path, "evil.yaml", "name: !!python/object/apply:os.system ['echo pwned']\nn_layers: 1\n")
    with pytest.raises(DataFileError):
        load_model(p)


def test_all_shipped_profiles_validate():
    for hw_id in hardware_ids():
        load_hardware(hw_id)


def test_price_books_load():
    book = load_price_book()
    assert book.gpu_hour_usd("h100-sxm-80gb") > 0
    assert book.gpu_hour_usd("no-such-gpu") != book.gpu_hour_usd("no-such-gpu")  # NaN when missing


TINY = "name: tiny\nn_layers: 12\nd_model: 512\nn_heads: 8\nd_ff: 2048\nvocab_size: 32000\n"


@pytest.mark.parametrize("extra, match", [
    ("n_layers: 24\n", "'n_layers' appears twice"),  # plain YAML would keep the last one silently
    ("attention: {kind: mha}\nn_kv_heads: 4\n", "attention kind 'mha'.*gqa"),
    ("moe: {n_experts: 8, top_k: 2, d_ff_expert: 1024, first_dense_layers: 12}\n", "first_dense_layers.*below n_layers"),
])
def test_contradictory_model_files_are_refused(tmp_path, extra, match):
    with pytest.raises(DataFileError, match=match):
        load_model(_write(tmp_path, "m.yaml", TINY + extra))


def test_boolean_is_not_taken_for_a_number(tmp_path):
    with pytest.raises(DataFileError, match="n_layers.*boolean"):
        load_model(_write(tmp_path, "m.yaml", TINY.replace("n_layers: 12", "n_layers: true")))
    assert load_model(_write(tmp_path, "ok.yaml", TINY + "tied_embeddings: true\n")).tied_embeddings


def test_reserved_memory_must_be_below_capacity(tmp_path):
    with pytest.raises(DataFileError, match="reserved_bytes.*below hbm_bytes"):
        load_hardware(_h100_with(tmp_path, "reserved_bytes: 2.0e+9", "reserved_bytes: 9.0e+10"))


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(DataFileError, match="is a directory"):
        load_model(str(tmp_path))


def test_yaml_merge_keys_still_work(tmp_path):
    """Duplicate keys are refused, but `<<:` merges (and a local key overriding a merged one) are plain YAML."""
    from simulator.catalog import parse_yaml_text

    assert parse_yaml_text("base: &b {a: 1, c: 3}\nx:\n  <<: *b\n  a: 2\n", "t")["x"] == {"a": 2, "c": 3}
