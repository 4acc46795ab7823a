"""Scheduling policies as pure functions, on hand-built states (no SimPy)."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.cluster.policies import (
    POLICIES,
    QUEUE_ORDER,
    SERVICE_PRIORITY,
    PoolView,
    QueueEntry,
    RunningEntry,
    SchedState,
    choose_victims,
    fits,
    plan_replicas,
    take,
)

GPN = 8


def pool(free_by_node, pid="p", ends=(), gpn=GPN):
    hist = [0] * (gpn + 1)
    for f in free_by_node:
        hist[f] += 1
    return PoolView(pid, gpn, tuple(hist), list(free_by_node), [True] * len(free_by_node), list(ends))


def q(job_id, gpus, *, seq=None, prio=0, rem=100.0, pools=("p",), whole=False):
    return QueueEntry(job_id, gpus, pools, prio, job_id if seq is None else seq, 0.0, rem, whole)


def run(job_id, gpus, nodes, *, prio=0, start=0.0, end=math.inf, preemptible=True, pid="p"):
    return RunningEntry(job_id, gpus, pid, prio, start, end, preemptible, tuple(nodes))


def state(queue, pools, running=(), policy="fifo", now=0.0):
    ordered = sorted(queue, key=QUEUE_ORDER[policy])
    return SchedState(now, ordered, {p.id: p for p in pools}, {r.job_id: r for r in running})


def test_take_gang_shapes():
    h = [0, 0, 0, 0, 1, 0, 0, 0, 2]  # one node with 4 free, two fully free
    assert take(h, 12, GPN)  # one full node + 4 on the 4-free node (best fit)
    assert h == [2, 0, 0, 0, 0, 0, 0, 0, 1]
    h = [0, 0, 0, 0, 1, 0, 0, 0, 2]
    assert not take(h, 24, GPN)  # needs three full nodes
    assert h == [0, 0, 0, 0, 1, 0, 0, 0, 2]  # unchanged on failure
    h = [0, 0, 0, 0, 0, 0, 0, 0, 2]
    assert take(h, 12, GPN, whole_nodes=False) and h == [1, 0, 0, 0, 1, 0, 0, 0, 0]
    h = [0, 0, 0, 0, 0, 0, 0, 0, 2]
    assert take(h, 12, GPN, whole_nodes=True) and h == [2, 0, 0, 0, 0, 0, 0, 0, 0]
    # 8 free GPUs spread over two nodes do not hold an 8-GPU gang
    assert not fits([0, 0, 0, 0, 2, 0, 0, 0, 0], 8, GPN)
    assert fits([0, 0, 0, 0, 2, 0, 0, 0, 0], 4, GPN, count=2)


def test_fifo_blocks_behind_the_head_and_sjf_does_not():
    p = pool([8, 0])
    queue = [q(0, 16, rem=10.0), q(1, 1, rem=5.0)]
    assert POLICIES["fifo"](state(queue, [p])).start == ()
    assert POLICIES["sjf"](state(queue, [p], policy="sjf")).start == ((1, "p"),)


def test_sjf_starts_shortest_first():
    p = pool([2])
    queue = [q(0, 2, rem=300.0), q(1, 2, rem=100.0), q(2, 2, rem=200.0)]
    assert POLICIES["sjf"](state(queue, [p], policy="sjf")).start == ((1, "p"),)


def test_fifo_uses_the_first_allowed_pool_that_fits():
    a, b = pool([0], pid="a"), pool([8], pid="b")
    queue = [q(0, 8, pools=("a", "b"))]
    assert POLICIES["fifo"](state(queue, [a, b])).start == ((0, "b"),)


def test_easy_backfills_only_what_does_not_delay_the_head():
    # 8 GPUs free now; a running 8-GPU job ends at t=100, so the 16-GPU head can start at t=100.
    p = pool([8, 0], ends=[(100.0, 9, 8)])
    running = [run(9, 8, [(1, 8)], end=100.0)]
    short = q(1, 8, rem=50.0)  # ends at 50 < 100: backfill
    long = q(2, 8, rem=500.0)  # would hold the head's GPUs past 100: not allowed
    head = q(0, 16)
    assert POLICIES["easy"](state([head, short], [p], running, "easy")).start == ((1, "p"),)
    assert POLICIES["easy"](state([head, long], [p], running, "easy")).start == ()
    # a 16-GPU job ends at t=100: 24 GPUs free then for a 16-GPU head, so an 8-GPU long job fits in the extra 8
    p2 = pool([8, 0, 0], ends=[(100.0, 9, 16)])
    running2 = [run(9, 16, [(1, 8), (2, 8)], end=100.0)]
    assert POLICIES["easy"](state([head, long], [p2], running2, "easy")).start == ((2, "p"),)
    # ... but not two of them: 16 GPUs free now, a 24-GPU head, 32 free at t=100 -> 8 extra GPUs only
    p3 = pool([8, 8, 0, 0], ends=[(100.0, 9, 16)])
    running3 = [run(9, 16, [(2, 8), (3, 8)], end=100.0)]
    queue = [q(0, 24), long, q(3, 8, rem=500.0), q(4, 8, rem=60.0)]
    assert POLICIES["easy"](state(queue, [p3], running3, "easy")).start == ((2, "p"), (4, "p"))


def test_priority_preempts_lowest_priority_most_recent_first():
    p = pool([0, 0])
    running = [run(10, 8, [(0, 8)], prio=1, start=0.0), run(11, 8, [(1, 8)], prio=0, start=5.0)]
    high = q(0, 8, prio=5)
    dec = POLICIES["priority"](state([high], [p], running, "priority"))
    assert dec.preempt == (11,) and dec.start == ((0, "p"),) and dec.again
    # equal priority is never preempted; nor is a non-preemptible job
    same = q(0, 8, prio=0)
    assert POLICIES["priority"](state([same], [p], [run(11, 8, [(1, 8)]), run(10, 8, [(0, 8)], preemptible=False)],
                                      "priority")).preempt == ()


def test_priority_runs_lower_jobs_when_nothing_can_be_preempted():
    p = pool([4])
    queue = [q(0, 8, prio=5), q(1, 4, prio=0)]
    dec = POLICIES["priority"](state(queue, [p], [], "priority"))
    assert dec.start == ((1, "p"),) and dec.preempt == ()


def test_choose_victims_respects_node_shapes():
    # Two nodes with 4 GPUs free each; an 8-GPU gang needs one whole node. Freeing a job on node 0 suffices.
    p = pool([4, 4])
    cands = [run(1, 2, [(1, 2)]), run(2, 4, [(0, 4)])]
    assert choose_victims(p, cands, 8) == (2,) or choose_victims(p, cands, 8) == (1, 2)
    assert choose_victims(p, cands, 8) is not None
    assert choose_victims(p, [run(1, 2, [(1, 2)])], 8) is None
    assert choose_victims(p, cands, 4) == ()


def test_plan_replicas_takes_free_capacity_before_preempting():
    p = pool([8, 0, 0])
    running = {3: run(3, 8, [(1, 8)], prio=0, start=1.0), 4: run(4, 8, [(2, 8)], prio=2, start=2.0)}
    assert plan_replicas(p, running, 1, 8) == (1, ())
    n, victims = plan_replicas(p, running, 2, 8)
    assert n == 2 and victims == (3,)  # the lower-priority job goes first
    running[4] = run(4, 8, [(2, 8)], prio=SERVICE_PRIORITY, preemptible=False)
    assert plan_replicas(p, running, 3, 8) == (2, (3,))  # the third replica cannot be placed


queue_st = st.lists(st.tuples(st.integers(1, 24), st.integers(0, 3), st.floats(1, 1e4), st.booleans()),
                    min_size=0, max_size=12)
nodes_st = st.lists(st.integers(0, GPN), min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(jobs=queue_st, free=nodes_st, policy=st.sampled_from(sorted(POLICIES)))
def test_decisions_fit_and_do_not_mutate(jobs, free, policy):
    p = pool(free)
    queue = [q(i, g, prio=pr, rem=r, whole=w) for i, (g, pr, r, w) in enumerate(jobs)]
    s = state(queue, [p], [], policy)
    before = (tuple(p.hist), list(p.free_by_node), list(s.queue))
    dec = POLICIES[policy](s)
    assert (tuple(p.hist), list(p.free_by_node), list(s.queue)) == before
    ids = [j for j, _ in dec.start]
    assert len(ids) == len(set(ids)) and set(ids) <= {e.job_id for e in queue}
    h = list(p.hist)  # every start fits, applied in order, on the real histogram
    by_id = {e.job_id: e for e in queue}
    assert all(take(h, by_id[j].gpus, GPN, by_id[j].whole_nodes) for j in ids)
