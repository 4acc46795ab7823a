"""Public entry points for training estimates that take ids or paths (what the facade exports to the CLI, the app
and notebooks; sweeps and cluster scenarios call the core's estimate directly)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from simulator.catalog import load_hardware, load_model, load_price_book, load_stack
from simulator.catalog.bands import band_range, error_band
from simulator.core import cost as cost_mod
from simulator.core.cost import PriceBook
from simulator.core.hardware import Accelerator
from simulator.core.model import TransformerSpec
from simulator.core.search import SearchResult, pareto_front, search_plans
from simulator.core.training.estimate import PlanArgs, estimate_plan, make_options
from simulator.core.training.options import TrainingOptions
from simulator.core.training.result import TrainingResult
from simulator.core.training.stack import Stack
from simulator.errors import PlanError
from simulator.limits import (
    MAX_BATCH,
    MAX_GPU_COUNTS,
    MAX_GPUS,
    MAX_TOKENS,
    MAX_TRAIN_TOKENS,
    check_choice,
    check_int,
    check_number,
    check_ref,
)
from simulator.vocab import (
    ATTENTION_KERNELS,
    COST_OPTIONS,
    OBJECTIVES,
    PP_SCHEDULES,
    PRECISIONS,
    RECOMPUTE,
    ZERO_STAGES,
)

ModelRef = str | Path | TransformerSpec  # a shipped id, a YAML path or the object itself
HardwareRef = str | Path | Accelerator


def check_common(model: Any, hardware: Any, global_batch: Any, seq_len: Any, train_tokens: Any, price_book: Any,
                 purchase: Any) -> None:
    """The arguments estimates and searches share, checked before anything is loaded: BadValueError naming the
    argument for a wrong type, a number that is not finite or past its bound (simulator.limits)."""
    check_ref("model", model, (TransformerSpec,))
    check_ref("hardware", hardware, (Accelerator,))
    if price_book is not None:
        check_ref("price_book", price_book, (PriceBook,))
    check_int("global_batch", global_batch, 1, MAX_BATCH)
    check_int("seq_len", seq_len, 1, MAX_TOKENS)
    check_number("train_tokens", train_tokens, 0, MAX_TRAIN_TOKENS, low_open=True, allow_none=True)
    check_choice("purchase", purchase, COST_OPTIONS, label="purchase option")


def _check_options(kw: dict[str, Any]) -> None:
    """The training options a user may pass by keyword (the rest are checked by make_options)."""
    for name in ("dp_overlap", "tp_comm_overlap", "dropout", "uneven_pp", "compile", "grad_reduce_fp32",
                 "fused_kernels"):
        if kw.get(name) is not None and not isinstance(kw[name], bool):
            raise PlanError(f"{name} must be True, False or None, got {kw[name]!r} ({type(kw[name]).__name__})")
    check_choice("attention_kernel", kw.get("attention_kernel"), ATTENTION_KERNELS, allow_none=True)
    if kw.get("stack") is not None and not isinstance(kw["stack"], Stack):
        check_ref("stack", kw["stack"])
    if kw.get("fp8_recipe") is not None and not isinstance(kw["fp8_recipe"], str):
        raise PlanError(f"fp8_recipe must be a recipe name, got {kw['fp8_recipe']!r}")


def training_options(seq_len: int, global_batch: int, **kw: Any) -> TrainingOptions:
    """TrainingOptions from user values, the stack given by id or path (`stack`, None: the default stack) with its
    `compile` and `fp8_recipe` choices; PlanError/UnknownIdError naming what is wrong."""
    _check_options(kw)
    stack = load_stack(kw.pop("stack", None), compile=kw.pop("compile", None), fp8_recipe=kw.pop("fp8_recipe", None))
    return make_options(seq_len, global_batch, stack=stack, **kw)


def estimate_training(model: ModelRef, hardware: HardwareRef, gpus: int, *, global_batch: int, seq_len: int,
                      tp: int = 1, pp: int = 1, cp: int = 1, ep: int = 1, dp: int | None = None,
                      micro_batch: int = 1, zero: int | None = None, recompute: str | None = None,
                      precision: str = "bf16", pp_schedule: str = "1f1b", vpp: int | None = None,
                      sequence_parallel: bool | None = None, fsdp_shard: int | None = None,
                      train_tokens: float | None = None,
                      price_book: str | Path | PriceBook | None = None, purchase: str = "on_demand",
                      **option_kw: Any) -> TrainingResult:
    """Estimate step time, memory, MFU and run totals for one parallel plan (core.training.estimate.estimate_plan).

    Raises PlanError for an impossible plan (e.g. TP not dividing heads); a plan that is valid but does not fit in
    memory comes back with ``feasible=False`` and the reason.
    """
    check_common(model, hardware, global_batch, seq_len, train_tokens, price_book, purchase)
    gpus = check_int("gpus", gpus, 1, MAX_GPUS)  # go on with the ints the checks return (a whole float is taken)
    tp, pp, cp, ep = (check_int(name, value, 1, MAX_GPUS) for name, value in (("tp", tp), ("pp", pp), ("cp", cp),
                                                                              ("ep", ep)))
    dp, vpp, fsdp_shard = (check_int(name, value, 1, MAX_GPUS, allow_none=True)
                           for name, value in (("dp", dp), ("vpp", vpp), ("fsdp_shard", fsdp_shard)))
    micro_batch = check_int("micro_batch", micro_batch, 1, MAX_BATCH)
    zero = check_choice("zero", zero, ZERO_STAGES, allow_none=True)
    check_choice("recompute", recompute, RECOMPUTE, allow_none=True)
    check_choice("precision", precision, PRECISIONS)
    check_choice("pp_schedule", pp_schedule, PP_SCHEDULES)
    if sequence_parallel is not None and not isinstance(sequence_parallel, bool):
        raise PlanError(f"sequence_parallel must be True, False or None, got {sequence_parallel!r}")
    m = load_model(model)
    hw = load_hardware(hardware)
    plan = PlanArgs(tp=tp, pp=pp, cp=cp, ep=ep, dp=dp, micro_batch=micro_batch, zero=zero, recompute=recompute,
                    precision=precision, pp_schedule=pp_schedule, vpp=vpp, sequence_parallel=sequence_parallel,
                    fsdp_shard=fsdp_shard)
    options = training_options(seq_len, global_batch, **option_kw)
    res = estimate_plan(m, hw, gpus, plan, options, book=load_price_book(price_book), train_tokens=train_tokens,
                        purchase=purchase)
    rec = dict(res.record)
    return TrainingResult({**rec, **band_fields(rec, options.stack.id)})


def band_fields(rec: dict[str, Any], stack_id: str) -> dict[str, Any]:
    """The error band of a training record (catalog.bands.error_band) and the step-time and throughput ranges it
    gives: published runs of the family ran between step_time_range_s (10th-90th percentile)."""
    band = error_band("training", stack_id, str(rec["hardware"]), int(rec["gpus"]))
    out: dict[str, Any] = {"error_band": band}
    step = band_range(band, rec.get("step_time_s") or None)
    if step is not None:
        out["step_time_range_s"] = step
        out["tokens_per_s_per_gpu_range"] = band_range(band, rec["tokens_per_s_per_gpu"], rate=True)
    return out


def _as_list(value: Any, scalar: tuple[type, ...]) -> list[Any]:
    """One value or an iterable of them (a string is one value, not its letters)."""
    return [value] if isinstance(value, scalar) else list(value)


def _gpu_counts(gpus: Any) -> list[int]:
    """One GPU count or several, each a positive whole number; sorted, each once."""
    if not isinstance(gpus, (numbers.Number, str, Iterable)) or isinstance(gpus, (str, bytes, dict)):
        raise PlanError(f"gpus must be a GPU count or a list of them, got {gpus!r}")
    counts = _as_list(gpus, (numbers.Number,))
    if len(counts) > MAX_GPU_COUNTS:
        raise PlanError(f"gpus lists {len(counts):,} GPU counts; a search takes at most {MAX_GPU_COUNTS:,}")
    return sorted({int(check_int("gpus", n, 1, MAX_GPUS) or 0) for n in counts})


def _check_search(objective: str, precisions: list[str], train_tokens: float | None, purchase: str) -> None:
    """The arguments every cell of a search shares: refused once, before any plan is evaluated."""
    check_choice("objective", objective, OBJECTIVES)
    if not precisions:
        raise PlanError(f"precisions is empty; give one or more of {', '.join(PRECISIONS)}")
    for p in precisions:
        check_choice("precision", p, PRECISIONS)
    check_number("train_tokens", train_tokens, 0, MAX_TRAIN_TOKENS, low_open=True, allow_none=True)
    check_choice("purchase", purchase, COST_OPTIONS, label="purchase option")


def plan_training(model: ModelRef, hardware: HardwareRef, gpus: int | Iterable[int], *, global_batch: int,
                  seq_len: int, train_tokens: float | None = None, objective: str = "time",
                  precisions: Iterable[str] = ("bf16",), price_book: str | Path | PriceBook | None = None,
                  purchase: str = "on_demand", progress: Callable[[int, int], None] | None = None,
                  option_kw: dict[str, Any] | None = None, **enumerate_kw: Any) -> SearchResult:
    """Search every valid plan for the GPU count(s) and rank the ones that fit."""
    check_common(model, hardware, global_batch, seq_len, train_tokens, price_book, purchase)
    if option_kw is not None and not isinstance(option_kw, dict):
        raise PlanError(f"option_kw must be a dict of training options, got {type(option_kw).__name__}")
    if progress is not None and not callable(progress):
        raise PlanError(f"progress must be a callable or None, got {type(progress).__name__}")
    m = load_model(model)
    hw = load_hardware(hardware)
    counts = _gpu_counts(gpus)
    if not counts:
        raise PlanError("gpus is empty; give one GPU count or a list of them")
    precisions = _as_list(precisions, (str,)) if isinstance(precisions, (str, Iterable)) else [precisions]
    _check_search(objective, precisions, train_tokens, purchase)
    kw = dict(option_kw or {})
    if kw.get("uneven_pp") is None:  # a search also tries stages of unequal layer counts unless told not to
        kw["uneven_pp"] = True
    options = training_options(seq_len, global_batch, **kw)
    book = load_price_book(price_book)
    res = search_plans(m, hw, counts if len(counts) > 1 else counts[0], global_batch=options.global_batch,
                        seq_len=options.seq_len, options=options, precisions=precisions,
                        train_tokens=train_tokens, objective=objective, price_book=book, purchase=purchase,
                        progress=progress, **enumerate_kw)
    return replace(res, annotate=lambda rec: band_fields(rec, options.stack.id))


def compare_training(model: ModelRef, hardware: Iterable[HardwareRef], gpu_counts: Iterable[int], *,
                     global_batch: int, seq_len: int, train_tokens: float, objective: str = "time",
                     precisions: Iterable[str] = ("bf16",), price_book: str | Path | PriceBook | None = None,
                     purchase: str = "on_demand", progress: Callable[[int, int], None] | None = None,
                     option_kw: dict[str, Any] | None = None):
    """Best plan per (hardware, GPU count), with run time, cost and energy, plus a `pareto` column
    marking the time/cost Pareto front. Cells where nothing fits carry the reason instead.

    Returns a pandas DataFrame (one row per hardware x GPU count).
    """
    import pandas as pd

    hws = [load_hardware(h) for h in _as_list(hardware, (str, Path, Accelerator))]
    counts = _gpu_counts(gpu_counts)
    if not hws or not counts:
        raise PlanError("give at least one hardware profile and one GPU count")
    precisions = _as_list(precisions, (str,))
    _check_search(objective, precisions, train_tokens, purchase)
    training_options(seq_len, global_batch, **dict(option_kw or {}))  # bad options fail here, not once per cell
    book = load_price_book(price_book)
    rows: list[dict[str, Any]] = []
    total, done = len(hws) * len(counts), 0
    for hw in hws:
        # hardware without a price in the book cannot be ranked by cost: its cells show the fastest plan, unpriced
        cell_objective = "time" if math.isnan(cost_mod.busy_gpu_hour_usd(book, hw, purchase)) else objective
        for n in counts:
            try:
                res = plan_training(model, hw, n, global_batch=global_batch, seq_len=seq_len, train_tokens=train_tokens,
                                    objective=cell_objective, precisions=precisions, price_book=book,
                                    purchase=purchase, option_kw=option_kw)
                if len(res.ranking):
                    rec = res.record(int(res.ranking[0]))
                    rec["plans_evaluated"], rec["plans_feasible"] = res.n_plans, res.n_feasible
                    rows.append(rec)
                else:
                    top_reason = next(iter(res.reason_counts), "no plan")  # commonest first
                    rows.append({"hardware": hw.id, "gpus": n, "feasible": False,
                                 "reason": f"no plan fits ({top_reason}; {res.n_plans:,} plans tried)",
                                 "plans_evaluated": res.n_plans, "plans_feasible": 0})
            except PlanError as exc:
                rows.append({"hardware": hw.id, "gpus": n, "feasible": False, "reason": str(exc),
                             "plans_evaluated": 0, "plans_feasible": 0})
            done += 1
            if progress:
                progress(done, total)
    df = pd.DataFrame(rows)
    df["pareto"] = False
    ok = df[df["feasible"]]
    if "cost_usd" in ok:
        ok = ok[ok["cost_usd"].notna()]  # hardware without a price in the book has no cost
        front = pareto_front(ok["total_time_s"].to_numpy(), ok["cost_usd"].to_numpy())
        df.loc[ok.index[front], "pareto"] = True
    return df


def pick_best(table, objective: str = "time", max_time_s: float | None = None, max_cost_usd: float | None = None):
    """The best feasible row of a `compare_training` table under an optional deadline and budget.

    Returns (row or None, message): the message says which limit ruled out what, in words.
    """
    ok = table[table["feasible"]] if "feasible" in table else table.iloc[0:0]
    if ok.empty:
        return None, "no plan fits for any chosen hardware and GPU count"
    notes = []
    if max_time_s is not None:
        late = ok["total_time_s"] > max_time_s
        if late.all():
            return None, "every configuration misses the deadline; add GPUs or relax the deadline"
        if late.any():
            notes.append(f"{int(late.sum())} configurations miss the deadline")
        ok = ok[~late]
    if max_cost_usd is not None:
        priced = ok["cost_usd"].notna()
        over = priced & (ok["cost_usd"] > max_cost_usd)
        if (over | ~priced).all():
            return None, "every configuration within the deadline is over budget or has no price"
        if over.any():
            notes.append(f"{int(over.sum())} configurations are over budget")
        ok = ok[~over & priced]
    if objective == "cost" and ok["cost_usd"].notna().any():
        ok = ok[ok["cost_usd"].notna()]
        best = ok.loc[ok["cost_usd"].idxmin()]
    else:
        if objective == "cost":
            notes.append("no prices for these options, ranked by time instead")
        best = ok.loc[ok["total_time_s"].idxmin()]
    return best, "; ".join(notes)
