"""The job queue of a cluster run and the scheduling pass: keep the queue in the policy's order, ask the pure
policy (cluster.policies) for a decision over frozen views, and hand its starts and preemptions to the run."""

from __future__ import annotations

import bisect
from collections.abc import Callable

from simulator.cluster.policies import POLICIES, PREEMPTING_POLICIES, QUEUE_ORDER, QueueEntry, RunningEntry, SchedState
from simulator.cluster.state import JobState, PoolState
from simulator.errors import SimulatorError
from simulator.simkit import TimeWeightedMonitor


class JobQueue:
    """Waiting jobs in the policy's order, the monitors of their count and GPUs, and the scheduling pass."""

    def __init__(self, policy: str, max_scan: int) -> None:
        if policy not in POLICIES:
            raise SimulatorError(f"unknown scheduling policy {policy!r}; choose one of {', '.join(POLICIES)}")
        self.policy = POLICIES[policy]
        self.order = QUEUE_ORDER[policy]
        self.preempting = policy in PREEMPTING_POLICIES
        self.max_scan = max_scan
        self.entries: list[QueueEntry] = []
        self.queued_jobs = TimeWeightedMonitor("queued_jobs")
        self.queued_gpus = TimeWeightedMonitor("queued_gpus")
        self._in_pass = False

    def enqueue(self, job: JobState, now: float) -> None:
        """Queue a job (new, or back after a failure or preemption) with its remaining work as the estimate."""
        s = job.spec
        rem = (1.0 - job.done_frac) * s.work_s[0] + job.pending_overhead
        job.entry = QueueEntry(job.id, s.gpus, s.pools, s.priority, job.seq, s.submit_s, rem, s.whole_nodes)
        bisect.insort(self.entries, job.entry, key=self.order)
        job.status = "queued"
        job.queued_at = now
        self.queued_jobs.add(now, 1)
        self.queued_gpus.add(now, s.gpus)

    def dequeue(self, job: JobState, now: float) -> None:
        entry = job.entry
        if entry is None:
            raise SimulatorError(f"internal: job {job.id} is not queued")
        i = bisect.bisect_left(self.entries, self.order(entry), key=self.order)
        if i >= len(self.entries) or self.entries[i] is not entry:
            raise SimulatorError(f"internal: job {job.id} missing from the queue")
        del self.entries[i]
        job.entry = None
        self.queued_jobs.add(now, -1)
        self.queued_gpus.add(now, -job.spec.gpus)

    def schedule(self, now: float, pools: dict[str, PoolState], running: dict[int, RunningEntry],
                 preempt: Callable[[int], None], start: Callable[[int, str], None]) -> None:
        """Apply the policy's decisions until it has nothing more to do (a pass started from inside a pass, by a
        preemption or start it caused, is folded into the running one)."""
        if self._in_pass or not self.entries:
            return
        self._in_pass = True
        try:
            while self.entries:
                if not self.preempting and not any(p.free_total for p in pools.values()):
                    break
                views = {pid: p.view() for pid, p in pools.items()}
                dec = self.policy(SchedState(now, self.entries, views, running, self.max_scan))
                for jid in dec.preempt:
                    preempt(jid)
                for jid, pid in dec.start:
                    start(jid, pid)
                if not dec.again:
                    break
        finally:
            self._in_pass = False
