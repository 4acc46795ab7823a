"""Cluster capacity simulation (SimPy; clock in seconds).

Node pools (possibly heterogeneous) run gang-scheduled jobs chosen by a pure policy (cluster.policies); nodes fail and
are repaired; jobs checkpoint at the Young/Daly interval by default and lose the work since the last checkpoint on a
failure; inference services reserve GPUs along a daily demand curve and preempt batch jobs. A `Run` wires one run
together: the job queue and scheduling pass (queue), job segments and their accounting (segments), node failures
(failures) and services (services) share its state; `simulate_cluster` is the public entry point and returns per-job
records, per-segment records, level time series and a summary (metrics).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import simpy

from simulator.cluster.analytic import preemption_overhead_s
from simulator.cluster.failures import Failures
from simulator.cluster.jobs import materialize_jobs
from simulator.cluster.metrics import ClusterResult, build_result
from simulator.cluster.policies import RunningEntry
from simulator.cluster.queue import JobQueue
from simulator.cluster.scenario import load_scenario
from simulator.cluster.segments import Segments
from simulator.cluster.services import Services
from simulator.cluster.spec import ClusterScenario, PoolSpec
from simulator.cluster.state import JobState, PoolState, RunRecord
from simulator.core import cost as cost_mod
from simulator.errors import PlanError, SimulatorError
from simulator.limits import MAX_SEED, MAX_SIM_SECONDS, check_int, check_ref
from simulator.simkit import progress_process, rng_streams, seed_sequence
from simulator.units import SECONDS_PER_DAY, SECONDS_PER_HOUR
from simulator.vocab import POLICY_NAMES

# Safety bound when neither --until nor horizon_s is given: stop at this multiple of the failure-free time
# to drain all work (a run must always end).
AUTO_UNTIL_FACTOR = 20.0


def _check_until(until_s: float | None) -> None:
    if until_s is not None and not (until_s > 0 and math.isfinite(until_s)):
        raise SimulatorError(f"--until must be a positive number of seconds, got {until_s!r}")
    if until_s is not None and not until_s <= MAX_SIM_SECONDS:
        raise SimulatorError(f"--until {until_s:.3g} s is beyond the 100 years one run simulates "
                             f"({MAX_SIM_SECONDS:.3g} s); pass a shorter --until")


class Run:
    """One simulation run: the environment, the jobs, and the reactions to its events."""

    def __init__(self, scenario: ClusterScenario, policy: str, seed: int, until_s: float | None,
                 progress: Callable[[float], None] | None) -> None:
        self.sc = scenario
        self.policy_name = policy
        self.queue = JobQueue(policy, scenario.max_scan)
        self.seed = seed
        names = ["jobs", "stragglers", "repairs"] + [f"failures:{p.id}" for p in scenario.pools]
        self.rng = rng_streams(seed_sequence(seed), names)
        self.env = simpy.Environment()
        _check_until(until_s)
        specs = materialize_jobs(scenario, self.rng["jobs"], until_s or scenario.horizon_s)
        self.jobs = [JobState(i, s) for i, s in enumerate(specs)]
        self.until_s, self.auto_until = self._bound(until_s)
        self.pools: dict[str, PoolState] = {p.id: self._make_pool(p) for p in scenario.pools}
        self.running: dict[int, RunningEntry] = {}
        self.segments = Segments(self.env, scenario.reliability, self.rng["stragglers"], self.running, self._on_end)
        self.failures = Failures(self.env, scenario.reliability, self.rng, self._on_node_down, self._after_change,
                                 self._count_event)
        self.services = Services(self.env, scenario.services, self.pools, self.running, self._preempt)
        self.events = 0
        self.terminal = 0
        self.interruptions = {"failure": 0, "maintenance": 0}
        self.preemptions = 0
        self.progress = progress
        self.done = self.env.event()
        self.rel = scenario.reliability

    # ------------------------------------------------------------ setup
    def _bound(self, until_s: float | None) -> tuple[float, bool]:
        """When the run stops: --until, else the horizon, else a safety bound far past the failure-free work."""
        if until_s is not None:
            return float(until_s), False
        if self.sc.horizon_s is not None:
            return float(self.sc.horizon_s), False
        if self.sc.services:
            raise SimulatorError("a scenario with services runs forever; pass --until SECONDS or set horizon_s")
        gpus = self.sc.gpus
        work = sum(j.spec.gpus * j.spec.work_s[0] for j in self.jobs) / gpus
        longest = max((j.spec.work_s[0] for j in self.jobs), default=0.0)
        last = max((j.spec.submit_s for j in self.jobs), default=0.0)
        return last + AUTO_UNTIL_FACTOR * (work + longest) + SECONDS_PER_DAY, True

    def _make_pool(self, p: PoolSpec) -> PoolState:
        """A pool with its price per allocated GPU-second and facility power per busy and idle GPU."""
        hw = p.hardware
        book = self.sc.price_book
        busy_w = cost_mod.busy_gpu_facility_power_w(hw.tdp_w, hw.average_utilization_of_tdp,
                                                    hw.server_to_gpu_power_ratio, book.pue)
        idle_w = cost_mod.busy_gpu_facility_power_w(hw.tdp_w, self.sc.idle_power_fraction_of_tdp,
                                                    hw.server_to_gpu_power_ratio, book.pue)
        if p.purchase == "owned":
            owned_book = self.sc.owned_book
            owned = owned_book.owned_cost(hw.id) if owned_book else None
            if owned_book is None or owned is None:
                raise SimulatorError(f"pool {p.id!r} is owned but no owned price is known for {hw.id}")
            return PoolState(p, 0.0, cost_mod.busy_gpu_hour_usd(owned_book, hw, "owned") / SECONDS_PER_HOUR, busy_w, idle_w,
                         cost_mod.owned_fixed_usd_per_gpu_hour(owned), owned_book.electricity_usd_per_kwh)
        return PoolState(p, 0.0, cost_mod.busy_gpu_hour_usd(book, hw, p.purchase) / SECONDS_PER_HOUR, busy_w, idle_w)

    # ------------------------------------------------------------ reactions
    def _count_event(self) -> None:
        self.events += 1

    def _schedule(self) -> None:
        self.queue.schedule(self.env.now, self.pools, self.running, self._preempt, self._start)

    def _start(self, job_id: int, pool_id: str) -> None:
        job = self.jobs[job_id]
        self.queue.dequeue(job, self.env.now)
        self.segments.start(job, self.pools[pool_id])

    def _after_change(self) -> None:
        """Capacity or demand changed: services short of replicas catch up first, then the queue is scheduled."""
        for svc in self.services.all:
            if len(svc.replicas) < svc.spec.replicas_at(self.env.now):
                self.services.reconcile(svc)
        self._schedule()

    def _finish(self, job: JobState, status: str) -> None:
        job.status = status
        job.end_s = self.env.now
        self.terminal += 1
        if self.terminal == len(self.jobs) and not self.sc.services and not self.done.triggered:
            self.done.succeed()

    def _on_end(self, job: JobState, token: int, _event: Any) -> None:
        if token != job.token:
            return  # the segment was interrupted; this timeout is stale
        self.events += 1
        self.segments.stop(job, "completed", keep_partial=True)
        self._finish(job, job.spec.final_state)
        self._after_change()

    def _preempt(self, job_id: int) -> None:
        self._interrupt(self.jobs[job_id], "preemption")

    def _interrupt(self, job: JobState, cause: str) -> None:
        """Stop a running job for a failure, maintenance or preemption and requeue it (or fail it)."""
        s = job.spec
        if cause == "preemption":
            self.segments.stop(job, cause, keep_partial=True)
            job.preemptions += 1
            self.preemptions += 1
            po = self.rel.preemption_overhead_s
            job.pending_overhead = preemption_overhead_s(s.gpus) if po is None else po
        else:
            self.segments.stop(job, cause, keep_partial=False)
            job.interruptions += 1
            self.interruptions[cause] += 1
            job.pending_overhead = s.restart_s
            if self.rel.max_restarts is not None and job.interruptions > self.rel.max_restarts:
                self._finish(job, "FAILED")
                return
        self.queue.enqueue(job, self.env.now)

    def _on_node_down(self, pool: PoolState, node: int, cause: str) -> None:
        """Everything on a node that went down stops: jobs are interrupted, replicas lost."""
        for owner in sorted(pool.node_jobs[node]):
            if owner >= 0:
                self._interrupt(self.jobs[owner], cause)
            else:
                self.services.drop(owner, lost=True)

    # ------------------------------------------------------------ processes and the run
    def _arrivals(self) -> Generator[Any, Any, None]:
        env = self.env
        i, n = 0, len(self.jobs)
        while i < n:
            t = self.jobs[i].spec.submit_s
            if t > env.now:
                yield env.timeout(t - env.now)
            while i < n and self.jobs[i].spec.submit_s <= env.now:
                self.queue.enqueue(self.jobs[i], env.now)
                self.events += 1
                i += 1
            self._schedule()

    def _report_progress(self, now_s: float) -> None:
        frac = self.terminal / max(len(self.jobs), 1) if self.auto_until else now_s / self.until_s
        self.progress(min(frac, 1.0))  # type: ignore[misc]

    def run(self) -> RunRecord:
        env = self.env
        if self.jobs:
            env.process(self._arrivals())
        elif not self.sc.services:
            self.done.succeed()
        for pool in self.pools.values():
            env.process(self.failures.process(pool))
        for svc in self.services.all:
            env.process(self.services.process(svc, self._count_event, self._schedule))
        if self.progress is not None:
            env.process(progress_process(env, self.until_s, self._report_progress, self.until_s / 200.0))
        env.run(until=simpy.AnyOf(env, [env.timeout(self.until_s), self.done]))
        for job in self.jobs:
            if job.status == "running":
                self.segments.stop(job, "horizon", keep_partial=True)
        self.services.close(env.now)
        if self.progress is not None:
            self.progress(1.0)
        return self.record()

    def record(self) -> RunRecord:
        return RunRecord(self.sc, self.policy_name, self.seed, float(self.env.now), self.auto_until, self.jobs,
                         self.segments.records.to_frame(), self.pools, self.services.all, self.queue.queued_jobs,
                         self.queue.queued_gpus, self.services.serving, self.services.demand, self.interruptions,
                         self.preemptions, self.events)


def simulate_cluster(scenario: str | Path | ClusterScenario, *, policy: str | None = None, seed: int = 0,
                     until_s: float | None = None, progress: Callable[[float], None] | None = None) -> ClusterResult:
    """Simulate a cluster scenario (shipped id, path or ClusterScenario).

    Parameters
    ----------
    policy : scheduling policy name (fifo, sjf, priority, easy); default the scenario's.
    seed : seeds every random stream (job draws, failures, repairs, stragglers); same seed, same result.
    until_s : stop time in seconds; default the scenario's horizon_s, else when every job has ended.
    progress : optional callback receiving the fraction done (0..1), e.g. to drive a progress bar.
    """
    if not isinstance(scenario, ClusterScenario):
        check_ref("scenario", scenario)
    if policy is not None and not isinstance(policy, str):  # which names exist: the queue's check
        raise PlanError(f"policy must be a name ({', '.join(POLICY_NAMES)}) or None, got {policy!r}")
    check_int("seed", seed, 0, MAX_SEED)
    if until_s is not None and (isinstance(until_s, bool) or not isinstance(until_s, numbers.Real)):  # range: Run's
        raise PlanError(f"--until must be a positive number of seconds, got {until_s!r} ({type(until_s).__name__})")
    if progress is not None and not callable(progress):
        raise PlanError(f"progress must be a callable or None, got {type(progress).__name__}")
    sc = load_scenario(scenario)
    return build_result(Run(sc, policy or sc.policy, int(seed), until_s, progress).run())
