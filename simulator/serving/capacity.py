"""Capacity planning: the highest request rate a deployment holds under a latency SLO (bisection on
the rate, as Vidur-Search and DistServe do) and the cheapest deployment for a target rate.

A deployment's per-replica capacity is searched on one replica (or one prefill/decode unit) with
Poisson arrivals and common random numbers (the same lengths and unit gaps at every rate); replicas
behind a router pool their queues, so scaling out by ceil(rate / capacity) is conservative. Candidates
are visited cheapest-bound first and skipped once their lower bound on cost exceeds the best found.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from itertools import product
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from simulator.catalog import load_hardware, load_model, load_price_book
from simulator.core import cost as cost_mod
from simulator.core.cost import PriceBook
from simulator.core.hardware import Accelerator
from simulator.core.inference import QUANTIZATIONS, Deployment, check_deployment
from simulator.core.inference.speculative import SpeculativeDecoding
from simulator.core.inference.static import replica_memory_plan
from simulator.core.model import TransformerSpec
from simulator.errors import InfeasiblePlanError, PlanError
from simulator.limits import (
    MAX_BATCH,
    MAX_CAPACITY_CANDIDATES,
    MAX_GPUS,
    MAX_PROBE_REQUESTS,
    MAX_SEED,
    MAX_TOKENS,
    MAX_TOP,
    check_int,
    check_number,
    check_ref,
)
from simulator.serving.config import ServingConfig, resolve_draft
from simulator.serving.simulation import simulate_serving
from simulator.serving.workload import Workload, check_rate, make_workload, with_rate
from simulator.vocab import CANDIDATE_PRECISIONS, CANDIDATE_TPS, CAPACITY_PROBE_REQUESTS


@dataclass(frozen=True, slots=True)
class SLO:
    """Latency targets on percentiles of time to first token and time per output token."""

    ttft_s: float = 2.0
    tpot_s: float = 0.1
    percentile: float = 99.0

    def __post_init__(self) -> None:
        if not all(isinstance(v, numbers.Real) and 0 < v < math.inf for v in (self.ttft_s, self.tpot_s)):
            raise PlanError(f"SLO targets must be positive, finite seconds, got TTFT {self.ttft_s!r}, "
                            f"TPOT {self.tpot_s!r}")

    def check(self, summary: dict) -> bool:
        """True when the run finished every request, was not overloaded and met both targets."""
        q = int(self.percentile)
        ttft, tpot = summary.get(f"ttft_p{q}_s"), summary.get(f"tpot_p{q}_s")
        if ttft is None or tpot is None:
            raise PlanError(f"SLO percentile {self.percentile} is not reported; use 50, 90 or 99")
        done = summary["requests_completed"] == summary["requests_total"]
        tpot_ok = tpot <= self.tpot_s or math.isnan(tpot)  # NaN: every request had one output token
        return bool(done and not summary["overloaded"] and ttft <= self.ttft_s and tpot_ok)


@dataclass(frozen=True)
class RateSearch:
    """Result of a bisection on the arrival rate for one deployment unit."""

    max_rate_per_s: float
    saturation_rate_per_s: float  # offline (all requests at once) throughput: the bracket's top
    evaluations: int
    summary_at_max: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Unit:
    """What a capacity plan scales out: one replica of a deployment, or (prefill, decode > 0) a disaggregated unit of
    that many prefill and decode replicas."""

    dep: Deployment
    prefill: int = 0
    decode: int = 0

    @property
    def disaggregated(self) -> bool:
        return bool(self.prefill and self.decode)

    @property
    def replicas(self) -> int:
        return self.prefill + self.decode if self.disaggregated else 1

    @property
    def gpus(self) -> int:
        return self.replicas * self.dep.gpus

    @property
    def label(self) -> str:
        return self.dep.label() + (f" disaggregated {self.prefill}P:{self.decode}D" if self.disaggregated else "")

    def config(self, slo: SLO, max_waiting: int | None = None, copies: int = 1) -> ServingConfig:
        """`copies` units behind one router (None: the config's default queue bound)."""
        if self.disaggregated:
            return ServingConfig(self.dep, prefill_replicas=self.prefill * copies, decode_replicas=self.decode * copies,
                                 slo_ttft_s=slo.ttft_s, slo_tpot_s=slo.tpot_s, max_waiting=max_waiting)
        return ServingConfig(self.dep, replicas=copies, slo_ttft_s=slo.ttft_s, slo_tpot_s=slo.tpot_s,
                             max_waiting=max_waiting)


def saturation(model: TransformerSpec, hw: Accelerator, unit: Unit, slo: SLO, workload: Workload,
               seed: int = 0) -> dict:
    """The summary of one unit serving every request of the workload queued at t = 0 (its offline throughput)."""
    offline = replace(workload, arrival_s=np.zeros(len(workload)))
    return simulate_serving(model, hw, unit.config(slo, len(workload) + 1), offline, seed=seed).summary


def max_sustainable_rate(model: TransformerSpec, hw: Accelerator, dep: Deployment, slo: SLO, workload: Workload, *,
                         prefill: int = 0, decode: int = 0, rel_tol: float = 0.05, seed: int = 0,
                         saturated: dict | None = None) -> RateSearch:
    """Highest Poisson rate (requests/s) at which one replica (or one prefill x decode unit) meets the SLO.

    The bracket's top is the saturation throughput (every request queued at t = 0; `saturated`: that run's summary
    when the caller has it); each probe simulates the workload re-timed at the probe rate and stops early once the
    queue passes a bound (overloaded).
    """
    model, hw = load_model(model), load_hardware(hw)  # ids, paths or loaded objects
    if not 0 < rel_tol < 1:
        raise PlanError(f"rel_tol must be in (0, 1), got {rel_tol!r}")
    unit = Unit(dep, prefill, decode)
    max_waiting = max(2 * dep.seq_cap * unit.replicas * dep.pp, len(workload) // 4)
    sat = saturated if saturated is not None else saturation(model, hw, unit, slo, workload, seed)
    hi = float(sat["throughput_requests_per_s"])
    evaluations = 1
    if not np.isfinite(hi) or hi <= 0:
        return RateSearch(0.0, 0.0, evaluations)

    def probe(rate: float) -> tuple[bool, dict]:
        s = simulate_serving(model, hw, unit.config(slo, max_waiting), with_rate(workload, rate, seed), seed=seed).summary
        return slo.check(s), s

    lo = hi * 0.02
    ok, s_lo = probe(lo)
    evaluations += 1
    if not ok:  # even a nearly idle replica misses the SLO
        return RateSearch(0.0, hi, evaluations, s_lo)
    best = s_lo
    ok_hi, s_hi = probe(hi)
    evaluations += 1
    if ok_hi:
        return RateSearch(hi, hi, evaluations, s_hi)
    while (hi - lo) > rel_tol * hi:
        mid = 0.5 * (lo + hi)
        ok, s = probe(mid)
        evaluations += 1
        if ok:
            lo, best = mid, s
        else:
            hi = mid
    return RateSearch(lo, float(sat["throughput_requests_per_s"]), evaluations, best)


@dataclass(frozen=True, slots=True)
class CandidateSpace:
    """The deployments a capacity search tries: every combination of these (candidate_deployments). precisions
    None: each of bf16, fp8 and int4 the hardware has a peak for."""

    tps: tuple[int, ...] = CANDIDATE_TPS
    pps: tuple[int, ...] = (1,)
    precisions: tuple[str, ...] | None = None
    kv_precisions: tuple[str, ...] = ("bf16",)
    max_seqs: tuple[int | None, ...] = (None,)
    engine: str = "vllm"
    speculative: SpeculativeDecoding | None = None  # every candidate decodes speculatively with this draft


def _why_not(model: TransformerSpec, hw: Accelerator, dep: Deployment, min_tokens_per_seq: int) -> str:
    """Why a deployment cannot serve one request of that length ('' when it can)."""
    try:
        check_deployment(model, hw, dep)
    except PlanError as exc:
        return str(exc)
    if dep.token_cap < dep.seq_cap:
        return (f"max sequences {dep.engine_seq_cap} exceed the engine's token budget per iteration "
                f"({dep.engine_token_cap})")
    if dep.gpus > hw.scale_up_domain_gpus * max(1, dep.pp):
        return "tensor parallel group larger than the NVLink domain"
    if replica_memory_plan(model, hw, dep).max_concurrent_seqs(min_tokens_per_seq) < 1:
        draft = " and the speculative draft" if dep.speculative is not None else ""
        return f"weights{draft} leave no room for the KV cache of one sequence"
    return ""


def candidate_deployments(model: TransformerSpec, hw: Accelerator, space: CandidateSpace | None = None, *,
                          min_tokens_per_seq: int = 1, **overrides: Any) -> tuple[list[Deployment], dict[str, str]]:
    """Valid deployments of `space` (fields of CandidateSpace in `overrides` replace its own) that hold the weights
    and at least one sequence; the others with a reason."""
    sp = replace(space or CandidateSpace(), **overrides)
    precisions = sp.precisions
    if precisions is None:
        precisions = tuple(p for p in CANDIDATE_PRECISIONS if QUANTIZATIONS[p].compute_dtype in hw.peak_flop_per_s)
    out, rejected = [], {}
    for prec, kv, tp, pp, ms in product(precisions, sp.kv_precisions, sp.tps, sp.pps, sp.max_seqs):
        dep = Deployment(tp=int(tp), pp=int(pp), precision=prec, kv_precision=kv, engine=sp.engine, max_seqs=ms,
                         speculative=sp.speculative)
        why = _why_not(model, hw, dep, min_tokens_per_seq)
        if why:
            rejected[dep.label()] = why
        else:
            out.append(dep)
    return out, rejected


@dataclass(frozen=True)
class CapacityPlan:
    """The cheapest deployment found for the target rate, and the others that were evaluated."""

    best: dict | None
    alternatives: list[dict]
    skipped: dict[str, str]
    target_rate_per_s: float
    slo: SLO
    probe_requests: int = CAPACITY_PROBE_REQUESTS  # requests each simulated probe of the rate search replays
    usd_per_gpu_hour: float = float("nan")  # the busy GPU-hour price the costs use (NaN: the book has none)
    tokens_per_request: float = float("nan")  # mean input + output tokens of the probe workload

    kind: ClassVar[str] = "capacity"

    def _target(self) -> dict[str, float]:
        q = int(self.slo.percentile)
        return {"target_rate_per_s": self.target_rate_per_s, f"slo_ttft_p{q}_s": self.slo.ttft_s,
                f"slo_tpot_p{q}_s": self.slo.tpot_s, "probe_requests": self.probe_requests}

    def curve(self, rates_per_s: Sequence[float], headroom: float = 0.0) -> pd.DataFrame:
        """GPUs and dollars per million tokens of each deployment found, against the request rate (capacity_curve)."""
        rows = [r for r in [self.best, *self.alternatives] if r is not None]
        return capacity_curve(rows, rates_per_s, headroom, self.usd_per_gpu_hour, self.tokens_per_request)

    def to_record(self) -> dict[str, Any]:
        """The cheapest deployment as one row (the target and SLO first)."""
        return {**self._target(), **(self.best or {})}

    def to_frame(self) -> pd.DataFrame:
        """The cheapest deployment and the alternatives, one row each (`rank` 1 is the cheapest)."""
        rows = [self.best] if self.best is not None else []
        return pd.DataFrame([{"rank": i + 1, **r} for i, r in enumerate(rows + self.alternatives)])

    def to_dict(self) -> dict:
        return {**self._target(), "best": self.best, "alternatives": self.alternatives, "skipped": self.skipped,
                "usd_per_gpu_hour": self.usd_per_gpu_hour, "tokens_per_request": self.tokens_per_request}


def capacity_curve(deployments: Sequence[dict], rates_per_s: Sequence[float], headroom: float,
                   usd_per_gpu_hour: float, tokens_per_request: float) -> pd.DataFrame:
    """Fleet size and cost against the request rate: ceil(rate x (1 + headroom) / the rate one unit holds) units
    of each deployment (its bisected rate under the SLO, capacity planning's own rule), priced per busy GPU-hour."""
    if not 0 <= headroom <= 10:
        raise PlanError(f"headroom must be a fraction between 0 and 10 (0.2 = 20% spare), got {headroom!r}")
    rows = []
    for d in deployments:
        per_unit = d["max_rate_per_unit_per_s"]
        for rate in rates_per_s:
            if not per_unit or per_unit <= 0 or rate <= 0:
                continue
            units = math.ceil(rate * (1 + headroom) / per_unit)
            gpus = units * d["gpus_per_unit"]
            per_h = gpus * usd_per_gpu_hour
            rows.append({"deployment": d["deployment"], "rate_per_s": float(rate), "units": units, "gpus": gpus,
                         "cost_per_hour_usd": per_h,
                         "cost_per_million_tokens_usd": cost_mod.usd_per_million_tokens(
                             per_h, rate * tokens_per_request)})
    return pd.DataFrame(rows)


def _fleet_costs(gpus: int | None, price: float, rate: float, tokens_per_req: float, out_per_req: float) -> dict:
    """A fleet's dollars per hour and per million tokens (all, and output only) at the target rate."""
    per_h = float("nan") if gpus is None else gpus * price
    return {"cost_per_hour_usd": per_h,
            "cost_per_million_tokens_usd": cost_mod.usd_per_million_tokens(per_h, rate * tokens_per_req),
            "cost_per_million_output_tokens_usd": cost_mod.usd_per_million_tokens(per_h, rate * out_per_req)}


@dataclass(frozen=True, slots=True)
class _Demand:
    """The target and its workload, as every candidate is judged against them."""

    rate_per_s: float
    slo: SLO
    wl: Workload
    price: float  # USD per GPU-hour (NaN without a price)
    rank_price: float  # the price candidates are ranked by (1 without a price: GPU count)
    tokens_per_req: float
    out_per_req: float
    seed: int

    def fleet_costs(self, gpus: int | None) -> dict:
        return _fleet_costs(gpus, self.price, self.rate_per_s, self.tokens_per_req, self.out_per_req)


def _record(unit: Unit, search: RateSearch, demand: _Demand) -> dict:
    dep, q = unit.dep, int(demand.slo.percentile)
    units = math.ceil(demand.rate_per_s / search.max_rate_per_s) if search.max_rate_per_s > 0 else None
    gpus = None if units is None else units * unit.gpus
    s = search.summary_at_max
    return {
        "deployment": unit.label, "tp": dep.tp, "pp": dep.pp,
        "precision": dep.precision, "kv_precision": dep.kv_precision, "engine": dep.engine,
        "ep": dep.ep, "dp_attention": dep.dp_attention, "max_seqs": dep.engine_seq_cap,
        "disaggregated": unit.disaggregated, "prefill_replicas_per_unit": unit.prefill,
        "decode_replicas_per_unit": unit.decode, "gpus_per_unit": unit.gpus, "units": units, "gpus": gpus,
        "max_rate_per_unit_per_s": search.max_rate_per_s, "saturation_rate_per_unit_per_s": search.saturation_rate_per_s,
        **demand.fleet_costs(gpus),
        f"ttft_p{q}_s_at_max_rate": s.get(f"ttft_p{q}_s"), f"tpot_p{q}_s_at_max_rate": s.get(f"tpot_p{q}_s"),
        "evaluations": search.evaluations,
    }


def _check_inputs(rate_per_s: float, slo: SLO, top: int) -> int:
    check_rate(rate_per_s)  # the SLO checks its targets itself
    if not isinstance(slo, SLO):
        raise PlanError(f"slo must be an SLO (simulator.SLO), got {type(slo).__name__}")
    if isinstance(top, bool) or not isinstance(top, numbers.Real) or not math.isfinite(top) or int(top) != top \
            or top < 1:
        raise PlanError(f"top must be a whole number >= 1 (the cheapest plus alternatives), got {top!r}")
    return check_int("top", top, 1, MAX_TOP)  # an int: top=2.0 passes the check but is no slice bound


def _check_request_args(model: Any, hw: Any, input_len: Any, output_len: Any, n_requests: Any, space: Any,
                        disaggregation: Any, seed: Any, deployments: Any) -> tuple[tuple[int, int], ...]:
    """The arguments of a capacity search, before anything is loaded or simulated (simulator.limits); returns the
    disaggregation pairs as ints."""
    check_ref("model", model, (TransformerSpec,))
    check_ref("hardware", hw, (Accelerator,))
    check_number("input_len", input_len, 1, MAX_TOKENS)
    check_number("output_len", output_len, 1, MAX_TOKENS)
    check_int("requests", n_requests, 1, MAX_PROBE_REQUESTS)
    check_int("seed", seed, 0, MAX_SEED)
    if deployments is not None and (not isinstance(deployments, (list, tuple))
                                    or not all(isinstance(d, Deployment) for d in deployments)):
        raise PlanError("deployments must be a list of Deployment")
    if not isinstance(disaggregation, (list, tuple)) or any(
            not isinstance(r, (list, tuple)) or len(r) != 2 for r in disaggregation):
        raise PlanError(f"disaggregation must be prefill:decode pairs, e.g. ((1, 1), (1, 2)), got {disaggregation!r}")
    pairs = tuple((check_int("disaggregated", p, 1, MAX_GPUS), check_int("disaggregated", d, 1, MAX_GPUS))
                  for p, d in disaggregation)
    if space is not None and not isinstance(space, CandidateSpace):
        raise PlanError(f"space must be a CandidateSpace (simulator.CandidateSpace), got {type(space).__name__}")
    if space is not None:
        for name in ("tps", "pps", "precisions", "kv_precisions", "max_seqs"):
            values = getattr(space, name)
            if values is not None and not isinstance(values, (tuple, list)):
                raise PlanError(f"CandidateSpace.{name} must be a tuple, got {values!r}")
        for tp in space.tps:
            check_int("tp", tp, 1, MAX_GPUS)
        for pp in space.pps:
            check_int("pp", pp, 1, MAX_GPUS)
        for cap in space.max_seqs:
            check_int("max_batch", cap, 1, MAX_BATCH, allow_none=True)
    n_space = 0 if space is None else math.prod(len(getattr(space, k) or (0, 0, 0)) for k in (
        "tps", "pps", "precisions", "kv_precisions", "max_seqs"))
    n_units = max(n_space, len(deployments or ())) * (1 + len(disaggregation))
    if n_units > MAX_CAPACITY_CANDIDATES:
        raise PlanError(f"the search would compare {n_units:,} deployments, more than {MAX_CAPACITY_CANDIDATES:,}; "
                        "give fewer --tp/--pp/--precision/--max-batch values or --disaggregated ratios")
    return pairs


_Bound = tuple[float, Unit, dict]  # (lower bound on the fleet cost, the unit, its saturation summary)


def _cost_bounds(model: TransformerSpec, hw: Accelerator, units: list[Unit], demand: _Demand) -> list[_Bound]:
    """A lower bound on each unit's fleet cost from its saturation throughput (an offline run: an upper bound on
    the rate it holds under the SLO), cheapest first."""
    bounds = []
    for unit in units:
        sat = saturation(model, hw, unit, demand.slo, demand.wl, demand.seed)
        mu = sat["throughput_requests_per_s"]
        bound = math.ceil(demand.rate_per_s / mu) * unit.gpus * demand.rank_price if mu and mu > 0 else math.inf
        bounds.append((bound, unit, sat))
    bounds.sort(key=lambda b: (b[0], b[1].dep.gpus))
    return bounds


def _reached(summary: dict, slo: SLO) -> str:
    """The percentiles a run reached, to set beside the SLO it missed ('' when it has none)."""
    q = int(slo.percentile)
    ttft, tpot = summary.get(f"ttft_p{q}_s"), summary.get(f"tpot_p{q}_s")
    if ttft is None or tpot is None:
        return ""
    return f" (p{q} TTFT {ttft:.3g} s vs {slo.ttft_s:g} s, TPOT {tpot:.3g} s vs {slo.tpot_s:g} s)"


def _search(model: TransformerSpec, hw: Accelerator, bounds: list[_Bound], demand: _Demand, top: int,
            skipped: dict[str, str]) -> list[tuple[dict, Unit]]:
    """The SLO rate of each unit, cheapest bound first, skipping what cannot enter the top list; sorted by cost."""
    results: list[tuple[dict, Unit]] = []
    costs: list[float] = []  # ranking costs of the deployments evaluated so far
    for bound, unit, sat in bounds:
        label = unit.label
        # prune what cannot enter the top list (best + alternatives), so the alternatives get filled; a tie
        # with the best is still evaluated (ties are broken by headroom), a tie with the last place is not
        if len(costs) >= top and bound >= sorted(costs)[top - 1] * 0.9999999 and bound > min(costs) * 1.0000001:
            skipped[label] = f"lower bound {bound:.4g} on cost cannot enter the top {top} found"
            continue
        search = max_sustainable_rate(model, hw, unit.dep, demand.slo, demand.wl, prefill=unit.prefill,
                                      decode=unit.decode, seed=demand.seed, saturated=sat)
        if search.max_rate_per_s <= 0:
            skipped[label] = "misses the SLO even at a low rate" + _reached(search.summary_at_max, demand.slo)
            continue
        rec = _record(unit, search, demand)
        results.append((rec, unit))
        costs.append(rec["gpus"] * demand.rank_price)
    # equal cost: prefer more headroom (capacity per GPU above the target)
    rp = demand.rank_price
    results.sort(key=lambda x: (x[0]["gpus"] * rp, x[0]["gpus"], -x[0]["max_rate_per_unit_per_s"] / x[0]["gpus_per_unit"]))
    return results


def plan_capacity(model: str | Path | TransformerSpec, hw: str | Path | Accelerator, *, rate_per_s: float, slo: SLO,
                  input_len: float, output_len: float, length_dist: str = "fixed", length_cv: float = 1.0,
                  empirical: pd.DataFrame | None = None, n_requests: int = CAPACITY_PROBE_REQUESTS,
                  deployments: list[Deployment] | None = None, space: CandidateSpace | None = None,
                  disaggregation: tuple[tuple[int, int], ...] = (), price_book: str | Path | PriceBook | None = None,
                  purchase: str = "on_demand", top: int = 5, seed: int = 0, verify: bool = True,
                  prefix_hit_rate: float = 0.0, prefix_tokens: int = 0) -> CapacityPlan:
    """Cheapest deployment (GPUs x price per hour) that serves `rate_per_s` within the SLO.

    model, hw: ids, paths or loaded objects. deployments: the candidates; default every deployment of `space`
    (CandidateSpace, its `speculative` draft on each) that holds the weights and one request. disaggregation:
    prefill:decode replica ratios per unit to try besides colocated serving, e.g. ((1, 1), (1, 2)). verify: simulate
    the chosen deployment at the full rate behind its router and add a unit if it misses. prefix_hit_rate /
    prefix_tokens: the probe workload's prefix caching (make_workload).
    """
    disaggregation = _check_request_args(model, hw, input_len, output_len, n_requests, space, disaggregation, seed,
                                         deployments)
    top = _check_inputs(rate_per_s, slo, top)
    model, hw = load_model(model), load_hardware(hw)
    if space is not None and space.speculative is not None:
        space = replace(space, speculative=resolve_draft(Deployment(speculative=space.speculative)).speculative)
    deployments = None if deployments is None else [resolve_draft(d) for d in deployments]
    price = cost_mod.busy_gpu_hour_usd(load_price_book(price_book), hw, purchase)
    skipped: dict[str, str] = {}
    if deployments is None:
        deployments, skipped = candidate_deployments(model, hw, space, min_tokens_per_seq=int(input_len + output_len))
    if not deployments:
        why = "; ".join(f"{k}: {v}" for k, v in list(skipped.items())[:3]) or "the deployment list is empty"
        raise InfeasiblePlanError(f"no candidate deployment of {model.id} fits on {hw.id}: {why}")
    wl = make_workload(n_requests, input_len=input_len, output_len=output_len, rate_per_s=1.0,
                       length_dist=length_dist, length_cv=length_cv, empirical=empirical, seed=seed,
                       prefix_hit_rate=prefix_hit_rate, prefix_tokens=prefix_tokens)
    demand = _Demand(rate_per_s, slo, wl, price, price if not math.isnan(price) else 1.0,
                     float(np.mean(wl.prompt_tokens + wl.output_tokens)), float(np.mean(wl.output_tokens)), seed)
    units = [Unit(dep) for dep in deployments] + [Unit(dep, p, d) for dep in deployments for p, d in disaggregation]
    found = _search(model, hw, _cost_bounds(model, hw, units, demand), demand, top, skipped)
    results = [rec for rec, _ in found]
    if verify and found:
        results[0] = _verify(model, hw, *found[0], demand)
    return CapacityPlan(results[0] if results else None, results[1:top], skipped, rate_per_s, slo, len(wl), price,
                        demand.tokens_per_req)


VERIFY_MAX_UNITS = 64  # larger fleets are verified on a slice of this many units at their share of the rate


def _verify(model: TransformerSpec, hw: Accelerator, rec: dict, unit: Unit, demand: _Demand) -> dict:
    """Simulate the chosen fleet at the full rate (round-robin over units via the router). A fleet of more
    than VERIFY_MAX_UNITS units is verified on a slice of that many units at their share of the rate (the
    round-robin router gives every unit the same share), so memory and time stay bounded at any rate."""
    wl, slo, rate, seed = demand.wl, demand.slo, demand.rate_per_s, demand.seed
    for units in (rec["units"], rec["units"] + 1):
        sim_units = min(units, VERIFY_MAX_UNITS)
        n = max(len(wl), 200 * sim_units)
        idx = np.arange(n) % len(wl)
        full = Workload(np.zeros(n), wl.prompt_tokens[idx], wl.output_tokens[idx],
                        None if wl.cached_tokens is None else wl.cached_tokens[idx])
        s = simulate_serving(model, hw, unit.config(slo, copies=sim_units),
                             with_rate(full, rate * sim_units / units, seed + 1), seed=seed).summary
        if slo.check(s) or units > rec["units"]:
            break
    gpus = units * unit.gpus
    return {**rec, "units": units, "gpus": gpus, **demand.fleet_costs(gpus),
            f"verified_ttft_p{int(slo.percentile)}_s": s[f"ttft_p{int(slo.percentile)}_s"],
            f"verified_tpot_p{int(slo.percentile)}_s": s[f"tpot_p{int(slo.percentile)}_s"],
            "verified_meets_slo": slo.check(s), "verified_units_simulated": sim_units}
