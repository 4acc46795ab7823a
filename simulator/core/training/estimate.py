"""One parallel plan, checked and estimated: the user-facing rules for plan arguments and training options, and the
record of one plan (the JSON contract of `simulator train`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from simulator.core.checks import check_positive
from simulator.core.cost import PriceBook
from simulator.core.hardware import Accelerator
from simulator.core.model import TransformerSpec
from simulator.core.plans import (
    PP_NOT_DIVIDING_LAYERS,
    TP_REASONS,
    PlanGrid,
    describe_reasons,
    encode_plan,
    structural_reasons,
)
from simulator.core.training.options import TrainingOptions
from simulator.core.training.record import plan_record, run_totals
from simulator.core.training.result import TrainingResult
from simulator.core.training.stack import Stack
from simulator.core.training.step import evaluate, plan_reasons
from simulator.errors import PlanError
from simulator.vocab import ATTENTION_KERNELS, PP_SCHEDULES, PRECISIONS, RECOMPUTE, ZERO_STAGES


def make_options(seq_len: int, global_batch: int, **kw: Any) -> TrainingOptions:
    """TrainingOptions from user values; PlanError naming what is wrong (sizes, kernels, stack, unknown keys)."""
    check_positive("seq_len", seq_len, whole=True)
    check_positive("global_batch", global_batch, whole=True)
    if kw.get("attention_kernel") not in (None, *ATTENTION_KERNELS):
        raise PlanError(f"attention kernel {kw['attention_kernel']!r} is not one of {', '.join(ATTENTION_KERNELS)}")
    if not isinstance(kw.get("stack", Stack()), Stack):
        raise PlanError("stack must be a loaded Stack (simulator.catalog.load_stack), got "
                        f"{type(kw['stack']).__name__}")
    known = set(TrainingOptions.__dataclass_fields__) - {"seq_len", "global_batch"}
    unknown = sorted(set(kw) - known)
    if unknown:
        raise PlanError(f"unknown training option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return TrainingOptions(seq_len=int(seq_len), global_batch=int(global_batch), **kw)


@dataclass(frozen=True, slots=True)
class PlanArgs:
    """One parallel plan as a user gives it (the arguments of `simulator train`); dp None: derived."""

    tp: int = 1
    pp: int = 1
    cp: int = 1
    ep: int = 1
    dp: int | None = None
    micro_batch: int = 1
    zero: int | None = None  # None: the stack's default (Stack.default_zero)
    recompute: str | None = None  # None: the stack's default (Stack.default_recompute)
    precision: str = "bf16"
    pp_schedule: str = "1f1b"
    vpp: int | None = None
    sequence_parallel: bool | None = None
    fsdp_shard: int | None = None  # HSDP: data-parallel ranks that shard the model states (None: all of them)

    def with_defaults(self, stack: Stack) -> PlanArgs:
        """This plan with the stack's ZeRO stage and recompute mode where it names none."""
        return replace(self, zero=stack.default_zero() if self.zero is None else self.zero,
                       recompute=stack.default_recompute() if self.recompute is None else self.recompute)


def _check_args(model: TransformerSpec, gpus: int, p: PlanArgs) -> tuple[int, int]:
    """The plan arguments on their own; returns (data-parallel size, virtual stages)."""
    for name, value in (("gpus", gpus), ("tp", p.tp), ("pp", p.pp), ("cp", p.cp), ("ep", p.ep),
                        ("micro_batch", p.micro_batch)):
        check_positive(name, value, whole=True)
    if p.zero not in ZERO_STAGES:
        raise PlanError(f"--zero must be 0, 1, 2 or 3, got {p.zero!r}")
    for flag, text, choices in (("--recompute", p.recompute, RECOMPUTE), ("--precision", p.precision, PRECISIONS),
                                ("--pp-schedule", p.pp_schedule, PP_SCHEDULES)):
        if text not in choices:
            raise PlanError(f"{flag} must be one of {', '.join(choices)}, got {text!r}")
    if p.ep > 1 and model.moe is None:
        raise PlanError(f"--ep {p.ep}: {model.id} is a dense model (no experts); expert parallelism applies to MoE "
                        "models, use --ep 1")
    model_parallel = p.tp * p.pp * p.cp
    if gpus % model_parallel:
        raise PlanError(f"--gpus {gpus} is not divisible by tp x pp x cp = {model_parallel}; "
                        f"choose a GPU count that is a multiple of {model_parallel}")
    dp = gpus // model_parallel
    if p.dp is not None and p.dp != dp:
        raise PlanError(f"--dp {p.dp} does not match gpus / (tp x pp x cp) = {dp}; omit --dp to derive it")
    vpp = p.vpp
    if vpp is None:
        vpp = 2 if p.pp_schedule == "interleaved" else 1
    check_positive("vpp", vpp, whole=True)
    if p.pp_schedule != "interleaved" and vpp != 1:
        raise PlanError("--vpp > 1 needs --pp-schedule interleaved")
    if p.pp_schedule == "interleaved" and (vpp < 2 or p.pp < 2):
        raise PlanError("--pp-schedule interleaved needs --pp >= 2 and --vpp >= 2 (virtual stages per rank)")
    return dp, vpp


def plan_columns(model: TransformerSpec, hw: Accelerator, gpus: int, p: PlanArgs,
                 stack: Stack | None = None) -> dict[str, int]:
    """One user plan as the integer columns of a PlanGrid, after the argument rules and the device's peak for the
    precision (PlanError when they fail); unset ZeRO stage and recompute mode from the stack."""
    p = p.with_defaults(stack or Stack())
    dp, vpp = _check_args(model, gpus, p)
    hw.peak("fp8" if p.precision == "fp8" else "bf16")  # a clear error when the device lacks the dtype
    if p.fsdp_shard is not None:
        check_positive("fsdp_shard", p.fsdp_shard, whole=True)
        if (dp * p.cp) % p.fsdp_shard or p.zero == 0:
            raise PlanError(f"--fsdp-shard {p.fsdp_shard} must divide dp x cp = {dp * p.cp} and needs --zero 1, 2 "
                            "or 3 (HSDP shards the model states over that many data-parallel ranks)")
    assert p.zero is not None and p.recompute is not None  # with_defaults filled them
    return encode_plan(tp=p.tp, pp=p.pp, dp=dp, cp=p.cp, ep=p.ep, micro_batch=p.micro_batch, zero=p.zero,
                       recompute=p.recompute, vpp=vpp, precision=p.precision, sequence_parallel=p.sequence_parallel,
                       fsdp_shard=p.fsdp_shard, pp_schedule=p.pp_schedule if p.pp > 1 else None)


def _impossible(model: TransformerSpec, hw: Accelerator, grid: PlanGrid, code: int, options: TrainingOptions,
                p: PlanArgs, where: str) -> PlanError:
    """The error for a plan the structural rules refuse, with the fix: --uneven-pp, or the TP sizes that work."""
    hint = ""
    vpp = int(grid.vpp[0])
    if code & PP_NOT_DIVIDING_LAYERS and not options.uneven_pp and p.pp * vpp <= model.n_layers:
        hint = "; stages of unequal layer counts need --uneven-pp (scenario files: plan.uneven_pp: true)"
    if code & TP_REASONS:  # name the sizes that work, by the same rules (plans.structural_reasons)
        sizes = [t for t in range(1, model.n_heads + 1) if model.n_heads % t == 0]
        codes = structural_reasons(PlanGrid.from_columns(
            tp=sizes, pp=[1], dp=[1], cp=[1], ep=[1], micro_batch=[1], zero=[0], recompute=[0], vpp=[1],
            precision=[0], sequence_parallel=[0]), model, 1, 2, hw.scale_up_domain_gpus)
        ok_tp = [t for t, c in zip(sizes, codes, strict=True) if not c & TP_REASONS]
        hint += f"; tensor parallel sizes that work for {model.id} on {hw.id}: {', '.join(map(str, ok_tp))}"
    return PlanError(f"impossible plan for {model.id} on {hw.id}: {describe_reasons(code)}{hint} {where}")


def estimate_plan(model: TransformerSpec, hw: Accelerator, gpus: int, plan: PlanArgs, options: TrainingOptions, *,
                  book: PriceBook, train_tokens: float | None = None, purchase: str = "on_demand") -> TrainingResult:
    """Step time, memory, MFU and run totals of one plan, as its record (the `simulator train --json` contract).

    Raises PlanError for an impossible plan (e.g. TP not dividing heads); a plan that is valid but does not fit in
    memory comes back with ``feasible: False`` and the reason.
    """
    options = options.resolved(model.dropout)
    options.stack.check_hardware(hw.vendor, hw.id)
    p = plan.with_defaults(options.stack)
    grid = PlanGrid.from_columns(**{k: [v] for k, v in plan_columns(model, hw, gpus, p).items()})
    check_positive("train_tokens", train_tokens, allow_none=True)
    options.stack.check_plan(zero=p.zero or 0, pp=p.pp, pp_schedule=p.pp_schedule, recompute=p.recompute or "",
                             precision=p.precision, cp=p.cp, ep=p.ep, fsdp_shard=p.fsdp_shard,
                             shard_group=int(grid.dp[0] * grid.cp[0]))
    code = int(plan_reasons(grid, model, hw, options)[0])
    if code:
        vpp, dp = int(grid.vpp[0]), int(grid.dp[0])
        vpp_note = " (default)" if p.vpp is None and p.pp_schedule == "interleaved" else ""
        where = (f"(tp={p.tp}, pp={p.pp}, vpp={vpp}{vpp_note}, cp={p.cp}, ep={p.ep}, dp={dp}, "
                 f"micro_batch={p.micro_batch}; heads={model.n_heads}, kv_heads={model.n_kv_heads}, "
                 f"layers={model.n_layers}, global_batch={options.global_batch})")
        raise _impossible(model, hw, grid, code, options, p, where)
    metrics = evaluate(model, hw, grid, options)
    metrics.update(run_totals(metrics, grid.gpus.astype(float), hw, train_tokens, book, purchase))
    rec = plan_record(grid, metrics, 0, model, hw)
    rec["seq_len"] = options.seq_len
    rec["global_batch"] = options.global_batch
    rec["price_book"] = book.id
    rec.update(options.stack.record_fields(str(rec["precision"])))
    return TrainingResult(rec)
