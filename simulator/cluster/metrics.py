"""Summary metrics of a cluster run: utilisation (allocated and productive), goodput, waits, JCT, cost, energy.

Rates and distributions are measured over the steady-state window [warmup_s, end]; totals (cost, energy,
GPU-hours lost) cover the whole run. Overload is detected from the offered load and the queue's trend.

Summary keys (all times in seconds):
  utilization                  allocated GPU-seconds / (installed GPUs x window); spares and down nodes included
  utilization_productive       productive GPU-seconds / (installed GPUs x window); serving replicas count as productive
  goodput                      productive / allocated GPU-seconds in the window (runtime goodput: excludes restarts,
                               checkpoint writes, work lost to failures and straggler slowdown)
  effective_training_time_ratio  for training and fine-tuning jobs: productive time / wall time since first start,
                               GPU-weighted (Meta's ETTR; waits after a failure or preemption count against it)
  queue_wait_*_s               first start - submit for jobs submitted in the window (mean, p50, p95, p99, max)
  jct_*_s                      end - submit for jobs that completed, submitted in the window
  interruptions                job interruptions by node failures (unplanned) and maintenance (planned)
  offered_load, overloaded     work submitted in the window (capped at what fits before the end) / capacity, and the
                               overload verdict (see OVERLOAD_*); `warnings` says why
  cost_usd                     installed GPU-hours x the pool's price (rented) or amortised capex + facility
                               + electricity (owned), whole run; cost_jobs/serving/idle_usd split it
  energy_kwh, co2e_kg          busy GPU-time x facility power (+ idle draw if configured), whole run
  sim_events                   arrivals, job ends, node failures and repairs, service ticks handled
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from simulator.cluster.state import RunRecord
from simulator.core import cost as cost_mod
from simulator.results import flatten
from simulator.simkit import distribution_summary, growth_trend, level_at
from simulator.units import J_PER_KWH, SECONDS_PER_HOUR, json_safe
from simulator.vocab import FINAL_JOB_STATES, PURCHASE_OPTIONS, TRAINING_JOB_KINDS

JOB_COLUMNS = ("job_id", "name", "kind", "user", "gpus", "priority", "pools", "submit_s", "first_start_s", "end_s",
               "status", "wait_s", "wait_total_s", "jct_s", "work_s", "productive_s", "overhead_s", "checkpoint_s",
               "lost_s", "straggle_s", "interruptions", "preemptions", "gpu_hours", "energy_kwh", "cost_usd", "ettr")
# Overload: a queue whose mean grows in each quarter of the window, ends more than twice as long as it started
# and gains more than 5 % of the installed GPUs, or offered load above capacity with jobs still waiting at the end.
OVERLOAD_OFFERED_LOAD = 1.0
OVERLOAD_GROWTH = 2.0
OVERLOAD_MIN_BACKLOG = 0.05


@dataclass(frozen=True)
class ClusterResult:
    """One run: `summary` (the JSON contract), `jobs` and `segments` DataFrames, and level time series."""

    summary: dict[str, Any]
    jobs: Any  # pandas.DataFrame, one row per job
    segments: Any  # pandas.DataFrame, one row per run segment (start to end/interruption)
    levels: dict[str, tuple[np.ndarray, np.ndarray]]  # name -> (change times s, level from each time)
    kind: ClassVar[str] = "cluster"

    def to_dict(self) -> dict[str, Any]:
        return dict(self.summary)

    def to_record(self) -> dict[str, Any]:
        """The summary as one row: warnings joined into one text (so sweeps keep them), per-pool figures nested."""
        out = {k: v for k, v in self.summary.items() if not isinstance(v, (list, tuple))}
        out["warnings"] = "; ".join(str(w) for w in self.summary.get("warnings", []))
        return out

    def to_frame(self) -> pd.DataFrame:
        """The summary as one row, per-pool figures as dotted columns (per-job rows: `jobs`)."""
        return pd.DataFrame([flatten(self.to_record())])

    def timeseries(self, step_s: float | None = None) -> pd.DataFrame:
        """Levels (allocated GPUs, up GPUs, queue length, serving GPUs...) sampled every step_s as a DataFrame."""
        end = float(self.summary["end_s"])
        step = step_s or max(end / 500.0, 1.0)
        grid = np.arange(0.0, end + step / 2, step)
        out: dict[str, Any] = {"time_s": grid}
        for name, (t, v) in self.levels.items():
            out[name] = level_at(t, v, grid, before=v[0])
        return pd.DataFrame(out)


def jobs_frame(run: RunRecord) -> pd.DataFrame:
    """One row per job (columns JOB_COLUMNS), built column by column."""
    end = run.end_s
    jobs = run.jobs
    specs = [j.spec for j in jobs]

    def col(values: list[Any], dtype: Any = float) -> np.ndarray:
        return np.asarray(values, dtype=dtype)

    first = col([j.first_start for j in jobs])
    ended = col([j.end_s for j in jobs])
    submit = col([s.submit_s for s in specs])
    productive = col([j.productive_s for j in jobs])
    span = np.where(np.isnan(ended), end, np.minimum(ended, end)) - first
    with np.errstate(invalid="ignore", divide="ignore"):
        ettr = np.where(span > 0, productive / span, np.nan)
    data = {
        "job_id": col([j.id for j in jobs], np.int64), "name": [s.name for s in specs],
        "kind": [s.kind for s in specs], "user": [s.user for s in specs], "gpus": col([s.gpus for s in specs], np.int64),
        "priority": col([s.priority for s in specs], np.int64), "pools": [",".join(s.pools) for s in specs],
        "submit_s": submit, "first_start_s": first, "end_s": ended,
        "status": [j.status if j.status != "pending" else "not_submitted" for j in jobs],
        "wait_s": first - submit, "wait_total_s": col([j.wait_total for j in jobs]), "jct_s": ended - submit,
        "work_s": col([s.work_s[0] for s in specs]), "productive_s": productive,
        "overhead_s": col([j.overhead_s for j in jobs]), "checkpoint_s": col([j.ckpt_s for j in jobs]),
        "lost_s": col([j.lost_s for j in jobs]), "straggle_s": col([j.straggle_s for j in jobs]),
        "interruptions": col([j.interruptions for j in jobs], np.int64),
        "preemptions": col([j.preemptions for j in jobs], np.int64),
        "gpu_hours": col([j.gpu_s for j in jobs]) / SECONDS_PER_HOUR,
        "energy_kwh": col([j.energy_j for j in jobs]) / J_PER_KWH, "cost_usd": col([j.cost_usd for j in jobs]),
        "ettr": ettr,
    }
    return pd.DataFrame(data, columns=list(JOB_COLUMNS))


def _productive_in_window(seg: pd.DataFrame, w0: float, w1: float) -> float:
    """Productive GPU-seconds inside the window, spreading each segment's productive share evenly over it."""
    if seg.empty:
        return 0.0
    start = seg["start_s"].to_numpy(dtype=float)
    end = seg["end_s"].to_numpy(dtype=float)
    length = end - start
    overlap = np.clip(np.minimum(end, w1) - np.maximum(start, w0), 0.0, None)
    share = np.divide(seg["productive_s"].to_numpy(), length, out=np.zeros_like(length), where=length > 0)
    return float(np.sum(seg["gpus"].to_numpy() * overlap * np.clip(share, 0.0, 1.0)))


def _overload(run: RunRecord, jobs: pd.DataFrame, w0: float, w1: float, installed: int) -> tuple[float, bool, list[str]]:
    span = w1 - w0
    in_win = submitted_in(jobs, w0, w1)  # a job submitted at w1 offers no work inside the window
    # work each job could offer inside the window (a job longer than what is left of the window offers the rest)
    work = np.minimum(in_win["work_s"].to_numpy(), w1 - in_win["submit_s"].to_numpy())
    offered = float((in_win["gpus"].to_numpy() * work).sum()) + run.demand.integral(w0, w1)
    load = offered / (installed * span) if span > 0 else math.nan
    t, v = run.queued_gpus.arrays()
    bins = growth_trend(t, v, w0, w1) if span > 0 else np.zeros(4)
    growing = bool(np.all(np.diff(bins) > 0) and bins[-1] > OVERLOAD_GROWTH * max(bins[0], 1.0)
                   and bins[-1] - bins[0] > OVERLOAD_MIN_BACKLOG * installed)
    n_queued = int((jobs["status"] == "queued").sum())
    # a single job waiting (e.g. for node repairs) is not arrivals outrunning the cluster
    overloaded = bool((growing and n_queued > 1) or (load > OVERLOAD_OFFERED_LOAD and n_queued > 0))
    notes = []
    if overloaded:
        notes.append(f"overloaded: offered load {load:.2f} of capacity; queued GPUs per quarter of the window "
                     f"{', '.join(f'{b:.0f}' for b in bins)}; waits and JCT are not steady-state values "
                     "(add capacity, lower the arrival rate, or shorten --until)")
    return load, overloaded, notes


def _pool_summary(run: RunRecord, w0: float, w1: float, end: float) -> tuple[dict[str, Any], float, float, list[str]]:
    out: dict[str, Any] = {}
    total_cost = total_energy_j = 0.0
    notes = []
    book = run.scenario.price_book
    for pid, p in run.pools.items():
        spec = p.spec
        busy_gpu_s = p.alloc.integral(0.0, end)
        up_gpu_s = p.up_gpus.integral(0.0, end)
        energy_j = busy_gpu_s * p.busy_w + max(up_gpu_s - busy_gpu_s, 0.0) * p.idle_w
        hours = spec.gpus * end / SECONDS_PER_HOUR
        if spec.purchase == "owned":
            cost = hours * p.owned_fixed_usd_per_gpu_h + energy_j / J_PER_KWH * p.electricity_usd_per_kwh
        else:
            cost = hours * p.usd_per_gpu_s * SECONDS_PER_HOUR
            if math.isnan(cost):
                notes.append(f"price book {book.id!r} has no {spec.purchase} price for {spec.hardware.id} "
                             f"(pool {pid}); cost_usd is null")
        util = p.alloc.mean(w0, w1) / spec.gpus if w1 > w0 else math.nan
        rec: dict[str, Any] = {"hardware": spec.hardware.id, "gpus": spec.gpus, "nodes": spec.nodes,
                               "spare_nodes": spec.spare_nodes, "purchase": spec.purchase, "utilization": util,
                               "node_failures": p.node_failures, "cost_usd": cost, "energy_kwh": energy_j / J_PER_KWH,
                               "usd_per_gpu_hour": p.usd_per_gpu_s * SECONDS_PER_HOUR}
        owned_book = run.scenario.owned_book
        # compare owning with the pool's own rental option (a rented pool), else with on-demand
        option = spec.purchase if spec.purchase in PURCHASE_OPTIONS else "on_demand"
        if owned_book is not None and owned_book.owned_cost(spec.hardware.id) is not None \
                and not math.isnan(book.gpu_hour_usd(spec.hardware.id, option)) and not math.isnan(util):
            rec["rent_vs_buy"] = cost_mod.rent_vs_buy(spec.hardware, spec.gpus, own=owned_book, rent=book, option=option,
                                                      utilization=min(max(util, 0.0), 1.0)).to_dict()
        out[pid] = rec
        total_cost += cost
        total_energy_j += energy_j
    return out, total_cost, total_energy_j, notes


def _all_ended(jobs: pd.DataFrame) -> bool:
    """Every job reached a final state (completed, failed or cancelled)."""
    return bool(jobs["status"].isin(FINAL_JOB_STATES).all()) and len(jobs) > 0


def _window(run: RunRecord) -> tuple[float, float, list[str]]:
    """The steady-state window [warmup_s, end] (the whole run when the warm-up is not shorter), and a note."""
    sc, end = run.scenario, run.end_s
    notes = []
    w0 = sc.warmup_s if sc.warmup_s < end else 0.0
    if sc.warmup_s >= end and sc.warmup_s > 0:
        notes.append(f"warm-up ({sc.warmup_s:g} s) is not shorter than the run ({end:g} s); statistics cover the "
                     "whole run, warm-up included (pass a longer --until)")
    return w0, end, notes


def _utilisation(run: RunRecord, jobs: pd.DataFrame, w0: float, w1: float) -> dict[str, float]:
    """Allocated and productive utilisation, goodput and ETTR over the window (see the module docstring)."""
    end, installed = run.end_s, run.scenario.gpus
    alloc_win = sum(p.alloc.integral(w0, w1) for p in run.pools.values())
    productive_win = _productive_in_window(run.segments, w0, w1) + run.serving.integral(w0, w1)
    span = w1 - w0
    trained = jobs[jobs["kind"].isin(TRAINING_JOB_KINDS) & jobs["first_start_s"].notna()]
    span_job = (trained["end_s"].fillna(end).clip(upper=end) - trained["first_start_s"]) * trained["gpus"]
    ettr = float((trained["productive_s"] * trained["gpus"]).sum() / span_job.sum()) if span_job.sum() > 0 \
        else math.nan
    return {"utilization": alloc_win / (installed * span) if span > 0 else math.nan,
            "utilization_productive": productive_win / (installed * span) if span > 0 else math.nan,
            "goodput": productive_win / alloc_win if alloc_win > 0 else math.nan,
            "effective_training_time_ratio": ettr}


def submitted_in(jobs: pd.DataFrame, w0: float, w1: float) -> pd.DataFrame:
    """The jobs submitted in the statistics window [w0, w1] (what queue_wait_* and jct_* describe)."""
    return jobs[(jobs["submit_s"] >= w0) & (jobs["submit_s"] <= w1)]


def window_waits(jobs: pd.DataFrame, summary: dict[str, Any]) -> np.ndarray:
    """First-start waits (s) of a run's jobs (ClusterResult.jobs) submitted in its statistics window (from its
    summary); NaN for jobs that never started."""
    return submitted_in(jobs, summary["window_start_s"], summary["window_end_s"])["wait_s"].to_numpy(float)


def started_at_once(waits: np.ndarray) -> float:
    """Share of the jobs that started without waiting (NaN when none started)."""
    w = waits[~np.isnan(waits)]
    return float(np.mean(w <= 0)) if w.size else math.nan


def _job_figures(run: RunRecord, jobs: pd.DataFrame, w0: float, w1: float) -> dict[str, Any]:
    """Waits and JCT of the jobs submitted in the window; job counts by state; interruptions and lost GPU-hours."""
    end = run.end_s
    win = submitted_in(jobs, w0, w1)
    done = win[win["status"] == "COMPLETED"]
    status = jobs["status"]
    pools, services = run.pools.values(), run.services

    def gpu_hours(col: str) -> float:
        return float((jobs[col] * jobs["gpus"]).sum()) / SECONDS_PER_HOUR

    return {
        **distribution_summary(win["wait_s"].dropna().to_numpy(), "queue_wait"),
        **distribution_summary(done["jct_s"].to_numpy(), "jct"),
        "makespan_s": float(jobs["end_s"].max() - jobs["submit_s"].min()) if _all_ended(jobs) else math.nan,
        "jobs_submitted": int((jobs["submit_s"] <= end).sum()),
        "jobs_completed": int((status == "COMPLETED").sum()), "jobs_failed": int((status == "FAILED").sum()),
        "jobs_cancelled": int((status == "CANCELLED").sum()), "jobs_running_at_end": int((status == "running").sum()),
        "jobs_queued_at_end": int((status == "queued").sum()),
        "interruptions": run.interruptions["failure"] + run.interruptions["maintenance"],
        "interruptions_unplanned": run.interruptions["failure"],
        "interruptions_planned": run.interruptions["maintenance"], "preemptions": run.preemptions,
        "node_failures": sum(p.node_failures for p in pools),
        "gpu_hours_allocated": sum(p.alloc.integral(0.0, end) for p in pools) / SECONDS_PER_HOUR,
        "gpu_hours_lost": gpu_hours("lost_s"), "gpu_hours_checkpoint": gpu_hours("checkpoint_s"),
        "gpu_hours_restart": gpu_hours("overhead_s"), "gpu_hours_straggling": gpu_hours("straggle_s"),
        "serving_gpu_hours": run.serving.integral(0.0, end) / SECONDS_PER_HOUR,
        "serving_shortfall_gpu_hours": (run.demand.integral(0.0, end) - run.serving.integral(0.0, end))
        / SECONDS_PER_HOUR,
        "serving_replica_losses": sum(s.losses for s in services),
    }


def build_result(run: RunRecord) -> ClusterResult:
    """The summary (the `simulator cluster --json` contract), job and segment records and levels of a run."""
    sc, end = run.scenario, run.end_s
    w0, w1, notes = _window(run)
    jobs = jobs_frame(run)
    figures = _job_figures(run, jobs, w0, w1)
    load, overloaded, over_notes = _overload(run, jobs, w0, w1, sc.gpus)
    pools, cost_usd, energy_j, price_notes = _pool_summary(run, w0, w1, end)
    notes += over_notes + price_notes
    if run.auto_until and not _all_ended(jobs):
        notes.append(f"stopped at the safety bound {end:g} s before every job ended; pass --until to choose the "
                     "horizon")
    energy_kwh = energy_j / J_PER_KWH
    jobs_cost = float(jobs["cost_usd"].sum()) if not jobs["cost_usd"].isna().any() else math.nan  # unpriced pool
    serving_cost = sum(s.gpu_s * run.pools[s.spec.pool].usd_per_gpu_s for s in run.services)
    summary: dict[str, Any] = {
        "scenario": sc.id, "policy": run.policy, "seed": run.seed, "end_s": end,
        "window_start_s": w0, "window_end_s": w1, "installed_gpus": sc.gpus, **_utilisation(run, jobs, w0, w1),
        **figures, "offered_load": load, "overloaded": overloaded,
        "cost_usd": cost_usd, "cost_jobs_usd": jobs_cost, "cost_serving_usd": serving_cost,
        "cost_idle_usd": cost_usd - jobs_cost - serving_cost,
        "energy_kwh": energy_kwh, "co2e_kg": cost_mod.carbon_kg(energy_kwh, sc.price_book),
        "price_book": sc.price_book.id, "sim_events": run.events, "pools": pools, "warnings": notes,
    }
    levels = {"allocated_gpus": _sum_levels([p.alloc for p in run.pools.values()]),
              "up_gpus": _sum_levels([p.up_gpus for p in run.pools.values()]),
              "queued_jobs": run.queued_jobs.arrays(), "queued_gpus": run.queued_gpus.arrays(),
              "serving_gpus": run.serving.arrays(), "serving_demand_gpus": run.demand.arrays()}
    return ClusterResult(json_safe(summary), jobs, run.segments, levels)


def _sum_levels(monitors: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """The sum of several step functions, as (change times, level)."""
    arrays = [m.arrays() for m in monitors]
    t = np.unique(np.concatenate([a[0] for a in arrays]))
    total = np.zeros_like(t)
    for tm, vm in arrays:
        total += level_at(tm, vm, t, before=0.0)
    return t, total
