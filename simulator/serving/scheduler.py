"""Iteration-level scheduling of one engine, vLLM-like: decodes first, then partial prefills, then admissions
(Sarathi-Serve chunked prefill, Agrawal et al. 2024); paged KV blocks (Kwon et al. 2023) with preemption by
recompute when a decode needs a block and none is free. Plain functions over the run state (serving.state): no SimPy
here, so a batch decision is tested without a simulation."""

from __future__ import annotations

import math

import numpy as np

from simulator.serving.state import Engine, Queues, Requests

Chunks = list[tuple[int, int]]  # (running slot, prompt tokens it prefills this iteration)


def preempt_newest(e: Engine, req: Requests, q: Queues, now: float) -> None:
    """Preempt the newest running request by recompute: free its blocks, requeue it first (vLLM)."""
    e.n -= 1
    i = e.n
    r = int(e.ids[i])
    e.free += int(e.blk[i])
    req.generated[r] = e.gen[i]
    req.computed[r] = req.shared[r]  # its cached prefix is still in the shared blocks
    req.target[r] = req.prompt[r] + e.gen[i]  # recompute prompt + output so far
    req.preempt[r] += 1
    e.waiting.appendleft(r)
    q.joined(e.idx, now)


def admit_waiting(e: Engine, req: Requests, q: Queues, now: float, budget: int, chunks: Chunks) -> None:
    """FCFS admissions while sequences, tokens and blocks (above the watermark) allow."""
    while e.waiting and e.n < e.max_seqs and budget > 0:
        r = e.waiting[0]
        ctx = int(req.computed[r])
        rest = int(req.target[r]) - ctx
        c = min(rest, budget, e.chunk_cap) if e.chunked else rest
        if c > min(budget, e.chunk_cap):
            break
        total = req.prompt[r] + req.output[r] + e.lookahead if e.reserve else ctx + max(c, 1)
        base = int(req.shared[r]) if e.prefix else 0  # tokens in the engine's shared prefix blocks
        need = int(e.blocks(total - base))
        if need > e.free - e.watermark:
            break
        e.waiting.popleft()
        q.left(e.idx, now)
        e.free -= need
        i = e.n
        e.ids[i], e.ctx[i], e.tgt[i], e.gen[i], e.out[i], e.blk[i] = (
            r, ctx, req.target[r], req.generated[r], req.output[r], need)
        e.base[i] = base
        e.n += 1
        if math.isnan(req.sched_s[r]):
            req.sched_s[r] = now
        if c > 0:
            chunks.append((i, c))
        budget -= max(c, 1)  # a request whose KV arrived (disaggregated) decodes from the next iteration


def _grow_lookahead(e: Engine, req: Requests, q: Queues, now: float, dec: np.ndarray) -> np.ndarray:
    """_grow_decodes for engines whose decodes need more than one new slot (speculative decoding's k lookahead
    tokens, vLLM's num_lookahead_slots) or hold a shared prefix: the blocks each decode's own tokens plus 1 + k need."""
    want = np.where(dec, np.maximum(e.blocks(e.own_tokens(slice(0, e.n)) + 1 + e.lookahead) - e.blk[:e.n], 0), 0)
    total = int(want.sum())
    while total > e.free:
        total -= int(want[e.n - 1])
        preempt_newest(e, req, q, now)
        want = want[:e.n]
    e.blk[:e.n] += want
    e.free -= total
    return dec[:e.n]


def _grow_decodes(e: Engine, req: Requests, q: Queues, now: float, dec: np.ndarray) -> np.ndarray:
    """Give every decode that filled its last block a new one, preempting the newest requests while blocks are
    short (paged admission; reserve-at-admission engines never need this). Returns the decode mask that is left."""
    if e.lookahead or e.prefix:
        return _grow_lookahead(e, req, q, now, dec)
    n = e.n
    # the next token needs a new block (windowed layers capped by the engine: blocks() grows more slowly)
    need = dec & (e.blk[:n] * e.bs <= e.ctx[:n] if e.kv_window is None else e.blocks(e.ctx[:n] + 1) > e.blk[:n])
    n_need = int(np.count_nonzero(need))
    if n_need > e.free:
        while n_need > e.free:
            n_need -= int(need[e.n - 1])
            preempt_newest(e, req, q, now)
            need = need[:e.n]
        n, dec = e.n, dec[:e.n]
    if n_need:
        e.blk[:n] += need
        e.free -= n_need
    return dec


def _continue_prefills(e: Engine, req: Requests, q: Queues, now: float, dec: np.ndarray, budget: int,
                       chunks: Chunks) -> int:
    """Next chunks of running prompts (in admission order) within the token budget; returns the budget left."""
    for i in np.flatnonzero(~dec):
        if budget <= 0 or i >= e.n:
            break
        c = int(min(e.tgt[i] - e.ctx[i], budget, e.chunk_cap))
        own = int(e.ctx[i]) + c - (int(e.base[i]) if e.prefix else 0)
        extra = 0 if e.reserve else max(int(e.blocks(own)) - int(e.blk[i]), 0)
        while extra > e.free and e.n - 1 > i:
            preempt_newest(e, req, q, now)
        if extra > e.free:
            preempt_newest(e, req, q, now)  # it is the newest itself: it waits for blocks
            break
        e.blk[i] += extra
        e.free -= extra
        chunks.append((int(i), c))
        budget -= c
    return budget


def schedule(e: Engine, req: Requests, q: Queues, now: float) -> tuple[np.ndarray, Chunks]:
    """Build one batch: decodes, partial prefills, then admissions (vLLM V1 / Sarathi order); without chunked
    prefill a batch of new prompts runs alone first (vLLM V0 / Orca prefill priority). Returns the decode mask over
    slots 0..len-1 and the prefill chunks as (slot, tokens)."""
    dec, chunks, _ = schedule_counted(e, req, q, now)
    return dec, chunks


def schedule_counted(e: Engine, req: Requests, q: Queues, now: float) -> tuple[np.ndarray, Chunks, int]:
    """schedule, with the number of decodes in the batch."""
    chunks: Chunks = []
    if not e.chunked and e.waiting:
        n0 = e.n
        admit_waiting(e, req, q, now, e.token_cap, chunks)
        if chunks:
            return np.zeros(n0, bool), chunks, 0
    n = e.n
    dec = e.ctx[:n] >= e.tgt[:n]
    if n and not e.reserve:
        dec = _grow_decodes(e, req, q, now, dec)
    n_dec = int(np.count_nonzero(dec))
    budget = e.token_cap - (1 + e.lookahead) * n_dec
    if n_dec < dec.size:  # running prompts to continue (preempting may shorten the running set)
        budget = _continue_prefills(e, req, q, now, dec, budget, chunks)
        dec = dec[:e.n]
        n_dec = int(np.count_nonzero(dec))
    if e.waiting:
        admit_waiting(e, req, q, now, budget, chunks)
    return dec, chunks, n_dec


def _blocks_taken(e: Engine, steps: np.ndarray) -> np.ndarray:
    """Blocks each running slot, all decoding, has taken by the start of each of `steps` (slots x steps):
    _grow_decodes gives a slot a block whenever its cached tokens fill the blocks it holds, one token a step, so by
    step j a slot whose cached tokens pass its blocks by d >= 0 has taken d // block + 1; engines that reserve at
    admission take none. Not for speculative, prefix-caching or windowed-cache engines (_grow_lookahead)."""
    n = e.n
    if e.reserve:
        return np.zeros((n, steps.size), np.int64)
    over = e.ctx[:n, None] + steps[None, :] - (e.blk[:n] * e.bs)[:, None]
    return np.where(over >= 0, over // e.bs + 1, 0)


def decode_run_blocks(e: Engine, k: int) -> np.ndarray:
    """KV blocks the running slots, all decoding, have taken in all by the start of each of their next k steps."""
    return _blocks_taken(e, np.arange(k)).sum(axis=0)


def advance_decodes(e: Engine, k: int) -> None:
    """Apply k decode steps of the running slots, all decoding, none finishing, with the blocks they take."""
    taken = _blocks_taken(e, np.array([k - 1]))[:, 0]
    n = e.n
    e.blk[:n] += taken
    e.free -= int(taken.sum())
    e.ctx[:n] += k
    e.gen[:n] += k


def advance(e: Engine, req: Requests, q: Queues, dec: np.ndarray, chunks: Chunks, t: float,
            tokens: np.ndarray | None = None) -> tuple[list[int], int]:
    """Apply one finished iteration at time t: KV grows, tokens are sampled, finished requests leave the engine and
    prefilled ones leave a prefill engine for decode. `tokens`: with speculative decoding, the tokens each decoding
    slot (in slot order) got from its verify step (at most its remaining output). Returns (requests whose KV cache
    moves to decode, how many requests finished)."""
    m = dec.size
    ctx, gen = e.ctx, e.gen
    if tokens is not None:
        idx = dec.nonzero()[0]
        ctx[idx] += tokens
        gen[idx] += tokens
    elif m:
        ctx[:m] += dec
        gen[:m] += dec
    leaving = []
    for i, c in chunks:
        ctx[i] += c
        if ctx[i] >= e.tgt[i]:
            gen[i] += 1
            r = int(e.ids[i])
            if math.isnan(req.first_s[r]):
                req.first_s[r] = t
            if e.role == "prefill" and gen[i] < e.out[i]:
                leaving.append(i)
    n = e.n
    fin = (gen[:n] >= e.out[:n]) & (ctx[:n] >= e.tgt[:n])
    n_fin = int(np.count_nonzero(fin))
    if leaving:
        gone = fin.copy()
        gone[leaving] = True
    elif n_fin:
        gone = fin
    else:
        return [], 0
    moved = []
    slots = gone.nonzero()[0].tolist()
    for slot in slots:
        r = int(e.ids[slot])
        req.generated[r] = gen[slot]
        if fin[slot]:
            req.done_s[r] = t
        else:  # disaggregated: the KV cache moves to a decode engine
            req.computed[r] = ctx[slot]
            req.target[r] = ctx[slot]
            moved.append(r)
        e.free += int(e.blk[slot])
    e.remove(slots)
    q.outstanding[e.idx] -= len(slots)
    return moved, n_fin
