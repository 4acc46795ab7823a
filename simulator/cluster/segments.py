"""Run segments of a job, from a start to its end or interruption: placement on nodes, the wall time with restart
overhead, straggling and checkpoint writes (Young/Daly interval by default), and at the end the accounting of
committed work, lost work, checkpoints, GPU-seconds, cost and energy."""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from simulator.cluster.analytic import (
    CHECKPOINT_INTERVALS,
    checkpoints_in_segment,
    job_mtti_s,
    segment_progress,
    segment_wall_s,
)
from simulator.cluster.policies import RunningEntry
from simulator.cluster.spec import ReliabilitySpec
from simulator.cluster.state import JobState, PoolState
from simulator.errors import SimulatorError
from simulator.simkit import RecordList

SEGMENT_COLUMNS = ("job_id", "pool", "gpus", "start_s", "end_s", "reason", "productive_s", "overhead_s",
                   "checkpoint_s", "lost_s", "straggle_s")


class Segments:
    """Starts and stops job segments on pools, keeping `running` (what the policies see) and the segment records."""

    def __init__(self, env: Any, rel: ReliabilitySpec, stragglers: np.random.Generator,
                 running: dict[int, RunningEntry], on_end: Callable[[JobState, int, Any], None]) -> None:
        self.env = env
        self.rel = rel
        self.stragglers = stragglers
        self.running = running
        self.on_end = on_end  # called when a segment's end event fires (with the job's token at its start)
        self.records = RecordList(SEGMENT_COLUMNS)

    def interval_s(self, job: JobState, pool: PoolState, nodes: int) -> float:
        """Compute seconds between checkpoints: the job's own, else the scenario's method on the job's MTTI."""
        s = job.spec
        if s.interval_s is not None:
            return s.interval_s
        method = self.rel.interval_method
        if method == "none":
            return math.inf
        return CHECKPOINT_INTERVALS[method](s.checkpoint_write_s, job_mtti_s(nodes, pool.rate_total))

    def start(self, job: JobState, pool: PoolState) -> None:
        """Place a (dequeued) job on a pool and schedule the end of its failure-free segment."""
        now = self.env.now
        s = job.spec
        nodes = pool.allocate(s.gpus, s.whole_nodes, job.id)
        held = sum(g for _, g in nodes)  # more than s.gpus when whole_nodes rounds up
        work = s.work_s[s.pools.index(pool.id)]
        rem = max((1.0 - job.done_frac) * work, 0.0)
        slow = 1.0
        if self.rel.straggler_probability > 0 and self.stragglers.random() < self.rel.straggler_probability:
            slow += self.rel.straggler_slowdown
        tau = self.interval_s(job, pool, len(nodes))
        wall = segment_wall_s(job.pending_overhead, rem, slow, tau, s.checkpoint_write_s)
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
        self.env.timeout(wall).callbacks.append(partial(self.on_end, job, job.token))

    def _progress(self, job: JobState, reason: str, keep_partial: bool) -> tuple[float, float, float, float]:
        """(committed work s, overhead s, checkpoint-write s, lost s) of the segment ending now."""
        s = job.spec
        if reason == "completed":
            written = checkpoints_in_segment(job.seg_rem, job.seg_tau) * s.checkpoint_write_s
            return job.seg_rem, job.seg_over, written, 0.0
        return segment_progress(self.env.now - job.seg_start, job.seg_over, job.seg_rem, job.seg_slow, job.seg_tau,
                                s.checkpoint_write_s, keep_partial)

    def stop(self, job: JobState, reason: str, keep_partial: bool) -> None:
        """Close the running segment: account its time, record it, release the nodes (not at the horizon)."""
        now = self.env.now
        pool = job.seg_pool
        if pool is None:
            raise SimulatorError(f"internal: job {job.id} stopped while not running")
        committed, over, written, lost = self._progress(job, reason, keep_partial)
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
        self.records.append(job.id, pool.id, held, job.seg_start, now, reason, committed, over, written, lost,
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
