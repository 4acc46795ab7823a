"""Closed-form reliability and queueing formulas used by the cluster simulation and its validation.

Each function is one formula with its source; SI units (seconds) throughout. Rates of node failures are
quoted per 1000 node-days, as the large-run literature does (Meta RSC, Llama 3 derived).
"""

from __future__ import annotations

import math

from simulator.units import SECONDS_PER_DAY

# Helios QSSF simulator: preemption/checkpoint overhead by job size (S-Lab HeliosArtifact, SC'21).
HELIOS_PREEMPTION_OVERHEAD_S = ((1, 7.0), (8, 30.0))
HELIOS_PREEMPTION_OVERHEAD_LARGE_S = 60.0


def node_failure_rate_per_s(failures_per_1000_node_days: float) -> float:
    """Per-node Poisson rate (1/s) from a rate quoted per 1000 node-days (Meta RSC convention, arXiv 2410.21680)."""
    return failures_per_1000_node_days / 1000.0 / SECONDS_PER_DAY


def job_mtti_s(nodes: float, failures_per_1000_node_days: float) -> float:
    """Mean time to interruption of a job spanning `nodes` independent nodes: 24 h / (nodes x r / 1000)
    (cluster_cost_reliability.md section 3.2). inf when the rate is zero."""
    rate = nodes * node_failure_rate_per_s(failures_per_1000_node_days)
    return math.inf if rate <= 0 else 1.0 / rate


def nodes_spanned(gpus: int, gpus_per_node: int) -> int:
    """Whole nodes a gang of `gpus` spans: ceil(gpus / gpus_per_node)."""
    return -(-gpus // gpus_per_node)


def rate_from_count(events: float, nodes: float, days: float) -> float:
    """A published count of one job's interruptions over a window as a per-node rate per 1000 node-days:
    1000 events / (nodes x days) (Llama 3: 1000 x 419 / (2,048 x 54) = 3.79; reference section 3.2)."""
    return 1000.0 * events / (nodes * days)


def rate_from_mtti(mtti_s: float, nodes: float) -> float:
    """A published job mean time to interruption at a size as a per-node rate per 1000 node-days, the inverse of
    job_mtti_s: 1000 x 1 day / (nodes x MTTI) (Kokolis et al. 2024: MTTF = 1 / (nodes x r_f))."""
    return 1000.0 * SECONDS_PER_DAY / (nodes * mtti_s)


def job_interruptions(nodes: float, days: float, failures_per_1000_node_days: float) -> float:
    """Expected interruptions of a job spanning `nodes` for `days`: nodes x days x r / 1000 (every node in series,
    each failing as a Poisson process; the job rate grows linearly with its size, Kokolis et al. 2024)."""
    return nodes * days * failures_per_1000_node_days / 1000.0


def pooled_rate(rates_per_1000_node_days: list[float]) -> float:
    """Geometric mean of several fleets' per-node rates: each fleet one vote whatever its exposure, and a fleet
    k times as failure-prone moves the pool by the same factor whichever way."""
    return math.exp(sum(math.log(r) for r in rates_per_1000_node_days) / len(rates_per_1000_node_days))


def young_interval_s(write_s: float, mtti_s: float) -> float:
    """Young's optimum compute time between checkpoints, sqrt(2 delta M) (Young 1974, CACM 17(9))."""
    if math.isinf(mtti_s):
        return math.inf
    return math.sqrt(2.0 * write_s * mtti_s)


def daly_interval_s(write_s: float, mtti_s: float) -> float:
    """Daly's higher-order optimum: sqrt(2dM)[1 + sqrt(d/2M)/3 + (d/2M)/9] - d for d < 2M, else M
    (Daly 2006, Future Generation Computer Systems 22(3); reference section 3.3)."""
    if math.isinf(mtti_s):
        return math.inf
    if write_s <= 0:
        return 0.0
    if write_s >= 2.0 * mtti_s:
        return mtti_s
    x = write_s / (2.0 * mtti_s)
    return math.sqrt(2.0 * write_s * mtti_s) * (1.0 + math.sqrt(x) / 3.0 + x / 9.0) - write_s


CHECKPOINT_INTERVALS = {"daly": daly_interval_s, "young": young_interval_s}


def first_order_ettr(interval_s: float, write_s: float, restart_s: float, mtti_s: float) -> float:
    """Effective training time ratio to first order: 1 - [delta/tau + (tau/2 + R)/M]
    (overhead of checkpoint writes plus expected rework and restart per failure; reference section 3.3)."""
    if math.isinf(mtti_s):
        return 1.0 - (write_s / interval_s if math.isfinite(interval_s) and interval_s > 0 else 0.0)
    return 1.0 - (write_s / interval_s + (interval_s / 2.0 + restart_s) / mtti_s)


def preemption_overhead_s(gpus: int) -> float:
    """Preemption (checkpoint + reload) overhead by job size: 7 s for 1 GPU, 30 s up to 8, 60 s beyond
    (Helios QSSF simulator, SC'21 artifact)."""
    for limit, overhead in HELIOS_PREEMPTION_OVERHEAD_S:
        if gpus <= limit:
            return overhead
    return HELIOS_PREEMPTION_OVERHEAD_LARGE_S


def erlang_c(servers: int, offered_load_erlangs: float) -> float:
    """Probability that an arrival waits in M/M/c (Erlang C), via the stable Erlang B recursion
    B(k) = aB(k-1)/(k + aB(k-1)), C = cB/(c - a(1 - B)) (Erlang C; Kleinrock 1975, Queueing Systems vol. 1, M/M/m)."""
    a = offered_load_erlangs
    if a >= servers:
        return 1.0
    b = 1.0
    for k in range(1, servers + 1):
        b = a * b / (k + a * b)
    return servers * b / (servers - a * (1.0 - b))


def mmc_mean_wait_s(arrival_rate_per_s: float, service_rate_per_s: float, servers: int) -> float:
    """Mean wait in queue of M/M/c: W_q = C(c, a) / (c mu - lambda) (Kleinrock 1975, M/M/m); inf if overloaded."""
    capacity = servers * service_rate_per_s
    if arrival_rate_per_s >= capacity:
        return math.inf
    return erlang_c(servers, arrival_rate_per_s / service_rate_per_s) / (capacity - arrival_rate_per_s)


def mmc_utilization(arrival_rate_per_s: float, service_rate_per_s: float, servers: int) -> float:
    """Server utilisation of a stable M/M/c: rho = lambda / (c mu)."""
    return arrival_rate_per_s / (servers * service_rate_per_s)


# ---------------------------------------------------------------- checkpoint/restart cycle of one run segment
def checkpoints_in_segment(remaining_work_s: float, interval_s: float) -> int:
    """Checkpoints written while finishing `remaining_work_s` of compute: one after every full interval except
    at the very end (none with an infinite interval; none with a zero interval, meaning free checkpoints)."""
    if not math.isfinite(interval_s) or interval_s <= 0 or remaining_work_s <= 0:
        return 0
    return max(math.ceil(remaining_work_s / interval_s - 1e-9) - 1, 0)


def segment_wall_s(overhead_s: float, remaining_work_s: float, slowdown: float, interval_s: float,
                   write_s: float) -> float:
    """Failure-free wall time of a segment: restart overhead + compute x slowdown + checkpoints x write time."""
    return overhead_s + remaining_work_s * slowdown + checkpoints_in_segment(remaining_work_s, interval_s) * write_s


def segment_progress(elapsed_s: float, overhead_s: float, remaining_work_s: float, slowdown: float,
                     interval_s: float, write_s: float, keep_partial: bool) -> tuple[float, float, float, float]:
    """Split `elapsed_s` of an interrupted segment into (committed work s, overhead s, checkpoint-write s, lost s).

    The segment runs overhead, then cycles of (interval x slowdown compute, write). On a failure
    (keep_partial=False) the compute since the last completed checkpoint and any partial write are lost;
    when the job is stopped with notice or the horizon is reached (keep_partial=True) that compute counts.
    A zero interval means checkpoints are free and continuous (nothing is lost); an infinite one means none.
    Committed work is in failure-free compute seconds (divide wall by the slowdown).
    """
    over = min(elapsed_s, overhead_s)
    e = elapsed_s - over
    compute_wall = remaining_work_s * slowdown
    n_ckpt = checkpoints_in_segment(remaining_work_s, interval_s)
    if interval_s <= 0 or (n_ckpt == 0 and keep_partial):
        return min(e, compute_wall) / slowdown, over, 0.0, 0.0
    if n_ckpt == 0:
        return 0.0, over, 0.0, min(e, compute_wall)
    cycle = interval_s * slowdown + write_s
    k = min(int(e // cycle), n_ckpt)
    committed = k * interval_s
    written = k * write_s
    rest = e - k * cycle
    comp = min(rest, interval_s * slowdown, compute_wall - k * interval_s * slowdown)
    if keep_partial:
        return committed + comp / slowdown, over, written + (rest - comp), 0.0
    return committed, over, written, rest
