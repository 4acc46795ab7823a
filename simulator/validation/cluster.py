"""Validation of the cluster simulation against published data and queueing theory.

* `validate_published`: a scenario with a `published:` block (e.g. the Llama-3-like 54-day run) is simulated
  over several seeds; the mean interruption count and effective training time ratio are compared with the
  published figures (relative error, spread over seeds).
* `validate_mmc`: single-GPU jobs with Poisson arrivals and exponential run times on c GPUs under FIFO form an
  M/M/c queue; mean wait, probability of waiting and utilisation are compared with Erlang C.
* `failure_model_checks`: the failure model against the published fleets (workloads/failures), leave one source
  out: each fleet's published figure (a count of one job's interruptions, or a job MTTI at a size) is predicted
  from the per-node rates of the other fleets only (pooled, and pooled over the same GPU generation), and from the
  same fleet's figure at another job size (the size law alone).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from simulator.catalog.failures import FailureProfile, Observation, load_failure_profiles
from simulator.cluster.analytic import (
    erlang_c,
    job_mtti_s,
    mmc_mean_wait_s,
    mmc_utilization,
    nodes_spanned,
    pooled_rate,
)
from simulator.cluster.engine import simulate_cluster
from simulator.cluster.failures import observation_rate, predict, profile_rate
from simulator.cluster.scenario import load_scenario, scenario_from_dict
from simulator.cluster.spec import ClusterScenario
from simulator.errors import SimulatorError
from simulator.units import SECONDS_PER_DAY, SECONDS_PER_HOUR

# Issue 19's target for the failure model: every fleet within 25% with no rate derived from that fleet.
FAILURE_MODEL_TOLERANCE = 0.25


@dataclass(frozen=True, slots=True)
class ValidationRow:
    """One compared quantity: mean over seeds vs the reference, with the spread."""

    case: str
    quantity: str
    reference: float
    measured_mean: float
    measured_std: float
    measured_min: float
    measured_max: float
    seeds: int
    tolerance: float
    source: str

    @property
    def relative_error(self) -> float:
        return self.measured_mean / self.reference - 1.0

    @property
    def passed(self) -> bool:
        return abs(self.relative_error) <= self.tolerance

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "relative_error": self.relative_error, "passed": self.passed}


def _row(case: str, quantity: str, reference: float, values: list[float], tol: float, source: str) -> ValidationRow:
    x = np.asarray(values, dtype=float)
    return ValidationRow(case, quantity, float(reference), float(x.mean()), float(x.std(ddof=1)) if x.size > 1
                         else 0.0, float(x.min()), float(x.max()), int(x.size), tol, source)


def validate_published(scenario: str | ClusterScenario = "pretrain-16k-h100-54d", seeds: int = 10
                       ) -> list[ValidationRow]:
    """Simulate a scenario with a `published:` block over `seeds` seeds and compare with the published figures."""
    sc = load_scenario(scenario)
    pub = sc.published
    if not pub:
        raise SimulatorError(f"scenario {sc.id!r} has no 'published:' block to validate against")
    runs = [simulate_cluster(sc, seed=s).summary for s in range(seeds)]
    rows = []
    if pub.get("interruptions") is not None:
        rows.append(_row(sc.id, "interruptions", pub["interruptions"], [r["interruptions"] for r in runs],
                         pub["tolerance"], pub["source"]))
    if pub.get("effective_training_time_ratio") is not None:
        rows.append(_row(sc.id, "effective_training_time_ratio", pub["effective_training_time_ratio"],
                         [r["effective_training_time_ratio"] for r in runs], pub["tolerance"], pub["source"]))
    return rows


def mmc_scenario(servers: int, utilization: float, mean_run_s: float, n_jobs: int) -> ClusterScenario:
    """A failure-free pool of `servers` single-GPU nodes fed by Poisson single-GPU jobs with exponential run times."""
    rate_per_s = utilization * servers / mean_run_s
    return scenario_from_dict({
        "schema_version": 1, "kind": "cluster_scenario", "id": f"mmc-{servers}", "name": f"M/M/{servers}",
        "sources": [{"title": "Erlang C (M/M/c) queue", "where": "Kleinrock 1975, Queueing Systems vol. 1",
                     "date": "1975"}],
        "warmup_s": 20 * mean_run_s, "policy": "fifo", "failures": {"enabled": False},
        "pools": [{"id": "p", "hardware": "h100-sxm-80gb", "nodes": servers, "gpus_per_node": 1}],
        "generators": [{"name": "poisson", "jobs_per_day": rate_per_s * 86400.0, "n_jobs": n_jobs, "gpus": 1,
                        "duration": {"kind": "exponential", "mean_s": mean_run_s}}],
    })


def validate_mmc(servers: int = 4, utilization: float = 0.6, mean_run_s: float = 3600.0, n_jobs: int = 40_000,
                 seeds: int = 5, tolerance: float = 0.05) -> list[ValidationRow]:
    """Compare mean wait, P(wait > 0) and utilisation of a FIFO single-GPU workload with Erlang C."""
    sc = mmc_scenario(servers, utilization, mean_run_s, n_jobs)
    lam, mu = utilization * servers / mean_run_s, 1.0 / mean_run_s
    waits, p_wait, util = [], [], []
    for seed in range(seeds):
        res = simulate_cluster(sc, seed=seed)
        s = res.summary
        jobs = res.jobs[res.jobs["submit_s"] >= s["window_start_s"]]
        waits.append(s["queue_wait_mean_s"])
        p_wait.append(float((jobs["wait_s"] > 0).mean()))
        util.append(s["utilization"])
    case = f"M/M/{servers} rho={utilization:g} ({n_jobs:,} jobs)"
    src = "Erlang C; Kleinrock 1975, Queueing Systems vol. 1 (M/M/m)"
    return [_row(case, "mean_wait_s", mmc_mean_wait_s(lam, mu, servers), waits, tolerance, src),
            _row(case, "p_wait", erlang_c(servers, lam / mu), p_wait, tolerance, src),
            _row(case, "utilization", mmc_utilization(lam, mu, servers), util, tolerance, src)]


def format_table(rows: list[ValidationRow]) -> str:
    """A plain-text table of validation rows."""
    head = f"{'case':<36} {'quantity':<30} {'reference':>11} {'mean':>11} {'std':>9} {'min..max':>21} {'error':>8}  ok"
    lines = [head, "-" * len(head)]
    for r in rows:
        rng = f"{r.measured_min:.4g}..{r.measured_max:.4g}"
        lines.append(f"{r.case:<36} {r.quantity:<30} {r.reference:>11.4g} {r.measured_mean:>11.4g} "
                     f"{r.measured_std:>9.3g} {rng:>21} {r.relative_error:>+8.1%}  {'yes' if r.passed else 'NO'}")
    errs = [abs(r.relative_error) for r in rows if math.isfinite(r.relative_error)]
    if errs:
        lines.append(f"median |error| {float(np.median(errs)):.1%} over {len(errs)} rows")
    return "\n".join(lines)


# ---------------------------------------------------------------- the failure model against published fleets
@dataclass(frozen=True, slots=True)
class SourceCheck:
    """One fleet's published figure against the failure model's prediction made without that figure's rate."""

    source: str  # the failure profile the figure belongs to
    fleet: str
    generation: str
    gpus: int
    period: str
    quantity: str  # interruptions (over window_days) | job_mtti_s
    window_days: float | None
    published: float
    predicted: float
    method: str  # how the rate was obtained
    fitted_on: tuple[str, ...]  # the profiles (or the same fleet's other figure) the rate came from
    tolerance: float = FAILURE_MODEL_TOLERANCE

    @property
    def error(self) -> float:
        return self.predicted / self.published - 1.0

    @property
    def passed(self) -> bool:
        return abs(self.error) <= self.tolerance

    @property
    def cross_fleet(self) -> bool:
        """Predicted from other fleets (the leave-one-source-out target), not the same fleet at another size."""
        return not self.method.startswith("same fleet")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "error": self.error, "passed": self.passed}


def _source_check(p: FailureProfile, obs: Observation, rate: float, method: str, fitted_on: tuple[str, ...]
                  ) -> SourceCheck:
    return SourceCheck(p.id, p.name, p.generation, int(obs.gpus or 0), p.period, obs.quantity, obs.window_days,
                       obs.value, predict(obs, p.gpus_per_node, rate), method, fitted_on)


def _cross_fleet(p: FailureProfile, obs: Observation, others: list[FailureProfile], method: str) -> SourceCheck:
    rates = [profile_rate(q) for q in others]
    return _source_check(p, obs, pooled_rate([r for r in rates if r is not None]), method,
                         tuple(q.id for q in others))


def _size_checks(p: FailureProfile, obs: Observation) -> list[SourceCheck]:
    """The same fleet's fitted figures at other job sizes predicting the check figure (the size law alone)."""
    return [_source_check(p, obs, observation_rate(o, p.gpus_per_node), f"same fleet, fitted at {o.gpus:,} GPUs",
                          (p.id,))
            for o in p.observations if o.fit and not o.planned and not o.check and o.gpus not in (None, obs.gpus)]


def failure_model_checks(profiles: list[FailureProfile] | None = None) -> list[SourceCheck]:
    """Leave one source out: each profile's check figure predicted from the pooled per-node rate of every other
    profile with a rate, from the other profiles of its GPU generation (when there are any), and from its own
    figures at other job sizes (MTTI proportional to 1/nodes); a fleet's own rate never predicts its figure."""
    profs = load_failure_profiles() if profiles is None else list(profiles)
    rows: list[SourceCheck] = []
    for p in profs:
        obs = next((o for o in p.observations if o.check), None)
        if obs is None:
            continue
        others = [q for q in profs if q.id != p.id and profile_rate(q) is not None]
        rows.append(_cross_fleet(p, obs, others, "other fleets"))
        same = [q for q in others if q.generation == p.generation]
        if same:
            rows.append(_cross_fleet(p, obs, same, f"other {p.generation} fleets"))
        rows += _size_checks(p, obs)
    return rows


def _figure(quantity: str, value: float, window_days: float | None) -> str:
    if quantity == "job_mtti_s":
        return f"{value / SECONDS_PER_HOUR:.3g} h" if value < 2 * SECONDS_PER_DAY else f"{value / SECONDS_PER_DAY:.3g} d"
    return f"{value:.4g} / {window_days:g} d"


def format_source_table(rows: list[SourceCheck]) -> str:
    """The leave-one-source-out table: published figure, prediction, error and what the rate was fitted on."""
    head = (f"{'source':<28} {'GPUs':>6} {'published':>12} {'predicted':>12} {'error':>8}  {'ok':<3} "
            f"{'rate from'}")
    lines = [head, "-" * len(head)]
    for r in rows:
        fitted = r.method if r.method.startswith("same fleet") else f"{r.method}: {', '.join(r.fitted_on)}"
        lines.append(f"{r.source:<28} {r.gpus:>6,} {_figure(r.quantity, r.published, r.window_days):>12} "
                     f"{_figure(r.quantity, r.predicted, r.window_days):>12} {r.error:>+8.0%}  "
                     f"{'yes' if r.passed else 'NO':<3} {fitted}")
    return "\n".join(lines)


def format_profile_table(profiles: list[FailureProfile] | None = None) -> str:
    """Each profile's fitted rates, what they mean for a 1,024- and a 16,384-GPU job, and its component mix."""
    profs = load_failure_profiles() if profiles is None else list(profiles)
    head = (f"{'profile':<28} {'gen':<5} {'per 1000 node-days':>18} {'planned':>8} {'MTTI 1,024 GPUs':>16} "
            f"{'16,384 GPUs':>12}  component shares (GPU/HBM/network/host/software)")
    lines = [head, "-" * len(head)]
    for p in profs:
        rate, planned = profile_rate(p), profile_rate(p, planned=True)
        if rate is None:
            cols = f"{'(none)':>18} {'-':>8} {'-':>16} {'-':>12}"
        else:
            m1, m16 = (job_mtti_s(nodes_spanned(g, p.gpus_per_node), rate) / SECONDS_PER_HOUR for g in (1024, 16384))
            planned_col = "-" if planned is None else f"{planned:.3g}"
            cols = f"{rate:>18.3g} {planned_col:>8} {m1:>14.3g} h {m16:>10.3g} h"
        mix = "/".join(f"{s:.0%}" for _, s in p.component_shares) if p.component_shares else "not published"
        lines.append(f"{p.id:<28} {p.generation:<5} {cols}  {mix}")
    return "\n".join(lines)


def rate_spread(checks: list[SourceCheck]) -> float:
    """Highest over lowest fitted per-node rate among the fleets the checks cover."""
    by_id = {p.id: p for p in load_failure_profiles()}
    rates = [r for r in (profile_rate(by_id[s]) for s in {c.source for c in checks} if s in by_id) if r is not None]
    return max(rates) / min(rates)
