"""Model architectures: YAML files or in-memory dicts (schema.ModelFile) to frozen TransformerSpec objects."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from simulator.catalog.paths import MODELS_DIR, resolve, shipped_ids
from simulator.catalog.schema import ModelFile
from simulator.catalog.yamlio import parse_yaml_text, read_yaml, validate_file
from simulator.core.model import MLA, MoE, TransformerSpec


def model_ids() -> list[str]:
    """Ids of the shipped model architectures."""
    return shipped_ids(MODELS_DIR)


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
        published_params=d.get("published_params"),
        path=path,
    )


@lru_cache(maxsize=256)
def _load_cached(path_str: str, mtime: float) -> TransformerSpec:
    path = Path(path_str)
    f = validate_file(ModelFile, read_yaml(path), path)
    return spec_from_dict(f.id or path.stem, f.model_dump(), path_str)


def load_model(ref: str | Path | TransformerSpec) -> TransformerSpec:
    """A model architecture by shipped id (``llama3.1-70b``) or by path to a model YAML."""
    if isinstance(ref, TransformerSpec):
        return ref
    path = resolve(ref, MODELS_DIR, "model")
    return _load_cached(str(path), path.stat().st_mtime)


def model_from_dict(data: dict[str, Any], source: str = "<dict>") -> TransformerSpec:
    """Validate an in-memory model description (same keys as a model YAML)."""
    f = validate_file(ModelFile, data, source)
    return spec_from_dict(f.id or f.name, f.model_dump(), source)


def model_from_yaml_text(text: str, source: str = "<upload>") -> TransformerSpec:
    """Validate an uploaded model description given as YAML text."""
    return model_from_dict(parse_yaml_text(text, source), source)
