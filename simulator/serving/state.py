"""The mutable state of one serving run (SimPy discipline: it lives only inside the run): per-request arrays, the
waiting queues, and each engine's running set and KV blocks."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulator.core.inference import Deployment, IterationCostTable, pipelined_step_s
from simulator.core.inference.memory import seq_blocks
from simulator.core.inference.static import DraftCostTable
from simulator.serving.workload import Workload
from simulator.simkit import TimeWeightedMonitor


class Requests:
    """Per-request arrays: lengths, progress (KV tokens brought, prefill target, tokens generated) and timestamps."""

    def __init__(self, wl: Workload) -> None:
        n = len(wl)
        self.n = n
        self.prompt, self.output = wl.prompt_tokens.astype(np.int64), wl.output_tokens.astype(np.int64)
        self.arrival = wl.arrival_s.astype(float).copy()
        # prompt tokens served from the prefix cache (shared blocks the engine holds, not the request)
        self.shared = (np.zeros(n, np.int64) if wl.cached_tokens is None
                       else np.asarray(wl.cached_tokens, dtype=np.int64).copy())
        self.cached = self.shared.copy()  # as the workload gave them (shared changes when a KV cache moves)
        self.computed = self.shared.copy()  # KV tokens a waiting request brings: its cached prefix, or (disaggregated
        #                                     decode) the prompt's KV cache
        self.target = self.prompt.copy()
        self.generated = np.zeros(n, np.int64)
        self.first_s, self.done_s, self.sched_s = (np.full(n, np.nan) for _ in range(3))
        self.preempt = np.zeros(n, np.int64)
        self.where = np.full(n, -1, np.int64)
        self.rejected = np.zeros(n, bool)


class Queues:
    """Requests waiting per engine and outstanding (waiting or running) per engine, and the total waiting level."""

    def __init__(self, n_engines: int) -> None:
        self.waiting_total = TimeWeightedMonitor("waiting", 0.0, 0.0)
        self.nwait = np.zeros(n_engines, np.int64)
        self.outstanding = np.zeros(n_engines, np.int64)

    def joined(self, engine: int, now: float) -> None:
        self.nwait[engine] += 1
        self.waiting_total.add(now, 1)

    def left(self, engine: int, now: float) -> None:
        self.nwait[engine] -= 1
        self.waiting_total.add(now, -1)


class Pipeline:
    """One pipelined replica that its pp virtual engines share: when the micro-batch last let in leaves it."""

    def __init__(self) -> None:
        self.free_s = 0.0

    def step_s(self, now: float, latency_s: float, stage_s: float) -> float:
        """Let in one iteration at `now`: its duration, waiting for the busiest-stage work still ahead of it
        (core.inference.pipelined_step_s; micro-batches leave in the order they entered)."""
        dt = float(pipelined_step_s(latency_s, stage_s, max(self.free_s - now, 0.0)))
        self.free_s = now + dt
        return dt


class Engine:
    """One engine (a replica, or one pipeline virtual engine): its waiting queue, KV blocks and running set.

    The running set is a struct of arrays in admission order (slots 0..n-1): preemption pops the
    newest slot, finished requests are compressed out, so an iteration costs a few vector operations.
    """

    def __init__(self, idx: int, role: str, dep: Deployment, table: IterationCostTable, blocks: int, now: float,
                 pipe: Pipeline | None = None, draft: DraftCostTable | None = None, pinned_blocks: int = 0,
                 window_tokens: int | None = None, kv_window: tuple[int, float, float] | None = None):
        prof = dep.profile
        self.idx, self.role, self.dep, self.table = idx, role, dep, table
        self.pipe = pipe  # shared by the pp virtual engines of a pipelined replica; None when pp = 1
        self.blocks_total = self.free = blocks
        self.bs = prof.block_size_tokens
        # sliding-window attention: the window its windowed layers attend to (None: every layer full), and when the
        # engine caps their cache at it, the memory plan's kv_window (seq_blocks)
        self.window_tokens = window_tokens
        self.kv_window = kv_window
        # the blocks an on-demand scheduler keeps free at admission: the engine version's own watermark (vLLM V0 kept
        # 1%, V1 none; workloads/engines), at least one block when it keeps any
        frac = prof.kv_watermark_fraction if prof.admission == "on_demand" else 0.0
        self.watermark = max(int(frac * blocks), 1) if frac > 0 else 0
        self.reserve = prof.admission == "reserve_full"
        self.chunked = prof.chunked_prefill
        self.max_seqs, self.token_cap = dep.seq_cap, dep.token_cap
        # one request runs on one attention group: its chunk is bounded by one group's share of the budget (the
        # engine's own figure where it schedules per group; SGLang divides its chunked_prefill_size by dp_size)
        self.chunk_cap = max(1, dep.token_cap // dep.dp_attention)
        # speculative decoding: the draft's cost per iteration and the k tokens each decode verifies beyond its own
        self.draft = draft
        self.lookahead = dep.speculative.k if dep.speculative is not None else 0
        # prefix caching: blocks of the shared prefix, held by the engine for every request that hits it
        self.pinned = int(pinned_blocks)
        self.prefix = self.pinned > 0
        self.free -= self.pinned
        self.waiting: deque[int] = deque()
        self.n = 0  # running slots; per slot: request id, tokens in the KV cache, prefill target (prompt, or
        # prompt + output so far after a recompute), tokens generated, tokens to generate, KV blocks held
        # and (prefix caching) its tokens in the shared prefix blocks: the rows of one array, so that closing the gaps
        # requests leave moves every row at once
        self._slots = np.zeros((7, self.max_seqs), np.int64)
        self.ids, self.ctx, self.tgt, self.gen, self.out, self.blk, self.base = self._slots
        self.wake: Any = None  # the SimPy event an idle engine waits on
        self.busy_s = 0.0
        self.kv = TimeWeightedMonitor(f"kv_{idx}", now, 0.0)

    def remove(self, slots: list[int]) -> None:
        """Take the running slots `slots` (ascending) out of the running set; the others keep their order."""
        rows, n = self._slots, self.n
        at = slots[0]
        for lo, hi in zip(slots, slots[1:] + [n], strict=True):  # move each run of kept slots down
            rows[:, at:at + hi - lo - 1] = rows[:, lo + 1:hi]
            at += hi - lo - 1
        self.n = at

    def blocks(self, tokens):
        """KV blocks a sequence of `tokens` own tokens holds: the memory plan's count (seq_blocks)."""
        if self.kv_window is None:
            return -(-tokens // self.bs)
        return seq_blocks(tokens, self.bs, self.kv_window)

    def own_tokens(self, slots) -> np.ndarray:
        """KV tokens the running slots hold in their own blocks (the shared prefix blocks are the engine's)."""
        return self.ctx[slots] - self.base[slots] if self.prefix else self.ctx[slots]

    def occupancy(self) -> float:
        return (self.blocks_total - self.free) / self.blocks_total


@dataclass(frozen=True)
class Outcome:
    """What a finished run leaves for its summary (serving.results)."""

    req: Requests
    engines: list[Engine]
    waiting: TimeWeightedMonitor  # total requests waiting, over time
    end_s: float  # the simulated time the run stopped at
    events: int
    overload_reason: str  # set when the run stopped early on its waiting bound
    reject_reason: str
    closed_loop: bool
