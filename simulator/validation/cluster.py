"""Validation of the cluster simulation against published data and queueing theory.

* `validate_published`: a scenario with a `published:` block (e.g. the Llama-3-like 54-day run) is simulated
  over several seeds; the mean interruption count and effective training time ratio are compared with the
  published figures (relative error, spread over seeds).
* `validate_mmc`: single-GPU jobs with Poisson arrivals and exponential run times on c GPUs under FIFO form an
  M/M/c queue; mean wait, probability of waiting and utilisation are compared with Erlang C.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from simulator.cluster.analytic import erlang_c, mmc_mean_wait_s, mmc_utilization
from simulator.cluster.engine import simulate_cluster
from simulator.cluster.scenario import load_scenario, scenario_from_dict
from simulator.cluster.spec import ClusterScenario
from simulator.errors import SimulatorError


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
