"""Issue 19, "every bound lives in one place", for the bounds that were still defined where they were used: the Hugging
Face config reader's file cap and key ranges, the app's upload and link caps, the Training page's global batch, and
the engine and failure-profile files (whose figures were only checked positive, so `.inf` loaded).

Each bound comes from simulator.limits: a config.json key accepts what the model-YAML field it becomes accepts, the
app's global batch what `--global-batch` accepts, and an engine or failure-profile file past a bound (or not a finite
number, or a list where a number belongs) is one line naming the field. Every shipped file still loads, and a file
AT the bounds loads too, so the bounds are limits, not arbitrary figures.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

import simulator as sim
from simulator import limits as L
from simulator.catalog import hf_config
from simulator.catalog.engines import ENGINES_DIR, engine_file, engine_ids, engine_versions, load_engine
from simulator.catalog.failures import FAILURES_DIR, failure_profile_ids, load_failure_profile
from simulator.catalog.models import HF_DIR, model_from_dict, model_from_hf_config
from simulator.errors import DataFileError

ROOT = Path(__file__).resolve().parents[1]


def _dump(tmp: Path, name: str, data: Any) -> Path:
    path = tmp / name
    path.write_text(yaml.safe_dump(data))
    return path


def _set_path(data: Any, dotted: str, value: Any) -> Any:
    """A copy of `data` with the field at `dotted` (mapping keys, or list indices as digits) set to `value`."""
    out = yaml.safe_load(yaml.safe_dump(data))
    *parents, leaf = dotted.split("/")
    node = out
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if isinstance(node, list):
        node[int(leaf)] = value
    else:
        node[leaf] = value
    return out


def _one_line(exc: pytest.ExceptionInfo[DataFileError]) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and "Traceback" not in msg, msg
    return msg


# ---------------------------------------------------------------- no MAX_ constant of their own
MOVED = ["simulator/catalog/hf_config.py", "simulator/ui/workspace.py", "simulator/ui/training_settings.py",
         "simulator/ui/training_page.py", "simulator/catalog/engines.py", "simulator/catalog/failures.py"]


@pytest.mark.parametrize("rel", MOVED)
def test_these_files_define_no_bound_of_their_own(rel: str) -> None:
    """The files whose bounds moved into simulator.limits define no module-level MAX_ constant and no power-of-two
    bound literal (1 << 24 was the Training page's global batch, 1 << 20 the config reader's file cap)."""
    text = (ROOT / rel).read_text()
    assert not re.findall(r"^_?MAX_[A-Z0-9_]+\s*(?::[^=]+)?=", text, flags=re.M), rel
    assert not re.findall(r"\b1 << \d+\b", text), rel


# ---------------------------------------------------------------- Hugging Face config.json
LLAMA = HF_DIR / "llama3.1-8b" / "config.json" if (HF_DIR / "llama3.1-8b").is_dir() else None


def _hf(arch: str) -> dict[str, Any]:
    """A shipped config of the family `arch` (architectures[0])."""
    for path in sorted(HF_DIR.glob("*/config.json")):
        cfg = json.loads(path.read_text())
        if cfg.get("architectures", [None])[0] == arch:
            return cfg
    raise AssertionError(f"no shipped {arch} config")


# key -> (a shipped family that reads it, the model-YAML field it becomes, the limits bound both take)
HF_KEYS: dict[str, tuple[str, str, int]] = {
    "num_hidden_layers": ("Qwen3ForCausalLM", "n_layers", L.MAX_LAYERS),
    "hidden_size": ("Qwen3ForCausalLM", "d_model", L.MAX_MODEL_WIDTH),
    "intermediate_size": ("Qwen3ForCausalLM", "d_ff", L.MAX_FFN_WIDTH),
    "vocab_size": ("Qwen3ForCausalLM", "vocab_size", L.MAX_VOCAB),
    "max_position_embeddings": ("Qwen3ForCausalLM", "context_window_tokens", L.MAX_CONTEXT_WINDOW),
    "head_dim": ("Qwen3ForCausalLM", "attention.head_dim", L.MAX_MODEL_WIDTH),
    "kv_lora_rank": ("DeepseekV3ForCausalLM", "attention.kv_lora_rank", L.MAX_MODEL_WIDTH),
    "q_lora_rank": ("DeepseekV3ForCausalLM", "attention.q_lora_rank", L.MAX_MODEL_WIDTH),
    "qk_rope_head_dim": ("DeepseekV3ForCausalLM", "attention.qk_rope_head_dim", L.MAX_MODEL_WIDTH),
    "v_head_dim": ("DeepseekV3ForCausalLM", "attention.v_head_dim", L.MAX_MODEL_WIDTH),
    "n_routed_experts": ("DeepseekV3ForCausalLM", "moe.n_experts", L.MAX_EXPERTS),
    "num_experts": ("Qwen3MoeForCausalLM", "moe.n_experts", L.MAX_EXPERTS),
    "moe_intermediate_size": ("Qwen3MoeForCausalLM", "moe.d_ff_expert", L.MAX_FFN_WIDTH),
}


def test_every_config_key_range_is_a_limits_bound() -> None:
    """Every whole-number key the reader checks has its upper bound from simulator.limits (the model-YAML field's
    bound, so a config and a YAML of one model accept the same figures)."""
    bounds = {getattr(L, n) for n in dir(L) if n.startswith("MAX_")}
    assert hf_config.MAX_CONFIG_BYTES == L.MAX_HF_CONFIG_BYTES
    loose = {k: hi for k, (_, hi) in hf_config._RANGES.items() if hi not in bounds}
    assert not loose, loose
    for key, (_, _, bound) in HF_KEYS.items():
        assert hf_config._RANGES[key][1] == bound, key


@pytest.mark.parametrize("key", list(HF_KEYS))
def test_a_config_key_takes_what_its_model_field_takes(key: str) -> None:
    """At the bound the reader passes the figure on (the model YAML field takes it); one past it, the reader refuses
    it in one line naming the key and the bound, as the YAML field does (a Qwen3 config with 2,000 layers, which a
    model YAML allows, was refused at 1,024)."""
    arch, field, bound = HF_KEYS[key]
    fields = hf_config.model_file_from_hf({**_hf(arch), key: bound}, "cfg.json", "x", "x")
    node: Any = fields
    for part in field.split("."):
        node = node[part]
    assert node == bound
    with pytest.raises(DataFileError) as exc:
        hf_config.model_file_from_hf({**_hf(arch), key: bound + 1}, "cfg.json", "x", "x")
    msg = _one_line(exc)
    assert f"'{key}'" in msg and str(bound) in msg, msg


def test_a_deep_config_at_the_yaml_bound_loads_and_plans() -> None:
    """A config of 2,000 layers (within limits.MAX_LAYERS, as a model YAML) is a model; past MAX_LAYERS it is not."""
    cfg = {**_hf("LlamaForCausalLM" if LLAMA else "Qwen3ForCausalLM"), "num_hidden_layers": 2000}
    spec = model_from_hf_config(cfg, "deep.json")
    assert spec.n_layers == 2000
    yaml_twin = hf_config.model_file_from_hf(cfg, "deep.json", "deep", "deep")
    assert model_from_dict(yaml_twin).n_layers == 2000
    with pytest.raises(DataFileError, match=f"num_hidden_layers.*{L.MAX_LAYERS}"):
        model_from_hf_config({**cfg, "num_hidden_layers": L.MAX_LAYERS + 1}, "deep.json")


def test_the_config_size_cap_is_the_limits_one() -> None:
    text = json.dumps(_hf("Qwen3ForCausalLM"))
    assert sim.model_from_hf_text(text + " " * (L.MAX_HF_CONFIG_BYTES - len(text)), "up.json").n_layers > 0
    with pytest.raises(DataFileError, match=f"at most {L.MAX_HF_CONFIG_BYTES}"):
        sim.model_from_hf_text(text + " " * (L.MAX_HF_CONFIG_BYTES + 1 - len(text)), "up.json")


def test_a_shared_expert_too_wide_names_its_key() -> None:
    """A Qwen2-MoE shared expert counted as more experts than limits.MAX_EXPERTS names the config key."""
    cfg = {**_hf("Qwen2MoeForCausalLM"), "moe_intermediate_size": 1, "shared_expert_intermediate_size": L.MAX_FFN_WIDTH}
    with pytest.raises(DataFileError) as exc:
        model_from_hf_config(cfg, "cfg.json")
    assert "shared_expert_intermediate_size" in _one_line(exc)


# ---------------------------------------------------------------- the app: uploads, links, the global batch
def test_the_app_caps_are_in_limits() -> None:
    from simulator.ui import workspace

    kinds = {"training": "Training planner"}
    big = workspace._read_scenario(b"#" * (L.MAX_SCENARIO_UPLOAD_BYTES + 1), "big.yaml", kinds)
    assert isinstance(big, str) and f"{L.MAX_SCENARIO_UPLOAD_BYTES:,} at most" in big, big
    at = workspace._read_scenario(b"kind: training\n" + b"#" * (L.MAX_SCENARIO_UPLOAD_BYTES - 15), "ok.yaml", kinds)
    assert at == {"kind": "training"}, at
    s = workspace.Setting("x", "a")
    assert s.parse("a" * L.MAX_URL_VALUE_CHARS) == "a" * L.MAX_URL_VALUE_CHARS
    with pytest.raises(ValueError, match="too long"):
        s.parse("a" * (L.MAX_URL_VALUE_CHARS + 1))


def test_the_global_batch_setting_takes_what_the_cli_takes() -> None:
    """A link or scenario file's global batch above limits.MAX_BATCH (what --global-batch and a training scenario
    accept) falls back to the default; 12,000,000 passed before (the widget allowed 2^24)."""
    from simulator.ui.training_settings import SETTINGS

    batch = next(s for s in SETTINGS if s.key == "tr-batch")
    assert batch.check(L.MAX_BATCH) == L.MAX_BATCH
    for past in (L.MAX_BATCH + 1, 12_000_000, 1 << 24):
        with pytest.raises(ValueError, match="outside"):
            batch.check(past)


def test_the_global_batch_widget_stops_at_the_cli_bound() -> None:
    """The Training page's widget has max_value limits.MAX_BATCH, and a link asking for more is set back (notice)."""
    from apptest_util import page

    at = page("training_page")
    at.query_params.update({"tr-hw": "h100-sxm-80gb", "tr-gpus": "64", "train-id": "llama3.1-8b", "tr-tokens": "1",
                            "tr-batch": "12000000"})
    at.run()
    assert not at.exception, at.exception
    widget = at.number_input(key="tr-batch")
    assert widget.max == L.MAX_BATCH and widget.value == 1024
    shown = " ".join(str(e.value) for e in (*at.warning, *at.info, *at.caption, *at.markdown))
    assert "12000000" in shown and "ignored" in shown, shown


# ---------------------------------------------------------------- engine files
INT, FLOAT, NONNEG, FRACTION, OPEN_FRACTION = "int", "float", "nonneg", "fraction", "open_fraction"
# field under versions/<v>/ (a digit is a list index) -> (kind, (floor, ceiling)); floor None: above zero, or zero for
# NONNEG; fractions are (0, 1] (OPEN_FRACTION: [0, 1))
ENGINE_FIELDS: dict[str, tuple[str, tuple[float | None, float]]] = {
    "host/step_overhead_s/value": (NONNEG, (None, L.MAX_HOST_OVERHEAD_S)),
    "host/layer_launch_s/value": (NONNEG, (None, L.MAX_HOST_OVERHEAD_S)),
    "host/seq_overhead_s/value": (NONNEG, (None, L.MAX_HOST_OVERHEAD_S)),
    "host/compute_scale/value": (FLOAT, (L.MIN_ENGINE_COMPUTE_SCALE, L.MAX_ENGINE_COMPUTE_SCALE)),
    "scheduler/block_size_tokens/value": (INT, (None, L.MAX_TOKENS)),
    "scheduler/max_seqs/value": (INT, (None, L.MAX_BATCH)),
    "scheduler/max_batched_tokens/value": (INT, (None, L.MAX_BATCHED_TOKENS)),
    "scheduler/kv_watermark_fraction/value": (OPEN_FRACTION, (None, 1.0)),
    "memory/fraction/value": (FRACTION, (None, 1.0)),
}
ENGINE_BENCHMARK_FIELDS: dict[str, tuple[str, tuple[float | None, float]]] = {
    "benchmark/seqs_cap/value": (INT, (None, L.MAX_BATCH)),
    "benchmark/tokens_cap/value": (INT, (None, L.MAX_BATCHED_TOKENS)),
    "benchmark/tokens_min/value": (INT, (None, L.MAX_BATCHED_TOKENS)),
    "benchmark/kv_memory_fraction/value": (FRACTION, (None, 1.0)),
    "benchmark/default_bytes/value": (FLOAT, (None, L.MAX_BYTES_PER_ELEMENT)),
    "benchmark/weight_bytes/value/bf16": (FLOAT, (None, L.MAX_BYTES_PER_ELEMENT)),
    "benchmark/kv_bytes/value/fp8": (FLOAT, (None, L.MAX_BYTES_PER_ELEMENT)),
}
ENGINE_TABLE_FIELDS: dict[str, tuple[str, tuple[float | None, float]]] = {
    "memory/fraction_by_tp/value/0/0": (INT, (None, L.MAX_GPUS)),
    "memory/fraction_by_tp/value/0/1": (FRACTION, (None, 1.0)),
}
ENGINE_RESERVED_FIELDS: dict[str, tuple[str, tuple[float | None, float]]] = {
    f"memory/reserved_gib_by_memory/value/0/{i}": (NONNEG if i else FLOAT, (None, L.MAX_DEVICE_BYTES / 2**30))
    for i in range(3)
}
# (family, version) the field lives in
ENGINE_BASES = {**{f: ("vllm", "0.10") for f in ENGINE_FIELDS}, **{f: ("trtllm", None) for f in ENGINE_BENCHMARK_FIELDS},
                **{f: ("sglang", "0.3") for f in ENGINE_TABLE_FIELDS},
                **{f: ("sglang", None) for f in ENGINE_RESERVED_FIELDS}}
ENGINE_ALL = {**ENGINE_FIELDS, **ENGINE_BENCHMARK_FIELDS, **ENGINE_TABLE_FIELDS, **ENGINE_RESERVED_FIELDS}

NOT_NUMBERS: list[Any] = [[1, 2], {"a": 1}, "abc", None, True, "1e400"]
NON_FINITE: list[Any] = [math.inf, -math.inf, math.nan, 1e300, 2**64]


def bad_file_values(kind: str, bounds: tuple[float | None, float]) -> list[Any]:
    """What a field of this kind, with these bounds, must refuse."""
    low, high = bounds
    out = [*NOT_NUMBERS, *NON_FINITE, -1, high * 10, (high + 1) if kind == INT else high * 1.5]
    if kind == INT:
        out += [1.5]
    if kind in (INT, FLOAT, FRACTION):
        out += [0]
    if kind == OPEN_FRACTION:
        out += [1.0]
    if low is not None:
        out += [low / 10]
    return out


def _engine_base(field: str) -> tuple[dict[str, Any], str]:
    family, version = ENGINE_BASES[field]
    raw = yaml.safe_load((ENGINES_DIR / f"{family}.yaml").read_text())
    version = version or raw["default_version"]
    assert version in raw["versions"], (family, version)
    raw["id"] = "edited"
    return raw, version


ENGINE_CASES = [pytest.param(field, i, id=f"engine.{field.replace('/value', '')}#{i}")
                for field, (kind, bounds) in ENGINE_ALL.items() for i in range(len(bad_file_values(kind, bounds)))]


@pytest.mark.parametrize(("field", "index"), ENGINE_CASES)
def test_bad_engine_figure_is_refused_in_one_line(field: str, index: int, tmp_path: Path) -> None:
    """An engine file with a figure no engine has (inf, 1e300, a 10 s step overhead, a list) is one line naming it."""
    kind, bounds = ENGINE_ALL[field]
    value = bad_file_values(kind, bounds)[index]
    raw, version = _engine_base(field)
    path = _dump(tmp_path, "edited.yaml", _set_path(raw, f"versions/{version}/{field}", value))
    with pytest.raises(DataFileError) as exc:
        engine_file(str(path))
    msg = _one_line(exc)
    named = [p for p in field.split("/") if not p.isdigit() and p != "value"][-1]
    assert named in msg, msg


@pytest.mark.parametrize("field", list(ENGINE_ALL))
def test_an_engine_figure_at_its_bound_loads(field: str, tmp_path: Path) -> None:
    kind, (_, high) = ENGINE_ALL[field]
    raw, version = _engine_base(field)
    value = int(high) if kind == INT else high if kind != OPEN_FRACTION else 0.99
    if field.startswith("benchmark/tokens_min"):  # at most tokens_cap: raise both
        raw["versions"][version]["benchmark"]["tokens_cap"]["value"] = int(high)
    path = _dump(tmp_path, "edited.yaml", _set_path(raw, f"versions/{version}/{field}", value))
    assert engine_file(str(path)).versions[version] is not None


def test_every_shipped_engine_version_is_inside_the_bounds() -> None:
    loaded = [load_engine(f"{family}@{v}") for family in engine_ids() for v in engine_versions(family)]
    assert len(loaded) >= 10
    for prof in loaded:
        for name in ("step_overhead_s", "layer_launch_s", "seq_overhead_s", "compute_scale"):
            assert math.isfinite(getattr(prof, name)), (prof.name, name)


# ---------------------------------------------------------------- failure profiles
_FP = "meta-llama3-h100-2024"  # two interruption counts, root-cause counts
_RSC = "meta-rsc-a100-2024"  # job MTTI figures, fleet node-failure rates, recovery times
_BLOOM = "bigscience-bloom-a100-2022"  # checkpoint bytes
FAILURE_FIELDS: dict[str, tuple[str, str, tuple[float | None, float]]] = {
    "observations/0/value": (_FP, FLOAT, (None, math.inf)),  # bounded through the rate it implies (below)
    "observations/0/gpus": (_FP, INT, (None, L.MAX_GPUS)),
    "observations/0/window_days": (_FP, FLOAT, (None, L.MAX_SIM_SECONDS / 86400)),
    "observations/0/value@mtti": (_RSC, FLOAT, (None, L.MAX_SIM_SECONDS)),
    "observations/2/value": (_RSC, FLOAT, (None, L.MAX_FAILURES_PER_1000_NODE_DAYS)),
    "gpus_per_node/value": (_FP, INT, (None, L.MAX_GPUS_PER_NODE)),
    "causes/0/count": (_FP, FLOAT, (None, L.MAX_FAILURE_COUNT)),
    "recovery/checkpoint_write_s/value": (_RSC, FLOAT, (None, L.MAX_SIM_SECONDS)),
    "recovery/restart_time_s/value": (_RSC, FLOAT, (None, L.MAX_SIM_SECONDS)),
    "recovery/health_check_interval_s/value": (_RSC, FLOAT, (None, L.MAX_SIM_SECONDS)),
    "recovery/checkpoint_bytes/value": (_BLOOM, FLOAT, (None, L.MAX_CHECKPOINT_BYTES)),
    "recovery/max_lost_work_s/value": (_BLOOM, FLOAT, (None, L.MAX_SIM_SECONDS)),
    "recovery/effective_training_time_ratio/value": (_FP, FRACTION, (None, 1.0)),
}


def _failure_bad(kind: str, bounds: tuple[float | None, float]) -> list[Any]:
    if math.isinf(bounds[1]):
        return [*NOT_NUMBERS, *NON_FINITE, -1, 0]
    return bad_file_values(kind, bounds)


FAILURE_CASES = [pytest.param(field, i, id=f"failure.{field.replace('/value', '')}#{i}")
                 for field, (_, kind, bounds) in FAILURE_FIELDS.items()
                 for i in range(len(_failure_bad(kind, bounds)))]


def _profile_with(tmp: Path, base: str, field: str, value: Any) -> Path:
    raw = yaml.safe_load((FAILURES_DIR / f"{base}.yaml").read_text())
    raw["id"] = "edited"
    return _dump(tmp, "edited.yaml", _set_path(raw, field.split("@")[0], value))


@pytest.mark.parametrize(("field", "index"), FAILURE_CASES)
def test_bad_failure_figure_is_refused_in_one_line(field: str, index: int, tmp_path: Path) -> None:
    """A failure profile with a figure no fleet reported (inf, 1e300, a century-long window, a list) is one line
    naming the field."""
    base, kind, bounds = FAILURE_FIELDS[field]
    value = _failure_bad(kind, bounds)[index]
    if value is None and field.startswith("causes/"):
        pytest.skip("count None means 'given as a share' (the shares-or-counts rule is tested elsewhere)")
    path = _profile_with(tmp_path, base, field, value)
    with pytest.raises(DataFileError) as exc:
        load_failure_profile(path)
    msg = _one_line(exc)
    parts = field.split("@")[0].split("/")
    named = parts[-2] if parts[-1] == "value" and not parts[-2].isdigit() else parts[-1]  # a {value, source} pair
    assert named in msg and parts[0] in msg and str(path) in msg, msg


@pytest.mark.parametrize("field", [f for f, (_, _, b) in FAILURE_FIELDS.items() if not math.isinf(b[1])])
def test_a_failure_figure_at_its_bound_loads(field: str, tmp_path: Path) -> None:
    base, kind, (_, high) = FAILURE_FIELDS[field]
    value = int(high) if kind == INT else high
    prof = load_failure_profile(_profile_with(tmp_path, base, field, value))
    assert prof.id == "edited"


# (profile, row, value, what): a figure whose implied per-node rate passes what a cluster scenario may use
IMPLIED_RATE_CASES = [
    (_FP, 0, 1e12, "interruptions"),  # 10^12 interruptions of a 16k-GPU job in 54 days
    (_RSC, 0, 1e-3, "job_mtti_s"),  # an 8-GPU job interrupted every millisecond
    (_RSC, 1, 0.01, "job_mtti_s"),  # a 1,024-GPU job interrupted 100 times a second
    (_RSC, 2, L.MAX_FAILURES_PER_1000_NODE_DAYS * 2, "node_failures_per_1000_node_days"),
]


@pytest.mark.parametrize(("base", "row", "value", "quantity"), IMPLIED_RATE_CASES)
def test_a_figure_implying_a_rate_no_fleet_has_is_refused(base: str, row: int, value: float, quantity: str,
                                                          tmp_path: Path) -> None:
    """A count, MTTI or fleet rate that makes the profile's per-node rate pass limits.MAX_FAILURES_PER_1000_NODE_DAYS
    (the bound a cluster scenario's failures_per_1000_node_days has) is refused at load naming the row and its value,
    not later as a cluster field the user never wrote."""
    path = _profile_with(tmp_path, base, f"observations/{row}/value", value)
    with pytest.raises(DataFileError) as exc:
        load_failure_profile(path)
    msg = _one_line(exc)
    assert f"observations.{row}" in msg and "value" in msg and f"{L.MAX_FAILURES_PER_1000_NODE_DAYS:g}" in msg, msg


def test_every_shipped_failure_profile_is_inside_the_bounds() -> None:
    from simulator.cluster.failures import profile_rate

    profiles = [load_failure_profile(i) for i in failure_profile_ids()]
    assert len(profiles) >= 5
    for p in profiles:
        rate = profile_rate(p)
        assert rate is None or 0 < rate <= L.MAX_FAILURES_PER_1000_NODE_DAYS, p.id


def test_a_bad_profile_through_the_cli_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`simulator cluster --scenario FILE` whose failures.profile is a profile file with an infinite count: exit 2,
    one line naming the field (it loaded before and the rate came out infinite)."""
    from simulator.cli import main

    prof = _profile_with(tmp_path, _FP, "observations/0/value", math.inf)
    scenario = yaml.safe_load((ROOT / "workloads" / "scenarios" / "research-1k-h100.yaml").read_text())
    scenario["failures"] = {"profile": str(prof)}
    path = _dump(tmp_path, "scenario.yaml", scenario)
    capsys.readouterr()
    try:
        rc = main(["cluster", "--scenario", str(path), "--until", "3600"])
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    assert rc == 2 and out == "" and err.count("\n") == 1 and "Traceback" not in err, (rc, out[-300:], err)
    assert "observations.0.value" in err, err


def test_enough_cases_are_generated() -> None:
    assert len(ENGINE_CASES) + len(FAILURE_CASES) >= 300
