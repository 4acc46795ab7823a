"""Evaluate plan grids in one pass, mask, rank, Pareto front (the records of one plan: core.training.record)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from simulator.core import cost as cost_mod
from simulator.core.hardware import Accelerator
from simulator.core.model import TransformerSpec
from simulator.core.plans import PlanGrid, enumerate_plans, reason_counts
from simulator.core.training import TrainingOptions, evaluate
from simulator.core.training.record import plan_record, plan_row, run_totals
from simulator.errors import PlanError
from simulator.results import frame
from simulator.vocab import OBJECTIVES

CHUNK = 250_000


def evaluate_chunked(model: TransformerSpec, hw: Accelerator, grid: PlanGrid, options: TrainingOptions,
                     progress: Callable[[int, int], None] | None = None) -> dict[str, np.ndarray]:
    """`training.evaluate` over a large grid in chunks (bounded memory), reporting progress."""
    n = len(grid)
    if n <= CHUNK:
        out = evaluate(model, hw, grid, options)
        if progress:
            progress(n, n)
        return out
    parts: list[dict[str, np.ndarray]] = []
    for start in range(0, n, CHUNK):
        parts.append(evaluate(model, hw, grid.take(slice(start, start + CHUNK)), options))
        if progress:
            progress(min(start + CHUNK, n), n)
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def pareto_front(time_s: np.ndarray, cost_usd: np.ndarray) -> np.ndarray:
    """Indices of the plans no other plan beats on both time and cost, sorted by time."""
    order = np.lexsort((cost_usd, time_s))
    best = math.inf
    keep = []
    for i in order:
        if cost_usd[i] < best:
            keep.append(i)
            best = cost_usd[i]
    return np.asarray(keep, dtype=np.int64)


@dataclass(frozen=True)
class SearchResult:
    """All evaluated plans (arrays) plus the ranking of the feasible ones."""

    kind: ClassVar[str] = "plan"

    model: TransformerSpec
    hardware: Accelerator
    options: TrainingOptions
    grid: PlanGrid
    metrics: dict[str, np.ndarray]
    ranking: np.ndarray  # indices of feasible plans, best first
    objective: str
    train_tokens: float | None
    price_book: cost_mod.PriceBook
    purchase: str = "on_demand"
    reason_counts: dict[str, int] = field(default_factory=dict)
    gpu_counts: tuple[int, ...] = ()  # every count searched, including those with no plan at all
    annotate: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # extra fields per record (error bands)

    @property
    def n_plans(self) -> int:
        return len(self.grid)

    @property
    def n_feasible(self) -> int:
        return int(self.metrics["feasible"].sum())

    def record(self, i: int) -> dict[str, object]:
        rec = plan_record(self.grid, self.metrics, int(i), self.model, self.hardware)
        rec.update(self.options.stack.record_fields(str(rec["precision"])))
        if self.annotate is not None:
            rec.update(self.annotate(rec))
        return rec

    def top(self, k: int = 10) -> list[dict[str, object]]:
        """The k best feasible plans as records (fewer when fewer fit)."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise PlanError(f"--top must be a positive whole number of plans, got {k!r}")
        return [self.record(i) for i in self.ranking[:k]]

    def best_per_gpu_count(self) -> list[dict[str, object]]:
        """The best feasible plan (by the search objective) for each GPU count searched, fewest GPUs first,
        each with `pareto`: True when no other count is both faster and cheaper per token. Step time and
        dollars per token stand for run time and cost: every count trains the same global batch."""
        first: dict[int, int] = {}
        for i in self.ranking:
            first.setdefault(int(self.grid.gpus[i]), int(i))
        recs = [self.record(first[n]) for n in sorted(first)]
        for r in recs:
            r["pareto"] = False
        priced = [r for r in recs if r.get("usd_per_million_tokens") is not None]
        if priced:
            front = pareto_front(np.array([r["step_time_s"] for r in priced], dtype=float),
                                 np.array([r["usd_per_million_tokens"] for r in priced], dtype=float))
            for j in front:
                priced[int(j)]["pareto"] = True
        return recs

    def counts_without_plan(self) -> dict[int, str]:
        """GPU counts searched where nothing fits, each with why (the commonest reasons among its plans)."""
        have = {int(n) for n in self.grid.gpus[self.ranking]}
        out: dict[int, str] = {}
        for n in self.gpu_counts:
            if n in have:
                continue
            codes = self.metrics["reason"][self.grid.gpus == n]
            if not len(codes):
                out[n] = "no tp x pp x cp x dp factorisation with dp dividing the global batch"
                continue
            out[n] = "; ".join(f"{t} ({c:,} plans)" for t, c in reason_counts(codes).items())
        return out

    def reasons_text(self) -> str:
        """Why plans were ruled out, commonest first: 'reason (N plans); ...'."""
        return "; ".join(f"{k} ({v:,} plans)" for k, v in self.reason_counts.items())

    def to_record(self) -> dict[str, Any]:
        """The best plan's record (one row of a sweep); when nothing fits, the search and why."""
        if len(self.ranking):
            return self.record(int(self.ranking[0]))
        return {"model": self.model.id, "hardware": self.hardware.id, "gpus": max(self.gpu_counts, default=0),
                "feasible": False, "reason": f"no plan fits: {self.reasons_text()}"}

    def to_dict(self, k: int = 10) -> dict[str, Any]:
        """The search in numbers and its k best plans (each the `simulator train --json` record)."""
        return {"model": self.model.id, "hardware": self.hardware.id, "objective": self.objective,
                "gpu_counts": list(self.gpu_counts), "n_plans": self.n_plans, "n_feasible": self.n_feasible,
                "reason_counts": dict(self.reason_counts), "plans": self.top(k) if len(self.ranking) else []}

    def to_frame(self, k: int | None = None) -> Any:
        """Top plans as a flat pandas DataFrame (breakdown columns suffixed _s, memory parts _bytes)."""
        return frame([plan_row(rec) for rec in (self.top(k or len(self.ranking)) if len(self.ranking) else [])])


def search_plans(model: TransformerSpec, hw: Accelerator, gpus: int | Iterable[int], *, global_batch: int,
                 seq_len: int, options: TrainingOptions | None = None, precisions: Iterable[str] = ("bf16",),
                 train_tokens: float | None = None, objective: str = "time",
                 price_book: cost_mod.PriceBook, purchase: str = "on_demand",
                 progress: Callable[[int, int], None] | None = None, **enumerate_kw: Any) -> SearchResult:
    """Enumerate every plan for the GPU count(s), evaluate all in one vectorised pass, rank feasible
    plans by wall time (`time`) or by dollars per token (`cost`)."""
    if objective not in OBJECTIVES:
        raise PlanError(f"objective {objective!r} is not one of {', '.join(OBJECTIVES)}")
    options = options or TrainingOptions(seq_len=seq_len, global_batch=global_batch)
    book = price_book
    counts = [gpus] if isinstance(gpus, int) else list(gpus)
    options = options.resolved(model.dropout)
    st = options.stack
    st.check_hardware(hw.vendor, hw.id)
    enumerate_kw.setdefault("uneven_pp", options.uneven_pp)
    enumerate_kw.setdefault("zero3_with_pp", st.zero3_with_pp)
    enumerate_kw.setdefault("interleaved_any_micro_batches", st.interleaved_any_micro_batches)
    enumerate_kw.setdefault("zero_stages", st.zero_stages)
    if "interleaved" not in st.pp_schedules:
        enumerate_kw.setdefault("max_vpp", 1)
    enumerate_kw.setdefault("pipeline", bool(st.pp_schedules))
    enumerate_kw.setdefault("hsdp", st.hsdp)
    enumerate_kw.setdefault("schedules", st.pp_schedules)
    # with fused attention, selective recompute equals none
    skip = ("selective",) if options.attention_kernel != "unfused" else ()
    enumerate_kw.setdefault("recompute", tuple(r for r in st.recompute_modes if r not in skip))
    precisions = [p for p in precisions if p in st.precisions]
    if not precisions:
        raise PlanError(f"stack {st.id} offers none of the precisions asked for; it offers {', '.join(st.precisions)}")
    grids = [enumerate_plans(model, int(n), global_batch, seq_len, hw.scale_up_domain_gpus, precisions,
                             **enumerate_kw) for n in counts]
    grid = grids[0] if len(grids) == 1 else PlanGrid(**{
        f: np.concatenate([getattr(g, f) for g in grids]) for f in grids[0].__dataclass_fields__})
    if len(grid) == 0:
        raise PlanError(
            f"no parallel plan exists for {counts} GPUs with global batch {global_batch}: the GPU count must "
            f"factor into tp x pp x cp x dp with dp dividing the global batch; try a GPU count that is a power "
            f"of two or a global batch divisible by more data-parallel sizes")
    metrics = evaluate_chunked(model, hw, grid, options, progress)
    metrics.update(run_totals(metrics, grid.gpus.astype(float), hw, train_tokens, book, purchase))
    feasible = np.flatnonzero(metrics["feasible"])
    if objective == "cost":
        key = metrics["usd_per_million_tokens"][feasible]
        if np.isnan(key).all() and len(key):
            raise PlanError(f"price book {book.id!r} has no {purchase} price for {hw.id}; choose another "
                            f"price book or objective 'time'")
    else:
        key = metrics["step_time_s"][feasible] / (float(global_batch) * seq_len)
    ranking = feasible[np.argsort(key, kind="stable")]
    return SearchResult(model, hw, options, grid, metrics, ranking, objective, train_tokens, book, purchase,
                        reason_counts(metrics["reason"]), tuple(int(n) for n in counts))
