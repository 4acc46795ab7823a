"""Public entry points for training estimates (what the CLI, app, sweeps and notebooks call)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from simulator.catalog import load_hardware, load_model, load_price_book
from simulator.core import cost as cost_mod
from simulator.core.hardware import Accelerator
from simulator.core.model import TransformerSpec
from simulator.core.plans import (
    PP_NOT_DIVIDING_LAYERS,
    TP_REASONS,
    PlanGrid,
    describe_reasons,
    single_plan,
    structural_reasons,
)
from simulator.core.search import OBJECTIVES, SearchResult, pareto_front, plan_record, run_totals, search_plans
from simulator.core.training import TrainingOptions, evaluate, resolve_framework
from simulator.errors import InfeasiblePlanError, PlanError
from simulator.results import RecordResult
from simulator.vocab import ATTENTION_KERNELS, COST_OPTIONS, PRECISIONS, RECOMPUTE

ModelRef = str | Path | TransformerSpec
HardwareRef = str | Path | Accelerator


class TrainingResult(RecordResult):
    """One plan's estimate. `to_dict()` is the JSON contract of `simulator train --json`."""

    def explain(self) -> str:
        """A few sentences on where the time and memory go and what would help most."""
        from simulator import units

        r = self.record
        vpp = f"x{r['vpp']}" if r["vpp"] > 1 else ""
        lines = [f"{r['model']} on {r['gpus']:,} x {r['hardware']} (TP{r['tp']} PP{r['pp']}{vpp} DP{r['dp']} "
                 f"CP{r['cp']} EP{r['ep']}, micro-batch {r['micro_batch']}, ZeRO-{r['zero']}, "
                 f"{r['recompute']} recompute, {r['precision']})."]
        if not r["feasible"]:
            lines.append(f"It does not run as planned: {r['reason']}.")
        step = r["step_time_s"]
        parts = sorted(((v, k) for k, v in r["breakdown"].items() if v > 0), reverse=True)
        lines.append(f"A step takes {units.human_duration(step)}: "
                     + ", ".join(f"{k.replace('_', ' ')} {v / step:.0%}" for v, k in parts[:4])
                     + f"; MFU {r['mfu']:.1%}.")
        overheads = {k: v for k, v in r["breakdown"].items() if k != "compute"}
        worst = max(overheads, key=overheads.get)
        if overheads[worst] > 0.05 * step:
            lines.append(f"Largest overhead: {worst.replace('_', ' ')} ({overheads[worst] / step:.0%}); "
                         f"{_HINTS[worst]}.")
        mem = r["memory_breakdown"]
        big = max(mem, key=mem.get)
        lines.append(f"Memory {units.human_bytes(r['memory_per_gpu_bytes'])} of "
                     f"{units.human_bytes(r['memory_capacity_bytes'])} usable per GPU, mostly "
                     f"{big.replace('_', ' ')} ({units.human_bytes(mem[big])}).")
        if r.get("total_time_s"):
            cost = units.human_usd(r["cost_usd"]) if r.get("cost_usd") is not None else "no price in the book"
            lines.append(f"The run: {units.human_duration(r['total_time_s'])}, {r['gpu_hours']:,.0f} GPU-hours, "
                         f"{cost}, {r['energy_kwh'] / 1000:,.0f} MWh.")
        return " ".join(lines)

    def raise_if_infeasible(self) -> TrainingResult:
        """Raise InfeasiblePlanError (with the reason) when the plan does not fit."""
        if not self.record["feasible"]:
            raise InfeasiblePlanError(self.record["reason"])
        return self


_HINTS = {
    "bubble": "more micro-batches per step or interleaved stages (vpp) shrink the pipeline bubble",
    "tp_comm": "TP communication costs time (exposed, or slowing the GEMMs it overlaps): overlap it if it is "
               "not, or use a smaller TP",
    "dp_comm": "data-parallel communication costs time (exposed, or slowing the compute it overlaps): more "
               "pipeline parallelism, a smaller data-parallel group or a lower ZeRO stage helps",
    "recompute": "recomputation costs time: selective instead of full recompute if memory allows",
    "pp_comm": "pipeline send/recv is exposed: fewer virtual stages or a faster scale-out network",
    "cp_comm": "the context-parallel exchange is exposed: use a smaller CP",
    "ep_comm": "the expert all-to-all is exposed: keep expert parallelism inside the scale-up domain",
    "optimizer": "the optimizer step is significant: shard it (ZeRO-1)",
}


def _positive(name: str, value: float | None, allow_none: bool = False, whole: bool = False) -> None:
    """A clear PlanError unless `value` is a positive finite number (a whole number when `whole`)."""
    if value is None and allow_none:
        return
    flag = f"--{name.replace('_', '-')}"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise PlanError(f"{flag} must be a positive number, got {value!r} ({type(value).__name__})")
    if not value > 0 or value != value or value == float("inf"):  # NaN and inf too
        raise PlanError(f"{flag} must be a positive number, got {value!r}")
    if whole and value != int(value):
        raise PlanError(f"{flag} must be a whole number, got {value!r}")


def make_options(seq_len: int, global_batch: int, **kw: Any) -> TrainingOptions:
    _positive("seq_len", seq_len, whole=True)
    _positive("global_batch", global_batch, whole=True)
    if kw.get("uneven_pp", False) is None:  # unset: single plans must divide evenly (plan_training turns it on)
        kw.pop("uneven_pp")
    if kw.get("attention_kernel", "flash") not in ATTENTION_KERNELS:
        raise PlanError(f"attention kernel {kw['attention_kernel']!r} is not one of {', '.join(ATTENTION_KERNELS)}")
    resolve_framework(kw.get("framework", "standard"))
    known = set(TrainingOptions.__dataclass_fields__) - {"seq_len", "global_batch"}
    unknown = sorted(set(kw) - known)
    if unknown:
        raise PlanError(f"unknown training option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return TrainingOptions(seq_len=int(seq_len), global_batch=int(global_batch), **kw)


def _as_list(value: Any, scalar: tuple[type, ...]) -> list[Any]:
    """One value or an iterable of them (a string is one value, not its letters)."""
    return [value] if isinstance(value, scalar) else list(value)


def _gpu_counts(gpus: Any) -> list[int]:
    """One GPU count or several, each a positive whole number; sorted, each once."""
    counts = _as_list(gpus, (numbers.Number, str))
    for n in counts:
        _positive("gpus", n, whole=True)
    return sorted({int(n) for n in counts})


def _check_search(objective: str, precisions: list[str], train_tokens: float | None, purchase: str) -> None:
    """The arguments every cell of a search shares: refused once, before any plan is evaluated."""
    if objective not in OBJECTIVES:
        raise PlanError(f"objective {objective!r} is not one of {', '.join(OBJECTIVES)}")
    if not precisions:
        raise PlanError(f"precisions is empty; give one or more of {', '.join(PRECISIONS)}")
    for p in precisions:
        if p not in PRECISIONS:
            raise PlanError(f"precision {p!r} is not one of {', '.join(PRECISIONS)}")
    _positive("train_tokens", train_tokens, allow_none=True)
    if purchase not in COST_OPTIONS:
        raise PlanError(f"purchase option {purchase!r} is not one of {', '.join(COST_OPTIONS)}")


def estimate_training(model: ModelRef, hardware: HardwareRef, gpus: int, *, global_batch: int, seq_len: int,
                      tp: int = 1, pp: int = 1, cp: int = 1, ep: int = 1, dp: int | None = None,
                      micro_batch: int = 1, zero: int = 1, recompute: str = "selective",
                      precision: str = "bf16", pp_schedule: str = "1f1b", vpp: int | None = None,
                      sequence_parallel: bool | None = None, train_tokens: float | None = None,
                      price_book: str | Path | cost_mod.PriceBook | None = None, purchase: str = "on_demand",
                      **option_kw: Any) -> TrainingResult:
    """Estimate step time, memory, MFU and run totals for one parallel plan.

    Raises PlanError for an impossible plan (e.g. TP not dividing heads); a plan that is valid
    but does not fit in memory comes back with ``feasible=False`` and the reason.
    """
    m = load_model(model)
    hw = load_hardware(hardware)
    for name, value in (("gpus", gpus), ("tp", tp), ("pp", pp), ("cp", cp), ("ep", ep), ("micro_batch", micro_batch)):
        _positive(name, value, whole=True)
    _positive("train_tokens", train_tokens, allow_none=True)
    if zero not in (0, 1, 2, 3):
        raise PlanError(f"--zero must be 0, 1, 2 or 3, got {zero!r}")
    if recompute not in RECOMPUTE:
        raise PlanError(f"--recompute must be one of {', '.join(RECOMPUTE)}, got {recompute!r}")
    if precision not in PRECISIONS:
        raise PlanError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if pp_schedule not in ("1f1b", "interleaved"):
        raise PlanError(f"--pp-schedule must be 1f1b or interleaved, got {pp_schedule!r}")
    if ep > 1 and m.moe is None:
        raise PlanError(f"--ep {ep}: {m.id} is a dense model (no experts); expert parallelism applies to MoE models, "
                        "use --ep 1")
    model_parallel = tp * pp * cp
    if gpus % model_parallel:
        raise PlanError(f"--gpus {gpus} is not divisible by tp x pp x cp = {model_parallel}; "
                        f"choose a GPU count that is a multiple of {model_parallel}")
    derived_dp = gpus // model_parallel
    if dp is not None and dp != derived_dp:
        raise PlanError(f"--dp {dp} does not match gpus / (tp x pp x cp) = {derived_dp}; omit --dp to derive it")
    vpp_note = ""
    if vpp is None:
        vpp = 2 if pp_schedule == "interleaved" else 1
        vpp_note = " (default)" if pp_schedule == "interleaved" else ""
    _positive("vpp", vpp, whole=True)
    if pp_schedule == "1f1b" and vpp != 1:
        raise PlanError("--vpp > 1 needs --pp-schedule interleaved")
    if pp_schedule == "interleaved" and (vpp < 2 or pp < 2):
        raise PlanError("--pp-schedule interleaved needs --pp >= 2 and --vpp >= 2 (virtual stages per rank)")
    options = make_options(seq_len, global_batch, **option_kw)
    grid = single_plan(tp=tp, pp=pp, dp=derived_dp, cp=cp, ep=ep, micro_batch=micro_batch, zero=zero,
                       recompute=recompute, vpp=vpp, precision=precision, sequence_parallel=sequence_parallel)
    structural = int(structural_reasons(grid, m, options.global_batch, options.seq_len, hw.scale_up_domain_gpus,
                                        options.uneven_pp)[0])
    hw.peak("fp8" if precision == "fp8" else "bf16")  # a clear error when the device lacks the dtype
    if structural:
        hint = ("; stages of unequal layer counts need --uneven-pp (scenario files: plan.uneven_pp: true)"
                if structural & PP_NOT_DIVIDING_LAYERS and not options.uneven_pp and pp * vpp <= m.n_layers else "")
        if structural & TP_REASONS:  # name the sizes that work, by the same rules (plans.structural_reasons)
            sizes = [t for t in range(1, m.n_heads + 1) if m.n_heads % t == 0]
            codes = structural_reasons(PlanGrid.from_columns(
                tp=sizes, pp=[1], dp=[1], cp=[1], ep=[1], micro_batch=[1], zero=[0], recompute=[0], vpp=[1],
                precision=[0], sequence_parallel=[0]), m, 1, 2, hw.scale_up_domain_gpus)
            ok_tp = [t for t, c in zip(sizes, codes, strict=True) if not c & TP_REASONS]
            hint += f"; tensor parallel sizes that work for {m.id} on {hw.id}: {', '.join(map(str, ok_tp))}"
        raise PlanError(f"impossible plan for {m.id} on {hw.id}: {describe_reasons(structural)}{hint} "
                        f"(tp={tp}, pp={pp}, vpp={vpp}{vpp_note}, cp={cp}, ep={ep}, dp={derived_dp}, micro_batch={micro_batch}; "
                        f"heads={m.n_heads}, kv_heads={m.n_kv_heads}, layers={m.n_layers}, global_batch={global_batch})")
    metrics = evaluate(m, hw, grid, options)
    book = load_price_book(price_book)
    metrics.update(run_totals(metrics, grid.gpus.astype(float), hw, options, train_tokens, book, purchase))
    rec = plan_record(grid, metrics, 0, m, hw)
    rec["seq_len"] = options.seq_len
    rec["global_batch"] = options.global_batch
    rec["price_book"] = book.id
    return TrainingResult(rec)


def plan_training(model: ModelRef, hardware: HardwareRef, gpus: int | Iterable[int], *, global_batch: int,
                  seq_len: int, train_tokens: float | None = None, objective: str = "time",
                  precisions: Iterable[str] = ("bf16",), price_book: str | Path | cost_mod.PriceBook | None = None,
                  purchase: str = "on_demand", progress: Callable[[int, int], None] | None = None,
                  option_kw: dict[str, Any] | None = None, **enumerate_kw: Any) -> SearchResult:
    """Search every valid plan for the GPU count(s) and rank the ones that fit."""
    m = load_model(model)
    hw = load_hardware(hardware)
    counts = _gpu_counts(gpus)
    if not counts:
        raise PlanError("gpus is empty; give one GPU count or a list of them")
    precisions = _as_list(precisions, (str,))
    _check_search(objective, precisions, train_tokens, purchase)
    kw = dict(option_kw or {})
    if kw.get("uneven_pp") is None:  # a search also tries stages of unequal layer counts unless told not to
        kw["uneven_pp"] = True
    options = make_options(seq_len, global_batch, **kw)
    book = load_price_book(price_book)
    return search_plans(m, hw, counts if len(counts) > 1 else counts[0], global_batch=options.global_batch,
                        seq_len=options.seq_len, options=options, precisions=precisions,
                        train_tokens=train_tokens, objective=objective, price_book=book, purchase=purchase,
                        progress=progress, **enumerate_kw)


def compare_training(model: ModelRef, hardware: Iterable[HardwareRef], gpu_counts: Iterable[int], *,
                     global_batch: int, seq_len: int, train_tokens: float, objective: str = "time",
                     precisions: Iterable[str] = ("bf16",), price_book: str | Path | cost_mod.PriceBook | None = None,
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
    make_options(seq_len, global_batch, **dict(option_kw or {}))  # bad options fail here, not once per cell
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
                    top_reason = max(res.reason_counts, key=res.reason_counts.get) if res.reason_counts else "no plan"
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
