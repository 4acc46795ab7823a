"""Scheduling decisions for the cluster simulation, as pure functions over frozen views.

The SimPy engine (cluster.queue.JobQueue.schedule) builds a `SchedState` after every event, calls the policy, and applies the
returned `Decision`. Policies never touch SimPy or mutate their inputs, so they are tested on hand-built
states. Placement is gang placement inside one pool: one whole free node per full node's worth of GPUs,
the remainder best-fit on the node with the fewest free GPUs that still has room.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

SERVICE_PRIORITY = 1_000_000  # inference replicas outrank every batch priority


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """A waiting job as the scheduler sees it."""

    job_id: int
    gpus: int
    pools: tuple[str, ...]  # allowed pools, in preference order
    priority: int
    seq: int  # submission order (kept when a job is requeued after a failure or preemption)
    submit_s: float
    remaining_s: float  # estimated run time left (SJF ordering, backfill end estimate)
    whole_nodes: bool = False


@dataclass(frozen=True, slots=True)
class RunningEntry:
    """A running gang (batch job or inference replica)."""

    job_id: int
    gpus: int
    pool: str
    priority: int
    start_s: float
    expected_end_s: float  # inf for inference replicas
    preemptible: bool
    nodes: tuple[tuple[int, int], ...]  # (node index, GPUs held there)


@dataclass(frozen=True, slots=True)
class PoolView:
    """Free capacity of one pool. hist[k] = number of up nodes with exactly k free GPUs."""

    id: str
    gpus_per_node: int
    hist: tuple[int, ...]
    free_by_node: Sequence[int]  # free GPUs per node; down nodes are absent from hist (read-only)
    up: Sequence[bool]
    ends: Sequence[tuple[float, int, int]] = ()  # (expected_end_s, job_id, gpus) of running batch jobs, sorted
    free: int | None = None  # free GPUs on up nodes when the caller knows it (else derived from hist)

    @property
    def free_gpus(self) -> int:
        return self.free if self.free is not None else sum(k * n for k, n in enumerate(self.hist))


@dataclass(frozen=True, slots=True)
class SchedState:
    now_s: float
    queue: Sequence[QueueEntry]  # sorted by QUEUE_ORDER[policy]
    pools: Mapping[str, PoolView]
    running: Mapping[int, RunningEntry]
    max_scan: int = 512  # jobs examined per pass (bounds the cost of a long queue)


@dataclass(frozen=True, slots=True)
class Decision:
    start: tuple[tuple[int, str], ...] = ()  # (job_id, pool id), applied in order
    preempt: tuple[int, ...] = ()  # running job ids to stop first
    again: bool = False  # call the policy again after applying this decision


# ---------------------------------------------------------------- placement on histograms
def gang_shape(gpus: int, gpus_per_node: int, whole_nodes: bool) -> tuple[int, int]:
    """(full nodes, GPUs on one extra partly used node) for a gang; whole_nodes rounds up to full nodes."""
    n_full, rem = divmod(gpus, gpus_per_node)
    if whole_nodes and rem:
        return n_full + 1, 0
    return n_full, rem


def take(hist: list[int], gpus: int, gpus_per_node: int, whole_nodes: bool = False) -> bool:
    """Place one gang on a free-GPU histogram; mutates `hist` and returns True when it fits."""
    n_full, rem = gang_shape(gpus, gpus_per_node, whole_nodes)
    if hist[gpus_per_node] < n_full:
        return False
    if rem:
        for k in range(rem, gpus_per_node + 1):
            if hist[k] - (n_full if k == gpus_per_node else 0) > 0:
                break
        else:
            return False
        hist[k] -= 1
        hist[k - rem] += 1
    hist[gpus_per_node] -= n_full
    hist[0] += n_full
    return True


def fits(hist: Sequence[int], gpus: int, gpus_per_node: int, whole_nodes: bool = False, count: int = 1) -> bool:
    """Whether `count` gangs fit, without mutating the histogram."""
    h = list(hist)
    return all(take(h, gpus, gpus_per_node, whole_nodes) for _ in range(count))


def _first_fit(e: QueueEntry, hists: dict[str, list[int]], pools: Mapping[str, PoolView]) -> str | None:
    for pid in e.pools:
        if take(hists[pid], e.gpus, pools[pid].gpus_per_node, e.whole_nodes):
            return pid
    return None


def choose_victims(pool: PoolView, candidates: Sequence[RunningEntry], gpus: int, whole_nodes: bool = False,
                   count: int = 1) -> tuple[int, ...] | None:
    """Fewest jobs to stop, taken in the order given, so that `count` gangs of `gpus` fit; None if impossible.

    Callers pass candidates lowest priority first, most recently started first (least work lost).
    """
    gpn = pool.gpus_per_node
    hist = list(pool.hist)
    if fits(hist, gpus, gpn, whole_nodes, count):
        return ()
    freed: dict[int, int] = {}
    chosen: list[RunningEntry] = []
    for cand in candidates:
        if cand.pool != pool.id:
            continue
        chosen.append(cand)
        for node, g in cand.nodes:
            if not pool.up[node]:
                continue
            before = pool.free_by_node[node] + freed.get(node, 0)
            freed[node] = freed.get(node, 0) + g
            hist[before] -= 1
            hist[before + g] += 1
        if fits(hist, gpus, gpn, whole_nodes, count):
            return tuple(c.job_id for c in chosen)
    return None


# ---------------------------------------------------------------- policies
def _greedy(state: SchedState, stop_at_first_blocked: bool) -> tuple[list[tuple[int, str]], QueueEntry | None,
                                                                      dict[str, list[int]]]:
    hists = {pid: list(p.hist) for pid, p in state.pools.items()}
    free = sum(p.free_gpus for p in state.pools.values())
    starts: list[tuple[int, str]] = []
    blocked: QueueEntry | None = None
    for i, e in enumerate(state.queue):
        if i >= state.max_scan:
            break
        if free <= 0:  # nothing more can start; the first job left waiting is the blocked one
            blocked = blocked or e
            break
        pid = _first_fit(e, hists, state.pools)
        if pid is not None:
            starts.append((e.job_id, pid))
            free -= e.gpus
        elif blocked is None:
            blocked = e
            if stop_at_first_blocked:
                break
    return starts, blocked, hists


def fifo(state: SchedState) -> Decision:
    """First come, first served: start jobs in submission order; the first one that does not fit blocks
    everything behind it (no reordering)."""
    starts, _, _ = _greedy(state, stop_at_first_blocked=True)
    return Decision(tuple(starts))


def sjf(state: SchedState) -> Decision:
    """Shortest job first (by estimated remaining run time): start every job that fits, shortest first.
    Large jobs may starve under load; use `easy` or `priority` when that matters."""
    starts, _, _ = _greedy(state, stop_at_first_blocked=False)
    return Decision(tuple(starts))


def priority(state: SchedState) -> Decision:
    """Highest priority first (ties by submission). The first job that does not fit preempts preemptible running
    jobs of strictly lower priority (lowest priority, most recently started first) when that makes it fit;
    when nothing can be preempted for it, the jobs behind it that fit start instead (no idle capacity)."""
    starts, blocked, _ = _greedy(state, stop_at_first_blocked=True)
    if blocked is None:
        return Decision(tuple(starts))
    if starts:  # re-plan the blocked job against the exact node state after these starts
        return Decision(tuple(starts), again=True)
    cands = sorted((r for r in state.running.values() if r.preemptible and r.priority < blocked.priority),
                   key=lambda r: (r.priority, -r.start_s, -r.job_id))
    if cands:
        for pid in blocked.pools:
            victims = choose_victims(state.pools[pid], cands, blocked.gpus, blocked.whole_nodes)
            if victims:
                return Decision(((blocked.job_id, pid),), preempt=victims, again=True)
    starts, _, _ = _greedy(state, stop_at_first_blocked=False)
    return Decision(tuple(starts))


def _shadow(e: QueueEntry, pool: PoolView, now_s: float) -> tuple[float, int]:
    """EASY reservation for the blocked head in one pool: the time enough GPUs will be free (running jobs
    ending at their estimates) and the GPUs left over then. Counts GPUs, not node shapes."""
    avail = pool.free_gpus
    if avail >= e.gpus:
        return now_s, avail - e.gpus
    for end_s, _, g in pool.ends:
        avail += g
        if avail >= e.gpus:
            return max(end_s, now_s), avail - e.gpus
    return float("inf"), max(avail - e.gpus, 0)


def easy(state: SchedState) -> Decision:
    """EASY backfilling (Lifka 1995; Mu'alem and Feitelson 2001): FIFO, and when the head is blocked it gets a
    reservation at the earliest time enough GPUs free up; later jobs may start now if they fit and either end
    before that time or use only GPUs the head will not need."""
    hists = {pid: list(p.hist) for pid, p in state.pools.items()}
    starts: list[tuple[int, str]] = []
    res_pool: str | None = None
    shadow_s = extra = 0.0
    now = state.now_s
    for i, e in enumerate(state.queue):
        if i >= state.max_scan:
            break
        if res_pool is None:
            pid = _first_fit(e, hists, state.pools)
            if pid is not None:
                starts.append((e.job_id, pid))
                continue
            best = min(((_shadow(e, state.pools[p], now), p) for p in e.pools), key=lambda t: t[0][0])
            (shadow_s, extra), res_pool = best
            continue
        for pid in e.pools:
            h = hists[pid]
            gpn = state.pools[pid].gpus_per_node
            if pid != res_pool:
                if take(h, e.gpus, gpn, e.whole_nodes):
                    starts.append((e.job_id, pid))
                    break
                continue
            ends_in_time = now + e.remaining_s <= shadow_s
            if not ends_in_time and e.gpus > extra:
                continue
            if take(h, e.gpus, gpn, e.whole_nodes):
                if not ends_in_time:
                    extra -= e.gpus
                starts.append((e.job_id, pid))
                break
    return Decision(tuple(starts))


Policy = Callable[[SchedState], Decision]

POLICIES: dict[str, Policy] = {"fifo": fifo, "sjf": sjf, "priority": priority, "easy": easy}
# The order the engine keeps its queue in, per policy (policies read the queue in this order).
QUEUE_ORDER: dict[str, Callable[[QueueEntry], tuple]] = {
    "fifo": lambda e: (e.seq,),
    "easy": lambda e: (e.seq,),
    "sjf": lambda e: (e.remaining_s, e.seq),
    "priority": lambda e: (-e.priority, e.seq),
}
PREEMPTING_POLICIES = frozenset({"priority"})


def plan_replicas(pool: PoolView, running: Mapping[int, RunningEntry], replicas: int, gpus_per_replica: int
                  ) -> tuple[int, tuple[int, ...]]:
    """How many inference replicas to place and which batch jobs to preempt for them: replicas take free GPUs
    first, then preempt preemptible batch jobs (lowest priority, most recently started first). Returns
    (replicas placeable, victims); fewer replicas than asked means a serving shortfall."""
    gpn = pool.gpus_per_node
    whole = gpus_per_replica >= gpn
    h = list(pool.hist)
    placed = 0
    while placed < replicas and take(h, gpus_per_replica, gpn, whole):
        placed += 1
    if placed == replicas:
        return placed, ()
    cands = sorted((r for r in running.values() if r.preemptible and r.pool == pool.id
                    and r.priority < SERVICE_PRIORITY), key=lambda r: (r.priority, -r.start_s, -r.job_id))
    for n in range(replicas, placed, -1):
        victims = choose_victims(pool, cands, gpus_per_replica, whole, count=n)
        if victims is not None:
            return n, victims
    return placed, ()
