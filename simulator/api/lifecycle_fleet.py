"""The serving side of lifecycle planning: for one model on the serving hardware, the cheapest fleet that holds the SLO
at a request rate, found the way `simulator capacity` finds it (simulator.serving.capacity) but kept between rates.

A deployment's SLO rate per unit does not depend on the target rate (it is bisected on a workload timed at 1 req/s),
so each deployment's saturation run and rate search run once, when a rate first needs them, and every further rate
is arithmetic: ceil(rate / per-unit rate) units. Deployments are visited cheapest lower bound first and skipped
once their bound (from the saturation throughput) exceeds the best fleet found, as plan_capacity does, so the fleet
chosen at a rate is the one plan_capacity(..., verify=False) chooses there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator.catalog.bands import band_range, inference_band
from simulator.core import cost as cost_mod
from simulator.core.hardware import Accelerator
from simulator.core.model import TransformerSpec
from simulator.serving.capacity import (
    SLO,
    CandidateSpace,
    RateSearch,
    Unit,
    candidate_deployments,
    max_sustainable_rate,
    saturation,
)
from simulator.serving.workload import Workload

TIE = 1.0000001  # the relative margin plan_capacity treats as a tie between a lower bound and a fleet's cost


@dataclass
class ServingPool:
    """The deployments of one model on one GPU type that hold a request, with their rates computed on demand."""

    model: TransformerSpec
    hw: Accelerator
    slo: SLO
    workload: Workload
    space: CandidateSpace
    usd_per_gpu_hour: float  # NaN without a price: fleets are then ranked by GPU count
    min_tokens_per_seq: int  # prompt + output of one request: a deployment must hold one (as plan_capacity asks)
    seed: int = 0
    units: list[Unit] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    saturated: dict[str, dict] = field(default_factory=dict)  # saturation summaries by deployment label
    searched: dict[str, RateSearch] = field(default_factory=dict)  # SLO rate searches by deployment label

    def __post_init__(self) -> None:
        deps, self.skipped = candidate_deployments(self.model, self.hw, self.space,
                                                   min_tokens_per_seq=self.min_tokens_per_seq)
        self.units = [Unit(d) for d in deps]

    @property
    def tokens_per_request(self) -> float:
        """Mean prompt + output tokens of the probe workload (capacity's own figure)."""
        return float(np.mean(self.workload.prompt_tokens + self.workload.output_tokens))

    @property
    def simulations(self) -> int:
        """Serving simulations run so far (saturation runs and rate probes)."""
        return len(self.saturated) + sum(s.evaluations - 1 for s in self.searched.values())

    def _sat_rate(self, unit: Unit) -> float:
        if unit.label not in self.saturated:
            self.saturated[unit.label] = saturation(self.model, self.hw, unit, self.slo, self.workload, self.seed)
        mu = self.saturated[unit.label]["throughput_requests_per_s"]
        return float(mu) if mu and mu > 0 and math.isfinite(mu) else 0.0

    def _rate(self, unit: Unit) -> float:
        if unit.label not in self.searched:
            self.searched[unit.label] = max_sustainable_rate(
                self.model, self.hw, unit.dep, self.slo, self.workload, seed=self.seed,
                saturated=self.saturated[unit.label])
        return self.searched[unit.label].max_rate_per_s

    def precisions(self) -> set[str]:
        """The weight precisions of the deployments that hold a request."""
        return {u.dep.precision for u in self.units}

    def pending(self, rate_per_s: float, precision: str) -> bool:
        """Whether best(rate, precision) would run a simulation (a saturation run or a rate search not yet kept)."""
        try:
            self.best(rate_per_s, precision, simulate=False)
        except LookupError:
            return True
        return False

    def merge(self, other: ServingPool) -> None:
        """Keep the runs another copy of this pool made (a worker process's)."""
        self.saturated.update(other.saturated)
        self.searched.update(other.searched)

    def best(self, rate_per_s: float, precision: str, simulate: bool = True) -> dict[str, Any] | None:
        """The cheapest fleet of `precision` deployments that holds the SLO at the rate (None when none does);
        `simulate` False raises LookupError where a run it has not kept would be needed."""
        price = self.usd_per_gpu_hour if math.isfinite(self.usd_per_gpu_hour) else 1.0
        bounds = []
        for unit in (u for u in self.units if u.dep.precision == precision):
            if not simulate and unit.label not in self.saturated:
                raise LookupError(unit.label)
            mu = self._sat_rate(unit)
            bounds.append((math.ceil(rate_per_s / mu) * unit.gpus * price if mu > 0 else math.inf, unit.dep.gpus, unit))
        bounds.sort(key=lambda b: (b[0], b[1]))
        best: tuple[tuple[float, int, float], Unit, float] | None = None
        for bound, _, unit in bounds:
            if math.isinf(bound) or (best is not None and bound > best[0][0] * TIE):
                continue
            if not simulate and unit.label not in self.searched:
                raise LookupError(unit.label)
            mu = self._rate(unit)
            if mu <= 0:
                continue
            gpus = math.ceil(rate_per_s / mu) * unit.gpus
            key = (gpus * price, gpus, -mu / unit.gpus)  # plan_capacity's order: cost, GPUs, then headroom
            if best is None or key < best[0]:
                best = (key, unit, mu)
        return None if best is None else self.fleet(best[1], best[2], rate_per_s)

    def fleet(self, unit: Unit, mu: float, rate_per_s: float) -> dict[str, Any]:
        """The fleet of `unit` at the rate: units, GPUs, its price per hour and per million tokens, and the GPUs at
        the two ends of the engine's error band (where published runs of the engine landed)."""
        units = math.ceil(rate_per_s / mu)
        gpus = units * unit.gpus
        per_h = gpus * self.usd_per_gpu_hour
        band = inference_band(unit.dep.engine, self.hw.id, unit.dep.gpus, self.model, unit.dep.dp_attention)
        rates = band_range(band, mu, rate=True)  # [slowest, fastest] per-unit rates of the band
        gpus_range = None if rates is None else [math.ceil(rate_per_s / r) * unit.gpus for r in (rates[1], rates[0])]
        return {"deployment": unit.label, "tp": unit.dep.tp, "pp": unit.dep.pp, "precision": unit.dep.precision,
                "engine": unit.dep.engine, "gpus_per_unit": unit.gpus, "units": units, "gpus": gpus,
                "max_rate_per_unit_per_s": mu, "cost_per_hour_usd": per_h,
                "cost_per_million_tokens_usd": cost_mod.usd_per_million_tokens(
                    per_h, rate_per_s * self.tokens_per_request),
                "gpus_range": gpus_range, "error_band": band}


def warm(job: tuple[ServingPool, list[float], str]) -> ServingPool:
    """Run in a worker process: the simulations best(rate, precision) needs at each rate, kept in the pool's copy."""
    pool, rates, precision = job
    for rate in rates:
        pool.best(rate, precision)
    return pool
