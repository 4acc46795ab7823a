"""Cluster capacity simulation (SimPy; clock in seconds).

Node pools (possibly heterogeneous) run gang-scheduled jobs chosen by a pure policy (cluster_policies);
nodes fail and are repaired; jobs checkpoint at the Young/Daly interval by default and lose the work since
the last checkpoint on a failure; inference services reserve GPUs along a daily demand curve and preempt
batch jobs. One `_Run` object holds all the state of one run; `simulate_cluster` is the public entry point
and returns per-job records, per-segment records, level time series and a summary (cluster_metrics).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import simpy

from simulator.cluster.analytic import (
    CHECKPOINT_INTERVALS,
    checkpoints_in_segment,
    job_mtti_s,
    node_failure_rate_per_s,
    preemption_overhead_s,
    segment_progress,
)
from simulator.cluster.policies import (
    POLICIES,
    PREEMPTING_POLICIES,
    QUEUE_ORDER,
    SERVICE_PRIORITY,
    PoolView,
    QueueEntry,
    RunningEntry,
    SchedState,
    gang_shape,
    plan_replicas,
)
from simulator.cluster.scenario import ClusterScenario, JobSpec, PoolSpec, ServiceSpec, load_scenario, materialize_jobs
from simulator.cluster.schema import MAX_HORIZON_S
from simulator.core import cost as cost_mod
from simulator.errors import SimulatorError
from simulator.simkit import RecordList, TimeWeightedMonitor, progress_process, rng_streams, seed_sequence

SEGMENT_COLUMNS = ("job_id", "pool", "gpus", "start_s", "end_s", "reason", "productive_s", "overhead_s",
                   "checkpoint_s", "lost_s", "straggle_s")
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")
# Safety bound when neither --until nor horizon_s is given: stop at this multiple of the failure-free time
# to drain all work (a run must always end).
AUTO_UNTIL_FACTOR = 20.0


@dataclass(frozen=True)
class ClusterResult:
    """One run: `summary` (the JSON contract), `jobs` and `segments` DataFrames, and level time series."""

    summary: dict[str, Any]
    jobs: Any  # pandas.DataFrame, one row per job
    segments: Any  # pandas.DataFrame, one row per run segment (start to end/interruption)
    levels: dict[str, tuple[np.ndarray, np.ndarray]]  # name -> (change times s, level from each time)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.summary)

    def timeseries(self, step_s: float | None = None):
        """Levels (allocated GPUs, up GPUs, queue length, serving GPUs...) sampled every step_s as a DataFrame."""
        import pandas as pd

        end = float(self.summary["end_s"])
        step = step_s or max(end / 500.0, 1.0)
        grid = np.arange(0.0, end + step / 2, step)
        out: dict[str, Any] = {"time_s": grid}
        for name, (t, v) in self.levels.items():
            idx = np.searchsorted(t, grid, side="right") - 1
            out[name] = v[np.clip(idx, 0, None)]
        return pd.DataFrame(out)


class _Job:
    """Run-time state of one job (mutated only by its run)."""

    __slots__ = ("id", "spec", "status", "done_frac", "seq", "queued_at", "first_start", "end_s", "wait_total",
                 "starts", "interruptions", "preemptions", "productive_s", "lost_s", "ckpt_s", "overhead_s",
                 "straggle_s", "gpu_s", "cost_usd", "energy_j", "pending_overhead", "token", "seg_start",
                 "seg_pool", "seg_nodes", "seg_over", "seg_slow", "seg_tau", "seg_rem", "seg_work", "seg_end",
                 "seg_held", "entry")

    def __init__(self, job_id: int, spec: JobSpec) -> None:
        self.id = job_id
        self.spec = spec
        self.status = "pending"
        self.done_frac = 0.0
        self.seq = job_id
        self.queued_at = self.first_start = self.end_s = math.nan
        self.wait_total = 0.0
        self.starts = self.interruptions = self.preemptions = self.token = 0
        self.productive_s = self.lost_s = self.ckpt_s = self.overhead_s = self.straggle_s = 0.0
        self.gpu_s = self.cost_usd = self.energy_j = 0.0
        self.pending_overhead = 0.0
        self.seg_start = self.seg_over = self.seg_tau = self.seg_rem = self.seg_work = self.seg_end = 0.0
        self.seg_slow = 1.0
        self.seg_held = 0
        self.seg_pool: _Pool | None = None
        self.seg_nodes: tuple[tuple[int, int], ...] = ()
        self.entry: QueueEntry | None = None


class _Pool:
    """Node state of one pool: free GPUs per node, up/down, nodes bucketed by free GPUs, jobs per node."""

    def __init__(self, spec: PoolSpec, env_now: float, usd_per_gpu_s: float, busy_w: float, idle_w: float,
                 owned_fixed_usd_per_gpu_h: float = math.nan, electricity_usd_per_kwh: float = math.nan) -> None:
        self.spec = spec
        self.id = spec.id
        self.gpn = spec.gpus_per_node
        n = spec.nodes
        self.free = [self.gpn] * n
        self.up = [True] * n
        self.buckets: list[set[int]] = [set() for _ in range(self.gpn + 1)]
        self.buckets[self.gpn] = set(range(n))
        self.node_jobs: list[set[int]] = [set() for _ in range(n)]
        self.ends: list[tuple[float, int, int]] = []
        self.alloc = TimeWeightedMonitor(f"allocated_gpus:{spec.id}", env_now)
        self.up_gpus = TimeWeightedMonitor(f"up_gpus:{spec.id}", env_now, spec.gpus)
        self.usd_per_gpu_s = usd_per_gpu_s  # price of one allocated GPU-second (rent, or owned fixed + energy)
        self.owned_fixed_usd_per_gpu_h = owned_fixed_usd_per_gpu_h  # owned pools: paid per installed GPU-hour
        self.electricity_usd_per_kwh = electricity_usd_per_kwh
        self.busy_w = busy_w
        self.idle_w = idle_w
        self.node_failures = 0
        self.free_total = spec.gpus  # free GPUs on up nodes
        self.rate_total = (spec.failures_per_1000_node_days + spec.planned_per_1000_node_days)

    def view(self) -> PoolView:
        return PoolView(self.id, self.gpn, tuple([len(b) for b in self.buckets]), self.free, self.up, self.ends,
                        self.free_total)

    def allocate(self, gpus: int, whole_nodes: bool, owner: int) -> tuple[tuple[int, int], ...]:
        """Take nodes exactly as cluster_policies.take does on the histogram (full nodes, then best fit)."""
        n_full, rem = gang_shape(gpus, self.gpn, whole_nodes)
        full = self.buckets[self.gpn]
        if len(full) < n_full:
            raise SimulatorError(f"internal: pool {self.id} cannot place {gpus} GPUs the policy placed")
        out = []
        for _ in range(n_full):
            node = full.pop()
            self.buckets[0].add(node)
            self.free[node] = 0
            out.append((node, self.gpn))
        if rem:
            for k in range(rem, self.gpn + 1):
                if self.buckets[k]:
                    break
            else:
                raise SimulatorError(f"internal: pool {self.id} has no node with {rem} free GPUs")
            node = self.buckets[k].pop()
            self.free[node] = k - rem
            self.buckets[k - rem].add(node)
            out.append((node, rem))
        for node, _ in out:
            self.node_jobs[node].add(owner)
        self.free_total -= n_full * self.gpn + rem
        return tuple(out)

    def release(self, nodes: tuple[tuple[int, int], ...], owner: int) -> None:
        for node, g in nodes:
            before = self.free[node]
            self.free[node] = before + g
            self.node_jobs[node].discard(owner)
            if self.up[node]:
                self.buckets[before].discard(node)
                self.buckets[before + g].add(node)
                self.free_total += g


class _Service:
    def __init__(self, spec: ServiceSpec) -> None:
        self.spec = spec
        self.replicas: dict[int, tuple[tuple[tuple[int, int], ...], float]] = {}  # id -> (nodes, start s)
        self.losses = 0
        self.gpu_s = 0.0


class _Run:
    """All the state of one simulation run."""

    def __init__(self, scenario: ClusterScenario, policy: str, seed: int, until_s: float | None,
                 progress: Callable[[float], None] | None) -> None:
        if policy not in POLICIES:
            raise SimulatorError(f"unknown scheduling policy {policy!r}; choose one of {', '.join(POLICIES)}")
        self.sc = scenario
        self.policy_name = policy
        self.policy = POLICIES[policy]
        self.order = QUEUE_ORDER[policy]
        self.preempting = policy in PREEMPTING_POLICIES
        self.seed = seed
        names = ["jobs", "stragglers", "repairs"] + [f"failures:{p.id}" for p in scenario.pools]
        self.rng = rng_streams(seed_sequence(seed), names)
        self.env = simpy.Environment()
        if until_s is not None and not (until_s > 0 and math.isfinite(until_s)):
            raise SimulatorError(f"--until must be a positive number of seconds, got {until_s!r}")
        if until_s is not None and not until_s <= MAX_HORIZON_S:
            raise SimulatorError(f"--until {until_s:.3g} s is beyond the 100 years one run simulates "
                                 f"({MAX_HORIZON_S:.3g} s); pass a shorter --until")
        specs = materialize_jobs(scenario, self.rng["jobs"], until_s or scenario.horizon_s)
        self.jobs = [_Job(i, s) for i, s in enumerate(specs)]
        self.until_s, self.auto_until = self._bound(until_s)
        self.pools: dict[str, _Pool] = {p.id: self._make_pool(p) for p in scenario.pools}
        self.services = [_Service(s) for s in scenario.services]
        self.queue: list[QueueEntry] = []
        self.running: dict[int, RunningEntry] = {}
        self.replica_owner: dict[int, _Service] = {}
        self.next_replica = -1
        self.segments = RecordList(SEGMENT_COLUMNS)
        self.queued_jobs = TimeWeightedMonitor("queued_jobs")
        self.queued_gpus = TimeWeightedMonitor("queued_gpus")
        self.serving = TimeWeightedMonitor("serving_gpus")
        self.demand = TimeWeightedMonitor("serving_demand_gpus")
        self.events = 0
        self.terminal = 0
        self.interruptions = {"failure": 0, "maintenance": 0}
        self.preemptions = 0
        self.in_schedule = False
        self.progress = progress
        self.done = self.env.event()
        self.rel = scenario.reliability

    # ------------------------------------------------------------ setup
    def _bound(self, until_s: float | None) -> tuple[float, bool]:
        if until_s is not None:
            if not until_s > 0:
                raise SimulatorError(f"--until must be a positive number of seconds, got {until_s!r}")
            return float(until_s), False
        if self.sc.horizon_s is not None:
            return float(self.sc.horizon_s), False
        if self.sc.services:
            raise SimulatorError("a scenario with services runs forever; pass --until SECONDS or set horizon_s")
        gpus = self.sc.gpus
        work = sum(j.spec.gpus * j.spec.work_s[0] for j in self.jobs) / gpus
        longest = max((j.spec.work_s[0] for j in self.jobs), default=0.0)
        last = max((j.spec.submit_s for j in self.jobs), default=0.0)
        return last + AUTO_UNTIL_FACTOR * (work + longest) + 86400.0, True

    def _make_pool(self, p: PoolSpec) -> _Pool:
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
            return _Pool(p, 0.0, cost_mod.busy_gpu_hour_usd(owned_book, hw, "owned") / 3600.0, busy_w, idle_w,
                         cost_mod.owned_fixed_usd_per_gpu_hour(owned), owned_book.electricity_usd_per_kwh)
        return _Pool(p, 0.0, cost_mod.busy_gpu_hour_usd(book, hw, p.purchase) / 3600.0, busy_w, idle_w)

    # ------------------------------------------------------------ queue
    def _enqueue(self, job: _Job) -> None:
        now = self.env.now
        s = job.spec
        rem = (1.0 - job.done_frac) * s.work_s[0] + job.pending_overhead
        job.entry = QueueEntry(job.id, s.gpus, s.pools, s.priority, job.seq, s.submit_s, rem, s.whole_nodes)
        bisect.insort(self.queue, job.entry, key=self.order)
        job.status = "queued"
        job.queued_at = now
        self.queued_jobs.add(now, 1)
        self.queued_gpus.add(now, s.gpus)

    def _dequeue(self, job: _Job) -> None:
        entry = job.entry
        i = bisect.bisect_left(self.queue, self.order(entry), key=self.order)  # type: ignore[arg-type]
        if i >= len(self.queue) or self.queue[i] is not entry:
            raise SimulatorError(f"internal: job {job.id} missing from the queue")
        del self.queue[i]
        job.entry = None
        now = self.env.now
        self.queued_jobs.add(now, -1)
        self.queued_gpus.add(now, -job.spec.gpus)

    # ------------------------------------------------------------ scheduling
    def _schedule(self) -> None:
        if self.in_schedule or not self.queue:
            return
        self.in_schedule = True
        try:
            while self.queue:
                if not self.preempting and not any(p.free_total for p in self.pools.values()):
                    break
                views = {pid: p.view() for pid, p in self.pools.items()}
                dec = self.policy(SchedState(self.env.now, self.queue, views, self.running, self.sc.max_scan))
                for jid in dec.preempt:
                    self._interrupt(self.jobs[jid], "preemption")
                for jid, pid in dec.start:
                    self._start(self.jobs[jid], self.pools[pid])
                if not dec.again:
                    break
        finally:
            self.in_schedule = False

    def _after_change(self) -> None:
        for svc in self.services:
            if len(svc.replicas) < svc.spec.replicas_at(self.env.now):
                self._reconcile(svc)
        self._schedule()

    # ------------------------------------------------------------ job segments
    def _interval_s(self, job: _Job, pool: _Pool, nodes: int) -> float:
        s = job.spec
        if s.interval_s is not None:
            return s.interval_s
        method = self.rel.interval_method
        if method == "none":
            return math.inf
        return CHECKPOINT_INTERVALS[method](s.checkpoint_write_s, job_mtti_s(nodes, pool.rate_total))

    def _start(self, job: _Job, pool: _Pool) -> None:
        now = self.env.now
        s = job.spec
        self._dequeue(job)
        nodes = pool.allocate(s.gpus, s.whole_nodes, job.id)
        held = sum(g for _, g in nodes)  # more than s.gpus when whole_nodes rounds up
        work = s.work_s[s.pools.index(pool.id)]
        rem = max((1.0 - job.done_frac) * work, 0.0)
        slow = 1.0
        if self.rel.straggler_probability > 0 and self.rng["stragglers"].random() < self.rel.straggler_probability:
            slow += self.rel.straggler_slowdown
        tau = self._interval_s(job, pool, len(nodes))
        wall = job.pending_overhead + rem * slow + checkpoints_in_segment(rem, tau) * s.checkpoint_write_s
        if job.starts == 0:
            job.first_start = now
        job.wait_total += now - job.queued_at
        job.starts += 1
        job.status = "running"
        job.token += 1
        job.seg_start, job.seg_pool, job.seg_nodes = now, pool, nodes
        job.seg_over, job.seg_slow, job.seg_tau, job.seg_rem, job.seg_work = job.pending_overhead, slow, tau, rem, work
        job.seg_end, job.seg_held = now + wall, held
        self.running[job.id] = RunningEntry(job.id, held, pool.id, s.priority, now, now + wall, s.preemptible, nodes)
        bisect.insort(pool.ends, (now + wall, job.id, held))
        pool.alloc.add(now, held)
        self.env.timeout(wall).callbacks.append(partial(self._on_end, job, job.token))

    def _stop(self, job: _Job, reason: str, keep_partial: bool) -> None:
        """Close the running segment: account its time, record it, release the nodes."""
        now = self.env.now
        s = job.spec
        pool = job.seg_pool
        if pool is None:
            raise SimulatorError(f"internal: job {job.id} stopped while not running")
        if reason == "completed":
            committed = job.seg_rem
            over = job.seg_over
            written = checkpoints_in_segment(job.seg_rem, job.seg_tau) * s.checkpoint_write_s
            lost = 0.0
        else:
            committed, over, written, lost = segment_progress(now - job.seg_start, job.seg_over, job.seg_rem,
                                                              job.seg_slow, job.seg_tau, s.checkpoint_write_s,
                                                              keep_partial)
        straggle = committed * (job.seg_slow - 1.0)
        job.productive_s += committed
        job.overhead_s += over
        job.ckpt_s += written
        job.lost_s += lost
        job.straggle_s += straggle
        job.done_frac = min(job.done_frac + (committed / job.seg_work if job.seg_work > 0 else 1.0), 1.0)
        wall = now - job.seg_start
        held = job.seg_held
        job.gpu_s += held * wall
        job.cost_usd += held * wall * pool.usd_per_gpu_s
        job.energy_j += held * wall * pool.busy_w
        self.segments.append(job.id, pool.id, held, job.seg_start, now, reason, committed, over, written, lost,
                             straggle)
        if reason == "horizon":
            return
        job.token += 1
        pool.release(job.seg_nodes, job.id)
        i = bisect.bisect_left(pool.ends, (job.seg_end, job.id, held))
        del pool.ends[i]
        del self.running[job.id]
        pool.alloc.add(now, -held)
        job.seg_pool = None
        job.pending_overhead = 0.0

    def _finish(self, job: _Job, status: str) -> None:
        job.status = status
        job.end_s = self.env.now
        self.terminal += 1
        if self.terminal == len(self.jobs) and not self.services and not self.done.triggered:
            self.done.succeed()

    def _on_end(self, job: _Job, token: int, _event: Any) -> None:
        if token != job.token:
            return  # the segment was interrupted; this timeout is stale
        self.events += 1
        self._stop(job, "completed", keep_partial=True)
        self._finish(job, job.spec.final_state)
        self._after_change()

    def _interrupt(self, job: _Job, cause: str) -> None:
        """Stop a running job for a failure, maintenance or preemption and requeue it (or fail it)."""
        s = job.spec
        if cause == "preemption":
            self._stop(job, cause, keep_partial=True)
            job.preemptions += 1
            self.preemptions += 1
            po = self.rel.preemption_overhead_s
            job.pending_overhead = preemption_overhead_s(s.gpus) if po is None else po
        else:
            self._stop(job, cause, keep_partial=False)
            job.interruptions += 1
            self.interruptions[cause] += 1
            job.pending_overhead = s.restart_s
            if self.rel.max_restarts is not None and job.interruptions > self.rel.max_restarts:
                self._finish(job, "FAILED")
                return
        self._enqueue(job)

    # ------------------------------------------------------------ processes
    def _arrivals(self):
        env = self.env
        i, n = 0, len(self.jobs)
        while i < n:
            t = self.jobs[i].spec.submit_s
            if t > env.now:
                yield env.timeout(t - env.now)
            while i < n and self.jobs[i].spec.submit_s <= env.now:
                self._enqueue(self.jobs[i])
                self.events += 1
                i += 1
            self._schedule()

    def _failures(self, pool: _Pool):
        spec = pool.spec
        rate = spec.nodes * node_failure_rate_per_s(pool.rate_total)
        if rate <= 0:
            return
        rng = self.rng[f"failures:{pool.id}"]
        planned_share = spec.planned_per_1000_node_days / pool.rate_total
        while True:
            yield self.env.timeout(rng.exponential(1.0 / rate))
            node = int(rng.integers(spec.nodes))
            planned = rng.random() < planned_share
            if pool.up[node]:  # thinning: a node that is down cannot fail again
                self.events += 1
                self._node_down(pool, node, "maintenance" if planned else "failure")

    def _node_down(self, pool: _Pool, node: int, cause: str) -> None:
        now = self.env.now
        pool.up[node] = False
        pool.buckets[pool.free[node]].discard(node)
        pool.free_total -= pool.free[node]
        pool.up_gpus.add(now, -pool.gpn)
        pool.node_failures += 1
        for owner in sorted(pool.node_jobs[node]):
            if owner >= 0:
                self._interrupt(self.jobs[owner], cause)
            else:
                self._drop_replica(owner, lost=True)
        if cause == "maintenance":
            repair = self.rel.maintenance_time_s
        elif self.rel.repair_distribution == "fixed":
            repair = self.rel.repair_time_s
        else:
            repair = float(self.rng["repairs"].exponential(self.rel.repair_time_s))
        self.env.timeout(repair).callbacks.append(partial(self._node_up, pool, node))
        self._after_change()

    def _node_up(self, pool: _Pool, node: int, _event: Any) -> None:
        self.events += 1
        pool.up[node] = True
        pool.buckets[pool.free[node]].add(node)
        pool.free_total += pool.free[node]
        pool.up_gpus.add(self.env.now, pool.gpn)
        self._after_change()

    # ------------------------------------------------------------ inference services
    def _service(self, svc: _Service):
        while True:
            self.events += 1
            self._reconcile(svc)
            self._schedule()
            yield self.env.timeout(3600.0 - self.env.now % 3600.0)

    def _reconcile(self, svc: _Service) -> None:
        now = self.env.now
        spec = svc.spec
        pool = self.pools[spec.pool]
        want = spec.replicas_at(now)
        have = len(svc.replicas)
        if want < have:
            for rid in sorted(svc.replicas)[: have - want]:  # newest replicas have the most negative ids
                self._drop_replica(rid, lost=False)
        elif want > have:
            n, victims = plan_replicas(pool.view(), self.running, want - have, spec.gpus_per_replica)
            for jid in victims:
                self._interrupt(self.jobs[jid], "preemption")
            whole = spec.gpus_per_replica >= pool.gpn
            for _ in range(n):
                rid = self.next_replica
                self.next_replica -= 1
                nodes = pool.allocate(spec.gpus_per_replica, whole, rid)
                svc.replicas[rid] = (nodes, now)
                self.replica_owner[rid] = svc
                self.running[rid] = RunningEntry(rid, spec.gpus_per_replica, pool.id, SERVICE_PRIORITY, now,
                                                 math.inf, False, nodes)
                pool.alloc.add(now, spec.gpus_per_replica)
        self._serving_levels(now)

    def _drop_replica(self, rid: int, lost: bool) -> None:
        svc = self.replica_owner.pop(rid)
        pool = self.pools[svc.spec.pool]
        nodes, start = svc.replicas.pop(rid)
        svc.gpu_s += svc.spec.gpus_per_replica * (self.env.now - start)
        pool.release(nodes, rid)
        del self.running[rid]
        pool.alloc.add(self.env.now, -svc.spec.gpus_per_replica)
        svc.losses += int(lost)
        self._serving_levels(self.env.now)

    def _serving_levels(self, now: float) -> None:
        self.serving.set(now, sum(len(s.replicas) * s.spec.gpus_per_replica for s in self.services))
        self.demand.set(now, sum(s.spec.replicas_at(now) * s.spec.gpus_per_replica for s in self.services))

    # ------------------------------------------------------------ progress and run
    def _report_progress(self, now_s: float) -> None:
        frac = self.terminal / max(len(self.jobs), 1) if self.auto_until else now_s / self.until_s
        self.progress(min(frac, 1.0))  # type: ignore[misc]

    def run(self) -> ClusterResult:
        from simulator.cluster.metrics import build_result

        env = self.env
        if self.jobs:
            env.process(self._arrivals())
        elif not self.services:
            self.done.succeed()
        for pool in self.pools.values():
            env.process(self._failures(pool))
        for svc in self.services:
            env.process(self._service(svc))
        if self.progress is not None:
            env.process(progress_process(env, self.until_s, self._report_progress, self.until_s / 200.0))
        stop = env.timeout(self.until_s)
        env.run(until=simpy.AnyOf(env, [stop, self.done]))
        for job in self.jobs:
            if job.status == "running":
                self._stop(job, "horizon", keep_partial=True)
        for svc in self.services:
            svc.gpu_s += sum(svc.spec.gpus_per_replica * (env.now - start) for _, start in svc.replicas.values())
        if self.progress is not None:
            self.progress(1.0)
        return build_result(self)


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
    sc = load_scenario(scenario)
    return _Run(sc, policy or sc.policy, int(seed), until_s, progress).run()
