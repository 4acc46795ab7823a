"""Pricing a lifecycle option at one demand (its trainings through the training planner, its fleet through the capacity
planner, each over its own price book) and the results: LifecyclePlan (every option at one demand and the one chosen)
and LifecycleSweep (plans over a range of demand)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from simulator.api.lifecycle_options import OptionSpec, TrainingPart
from simulator.catalog.bands import band_range
from simulator.core import cost as cost_mod
from simulator.core.scaling import shape_record, within_range
from simulator.limits import SECONDS_PER_YEAR
from simulator.units import SECONDS_PER_DAY, SECONDS_PER_HOUR

if TYPE_CHECKING:
    import pandas as pd

# the planner (api.lifecycle.LifecyclePlanner) and demand (api.lifecycle.Demand) are passed in; typed Any here so the
# pricing module does not import the module that imports it
LifecyclePlanner = Any
Demand = Any

SECONDS_PER_MONTH = SECONDS_PER_YEAR / 12.0  # a calendar month of a 365.25-day year
LOSS_TOLERANCE_NATS = 1e-9  # a loss this close to the target counts as reaching it (floating-point round-off)


def plan_label(rec: dict[str, Any]) -> str:
    """A training plan in the `simulator plan` table's terms: tp, pp (x virtual stages), dp, micro-batch, ZeRO,
    recompute, precision."""
    vpp = f"x{rec['vpp']}" if rec.get("vpp") and int(rec["vpp"]) > 1 else ""
    return (f"tp{rec['tp']} pp{rec['pp']}{vpp} dp{rec['dp']} mb{rec['micro_batch']} z{rec['zero']} "
            f"{rec['recompute']} {rec['precision']}")


def _train_part(planner: LifecyclePlanner, part: TrainingPart) -> dict[str, Any]:
    """One training job priced: the plan's cost, days, energy and carbon times the part's share of a step (a teacher's
    forward passes: forward_flop_fraction), with the cost range of the stack's error band."""
    rec = planner.training(part)
    if not rec.get("feasible"):
        return {"role": part.role, "model": part.model.id, "reason": rec.get("reason", "no plan fits")}
    k = part.step_share
    cost = float(rec["cost_usd"]) * k if rec.get("cost_usd") is not None else math.nan
    ends = band_range(rec.get("error_band"), cost)
    return {"role": part.role, "model": part.model.id, "params": part.model.total_params(), "tokens": part.tokens,
            "step_share": k, "plan": plan_label(rec), "gpus": rec["gpus"], "cost_usd": cost,
            "days": float(rec["total_time_s"]) * k / SECONDS_PER_DAY, "energy_kwh": float(rec["energy_kwh"]) * k,
            "co2e_kg": float(rec["co2e_kg"]) * k, "cost_range_usd": ends or [cost, cost], "reason": ""}


def _serve(planner: LifecyclePlanner, spec: OptionSpec, demand: Demand) -> dict[str, Any]:
    """The option's fleet at the demand over the deployment: GPUs, cost, energy and carbon (serving GPUs drawn at the
    same share of TDP as in training: core.cost.training_energy_j, Epoch AI), with the engine band's cost range."""
    pool = planner.pool(spec.served)
    if spec.precision not in pool.precisions():
        why = "; ".join(f"{k}: {v}" for k, v in list(pool.skipped.items())[:2]) or "no deployment of it"
        return {"reason": f"no {spec.precision} deployment of {spec.served.id} on {pool.hw.id} holds a request ({why})"}
    fleet = pool.best(demand.rate_per_s, spec.precision)
    if fleet is None:
        return {"reason": f"no {spec.precision} deployment of {spec.served.id} meets the SLO on {pool.hw.id}"}
    s, hw = planner.serve, pool.hw
    seconds = s.deployment_months * SECONDS_PER_MONTH
    cost = fleet["cost_per_hour_usd"] * seconds / SECONDS_PER_HOUR
    energy = cost_mod.energy_kwh(cost_mod.training_energy_j(seconds, fleet["gpus"], hw.tdp_w,
                                                            hw.average_utilization_of_tdp,
                                                            hw.server_to_gpu_power_ratio, s.price_book.pue))
    per_gpu = cost / fleet["gpus"]
    ends = [g * per_gpu for g in fleet["gpus_range"]] if fleet["gpus_range"] else [cost, cost]
    return {**fleet, "cost_usd": cost, "energy_kwh": energy, "co2e_kg": cost_mod.carbon_kg(energy, s.price_book),
            "cost_range_usd": ends, "reason": ""}


def _option_fields(planner: LifecyclePlanner, spec: OptionSpec) -> dict[str, Any]:
    law, target = planner.quality.law, planner.quality.loss
    params = spec.served.total_params()
    loss = spec.predicted_loss
    return {"option": spec.label, "kind": spec.kind, "method": spec.method, "params": params,
            "train_tokens": spec.served_tokens, "predicted_loss": loss,
            "meets_target": loss is not None and loss <= target + LOSS_TOLERANCE_NATS,
            "within_fit_range": math.isfinite(spec.served_tokens) and within_range(law, params, spec.served_tokens),
            "precision": spec.precision, "model": shape_record(spec.served),
            "teacher_params": spec.teacher.total_params() if spec.teacher else None,
            "teacher_model": shape_record(spec.teacher) if spec.teacher else None,
            "distill_tokens": spec.distill_tokens, "quality_note": spec.quality_note, "sources": list(spec.sources)}


def _infeasible(row: dict[str, Any], reason: str) -> dict[str, Any]:
    return {**row, "feasible": False, "reason": reason, "train_cost_usd": None, "train_days": None, "serve_gpus": None,
            "serve_cost_usd": None, "total_cost_usd": None, "energy_kwh": None, "co2e_kg": None}


def price_option(planner: LifecyclePlanner, spec: OptionSpec, demand: Demand) -> dict[str, Any]:
    """The option's row: what it trains and serves, and what each costs over the deployment at the demand."""
    row = _option_fields(planner, spec)
    if spec.reason:
        return _infeasible(row, spec.reason)
    parts = [_train_part(planner, p) for p in spec.parts]
    bad = next((p for p in parts if p["reason"]), None)
    if bad is not None:
        return _infeasible({**row, "train_plans": parts}, f"{bad['role']} {bad['model']}: {bad['reason']}")
    serve = _serve(planner, spec, demand)
    if serve["reason"]:
        return _infeasible({**row, "train_plans": parts}, serve["reason"])
    train_cost = sum(p["cost_usd"] for p in parts)
    train_range = [sum(p["cost_range_usd"][i] for p in parts) for i in (0, 1)]
    energy = sum(p["energy_kwh"] for p in parts) + serve["energy_kwh"]
    return {**row, "feasible": True, "reason": "", "train_plans": parts, "train_cost_usd": train_cost,
            "train_days": sum(p["days"] for p in parts), "train_energy_kwh": sum(p["energy_kwh"] for p in parts),
            "train_cost_range_usd": train_range, "serve_deployment": serve["deployment"], "serve_tp": serve["tp"],
            "serve_units": serve["units"], "serve_gpus": serve["gpus"], "serve_gpus_per_unit": serve["gpus_per_unit"],
            "serve_max_rate_per_unit_per_s": serve["max_rate_per_unit_per_s"],
            "serve_usd_per_hour": serve["cost_per_hour_usd"],
            "serve_usd_per_million_tokens": serve["cost_per_million_tokens_usd"], "serve_cost_usd": serve["cost_usd"],
            "serve_energy_kwh": serve["energy_kwh"], "serve_cost_range_usd": serve["cost_range_usd"],
            "total_cost_usd": train_cost + serve["cost_usd"],
            "total_cost_range_usd": [train_range[i] + serve["cost_range_usd"][i] for i in (0, 1)],
            "energy_kwh": energy, "co2e_kg": sum(p["co2e_kg"] for p in parts) + serve["co2e_kg"],
            "error_bands": {"training": planner.training(spec.parts[-1]).get("error_band"),
                            "serving": serve["error_band"]}}


def _rank(row: dict[str, Any]) -> tuple[int, float]:
    cost = row.get("total_cost_usd")
    return (0 if row["feasible"] and cost is not None and math.isfinite(cost) else 1,
            cost if cost is not None and math.isfinite(cost) else math.inf)


@dataclass(frozen=True)
class LifecyclePlan:
    """Every option at one demand, cheapest first, and `chosen`: the cheapest that is priced and reaches the target
    (None when none does)."""

    inputs: dict[str, Any]
    demand: dict[str, Any]
    fit: dict[str, Any]
    options: list[dict[str, Any]]
    chosen: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)

    kind: ClassVar[str] = "lifecycle"

    @classmethod
    def build(cls, planner: LifecyclePlanner, demand: Demand, rows: list[dict[str, Any]]) -> LifecyclePlan:
        rows = sorted(rows, key=_rank)
        eligible = [r for r in rows if _rank(r)[0] == 0 and r["meets_target"]]
        q, s = planner.quality, planner.serve
        lifetime = demand.daily_tokens * s.deployment_months * SECONDS_PER_MONTH / SECONDS_PER_DAY
        fit = {"id": q.law.id, "name": q.law.name, "e_nats": q.law.e_nats, "a": q.law.a, "b": q.law.b,
               "alpha": q.law.alpha, "beta": q.law.beta, "params_range": list(q.law.params_range),
               "tokens_range": list(q.law.tokens_range), "sources": list(q.law.sources)}
        notes = []
        if any(not r["within_fit_range"] for r in rows):
            notes.append(f"some options lie outside the ranges {q.law.id} was fitted on (within_fit_range: false): "
                         "their losses are extrapolations")
        if not math.isfinite(planner.usd_per_gpu_hour):
            notes.append(f"price book {s.price_book.id!r} has no {s.purchase} price for {s.hardware.id}: serving "
                         "fleets are ranked by GPU count and their cost is left out")
        return cls(planner.inputs(), {"tokens_per_day": demand.daily_tokens, "requests_per_day":
                                      demand.rate_per_s * SECONDS_PER_DAY, "rate_per_s": demand.rate_per_s,
                                      "lifetime_tokens": lifetime},
                   fit, rows, eligible[0] if eligible else None, notes)

    def to_dict(self) -> dict[str, Any]:
        return {"inputs": self.inputs, "demand": self.demand, "fit": self.fit, "options": self.options,
                "chosen": self.chosen, "notes": self.notes}

    def to_record(self) -> dict[str, Any]:
        """The chosen option as one row, with the demand first."""
        return {**self.demand, **(self.chosen or {})}

    def to_frame(self) -> pd.DataFrame:
        """One row per option (nested fields left out), cheapest first, `chosen` marking the chosen one."""
        import pandas as pd

        flat = [{k: v for k, v in r.items() if not isinstance(v, (dict, list))} for r in self.options]
        frame = pd.DataFrame(flat)
        frame["chosen"] = [self.chosen is not None and r["option"] == self.chosen["option"] for r in self.options]
        return frame


@dataclass(frozen=True)
class LifecycleSweep:
    """Lifecycle plans over a range of demand (the crossover: which option is cheapest at which demand)."""

    plans: list[LifecyclePlan]

    kind: ClassVar[str] = "lifecycle_sweep"

    def to_frame(self) -> pd.DataFrame:
        """Every option's costs at every demand point (tokens_per_day, option, kind, params, train_tokens,
        total_cost_usd and its band ends, chosen)."""
        import pandas as pd

        rows = []
        for p in self.plans:
            for r in p.options:
                ends = r.get("total_cost_range_usd") or [None, None]
                rows.append({"tokens_per_day": p.demand["tokens_per_day"], "option": r["option"], "kind": r["kind"],
                             "params": r["params"], "train_tokens": r["train_tokens"], "feasible": r["feasible"],
                             "meets_target": r["meets_target"], "train_cost_usd": r["train_cost_usd"],
                             "serve_cost_usd": r["serve_cost_usd"], "total_cost_usd": r["total_cost_usd"],
                             "total_cost_low_usd": ends[0], "total_cost_high_usd": ends[1],
                             "chosen": p.chosen is not None and r["option"] == p.chosen["option"]})
        return pd.DataFrame(rows)

    def chosen_frame(self) -> pd.DataFrame:
        """The chosen option at each demand point."""
        import pandas as pd

        keys = ("option", "kind", "params", "train_tokens", "train_cost_usd", "serve_cost_usd", "total_cost_usd",
                "serve_gpus")
        return pd.DataFrame([{"tokens_per_day": p.demand["tokens_per_day"],
                              **{k: (p.chosen or {}).get(k) for k in keys}} for p in self.plans])

    def to_dict(self) -> dict[str, Any]:
        return {"plans": [p.to_dict() for p in self.plans]}
