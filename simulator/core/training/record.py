"""The record of one training plan (the JSON contract of `simulator train` and of each plan `simulator plan`
lists) and the run totals of a token budget: wall time, GPU-hours, energy, carbon and cost."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from simulator.core import cost as cost_mod
from simulator.core.hardware import Accelerator
from simulator.core.model import TransformerSpec
from simulator.core.plans import OUT_OF_MEMORY, PlanGrid, describe_reasons
from simulator.core.training.options import BREAKDOWN_KEYS, MEMORY_KEYS
from simulator.units import GIB, SECONDS_PER_HOUR, TFLOP

# results that need a token budget (and a plan that runs): null otherwise
RUN_TOTAL_KEYS = ("total_time_s", "gpu_hours", "energy_kwh", "co2e_kg", "cost_usd", "usd_per_million_tokens")


def run_totals(metrics: dict[str, np.ndarray], gpus: np.ndarray, hw: Accelerator, train_tokens: float | None, book: cost_mod.PriceBook, purchase: str) -> dict[str, np.ndarray]:
    """Wall time, GPU-hours, energy, cost and carbon for a token budget (per plan)."""
    price = cost_mod.busy_gpu_hour_usd(book, hw, purchase)
    tokens_per_s = metrics["tokens_per_s"]
    out = {"usd_per_million_tokens": cost_mod.usd_per_million_tokens(gpus * price, tokens_per_s)}
    if train_tokens:
        total_s = train_tokens / tokens_per_s
        gpu_hours = total_s * gpus / SECONDS_PER_HOUR
        e_j = cost_mod.training_energy_j(total_s, gpus, hw.tdp_w, hw.average_utilization_of_tdp,
                                         hw.server_to_gpu_power_ratio, book.pue)
        e_kwh = cost_mod.energy_kwh(e_j)
        out.update(total_time_s=total_s, gpu_hours=gpu_hours, energy_kwh=e_kwh, co2e_kg=cost_mod.carbon_kg(e_kwh, book),
                   cost_usd=gpu_hours * price)
    return out


def plan_record(grid: PlanGrid, m: dict[str, np.ndarray], i: int, model: TransformerSpec,
                hw: Accelerator) -> dict[str, Any]:
    """One plan with its results in the CLI/JSON contract shape."""
    rec: dict[str, Any] = {"model": model.id, "hardware": hw.id, "gpus": int(grid.gpus[i])}
    rec.update(grid.row(i))
    # stages of unequal layer counts (Megatron --decoder-first/last-pipeline-num-layers)
    rec["uneven_pp"] = bool(model.n_layers % (int(rec["pp"]) * int(rec["vpp"])))
    code = int(m["reason"][i])
    rec["feasible"] = code == 0
    rec["reason"] = describe_reasons(code)
    if code & OUT_OF_MEMORY:
        rec["reason"] += (f" (needs {m['memory_reserved_per_gpu_bytes'][i] / GIB:.1f} GiB per GPU with the allocator's "
                          f"reserve, "
                          f"{hw.usable_memory_bytes / GIB:.1f} GiB usable on {hw.id}; try more tensor/pipeline "
                          "parallelism, a higher ZeRO stage or activation recomputation)")
    for key in ("step_time_s", "tokens_per_s", "tokens_per_s_per_gpu", "mfu", "hfu", "memory_per_gpu_bytes",
                "memory_reserved_per_gpu_bytes", "n_micro_batches") + RUN_TOTAL_KEYS:
        rec[key] = float(m[key][i]) if key in m else None  # run totals are null without a token budget
    rec["n_micro_batches"] = int(m["n_micro_batches"][i])
    rec["tflops_per_gpu"] = float(m["model_flop_per_s_per_gpu"][i]) / TFLOP
    rec["breakdown"] = {k: float(m[k][i]) for k in BREAKDOWN_KEYS}
    rec["memory_breakdown"] = {k: float(m[k][i]) for k in MEMORY_KEYS}
    rec["memory_capacity_bytes"] = float(hw.usable_memory_bytes)
    if not rec["feasible"]:  # a plan that cannot run has no run totals
        rec.update(dict.fromkeys(RUN_TOTAL_KEYS))
    for key, value in list(rec.items()):
        if isinstance(value, float) and not math.isfinite(value):
            rec[key] = None
    return rec


def plan_row(rec: dict[str, Any]) -> dict[str, Any]:
    """A plan record as one table row: breakdown parts as <part>_s columns, memory parts as <part>_bytes."""
    flat = {k: v for k, v in rec.items() if k not in ("breakdown", "memory_breakdown")}
    flat.update({f"{k}_s": v for k, v in rec["breakdown"].items()})
    flat.update({f"{k}_bytes": v for k, v in rec["memory_breakdown"].items()})
    return flat
