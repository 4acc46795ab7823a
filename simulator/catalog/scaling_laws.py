"""Lifecycle-planning data (workloads/scaling_laws/): published scaling-law fits (<id>.yaml, kind scaling_law), model
families whose shape scales with the parameter count (families/<id>.yaml, kind model_family) and compression methods
with their quality costs (compression/<id>.yaml, kind compression_method). Each figure carries its source; files are
read with the safe YAML loader and validated here, and a user may pass the path of a file of their own."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from simulator.catalog.paths import ROOT, resolve, shipped_ids
from simulator.catalog.schema import Entity, Strict
from simulator.catalog.stacks import Sourced
from simulator.catalog.yamlio import read_yaml, validate_file
from simulator.core.scaling import CompressionMethod, ModelFamily, ScalingLaw, loss_delta_from_perplexity
from simulator.errors import DataFileError, UnknownIdError
from simulator.vocab import Activation, QuantizationName

SCALING_LAWS_DIR = ROOT / "workloads" / "scaling_laws"
FAMILIES_DIR = SCALING_LAWS_DIR / "families"
COMPRESSION_DIR = SCALING_LAWS_DIR / "compression"


class ValidRange(Strict):
    params_min: Sourced[PositiveFloat]
    params_max: Sourced[PositiveFloat]
    tokens_min: Sourced[PositiveFloat]
    tokens_max: Sourced[PositiveFloat]

    @model_validator(mode="after")
    def _ordered(self) -> ValidRange:
        if self.params_min.value >= self.params_max.value or self.tokens_min.value >= self.tokens_max.value:
            raise ValueError("each range needs its _min below its _max")
        return self


class ScalingLawFile(Entity):
    """L(N, D) = E + A/N^alpha + B/D^beta with the ranges it was fitted on."""

    kind: Literal["scaling_law"]
    form: str = Field(min_length=3)
    e_nats: Sourced[PositiveFloat]
    a: Sourced[PositiveFloat]
    b: Sourced[PositiveFloat]
    alpha: Sourced[float]
    beta: Sourced[float]
    params_counted: str = Field(min_length=3)
    valid_range: ValidRange
    max_tokens_per_param: Sourced[PositiveFloat]
    families: list[str] = Field(min_length=1)
    notes: str = ""

    @model_validator(mode="after")
    def _exponents(self) -> ScalingLawFile:
        for name in ("alpha", "beta"):
            value = getattr(self, name).value
            if not 0 < value <= 2:
                raise ValueError(f"{name} = {value!r}: an exponent of a published fit lies in (0, 2]")
        return self


class MoeRule(Strict):
    n_experts: Sourced[PositiveInt]
    top_k: Sourced[PositiveInt]


class ModelFamilyFile(Entity):
    """A family's fixed figures; its shape at a parameter count follows core.scaling.family_shape."""

    kind: Literal["model_family"]
    description: str = Field(min_length=3)
    head_dim: Sourced[PositiveInt]
    kv_heads: Sourced[PositiveInt]
    d_model_per_layer: Sourced[PositiveFloat]
    d_ff_per_d_model: Sourced[PositiveFloat]
    vocab_size: Sourced[PositiveInt]
    activation: Activation
    tied_embeddings: bool
    moe: MoeRule | None = None
    references: list[str] = Field(default_factory=list)  # shipped model ids the rule is checked against


class PerplexityRow(Strict):
    model: str = Field(min_length=1)
    dataset: str = Field(min_length=1)
    baseline_ppl: float = Field(gt=1)
    compressed_ppl: float = Field(gt=1)
    source: str = Field(min_length=3)


class AccuracyRow(Strict):
    model: str = Field(min_length=1)
    benchmark: str = Field(min_length=1)
    baseline: PositiveFloat
    compressed: PositiveFloat
    source: str = Field(min_length=3)


class CompressionFile(Entity):
    """A compression method and the published evidence of its quality cost."""

    kind: Literal["compression_method"]
    method: Literal["quantization", "distillation", "prune_distill"]
    description: str = Field(min_length=3)
    quality_note: str = Field(min_length=3)
    precision: QuantizationName | None = None
    perplexity: list[PerplexityRow] = Field(default_factory=list)
    accuracy: list[AccuracyRow] = Field(default_factory=list)
    loss_delta_assumed_nats: Sourced[float] | None = None
    student_token_multiplier: Sourced[PositiveFloat] | None = None
    teacher_params: Sourced[PositiveFloat] | None = None
    student_params: Sourced[PositiveFloat] | None = None
    distillation_tokens: Sourced[PositiveFloat] | None = None

    @model_validator(mode="after")
    def _shape(self) -> CompressionFile:
        need = {"quantization": ("precision",), "distillation": ("student_token_multiplier",),
                "prune_distill": ("teacher_params", "student_params", "distillation_tokens")}[self.method]
        missing = [k for k in need if getattr(self, k) is None]
        if missing:
            raise ValueError(f"method {self.method!r} needs {', '.join(missing)}")
        if self.perplexity and self.loss_delta_assumed_nats is not None:
            raise ValueError("give perplexity rows or loss_delta_assumed_nats, not both")
        if self.method == "prune_distill" and self.student_params.value >= self.teacher_params.value:  # type: ignore[union-attr]
            raise ValueError("student_params must be below teacher_params")
        return self


def _check_stem(path: Path, folder: Path, file_id: str) -> None:
    if path.parent == folder and file_id != path.stem:
        raise DataFileError(f"{path}: field 'id' = {file_id!r} must equal the file name stem {path.stem!r}")


def _sources(f: Entity) -> tuple[str, ...]:
    return tuple(f"{s.title} ({s.where}, {s.date})" for s in f.sources)


@lru_cache(maxsize=32)
def _read_law(path_str: str, mtime: float) -> ScalingLaw:
    path = Path(path_str)
    f: ScalingLawFile = validate_file(ScalingLawFile, read_yaml(path), path)
    _check_stem(path, SCALING_LAWS_DIR, f.id)
    r = f.valid_range
    return ScalingLaw(id=f.id, name=f.name, e_nats=f.e_nats.value, a=f.a.value, b=f.b.value, alpha=f.alpha.value,
                      beta=f.beta.value, params_range=(r.params_min.value, r.params_max.value),
                      tokens_range=(r.tokens_min.value, r.tokens_max.value),
                      max_tokens_per_param=f.max_tokens_per_param.value, families=tuple(f.families),
                      sources=_sources(f), path=str(path))


@lru_cache(maxsize=32)
def _read_family(path_str: str, mtime: float) -> ModelFamily:
    path = Path(path_str)
    f: ModelFamilyFile = validate_file(ModelFamilyFile, read_yaml(path), path)
    _check_stem(path, FAMILIES_DIR, f.id)
    moe = (f.moe.n_experts.value, f.moe.top_k.value) if f.moe else None
    if moe is not None and moe[1] > moe[0]:
        raise DataFileError(f"{path}: moe.top_k ({moe[1]}) exceeds moe.n_experts ({moe[0]})")
    if f.kv_heads.value * f.head_dim.value > 1_000_000:
        raise DataFileError(f"{path}: head_dim x kv_heads is {f.kv_heads.value * f.head_dim.value:,}; a width step "
                            "that large is no model")
    return ModelFamily(id=f.id, name=f.name, head_dim=f.head_dim.value, kv_heads=f.kv_heads.value,
                       d_model_per_layer=f.d_model_per_layer.value, d_ff_per_d_model=f.d_ff_per_d_model.value,
                       vocab_size=f.vocab_size.value, activation=f.activation, tied_embeddings=f.tied_embeddings,
                       moe=moe, references=tuple(f.references), sources=_sources(f))


@lru_cache(maxsize=32)
def _read_method(path_str: str, mtime: float) -> CompressionMethod:
    path = Path(path_str)
    f: CompressionFile = validate_file(CompressionFile, read_yaml(path), path)
    _check_stem(path, COMPRESSION_DIR, f.id)
    delta = None
    if f.perplexity:
        delta = loss_delta_from_perplexity([(r.baseline_ppl, r.compressed_ppl) for r in f.perplexity])
    elif f.loss_delta_assumed_nats is not None:
        delta = f.loss_delta_assumed_nats.value
    elif f.method == "distillation":
        delta = 0.0  # the student's loss is the fit's for its size and tokens (student_token_multiplier)
    fraction = tokens_per_param = None
    if f.method == "prune_distill":
        fraction = f.student_params.value / f.teacher_params.value  # type: ignore[union-attr]
        tokens_per_param = f.distillation_tokens.value / f.student_params.value  # type: ignore[union-attr]
    return CompressionMethod(
        id=f.id, name=f.name, method=f.method, quality_note=f.quality_note, precision=f.precision,
        loss_delta_nats=delta,
        student_token_multiplier=f.student_token_multiplier.value if f.student_token_multiplier else 1.0,
        student_fraction=fraction, tokens_per_student_param=tokens_per_param, sources=_sources(f))


def _load(ref: str | Path, folder: Path, what: str, reader: Callable[[str, float], Any]) -> Any:
    try:
        path = resolve(ref, folder, what)
    except UnknownIdError:
        raise UnknownIdError(f"unknown {what} {str(ref)!r}; shipped: {', '.join(shipped_ids(folder))} (or pass a path "
                             f"to a {what} YAML)") from None
    return reader(str(path), path.stat().st_mtime)


def scaling_law_ids() -> list[str]:
    """Ids of the shipped scaling-law fits."""
    return shipped_ids(SCALING_LAWS_DIR)


def model_family_ids() -> list[str]:
    """Ids of the shipped model families."""
    return shipped_ids(FAMILIES_DIR)


def compression_method_ids() -> list[str]:
    """Ids of the shipped compression methods."""
    return shipped_ids(COMPRESSION_DIR)


def load_scaling_law(ref: str | Path | ScalingLaw) -> ScalingLaw:
    """A scaling-law fit by shipped id or path to a YAML file."""
    return ref if isinstance(ref, ScalingLaw) else _load(ref, SCALING_LAWS_DIR, "scaling law", _read_law)


def load_model_family(ref: str | Path | ModelFamily) -> ModelFamily:
    """A model family by shipped id or path to a YAML file."""
    return ref if isinstance(ref, ModelFamily) else _load(ref, FAMILIES_DIR, "model family", _read_family)


def load_compression_method(ref: str | Path | CompressionMethod) -> CompressionMethod:
    """A compression method by shipped id or path to a YAML file."""
    if isinstance(ref, CompressionMethod):
        return ref
    return _load(ref, COMPRESSION_DIR, "compression method", _read_method)
