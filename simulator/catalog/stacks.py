"""Training software stacks (workloads/stacks/<id>.yaml) to frozen core.training.Stack objects.

Every figure of a stack file is a `{value, source}` pair: a figure without its source is refused at load with the
field named, as is an unknown key. `load_stack` also applies the user's choices of torch.compile and fp8 recipe,
refusing the ones the stack does not offer."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Generic, Literal, TypeVar

from pydantic import Field, NonNegativeFloat, PositiveFloat

from simulator.catalog.paths import STACKS_DIR, resolve, shipped_ids
from simulator.catalog.schema import Entity, Strict
from simulator.catalog.yamlio import read_yaml, validate_file
from simulator.core.training.stack import Stack
from simulator.errors import DataFileError, PlanError, UnknownIdError
from simulator.vocab import (
    DEFAULT_STACK,
    AttentionKernel,
    PipelineSchedule,
    Precision,
    Recompute,
    ZeroStage,
)

T = TypeVar("T")


class Sourced(Strict, Generic[T]):
    """One figure of a stack file and where it is stated (a document, or the fit that produced it)."""

    value: T
    source: str = Field(min_length=3)


class Engine(Strict):
    """What the engine does, each with where it is stated."""

    fused_kernels: Sourced[bool]
    attention_kernel: Sourced[AttentionKernel]
    tp_comm_overlap: Sourced[bool]
    grad_reduce_fp32: Sourced[bool]
    fsdp_overlap: Sourced[bool]
    fsdp_pp_unsharded: Sourced[bool]
    fp8_weight_cache: Sourced[bool]
    fp8_saves_inputs: Sourced[bool]
    fp8_needs_compile: Sourced[bool]
    zero3_gather_unit: Sourced[Literal["block", "module"]]


class Figures(Strict):
    """The numbers of the step model, each with its source (a document, or the fit that produced it)."""

    compute_efficiency_scale: Sourced[PositiveFloat]
    tp_overlap_share: Sourced[NonNegativeFloat]
    step_overhead_s: Sourced[NonNegativeFloat]
    allocator_reserve_fraction: Sourced[NonNegativeFloat]
    workspace_bytes: Sourced[NonNegativeFloat]
    fp8_weight_copy_bytes: Sourced[NonNegativeFloat]
    logits_bytes: Sourced[PositiveFloat]
    eager_norm_extra_bytes: Sourced[NonNegativeFloat]
    eager_rope_extra_bytes: Sourced[NonNegativeFloat]
    eager_activation_extra_bytes: Sourced[NonNegativeFloat]
    zero3_bytes_per_s: Sourced[PositiveFloat | None]
    zero3_rank_layer_s: Sourced[NonNegativeFloat]


class Supports(Strict):
    """The plans the stack can run, with where that is stated."""

    zero_stages: list[ZeroStage] = Field(min_length=1)
    pp_schedules: list[PipelineSchedule]  # empty: no pipeline parallelism
    recompute: list[Recompute] = Field(min_length=1)
    precisions: list[Precision] = Field(min_length=1)
    zero3_with_pp: bool
    uneven_pp: bool
    interleaved_any_micro_batches: bool
    hsdp: bool
    context_parallel: bool
    expert_parallel: bool
    compile: bool
    vendors: list[str] = Field(min_length=1)  # accelerator vendors (hardware profile `vendor`) it runs on
    source: str = Field(min_length=3)


class StackFile(Entity):
    kind: Literal["stack"]
    version: str = Field(min_length=1)
    description: str = Field(min_length=3)
    engine: Engine
    figures: Figures
    fp8_recipes: dict[str, Sourced[NonNegativeFloat]] = Field(default_factory=dict)  # recipe -> extra 16-bit reads per fp8 input
    default_fp8_recipe: str | None = None
    supports: Supports
    fitted_on: list[str] = Field(default_factory=list)  # rows a measured term was fitted on (left out of checks)
    fitted_sources: list[str] = Field(default_factory=list)  # documents the fitted scale and overhead came from


def stack_ids() -> list[str]:
    """Ids of the shipped stacks."""
    return shipped_ids(STACKS_DIR)


@lru_cache(maxsize=64)
def _read(path_str: str, mtime: float) -> StackFile:
    path = Path(path_str)
    f = validate_file(StackFile, read_yaml(path), path)
    if f.default_fp8_recipe is not None and f.default_fp8_recipe not in f.fp8_recipes:
        raise DataFileError(f"{path}: field 'default_fp8_recipe' = {f.default_fp8_recipe!r} is not one of its "
                            f"fp8_recipes ({', '.join(f.fp8_recipes) or 'none'})")
    if "fp8" in f.supports.precisions and f.default_fp8_recipe is None:
        raise DataFileError(f"{path}: field 'default_fp8_recipe' is missing; the stack supports fp8")
    return f


def stack_file(ref: str | Path | None = None) -> StackFile:
    """The validated stack file an id or path names (None: DEFAULT_STACK)."""
    try:
        path = resolve(DEFAULT_STACK if ref is None else ref, STACKS_DIR, "stack")
    except UnknownIdError:
        raise UnknownIdError(f"unknown stack {str(ref)!r}; shipped stacks: {', '.join(stack_ids())} "
                             "(or pass a path to a stack YAML)") from None
    return _read(str(path), path.stat().st_mtime)


def load_stack(ref: str | Path | Stack | None = None, *, compile: bool | None = None,
               fp8_recipe: str | None = None) -> Stack:
    """A Stack by shipped id or path (None: DEFAULT_STACK), with torch.compile and the fp8 recipe chosen; PlanError
    naming the stack when it offers neither."""
    if isinstance(ref, Stack):
        st = ref
        if compile is not None:
            st = replace(st, compile=compile)
        return st
    f = stack_file(ref)
    if compile and not f.supports.compile:
        raise PlanError(f"stack {f.id} has no torch.compile; drop --compile or choose a PyTorch stack")
    recipe = fp8_recipe or f.default_fp8_recipe
    if fp8_recipe is not None and fp8_recipe not in f.fp8_recipes:
        offered = ", ".join(f.fp8_recipes) or "none"
        raise PlanError(f"stack {f.id} has no fp8 recipe {fp8_recipe!r}; it offers {offered}")
    # the engine and figures sections name Stack's fields one for one
    sourced = {k: getattr(f.engine, k).value for k in Engine.model_fields}
    sourced |= {k: getattr(f.figures, k).value for k in Figures.model_fields}
    s = f.supports
    return Stack(
        id=f.id, name=f.name, compile=bool(compile), fp8_recipe=recipe if "fp8" in s.precisions else None,
        fp8_cast_passes=f.fp8_recipes[recipe].value if recipe else 0.0, **sourced,
        zero_stages=tuple(s.zero_stages), pp_schedules=tuple(s.pp_schedules), recompute_modes=tuple(s.recompute),
        precisions=tuple(s.precisions), zero3_with_pp=s.zero3_with_pp, uneven_pp=s.uneven_pp,
        interleaved_any_micro_batches=s.interleaved_any_micro_batches, hsdp=s.hsdp,
        context_parallel=s.context_parallel, expert_parallel=s.expert_parallel, vendors=tuple(s.vendors),
        fitted_on=tuple(f.fitted_on))
