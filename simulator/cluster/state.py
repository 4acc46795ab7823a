"""The mutable state of one cluster run (SimPy discipline: it lives only inside the run): jobs, node pools and
inference services, and the record of a finished run that the metrics read."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from simulator.cluster.policies import PoolView, QueueEntry, gang_shape
from simulator.cluster.spec import ClusterScenario, JobSpec, PoolSpec, ServiceSpec
from simulator.errors import SimulatorError
from simulator.simkit import TimeWeightedMonitor


class JobState:
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
        self.seg_pool: PoolState | None = None
        self.seg_nodes: tuple[tuple[int, int], ...] = ()
        self.entry: QueueEntry | None = None


class PoolState:
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
        """Take nodes exactly as policies.take does on the histogram (full nodes, then best fit)."""
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

    def take_down(self, node: int, now: float) -> None:
        """A node fails or goes into maintenance: its free GPUs leave the schedulable capacity."""
        self.up[node] = False
        self.buckets[self.free[node]].discard(node)
        self.free_total -= self.free[node]
        self.up_gpus.add(now, -self.gpn)
        self.node_failures += 1

    def bring_up(self, node: int, now: float) -> None:
        """A node is back from repair or maintenance."""
        self.up[node] = True
        self.buckets[self.free[node]].add(node)
        self.free_total += self.free[node]
        self.up_gpus.add(now, self.gpn)

    def release(self, nodes: tuple[tuple[int, int], ...], owner: int) -> None:
        for node, g in nodes:
            before = self.free[node]
            self.free[node] = before + g
            self.node_jobs[node].discard(owner)
            if self.up[node]:
                self.buckets[before].discard(node)
                self.buckets[before + g].add(node)
                self.free_total += g


class ServiceState:
    """Run-time state of one inference service: its replicas (id -> nodes, start s), losses and GPU-seconds."""

    def __init__(self, spec: ServiceSpec) -> None:
        self.spec = spec
        self.replicas: dict[int, tuple[tuple[tuple[int, int], ...], float]] = {}  # id -> (nodes, start s)
        self.losses = 0
        self.gpu_s = 0.0


@dataclass(frozen=True)
class RunRecord:
    """What a finished run leaves for its summary (cluster.metrics): the state at the end, nothing to mutate."""

    scenario: ClusterScenario
    policy: str
    seed: int
    end_s: float
    auto_until: bool  # the run stopped at its safety bound (no --until or horizon given)
    jobs: list[JobState]
    segments: Any  # pandas.DataFrame, one row per run segment
    pools: dict[str, PoolState]
    services: list[ServiceState]
    queued_jobs: TimeWeightedMonitor
    queued_gpus: TimeWeightedMonitor
    serving: TimeWeightedMonitor
    demand: TimeWeightedMonitor
    interruptions: dict[str, int]  # by cause: failure, maintenance
    preemptions: int
    events: int
