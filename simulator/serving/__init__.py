"""SimPy serving simulation: arrivals, a router over replicas, and vLLM-like iteration-level schedulers.

Each engine (one replica, or one pipeline virtual engine) loops: schedule a batch (running decodes
first, then partial prefills, then new requests under max sequences / max batched tokens / free KV
blocks; Sarathi-Serve chunked prefill, Agrawal et al. 2024), hold for the iteration time from
`inference.IterationCostTable`, then commit tokens. KV blocks are paged (Kwon et al. 2023); when a
decode needs a block and none is free, the newest running request is preempted by recompute (vLLM).
Prefill/decode disaggregation (Zhong et al. 2024, DistServe; Patel et al. 2024, Splitwise) moves the KV
cache to a decode engine after the first token. One event per iteration, not per token, keeps 10^5
requests fast. Deterministic under a seed.
"""

from __future__ import annotations

import math
import numbers
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import simpy

from simulator import units
from simulator.catalog import load_hardware, load_model
from simulator.core import comm, inference
from simulator.core.hardware import Accelerator
from simulator.core.inference import Deployment, IterationCostTable
from simulator.core.model import TransformerSpec
from simulator.errors import DataFileError, PlanError
from simulator.simkit import TimeWeightedMonitor, growth_trend, rng_streams

MIN_OVERLOAD_QUEUE = 8.0  # requests: a queue that ends shorter than this is not called overloaded
# the queue must gain this share of the arrivals across the judged slices, and more than sqrt(arrivals), the
# scale a queue near capacity wanders by at random: stable runs at 85-90 % load gained <= 0.5 %, real overloads
# 2.6 % and up (seeds 0-9, 300-5000 requests, 2026-11-29)
OVERLOAD_GROWTH_SHARE = 0.02


# ----------------------------------------------------------------------------- workloads
SHAREGPT_MEAN_TOKENS = (161.0, 338.0)  # ShareGPT prompt / output means (Kwon et al. 2023, vLLM, sec. 6.1)


@dataclass(frozen=True)
class Workload:
    """Requests to serve: arrival times (s, non-decreasing), prompt and output token counts."""

    arrival_s: np.ndarray
    prompt_tokens: np.ndarray
    output_tokens: np.ndarray

    def __len__(self) -> int:
        return int(self.arrival_s.shape[0])


def check_rate(rate_per_s: float | None) -> float:
    """A request rate must be a positive, finite number of requests per second (one message everywhere)."""
    if (not isinstance(rate_per_s, numbers.Real) or isinstance(rate_per_s, bool)
            or not (rate_per_s > 0 and math.isfinite(rate_per_s))):
        raise PlanError(f"--rate must be a positive, finite number of requests per second, got {rate_per_s!r}")
    return float(rate_per_s)


def arrival_times_s(n: int, process: str, rate_per_s: float | None, rng: np.random.Generator, cv: float = 2.0) -> np.ndarray:
    """Poisson (exponential gaps), gamma (bursty: gaps with coefficient of variation cv; Vidur and
    DistServe use the same) or offline (everything at t = 0, the max-load benchmark)."""
    if process == "offline":
        return np.zeros(n)
    check_rate(rate_per_s)
    if process == "poisson":
        gaps = rng.exponential(1.0 / rate_per_s, n)
    elif process == "gamma":
        if not cv > 0:
            raise PlanError(f"gamma arrival cv must be positive, got {cv!r}")
        shape = 1.0 / cv**2
        gaps = rng.gamma(shape, 1.0 / (rate_per_s * shape), n)
    else:
        raise PlanError(f"arrival process {process!r} is not one of poisson, gamma, offline")
    return np.cumsum(gaps) - gaps[0]


def sample_lengths(n: int, mean: float, dist: str, rng: np.random.Generator, cv: float = 1.0,
                   values: np.ndarray | None = None, low: int = 1, high: int | None = None) -> np.ndarray:
    """Token counts: fixed, lognormal with the given mean and coefficient of variation, or drawn with
    replacement from empirical values. Clipped to [low, high]."""
    if dist == "fixed":
        out = np.full(n, float(mean))
    elif dist == "lognormal":
        if not (cv > 0 and math.isfinite(cv)):
            raise PlanError(f"lognormal length cv (--length-dist lognormal:CV) must be a positive number, got {cv!r}")
        sigma2 = np.log1p(cv**2)
        out = rng.lognormal(np.log(mean) - sigma2 / 2.0, np.sqrt(sigma2), n)
    elif dist == "empirical":
        if values is None or len(values) == 0:
            raise PlanError("empirical lengths need a non-empty list of values")
        out = rng.choice(np.asarray(values, dtype=float), n, replace=True)
    else:
        raise PlanError(f"length distribution {dist!r} is not one of fixed, lognormal, empirical, sharegpt")
    return np.clip(np.rint(out), low, high if high is not None else np.inf).astype(np.int64)


def make_workload(n: int, *, input_len: float, output_len: float, arrival: str = "poisson",
                  rate_per_s: float | None = None, arrival_cv: float = 2.0, length_dist: str = "fixed",
                  length_cv: float = 1.0, empirical: pd.DataFrame | None = None, seed: int = 0) -> Workload:
    """A synthetic workload. length_dist 'sharegpt' is lognormal (cv 1.3) with ShareGPT's means,
    ignoring input_len/output_len; 'empirical' samples the prompt_tokens/output_tokens columns."""
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise PlanError(f"--requests must be a positive integer, got {n!r}")
    for name, v in (("input_len", input_len), ("output_len", output_len)):
        if not v >= 1:
            raise PlanError(f"--{name.replace('_', '-')} must be at least 1 token, got {v!r}")
    rngs = rng_streams(seed, ["arrivals", "prompts", "outputs"])
    arrivals = arrival_times_s(n, arrival, rate_per_s, rngs["arrivals"], arrival_cv)
    if length_dist == "sharegpt":
        p = sample_lengths(n, SHAREGPT_MEAN_TOKENS[0], "lognormal", rngs["prompts"], 1.3, low=4, high=8192)
        o = sample_lengths(n, SHAREGPT_MEAN_TOKENS[1], "lognormal", rngs["outputs"], 1.3, low=4, high=8192)
    elif length_dist == "empirical":
        if empirical is None:
            raise PlanError("--length-dist empirical needs a file: empirical:PATH")
        p = sample_lengths(n, 0, "empirical", rngs["prompts"], values=empirical["prompt_tokens"].to_numpy())
        o = sample_lengths(n, 0, "empirical", rngs["outputs"], values=empirical["output_tokens"].to_numpy())
    else:
        p = sample_lengths(n, input_len, length_dist, rngs["prompts"], length_cv)
        o = sample_lengths(n, output_len, length_dist, rngs["outputs"], length_cv)
    return Workload(arrivals, p, o)


TRACE_COLUMNS = ("arrival_s", "prompt_tokens", "output_tokens")


def read_trace(path: str | Path) -> pd.DataFrame:
    """Read a request trace (CSV or Parquet); errors name the file, the column and the fix."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"trace file {str(path)!r} does not exist")
    try:
        return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as exc:  # pandas raises many parser types
        raise DataFileError(f"{path}: cannot be read as a table ({exc})") from None


def workload_from_trace(df: pd.DataFrame, source: str = "<trace>", need_arrivals: bool = True) -> Workload:
    """Validate a trace table (columns arrival_s, prompt_tokens, output_tokens; times sorted, counts >= 1)."""
    need = TRACE_COLUMNS if need_arrivals else TRACE_COLUMNS[1:]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise DataFileError(f"{source}: missing column(s) {', '.join(missing)}; a trace needs {', '.join(need)} "
                            f"(found: {', '.join(map(str, df.columns))})")
    if len(df) == 0:
        raise DataFileError(f"{source}: has no rows")
    for col in need:
        v = pd.to_numeric(df[col], errors="coerce")
        bad = np.flatnonzero(v.isna().to_numpy() | (v.to_numpy() < (0 if col == "arrival_s" else 1)))
        if bad.size:
            raise DataFileError(f"{source}: column {col} row {int(bad[0])} = {df[col].iloc[bad[0]]!r} is not a "
                                f"{'non-negative time' if col == 'arrival_s' else 'positive token count'}")
    arrivals = df["arrival_s"].to_numpy(float) if need_arrivals else np.zeros(len(df))
    back = np.flatnonzero(np.diff(arrivals) < 0)
    if back.size:
        raise DataFileError(f"{source}: column arrival_s is not sorted (row {int(back[0]) + 1} arrives before "
                            f"row {int(back[0])}); sort the trace by arrival time")
    return Workload(arrivals - arrivals[0], df["prompt_tokens"].to_numpy(np.int64), df["output_tokens"].to_numpy(np.int64))


# ----------------------------------------------------------------------------- routers
def route_round_robin(outstanding: np.ndarray, waiting: np.ndarray, counter: int, rng: np.random.Generator) -> int:
    """Replicas in turn (Vidur 'round_robin')."""
    return counter % len(outstanding)


def route_least_outstanding(outstanding: np.ndarray, waiting: np.ndarray, counter: int, rng: np.random.Generator) -> int:
    """Fewest requests queued or running (Vidur 'lor'); ties broken in turn."""
    order = (np.arange(len(outstanding)) + counter) % len(outstanding)
    return int(order[np.argmin(outstanding[order])])


def route_jsq(outstanding: np.ndarray, waiting: np.ndarray, counter: int, rng: np.random.Generator) -> int:
    """Join the shortest waiting queue (Winston 1977), ties by fewest outstanding, then in turn."""
    order = (np.arange(len(outstanding)) + counter) % len(outstanding)
    key = waiting[order] * (outstanding.max() + 1) + outstanding[order]
    return int(order[np.argmin(key)])


def route_random(outstanding: np.ndarray, waiting: np.ndarray, counter: int, rng: np.random.Generator) -> int:
    return int(rng.integers(len(outstanding)))


ROUTERS: dict[str, Callable[[np.ndarray, np.ndarray, int, np.random.Generator], int]] = {
    "round_robin": route_round_robin, "least_outstanding": route_least_outstanding, "jsq": route_jsq,
    "random": route_random,
}


# ----------------------------------------------------------------------------- configuration
@dataclass(frozen=True)
class ServingConfig:
    """Replicas of one deployment (or a prefill and a decode pool) behind a router, and the SLO."""

    deployment: Deployment = field(default_factory=Deployment)
    replicas: int = 1
    router: str = "least_outstanding"
    prefill_replicas: int = 0  # > 0 with decode_replicas > 0: disaggregated prefill / decode pools
    decode_replicas: int = 0
    decode_deployment: Deployment | None = None  # default: same as `deployment`
    slo_ttft_s: float = float("inf")
    slo_tpot_s: float = float("inf")
    max_time_s: float | None = None  # stop at this simulated time (the run then reports incomplete requests)
    max_waiting: int | None = None  # stop early, reported as overloaded, once this many requests wait

    @property
    def disaggregated(self) -> bool:
        return self.prefill_replicas > 0 and self.decode_replicas > 0

    def gpus(self) -> int:
        if self.disaggregated:
            d = self.decode_deployment or self.deployment
            return self.prefill_replicas * self.deployment.gpus + self.decode_replicas * d.gpus
        return self.replicas * self.deployment.gpus


class _Engine:
    """Mutable state of one engine inside one run (SimPy discipline: state lives only in the run).

    The running set is a struct of arrays in admission order (slots 0..n-1): preemption pops the
    newest slot, finished requests are compressed out, so an iteration costs a few vector operations.
    """

    def __init__(self, idx: int, role: str, dep: Deployment, table: IterationCostTable, blocks: int, now: float):
        prof = dep.profile
        self.idx, self.role, self.dep, self.table = idx, role, dep, table
        self.blocks_total = self.free = blocks
        self.bs = prof.block_size_tokens
        self.watermark = max(int(0.01 * blocks), 1) if prof.admission == "on_demand" else 0
        self.reserve = prof.admission == "reserve_full"
        self.chunked = prof.chunked_prefill
        self.max_seqs, self.token_cap = dep.seq_cap, dep.token_cap
        self.waiting: deque[int] = deque()
        self.n = 0  # running slots; per slot: request id, tokens in the KV cache, prefill target (prompt, or
        # prompt + output so far after a recompute), tokens generated, tokens to generate, KV blocks held
        self.ids, self.ctx, self.tgt, self.gen, self.out, self.blk = (np.zeros(self.max_seqs, np.int64) for _ in range(6))
        self.wake: simpy.Event | None = None
        self.busy_s = 0.0
        self.kv = TimeWeightedMonitor(f"kv_{idx}", now, 0.0)

    def arrays(self):
        return (self.ids, self.ctx, self.tgt, self.gen, self.out, self.blk)

    def occupancy(self) -> float:
        return (self.blocks_total - self.free) / self.blocks_total


class _Sim:
    def __init__(self, model, hw, cfg: ServingConfig, wl: Workload, seed: int, concurrency: int | None):
        self.env = simpy.Environment()
        self.cfg, self.wl, self.model = cfg, wl, model
        n = len(wl)
        self.prompt, self.output = wl.prompt_tokens.astype(np.int64), wl.output_tokens.astype(np.int64)
        self.arrival = wl.arrival_s.astype(float).copy()
        self.computed = np.zeros(n, np.int64)  # KV tokens a waiting request brings (disaggregated decode)
        self.target = self.prompt.copy()
        self.generated = np.zeros(n, np.int64)
        self.first_s, self.done_s, self.sched_s = (np.full(n, np.nan) for _ in range(3))
        self.preempt = np.zeros(n, np.int64)
        self.where = np.full(n, -1, np.int64)
        self.rejected = np.zeros(n, bool)
        self.rng = rng_streams(seed, ["router"])["router"]
        self.router = ROUTERS[cfg.router]
        self.events = self.resolved = self.issued = 0
        self.done = self.env.event()
        self.concurrency = concurrency
        self.waiting_total = TimeWeightedMonitor("waiting", 0.0, 0.0)
        self.overload_reason = ""
        self.reject_reason = ""  # why the first rejected request could never be served
        self.engines: list[_Engine] = []
        pools = ([("prefill", cfg.deployment, cfg.prefill_replicas), ("decode", cfg.decode_deployment or cfg.deployment,
                                                                      cfg.decode_replicas)]
                 if cfg.disaggregated else [("both", cfg.deployment, cfg.replicas)])
        self.kv_link = hw.inter
        self.kv_bytes_token = {}
        for role, dep, count in pools:
            inference.check_deployment(model, hw, dep)
            mem = inference.memory_plan(model, hw, dep)
            if mem.kv_blocks < 1:
                raise PlanError(f"{model.id} does not fit on {hw.id} with {dep.label()}: weights "
                                f"{units.human_bytes(mem.weights_bytes_per_gpu)} per GPU leave no room for the KV cache; "
                                f"raise --tp or use a smaller --precision")
            if dep.token_cap < dep.seq_cap:
                raise PlanError(f"max batched tokens {dep.token_cap} must be >= max sequences {dep.seq_cap}")
            table = IterationCostTable(model, hw, dep, dep.token_cap, dep.seq_cap + 1)
            self.kv_bytes_token[role] = inference.kv_bytes_per_token(model, dep.kv_precision)
            for _ in range(count):
                for _v in range(dep.pp):  # PP: one virtual engine per stage, each with 1/pp of the blocks
                    self.engines.append(_Engine(len(self.engines), role, dep, table, mem.kv_blocks // dep.pp, 0.0))
        self.pool = {role: np.array([e.idx for e in self.engines if e.role == role]) for role, _, _ in pools}
        self.outstanding = np.zeros(len(self.engines), np.int64)
        self.nwait = np.zeros(len(self.engines), np.int64)
        self.counter = {role: 0 for role in self.pool}
        self.entry = "prefill" if cfg.disaggregated else "both"

    # ------------------------------------------------------------------ routing
    def admit(self, r: int, role: str) -> None:
        """Route request r to an engine of the pool, or reject it if it can never fit."""
        now = self.env.now
        pool = self.pool[role]
        e = self.engines[int(pool[self.router(self.outstanding[pool], self.nwait[pool], self.counter[role], self.rng)])]
        self.counter[role] += 1
        need = -(-(self.prompt[r] + self.output[r]) // e.bs)
        too_long = (not e.chunked) and self.prompt[r] > e.token_cap
        if need > e.blocks_total - e.watermark or too_long:
            self.rejected[r] = True
            if not self.reject_reason:
                self.reject_reason = (
                    f"a {self.prompt[r]}-token prompt exceeds the engine's {e.token_cap}-token budget per iteration "
                    "and it has no chunked prefill (raise --max-batched-tokens)" if too_long else
                    f"{self.prompt[r] + self.output[r]} tokens of one request exceed the KV cache "
                    f"({(e.blocks_total - e.watermark) * e.bs} tokens); raise --tp or lower the precision")
            self._resolve()
            return
        self.where[r] = e.idx
        e.waiting.append(r)
        self.outstanding[e.idx] += 1
        self.nwait[e.idx] += 1
        self.waiting_total.add(now, 1)
        if self.cfg.max_waiting is not None and self.waiting_total.level > self.cfg.max_waiting:
            self.overload_reason = f"more than {self.cfg.max_waiting} requests waiting at t={now:.1f} s"
            if not self.done.triggered:
                self.done.succeed()
        if e.wake is not None and not e.wake.triggered:
            e.wake.succeed()

    def _resolve(self) -> None:
        self.resolved += 1
        if self.resolved >= len(self.wl) and not self.done.triggered:
            self.done.succeed()

    def arrivals(self):
        n, role = len(self.wl), self.entry
        if self.concurrency:  # closed loop: `concurrency` users, each sends its next request on completion
            self.issued = min(self.concurrency, n)
            self.arrival[:self.issued] = 0.0
            for r in range(self.issued):
                self.admit(r, role)
            return
        for r in range(n):
            gap = self.arrival[r] - self.env.now
            if gap > 0:
                yield self.env.timeout(gap)
                self.events += 1
            self.admit(r, role)
        yield from ()

    def transfer(self, r: int):
        """Send the prompt's KV cache from the prefill to a decode engine (sendrecv on the scale-out link)."""
        yield self.env.timeout(float(comm.sendrecv_s(self.kv_bytes_token["prefill"] * self.prompt[r], self.kv_link)))
        self.events += 1
        self.admit(r, "decode")

    # ------------------------------------------------------------------ one engine
    def _preempt_newest(self, e: _Engine, now: float) -> None:
        """Preempt the newest running request by recompute: free its blocks, requeue it first (vLLM)."""
        e.n -= 1
        i = e.n
        r = int(e.ids[i])
        e.free += int(e.blk[i])
        self.generated[r] = e.gen[i]
        self.computed[r] = 0
        self.target[r] = self.prompt[r] + e.gen[i]  # recompute prompt + output so far
        self.preempt[r] += 1
        e.waiting.appendleft(r)
        self.nwait[e.idx] += 1
        self.waiting_total.add(now, 1)

    def _admit_waiting(self, e: _Engine, now: float, budget: int, chunks: list) -> None:
        """FCFS admissions while sequences, tokens and blocks (above the watermark) allow."""
        while e.waiting and e.n < e.max_seqs and budget > 0:
            r = e.waiting[0]
            ctx = int(self.computed[r])
            rest = int(self.target[r]) - ctx
            c = min(rest, budget) if e.chunked else rest
            if c > budget:
                break
            total = self.prompt[r] + self.output[r] if e.reserve else ctx + max(c, 1)
            need = int(-(-total // e.bs))
            if need > e.free - e.watermark:
                break
            e.waiting.popleft()
            self.nwait[e.idx] -= 1
            self.waiting_total.add(now, -1)
            e.free -= need
            i = e.n
            e.ids[i], e.ctx[i], e.tgt[i], e.gen[i], e.out[i], e.blk[i] = (
                r, ctx, self.target[r], self.generated[r], self.output[r], need)
            e.n += 1
            if np.isnan(self.sched_s[r]):
                self.sched_s[r] = now
            if c > 0:
                chunks.append((i, c))
            budget -= max(c, 1)  # a request whose KV arrived (disaggregated) decodes from the next iteration

    def schedule(self, e: _Engine, now: float):
        """Build one batch: decodes, partial prefills, then admissions (vLLM V1 / Sarathi order); without
        chunked prefill a batch of new prompts runs alone first (vLLM V0 / Orca prefill priority).
        Returns the decode mask over slots 0..len-1 and the prefill chunks as (slot, tokens)."""
        chunks: list[tuple[int, int]] = []
        if not e.chunked and e.waiting:
            n0 = e.n
            self._admit_waiting(e, now, e.token_cap, chunks)
            if chunks:
                return np.zeros(n0, bool), chunks
        n = e.n
        dec = e.ctx[:n] >= e.tgt[:n]
        if n and not e.reserve:
            need = dec & (e.blk[:n] * e.bs <= e.ctx[:n])
            n_need = int(np.count_nonzero(need))
            while n_need > e.free:
                n_need -= int(need[e.n - 1])
                self._preempt_newest(e, now)
                need = need[:e.n]
            e.blk[:e.n][need] += 1
            e.free -= n_need
            dec = dec[:e.n]
        budget = e.token_cap - int(np.count_nonzero(dec))
        for i in np.flatnonzero(~dec):
            if budget <= 0 or i >= e.n:
                break
            c = int(min(e.tgt[i] - e.ctx[i], budget))
            extra = 0 if e.reserve else max(-(-(int(e.ctx[i]) + c) // e.bs) - int(e.blk[i]), 0)
            while extra > e.free and e.n - 1 > i:
                self._preempt_newest(e, now)
            if extra > e.free:
                self._preempt_newest(e, now)  # it is the newest itself: it waits for blocks
                break
            e.blk[i] += extra
            e.free -= extra
            chunks.append((int(i), c))
            budget -= c
        dec = dec[:e.n]
        self._admit_waiting(e, now, budget, chunks)
        return dec, chunks

    def engine(self, e: _Engine):
        env = self.env
        while True:
            now = env.now
            dec, chunks = self.schedule(e, now)
            m = dec.size
            n_dec = int(np.count_nonzero(dec))
            if n_dec == 0 and not chunks:
                e.kv.set(now, e.occupancy())
                if e.n:  # only requests whose KV just arrived: they decode from now on
                    continue
                e.wake = env.event()
                yield e.wake
                self.events += 1
                e.wake = None
                continue
            ctx = float(e.ctx[:m].sum() if n_dec == m else e.ctx[:m][dec].sum()) + n_dec
            pt = pairs = prefix = 0.0
            finishing = 0
            for i, c in chunks:
                base = float(e.ctx[i])
                pt += c
                pairs += c * (base + (c + 1) / 2.0)
                prefix += base
                finishing += base + c >= e.tgt[i]
            e.kv.set(now, e.occupancy())
            dt = e.table.time_s(int(pt), pairs, prefix, n_dec, ctx, n_dec + finishing)
            yield env.timeout(dt)
            self.events += 1
            e.busy_s += dt
            self.commit(e, dec, chunks, env.now)

    def commit(self, e: _Engine, dec: np.ndarray, chunks: list[tuple[int, int]], t: float) -> None:
        """Apply one finished iteration: KV grows, tokens are sampled, finished requests leave."""
        m = dec.size
        if m:
            if dec.all():
                e.ctx[:m] += 1
                e.gen[:m] += 1
            else:
                e.ctx[:m][dec] += 1
                e.gen[:m][dec] += 1
        leaving = []
        for i, c in chunks:
            e.ctx[i] += c
            if e.ctx[i] >= e.tgt[i]:
                e.gen[i] += 1
                r = int(e.ids[i])
                if np.isnan(self.first_s[r]):
                    self.first_s[r] = t
                if e.role == "prefill" and e.gen[i] < e.out[i]:
                    leaving.append(i)
        n = e.n
        fin = (e.gen[:n] >= e.out[:n]) & (e.ctx[:n] >= e.tgt[:n])
        if leaving:
            gone = fin.copy()
            gone[leaving] = True
        elif fin.any():
            gone = fin
        else:
            return
        for i in np.flatnonzero(gone):
            r = int(e.ids[i])
            self.generated[r] = e.gen[i]
            if fin[i]:
                self.done_s[r] = t
            else:  # disaggregated: the KV cache moves to a decode engine
                self.computed[r] = e.ctx[i]
                self.target[r] = e.ctx[i]
                self.env.process(self.transfer(r))
        e.free += int(e.blk[:n][gone].sum())
        keep = ~gone
        k = int(np.count_nonzero(keep))
        for arr in e.arrays():
            arr[:k] = arr[:n][keep]
        e.n = k
        self.outstanding[e.idx] -= n - k
        for _ in range(int(np.count_nonzero(fin))):
            self._resolve()
            if self.concurrency and self.issued < len(self.wl):
                nxt = self.issued
                self.issued += 1
                self.arrival[nxt] = t
                self.admit(nxt, self.entry)


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class ServingResult:
    """Per-request records, a summary dict (the `simulator serve --json` contract) and time series."""

    summary: dict
    requests: pd.DataFrame
    timeseries: pd.DataFrame

    def to_dict(self) -> dict:
        return dict(self.summary)


def summarize(req: pd.DataFrame, slo_ttft_s: float = float("inf"), slo_tpot_s: float = float("inf")) -> dict:
    """Latency percentiles, throughput and goodput (requests meeting both SLOs per second) from records."""
    ok = req[req["completion_s"].notna()]
    ttft, tpot, e2e = (ok[c].to_numpy(float) for c in ("ttft_s", "tpot_s", "e2e_s"))
    tpot = tpot[~np.isnan(tpot)]
    span = float(ok["completion_s"].max() - req["arrival_s"].min()) if len(ok) else float("nan")
    good = ((ok["ttft_s"] <= slo_ttft_s) & (ok["tpot_s"].fillna(0.0) <= slo_tpot_s)).to_numpy()
    out = {}
    for name, x in (("ttft", ttft), ("tpot", tpot), ("e2e", e2e)):
        out[f"{name}_mean_s"] = float(x.mean()) if x.size else float("nan")
        for q in (50, 90, 99):
            out[f"{name}_p{q}_s"] = float(np.percentile(x, q)) if x.size else float("nan")
    def per_s(amount: float) -> float:
        """A count over the span; nothing completed: zero (NaN only for a single instant with no span)."""
        return float(amount) / span if span > 0 else (0.0 if not len(ok) else float("nan"))

    out.update({
        "requests_completed": int(len(ok)), "requests_total": int(len(req)),
        "requests_rejected": int(req["rejected"].sum()), "preemptions": int(req["preemptions"].sum()),
        "makespan_s": span,
        "throughput_requests_per_s": per_s(len(ok)),
        "throughput_output_tokens_per_s": per_s(ok["output_tokens"].sum()),
        "throughput_total_tokens_per_s": per_s((ok["output_tokens"] + ok["prompt_tokens"]).sum()),
        "slo_attainment": float(good.sum() / len(req)) if len(req) else float("nan"),
        "goodput_requests_per_s": per_s(good.sum()),
    })
    return out


def simulate_serving(model: TransformerSpec, hw: Accelerator, config: ServingConfig, workload: Workload, *,
                     seed: int = 0, concurrency: int | None = None) -> ServingResult:
    """Run the serving simulation to completion (or config.max_time_s / config.max_waiting).

    concurrency: closed loop with that many users (arrival times of the workload are then ignored).
    """
    model, hw = load_model(model), load_hardware(hw)  # ids, paths or loaded objects
    if config.router not in ROUTERS:
        raise PlanError(f"--router {config.router!r} is not one of {', '.join(ROUTERS)}")
    if config.replicas < 1 and not config.disaggregated:
        raise PlanError(f"--replicas must be a positive integer, got {config.replicas!r}")
    if concurrency is not None and concurrency < 1:
        raise PlanError(f"--concurrency must be a positive integer, got {concurrency!r}")
    if config.max_time_s is not None and not config.max_time_s > 0:
        raise PlanError(f"--max-time must be a positive number of seconds, got {config.max_time_s!r}")
    for name, value in (("--max-batch", config.deployment.max_seqs),
                        ("--max-batched-tokens", config.deployment.max_batched_tokens)):
        if value is not None and value < 1:
            raise PlanError(f"{name} must be a positive integer, got {value!r}")
    limit = inference.context_limit_tokens(model)
    total = workload.prompt_tokens + workload.output_tokens
    if limit is not None and total.size and int(total.max()) > limit:
        i = int(np.argmax(total))
        raise PlanError(f"request {i}: prompt_tokens + output_tokens = {int(total[i])} exceeds the {limit}-token "
                        f"context window of {model.id}; shorten --input-len/--output-len or the trace")
    sim = _Sim(model, hw, config, workload, seed, concurrency)
    env = sim.env
    for e in sim.engines:
        env.process(sim.engine(e))
    env.process(sim.arrivals())
    stop = [sim.done]
    if config.max_time_s is not None:
        stop.append(env.timeout(config.max_time_s))
    try:
        env.run(until=env.any_of(stop))
    except (RuntimeError, simpy.core.EmptySchedule):  # nothing left to do: every remaining request is stuck
        pass
    return _result(sim, config, seed)


def _result(sim: _Sim, cfg: ServingConfig, seed: int) -> ServingResult:
    wl = sim.wl
    out = np.maximum(sim.output, 1)
    req = pd.DataFrame({
        "request": np.arange(len(wl)), "engine": sim.where, "arrival_s": sim.arrival,
        "first_scheduled_s": sim.sched_s, "first_token_s": sim.first_s, "completion_s": sim.done_s,
        "prompt_tokens": sim.prompt, "output_tokens": sim.output, "generated_tokens": sim.generated,
        "preemptions": sim.preempt, "rejected": sim.rejected,
    })
    req["ttft_s"] = req["first_token_s"] - req["arrival_s"]
    req["e2e_s"] = req["completion_s"] - req["arrival_s"]
    req["tpot_s"] = np.where(out > 1, (req["completion_s"] - req["first_token_s"]) / (out - 1), np.nan)
    req["scheduling_delay_s"] = req["first_scheduled_s"] - req["arrival_s"]
    s = summarize(req, cfg.slo_ttft_s, cfg.slo_tpot_s)
    end = float(np.nanmax(sim.done_s)) if np.isfinite(sim.done_s).any() else sim.env.now
    start = float(np.min(sim.arrival)) if len(wl) else 0.0
    busy = np.array([e.busy_s for e in sim.engines])
    span = max(end - start, 1e-12)
    kv_mean = [e.kv.mean(start, end) if end > start else 0.0 for e in sim.engines]
    frames = [e.kv.to_frame("kv_occupancy").assign(engine=e.idx, role=e.role) for e in sim.engines]
    incomplete = len(wl) - s["requests_completed"] - s["requests_rejected"]
    reason = sim.overload_reason
    if not reason and incomplete:
        reason = f"{incomplete} requests unfinished at t={sim.env.now:.1f} s (time limit or no progress)"
    last_arrival = float(np.max(sim.arrival)) if len(wl) else 0.0
    if not reason and not sim.concurrency and last_arrival > start:
        # the first slice fills an empty system, so growth is judged from the second slice on: a stable queue
        # levels off there, an overloaded one keeps growing, by a real share of the arrivals in between (a queue
        # near capacity wanders by a few)
        trend = growth_trend(*sim.waiting_total.arrays(), start, last_arrival, 5)[1:]
        judged = 3.0 / 5.0 * len(wl)  # arrivals between the middles of the second and the last slice
        grew = trend[-1] - trend[0] > max(OVERLOAD_GROWTH_SHARE * judged, math.sqrt(judged))
        if np.all(np.diff(trend) > 0) and trend[-1] > MIN_OVERLOAD_QUEUE and grew:
            reason = (f"the waiting queue grew through the arrival window (mean {trend[0]:.0f} -> {trend[-1]:.0f} "
                      f"requests): arrivals exceed the service rate")
    s.update({
        "gpus": cfg.gpus(), "engines": len(sim.engines), "disaggregated": cfg.disaggregated, "router": cfg.router,
        "gpu_busy_fraction": float(busy.mean() / span), "kv_occupancy_mean": float(np.mean(kv_mean)),
        "kv_occupancy_max": float(max(e.kv.maximum() for e in sim.engines)),
        "requests_unfinished": int(incomplete), "overloaded": bool(reason), "overload_reason": reason,
        "rejection_reason": sim.reject_reason,
        "kv_blocks_in_use_at_end": int(sum(e.blocks_total - e.free for e in sim.engines)),
        "sim_events": int(sim.events), "seed": seed,
    })
    return ServingResult(s, req, pd.concat(frames, ignore_index=True))


def with_rate(wl: Workload, rate_per_s: float, seed: int = 0) -> Workload:
    """The same lengths re-timed as a Poisson process at another rate (used by capacity search)."""
    rng = rng_streams(seed, ["arrivals"])["arrivals"]
    return replace(wl, arrival_s=arrival_times_s(len(wl), "poisson", rate_per_s, rng))
