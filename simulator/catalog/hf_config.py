"""Hugging Face `config.json` files as model descriptions: the keys of the common decoder families mapped onto the
fields of a model YAML (schema.ModelFile), so `--model`, scenario `model:` fields and the app's upload take a config
as it is published on the Hub.

`ARCHITECTURES` is the mapping, one row per `architectures[0]` class name. Each row names the transformers
configuration class whose keys it reads (transformers/models/<family>/configuration_<family>.py: LlamaConfig,
MistralConfig, MixtralConfig, Qwen2Config, Qwen2MoeConfig, Qwen3Config, Qwen3MoeConfig, DeepseekV3Config,
GemmaConfig, Gemma2Config, Gemma3TextConfig, GptOssConfig), the class default of `tie_word_embeddings` (save_pretrained
leaves a key out when it equals the default), and what our spec cannot express (`approximations`; the loaded model's
notes repeat it, with what only that config does, such as a sliding window (read into the spec: layer_types, or the
class's own rule), and its name carries what only that config needs approximated, such as dense layers that are not the first ones). Every key the mapping reads is checked:
a missing key, a value that is not a whole number in its range (a list where a number belongs, a negative or absurd
layer count), an inconsistent pair or an unknown architecture is one DataFileError line naming the key and the fix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, PositiveFloat

from simulator import limits
from simulator.catalog.schema import Strict
from simulator.catalog.yamlio import read_text_capped
from simulator.errors import DataFileError
from simulator.limits import MAX_HF_CONFIG_BYTES as MAX_CONFIG_BYTES  # the file cap, with its reason in limits

SOURCE_FILE = "source.yaml"  # beside each shipped workloads/models/hf/<id>/config.json

_EXACT_BUT = "biases and q/k norms are not counted (under 0.1% of the weights)"
_GEGLU = "GeGLU (gelu_pytorch_tanh) is costed as SwiGLU (the same three matrices and FLOPs)"
_SPARSE_LAYERS = "dense layers (mlp_only_layers, decoder_sparse_step) are counted as the first layers (same totals)"


@dataclass(frozen=True)
class Family:
    """How one architecture's config keys become our fields."""

    config_class: str  # the transformers configuration class the keys come from
    model_type: str  # its `model_type`, read when `architectures` is absent
    moe: str = ""  # "local" (num_local_experts), "qwen" (num_experts, moe_intermediate_size), "deepseek"
    mla: bool = False  # DeepSeek multi-head latent attention (q_lora_rank, kv_lora_rank, ...)
    head_dim_required: bool = False  # the class default of head_dim is not hidden_size / num_attention_heads
    tied_default: bool = False  # the class default of tie_word_embeddings
    approximations: str = _EXACT_BUT
    # which layers have `sliding_window` when the config has no layer_types list (the class's own default rule):
    # "all" (Mistral), "qwen" (use_sliding_window, layers from max_window_layers on), "alternate" (even layers:
    # Gemma 2, gpt-oss), "gemma3" (all but every sliding_window_pattern-th layer); "" never
    window_rule: str = ""


ARCHITECTURES: dict[str, Family] = {
    "LlamaForCausalLM": Family("LlamaConfig", "llama"),
    "MistralForCausalLM": Family("MistralConfig", "mistral", window_rule="all"),
    "MixtralForCausalLM": Family("MixtralConfig", "mixtral", moe="local", window_rule="all"),
    "Qwen2ForCausalLM": Family("Qwen2Config", "qwen2", approximations="q/k/v biases are not counted",
                               window_rule="qwen"),
    "Qwen2MoeForCausalLM": Family(
        "Qwen2MoeConfig", "qwen2_moe", moe="qwen",
        approximations="q/k/v biases and the shared expert's sigmoid gate are not counted; the shared expert is "
                       "counted as shared_expert_intermediate_size / moe_intermediate_size experts of the routed "
                       f"width; {_SPARSE_LAYERS}", window_rule="qwen"),
    "Qwen3ForCausalLM": Family("Qwen3Config", "qwen3", head_dim_required=True, window_rule="qwen"),
    "Qwen3MoeForCausalLM": Family("Qwen3MoeConfig", "qwen3_moe", moe="qwen", head_dim_required=True,
                                  approximations=f"{_EXACT_BUT}; {_SPARSE_LAYERS}", window_rule="qwen"),
    "DeepseekV3ForCausalLM": Family(
        "DeepseekV3Config", "deepseek_v3", moe="deepseek", mla=True,
        approximations="the multi-token-prediction module (num_nextn_predict_layers) is not counted, as the "
                       "published 671B total leaves it out; MLA's latent norms are not counted; group-limited "
                       "routing (n_group, topk_group) is costed as plain top-k"),
    "GemmaForCausalLM": Family("GemmaConfig", "gemma", head_dim_required=True, tied_default=True,
                               approximations=f"{_GEGLU}; the sqrt(hidden_size) embedding scale costs nothing"),
    "Gemma2ForCausalLM": Family(
        "Gemma2Config", "gemma2", head_dim_required=True, tied_default=True,
        approximations=f"{_GEGLU}; attention and final-logit soft-capping (tanh) is not costed; the post-attention "
                       "and pre/post-feed-forward norms are not counted", window_rule="alternate"),
    "Gemma3ForCausalLM": Family(
        "Gemma3TextConfig", "gemma3_text", head_dim_required=True, tied_default=True,
        approximations=f"{_GEGLU}; q/k norms and the extra per-layer norms are not counted; the sliding layers' "
                       "own rope_local_base_freq costs nothing", window_rule="gemma3"),
    "GptOssForCausalLM": Family(
        "GptOssConfig", "gpt_oss", moe="local", head_dim_required=True,
        approximations="the attention sinks (one logit per head), the q/k/v/o, router and expert biases are not "
                       "counted (about 0.01% of the weights); the clamped SwiGLU is costed as SwiGLU",
        window_rule="alternate"),
}
_BY_MODEL_TYPE = {f.model_type: arch for arch, f in ARCHITECTURES.items()}

# The whole numbers the mapping reads: (lowest, highest) accepted. The highest is the bound of the model-YAML field the
# key becomes (simulator.limits, each with its reason), so a config and a YAML of one model accept the same figures;
# beyond it a value is a typo or a unit slip, not a model anyone can plan.
_LAYERS, _WIDTH, _HEADS, _FFN, _EXPERTS = (limits.MAX_LAYERS, limits.MAX_MODEL_WIDTH, limits.MAX_HEADS,
                                           limits.MAX_FFN_WIDTH, limits.MAX_EXPERTS)
_RANGES: dict[str, tuple[int, int]] = {
    "num_hidden_layers": (1, _LAYERS), "hidden_size": (1, _WIDTH), "num_attention_heads": (1, _HEADS),
    "num_key_value_heads": (1, _HEADS), "head_dim": (1, _WIDTH), "intermediate_size": (1, _FFN),
    "vocab_size": (1, limits.MAX_VOCAB), "max_position_embeddings": (1, limits.MAX_CONTEXT_WINDOW),
    "num_local_experts": (1, _EXPERTS), "num_experts": (1, _EXPERTS), "n_routed_experts": (1, _EXPERTS),
    "num_experts_per_tok": (1, _EXPERTS),  # moe.top_k
    "moe_intermediate_size": (1, _FFN), "shared_expert_intermediate_size": (0, _FFN),
    "n_shared_experts": (0, _EXPERTS),
    # layer counts and strides (moe.first_dense_layers and the layers they pick)
    "first_k_dense_replace": (0, _LAYERS), "moe_layer_freq": (1, _LAYERS), "decoder_sparse_step": (1, _LAYERS),
    "q_lora_rank": (1, _WIDTH), "kv_lora_rank": (1, _WIDTH), "qk_rope_head_dim": (1, _WIDTH),
    "qk_nope_head_dim": (1, _WIDTH), "v_head_dim": (1, _WIDTH),
    "sliding_window": (1, limits.MAX_CONTEXT_WINDOW), "max_window_layers": (0, _LAYERS),
    "sliding_window_pattern": (1, _LAYERS),
}


class HfSource(Strict):
    """workloads/models/hf/<id>/source.yaml: where a shipped config.json was read and what its makers published."""

    name: str = Field(min_length=1)
    url: str = Field(pattern=r"^https://huggingface\.co/\S+/config\.json$")  # the config on the Hub
    transcribed_from: str = Field(min_length=1)  # the copy the file was taken from, when not the Hub itself
    read: str = Field(min_length=4)  # date the copy was read
    published_params: PositiveFloat
    published_active_params: PositiveFloat | None = None
    published_where: str = Field(min_length=1)


def _shown(value: Any) -> str:
    s = repr(value) if not isinstance(value, dict) else "{...}"
    return s if len(s) <= 60 else s[:57] + "..."


class _Reader:
    """Checked reads of one config's keys; every error names the file, the key and the fix."""

    def __init__(self, cfg: dict[str, Any], source: str, arch: str) -> None:
        self.cfg, self.source, self.arch = cfg, source, arch

    def error(self, text: str) -> DataFileError:
        return DataFileError(f"{self.source}: {text}")

    def whole(self, key: str, value: Any) -> int:
        lo, hi = _RANGES[key]
        if isinstance(value, bool) or not isinstance(value, int):
            kind = {list: "a list", dict: "a mapping", str: "text", float: "a fraction"}.get(type(value), "a value")
            raise self.error(f"key '{key}' = {_shown(value)}: expected a whole number, got {kind}; write one integer "
                             f"as the model's published config.json does")
        if not lo <= value <= hi:
            raise self.error(f"key '{key}' = {_shown(value)} is out of range ({lo} to {hi}); fix the value")
        return value

    def need(self, key: str) -> int:
        if self.cfg.get(key) is None:
            cls = ARCHITECTURES[self.arch].config_class
            raise self.error(f"key '{key}' is missing or null; {self.arch} configs need it ({cls}.{key}): add it "
                             f"from the model's published config.json")
        return self.whole(key, self.cfg[key])

    def opt(self, key: str) -> int | None:
        """An optional key: None when absent or null (transformers then derives or defaults it)."""
        return None if self.cfg.get(key) is None else self.whole(key, self.cfg[key])

    def flag(self, key: str, default: bool) -> bool:
        value = self.cfg.get(key, default)
        if not isinstance(value, bool):
            raise self.error(f"key '{key}' = {_shown(value)}: expected true or false; fix the value")
        return value

    def layers(self, key: str, n_layers: int) -> set[int]:
        value = self.cfg.get(key) or []
        if not isinstance(value, list) or not all(isinstance(i, int) and not isinstance(i, bool)
                                                  and 0 <= i < n_layers for i in value):
            raise self.error(f"key '{key}' = {_shown(value)}: expected a list of layer indices from 0 to "
                             f"{n_layers - 1}; fix the list")
        return set(value)


def parse_hf_json(text: str, source: str | Path) -> dict[str, Any]:
    """Untrusted JSON text: at most MAX_CONFIG_BYTES, no NaN/Infinity, no key written twice, an object at the top."""
    if len(text) > MAX_CONFIG_BYTES:
        raise DataFileError(f"{source}: {len(text)} characters is more than a config.json holds (at most "
                            f"{MAX_CONFIG_BYTES}); pass the model's config.json")

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        twice = next((k for k in keys if keys.count(k) > 1), None)
        if twice is not None:
            raise ValueError(f"key {twice!r} appears twice in one object; keep one")
        return dict(pairs)

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a number a config holds; write a finite value")

    try:
        data = json.loads(text, object_pairs_hook=unique, parse_constant=no_constant)
    except json.JSONDecodeError as exc:
        raise DataFileError(f"{source}: line {exc.lineno} is not valid JSON ({exc.msg}); fix the syntax") from None
    except (ValueError, RecursionError) as exc:
        raise DataFileError(f"{source}: not a usable config.json ({str(exc).splitlines()[0]}); fix the file") from None
    if not isinstance(data, dict):
        raise DataFileError(f"{source}: expected a JSON object of keys at the top level, got {type(data).__name__}")
    return data


def read_hf_config(path: Path) -> dict[str, Any]:
    """Read and parse a config.json file (parse_hf_json); its size is checked before it is read."""
    text = read_text_capped(path, MAX_CONFIG_BYTES, "config.json", "pass the model's config.json")
    return parse_hf_json(text, path)


def architecture(cfg: dict[str, Any], source: str) -> str:
    """The supported class named in `architectures` (or by `model_type` when that key is absent)."""
    names = cfg.get("architectures")
    supported = ", ".join(ARCHITECTURES)
    if names is None:
        if cfg.get("model_type") in _BY_MODEL_TYPE:
            return _BY_MODEL_TYPE[cfg["model_type"]]
        nested = " (a multimodal config: its text_config, saved on its own, describes the language model)" \
            if "text_config" in cfg else ""
        raise DataFileError(f"{source}: key 'architectures' is missing and model_type {cfg.get('model_type')!r} is "
                            f"not one this reads{nested}; supported architectures: {supported}")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise DataFileError(f"{source}: key 'architectures' = {_shown(names)}: expected a list of class names such "
                            f"as [\"LlamaForCausalLM\"]; fix the value")
    found = next((n for n in names if n in ARCHITECTURES), None)
    if found is None:
        raise DataFileError(f"{source}: architecture {names[0]!r} (key 'architectures') is not supported; supported: "
                            f"{supported}; describe other models as a model YAML (see workloads/models/*.yaml)")
    return found


def _attention(r: _Reader, fam: Family, heads: int, kv: int, d_model: int) -> dict[str, Any]:
    if fam.mla:
        q_lora = r.opt("q_lora_rank")  # DeepSeek-V2-Lite has none: a full-rank query projection
        return {"kind": "mla", "q_lora_rank": q_lora, "kv_lora_rank": r.need("kv_lora_rank"),
                "qk_rope_head_dim": r.need("qk_rope_head_dim"), "qk_nope_head_dim": r.need("qk_nope_head_dim"),
                "v_head_dim": r.need("v_head_dim")}
    head_dim = r.need("head_dim") if fam.head_dim_required else r.opt("head_dim")
    if heads % kv:
        raise r.error(f"key 'num_attention_heads' ({heads}) must be a multiple of 'num_key_value_heads' ({kv}); "
                      "fix one of them")
    if head_dim is None and d_model % heads:
        raise r.error(f"key 'hidden_size' ({d_model}) is not divisible by 'num_attention_heads' ({heads}); add "
                      "head_dim from the model's published config.json")
    return {"kind": "gqa" if kv < heads else "mha", "head_dim": head_dim}


def _placement(dense: set[int], n_layers: int, notes: list[str]) -> int:
    """How many layers are dense; a note when they are not the first ones (our spec puts them first)."""
    if dense and dense != set(range(len(dense))):
        shown = sorted(dense) if len(dense) <= 8 else f"{len(dense)} layers"
        notes.append(f"dense layers {shown} are counted as the first {len(dense)}")
    return len(dense)


def _moe(r: _Reader, fam: Family, n_layers: int, d_ff: int, notes: list[str]) -> dict[str, Any] | None:
    """The MoE block of the three key spellings: local experts (Mixtral, gpt-oss), Qwen's, DeepSeek's."""
    shared, dense = 0, set()
    if fam.moe == "local":
        n_experts, d_expert = r.need("num_local_experts"), d_ff
    elif fam.moe == "qwen":
        n_experts, d_expert = r.need("num_experts"), r.need("moe_intermediate_size")
        step = r.opt("decoder_sparse_step") or 1
        dense = r.layers("mlp_only_layers", n_layers) | {i for i in range(n_layers) if (i + 1) % step}
        width = r.opt("shared_expert_intermediate_size") or 0
        shared = max(1, round(width / d_expert)) if width else 0
        if shared > _EXPERTS:
            raise r.error(f"key 'shared_expert_intermediate_size' ({width}) is {shared} experts of the routed width "
                          f"({d_expert}), more than {_EXPERTS} (simulator.limits); fix one of them")
        if width and shared * d_expert != width:
            notes.append(f"the shared expert ({width} wide) is counted as {shared} experts {d_expert} wide")
    else:
        n_experts, d_expert = r.need("n_routed_experts"), r.need("moe_intermediate_size")
        shared = r.opt("n_shared_experts") or 0
        first, freq = r.opt("first_k_dense_replace") or 0, r.opt("moe_layer_freq") or 1
        dense = {i for i in range(n_layers) if i < first or i % freq}
    top_k = r.need("num_experts_per_tok")
    if top_k > n_experts:
        raise r.error(f"key 'num_experts_per_tok' ({top_k}) exceeds the number of experts ({n_experts}); fix one")
    n_dense = _placement(dense, n_layers, notes)
    if n_dense >= n_layers:
        notes.append("every layer is dense (no MoE layer under decoder_sparse_step / mlp_only_layers)")
        return None
    return {"n_experts": n_experts, "top_k": top_k, "d_ff_expert": d_expert, "n_shared_experts": shared,
            "first_dense_layers": n_dense}


def _window(r: _Reader, fam: Family, n_layers: int) -> tuple[int, int] | None:
    """(window tokens, layers that have it) as transformers builds the config's layer_types: the list itself when the
    config has one, else the class's default rule (Family.window_rule); None without a sliding window."""
    if fam.window_rule == "qwen" and not r.flag("use_sliding_window", False):
        return None
    window = r.opt("sliding_window") if fam.window_rule else None
    if window is None:
        return None
    types = r.cfg.get("layer_types")
    if types is not None:
        if not isinstance(types, list) or len(types) != n_layers or not all(isinstance(t, str) for t in types):
            raise r.error(f"key 'layer_types' = {_shown(types)}: expected a list of {n_layers} attention types "
                          "('full_attention' or 'sliding_attention'), one a layer; fix the list")
        n = sum(t == "sliding_attention" for t in types)
    elif fam.window_rule == "all":
        n = n_layers
    elif fam.window_rule == "qwen":
        full = r.opt("max_window_layers")  # absent: the class default 28 (Qwen2Config, Qwen3Config, their MoE kin)
        n = max(n_layers - (28 if full is None else full), 0)
    elif fam.window_rule == "alternate":
        n = (n_layers + 1) // 2
    else:  # gemma3
        n = n_layers - n_layers // (r.opt("sliding_window_pattern") or 6)
    return (window, n) if n else None


def model_file_from_hf(cfg: dict[str, Any], source: str, model_id: str, name: str) -> dict[str, Any]:
    """The model-YAML fields (schema.ModelFile) a Hugging Face config describes; DataFileError naming the key."""
    arch = architecture(cfg, source)
    fam = ARCHITECTURES[arch]
    r = _Reader(cfg, source, arch)
    n_layers, d_model, heads = r.need("num_hidden_layers"), r.need("hidden_size"), r.need("num_attention_heads")
    kv = r.opt("num_key_value_heads") or heads
    d_ff, vocab = r.need("intermediate_size"), r.need("vocab_size")
    attention = _attention(r, fam, heads, kv, d_model)
    notes: list[str] = []
    moe = _moe(r, fam, n_layers, d_ff, notes) if fam.moe else None
    window = _window(r, fam, n_layers)
    if window is not None:
        attention = {**attention, "sliding_window_tokens": window[0], "sliding_window_layers": window[1]}
    # what only this config needs approximated (where its dense layers sit, a shared expert's width) goes into the
    # name as well, where tables and results show it; the family's approximations are in ARCHITECTURES
    shown = f"{name} [{'; '.join(notes)}]" if notes else name
    notes = [f"Hugging Face {arch} config ({fam.config_class}) read from {source}",
             f"approximations: {fam.approximations}", *notes,
             *([f"a {window[0]}-token sliding window on {window[1]} of its {n_layers} layers"] if window else [])]
    return {"schema_version": 1, "kind": "model", "id": model_id, "name": shown, "n_layers": n_layers,
            "d_model": d_model, "n_heads": heads, "n_kv_heads": None if fam.mla else kv, "d_ff": d_ff,
            "vocab_size": vocab, "activation": "swiglu",  # every family here has a gated MLP (SwiGLU or GeGLU)
            "tied_embeddings": r.flag("tie_word_embeddings", fam.tied_default),
            "context_window_tokens": r.opt("max_position_embeddings"), "moe": moe, "attention": attention,
            "notes": "; ".join(notes)}
