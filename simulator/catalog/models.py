"""Model architectures: YAML files, Hugging Face config.json files (hf_config) or in-memory dicts (schema.ModelFile)
to frozen TransformerSpec objects."""

from __future__ import annotations

import difflib
from functools import lru_cache
from pathlib import Path
from typing import Any

from simulator.catalog.hf_config import SOURCE_FILE, HfSource, model_file_from_hf, parse_hf_json, read_hf_config
from simulator.catalog.paths import MODELS_DIR, resolve, shipped_ids
from simulator.catalog.schema import ModelFile
from simulator.catalog.yamlio import parse_yaml_text, read_yaml, upload_text, validate_file
from simulator.core.model import MLA, MoE, TransformerSpec
from simulator.errors import BadValueError, DataFileError, UnknownIdError
from simulator.limits import check_ref

HF_DIR = MODELS_DIR / "hf"  # shipped Hugging Face configs: hf/<id>/config.json beside hf/<id>/source.yaml


def hf_model_ids() -> list[str]:
    """Ids of the shipped Hugging Face configs (their folder names)."""
    return sorted(p.parent.name for p in HF_DIR.glob("*/config.json"))


def model_ids() -> list[str]:
    """Ids of the shipped model architectures: the model YAMLs and the Hugging Face configs."""
    return sorted(shipped_ids(MODELS_DIR) + hf_model_ids())


def spec_from_dict(model_id: str, d: dict[str, Any], path: str = "") -> TransformerSpec:
    """The frozen spec a validated ModelFile dump describes."""
    attention = d.get("attention") or {}
    head_dim = attention.get("head_dim") or d["d_model"] // d["n_heads"]
    mla = None
    if attention.get("kind") == "mla":
        mla = MLA(
            q_lora_rank=attention.get("q_lora_rank"),
            kv_lora_rank=attention["kv_lora_rank"],
            qk_rope_head_dim=attention["qk_rope_head_dim"],
            qk_nope_head_dim=attention["qk_nope_head_dim"],
            v_head_dim=attention["v_head_dim"],
        )
    moe = MoE(**d["moe"]) if d.get("moe") else None
    return TransformerSpec(
        id=model_id,
        name=d["name"],
        n_layers=d["n_layers"],
        d_model=d["d_model"],
        n_heads=d["n_heads"],
        n_kv_heads=d.get("n_kv_heads") or d["n_heads"],
        d_ff=d["d_ff"],
        vocab_size=d["vocab_size"],
        activation=d.get("activation", "gelu"),
        tied_embeddings=bool(d.get("tied_embeddings", False)),
        head_dim=head_dim,
        max_position_embeddings=d.get("max_position_embeddings", 0),
        context_window_tokens=d.get("context_window_tokens"),
        dropout=bool(d.get("dropout", False)),
        moe=moe,
        mla=mla,
        window_tokens=attention.get("sliding_window_tokens"),
        window_layers=attention.get("sliding_window_layers") or 0,
        published_params=d.get("published_params"),
        path=path,
    )


@lru_cache(maxsize=256)
def _load_cached(path_str: str, mtime: float) -> TransformerSpec:
    path = Path(path_str)
    f = validate_file(ModelFile, read_yaml(path), path)
    return spec_from_dict(f.id or path.stem, f.model_dump(), path_str)


@lru_cache(maxsize=64)
def hf_source(model_id: str) -> HfSource:
    """The source.yaml of a shipped Hugging Face config: its Hub URL, where it was read, the published counts."""
    path = HF_DIR / model_id / SOURCE_FILE
    if not path.is_file():
        raise DataFileError(f"{path}: missing; every shipped config.json needs its {SOURCE_FILE} (name, url, ...)")
    return validate_file(HfSource, read_yaml(path), str(path))


def model_from_hf_config(cfg: dict[str, Any], source: str = "<config.json>", model_id: str | None = None,
                         name: str | None = None, published_params: float | None = None,
                         path: str = "") -> TransformerSpec:
    """Validate a parsed Hugging Face config.json (hf_config.ARCHITECTURES names the families it reads)."""
    mid = model_id or Path(source).parent.name or "hf-model"
    data = model_file_from_hf(cfg, source, mid, name or mid)
    if published_params is not None:
        data["published_params"] = published_params
    f = validate_file(ModelFile, data, source)
    return spec_from_dict(mid, f.model_dump(), path)


@lru_cache(maxsize=64)
def _load_hf_cached(path_str: str, mtime: float) -> TransformerSpec:
    path = Path(path_str)
    model_id = path.parent.name if path.name == "config.json" else path.stem
    if path.parent.parent == HF_DIR:
        src = hf_source(model_id)
        return model_from_hf_config(read_hf_config(path), path_str, model_id, src.name, src.published_params,
                                    path_str)
    return model_from_hf_config(read_hf_config(path), path_str, model_id, path=path_str)


def _hf_path(ref: str) -> Path | None:
    """The config.json a reference names: a .json path, a folder holding config.json, or a shipped HF id."""
    p = Path(ref).expanduser()
    if p.suffix == ".json":
        if p.is_dir() or not p.is_file():
            raise DataFileError(f"model file {ref!r} does not exist; pass an existing config.json or a shipped id")
        return p
    if p.is_dir() and (p / "config.json").is_file():
        return p / "config.json"
    if p.is_dir() and "/" in ref:
        raise DataFileError(f"model {ref!r} is a directory with no config.json in it; pass a model YAML, a Hugging Face "
                            "config.json or a folder holding one")
    if "/" not in ref and (HF_DIR / ref / "config.json").is_file():
        return HF_DIR / ref / "config.json"
    return None


def load_model(ref: str | Path | TransformerSpec) -> TransformerSpec:
    """A model architecture by shipped id (``llama3.1-70b``, ``qwen3-30b-a3b``) or by path to a model YAML, a Hugging
    Face config.json or a folder holding one."""
    if isinstance(ref, TransformerSpec):
        return ref
    try:  # what no file system could hold (too long, NUL, ~nobody) is one line before the OS is asked
        check_ref("model", ref)
    except BadValueError as exc:
        raise DataFileError(str(exc)) from None
    hf = _hf_path(str(ref))
    if hf is not None:
        return _load_hf_cached(str(hf), hf.stat().st_mtime)
    try:
        path = resolve(ref, MODELS_DIR, "model")
    except UnknownIdError:
        near = difflib.get_close_matches(str(ref), model_ids(), n=3, cutoff=0.4)
        hint = f"did you mean {', '.join(near)}?" if near else f"known ids: {', '.join(model_ids())}"
        raise UnknownIdError(f"unknown model id {str(ref)!r}; {hint} (or pass a path to a model YAML, a Hugging "
                             "Face config.json or a folder holding one)") from None
    return _load_cached(str(path), path.stat().st_mtime)


def model_source(ref: str | Path | TransformerSpec) -> str:
    """Where a model comes from, in words: a shipped YAML, a shipped Hugging Face config (with its Hub URL) or a path."""
    m = load_model(ref)
    path = Path(m.path) if m.path else None
    if path is None:
        return "in memory"
    if path.parent == MODELS_DIR:
        return "shipped YAML"
    if path.parent.parent == HF_DIR and path.name == "config.json":
        return f"shipped HF config {hf_source(path.parent.name).url}"
    return str(path)


def model_from_dict(data: dict[str, Any], source: str = "<dict>") -> TransformerSpec:
    """Validate an in-memory model description (same keys as a model YAML)."""
    f = validate_file(ModelFile, data, source)
    return spec_from_dict(f.id or f.name, f.model_dump(), source)


def model_from_yaml_text(text: str, source: str = "<upload>") -> TransformerSpec:
    """Validate an uploaded model description given as YAML text."""
    return model_from_dict(parse_yaml_text(text, source), source)


def model_from_hf_text(text: str, source: str = "<upload>") -> TransformerSpec:
    """Validate an uploaded Hugging Face config.json given as text (at most hf_config.MAX_CONFIG_BYTES)."""
    text = upload_text(text, source, "a Hugging Face config.json")
    return model_from_hf_config(parse_hf_json(text, source), source, model_id="uploaded-config", name="uploaded config")
