"""SimPy serving simulation: arrivals, a router over replicas, and an iteration loop per engine.

Each engine (one replica, or one pipeline virtual engine) loops: schedule a batch (serving.scheduler), hold for the
iteration time from `core.inference.IterationCostTable`, then commit tokens; the pp virtual engines of a pipelined
replica share its stages, so each iteration also waits for the micro-batches ahead of it (serving.state.Pipeline).
Prefill/decode disaggregation (Zhong et al. 2024, DistServe; Patel et al. 2024, Splitwise) moves the KV cache to a
decode engine after the first token. One event per iteration, not per token, keeps 10^5 requests fast, and an
engine whose batch nothing can change before the next arrival (open loop, colocated) runs those decode-only steps as one
event with the same result to the last bit (Simulation.leap), so a trickle of requests is fast too. Deterministic
under a seed.
"""

from __future__ import annotations

import numbers
from collections.abc import Generator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import simpy

from simulator import units
from simulator.catalog import load_hardware, load_model
from simulator.core import comm
from simulator.core.hardware import Accelerator
from simulator.core.inference import (
    Deployment,
    IterationCostTable,
    check_deployment,
    context_limit_tokens,
)
from simulator.core.inference.iteration import busiest_group_prefill, lockstep_groups
from simulator.core.inference.memory import kv_bytes_per_seq
from simulator.core.inference.speculative import sample_tokens_per_step, verify_iteration, verify_window_sums
from simulator.core.inference.static import DraftCostTable, replica_memory_plan
from simulator.core.model import TransformerSpec, causal_pairs
from simulator.errors import PlanError, deployment_section, setting
from simulator.limits import (
    MAX_GPUS,
    MAX_REQUESTS,
    MAX_SEED,
    MAX_SIM_SECONDS,
    check_deployment_args,
    check_int,
    check_number,
    check_ref,
)
from simulator.serving import scheduler
from simulator.serving.config import ServingConfig, resolve_draft
from simulator.serving.results import ServingResult, build_result
from simulator.serving.routers import ROUTERS
from simulator.serving.state import Engine, Outcome, Pipeline, Queues, Requests
from simulator.serving.workload import Workload, check_tokens
from simulator.simkit import rng_streams

LEAP_STEPS = 1 << 16  # decode steps one leap runs at most
LEAP_CELLS = 1 << 20  # running slots x steps a leap's block count looks at, at most (8 MiB)


class Simulation:
    """One serving run: the SimPy environment, the engines of each pool, routing and the request life cycle."""

    def __init__(self, model: TransformerSpec, hw: Accelerator, cfg: ServingConfig, wl: Workload, seed: int,
                 concurrency: int | None):
        self.env = simpy.Environment()
        self.cfg, self.wl = cfg, wl
        self.req = Requests(wl)
        rngs = rng_streams(seed, ["router", "speculative"])  # adding a stream leaves the router's draws as they were
        self.rng, self.spec_rng = rngs["router"], rngs["speculative"]
        self.router = ROUTERS[cfg.router]
        self.events = self.resolved = self.issued = 0
        self.done = self.env.event()
        self.concurrency = concurrency
        self.overload_reason = ""
        self.reject_reason = ""  # why the first rejected request could never be served
        self.kv_link, self.kv_model = hw.inter, model
        self.kv_deployment: dict[str, Deployment] = {}  # the deployment whose KV cache a pool's requests hold
        self.engines = self._build_engines(model, hw, cfg)
        # each pool's engines are consecutive (built pool by pool): a slice views their queue lengths without a copy
        roles = [e.role for e in self.engines]
        self.pool = {role: slice(roles.index(role), len(roles) - roles[::-1].index(role)) for role in dict.fromkeys(roles)}
        assert all(set(roles[p]) == {role} for role, p in self.pool.items())
        self.q = Queues(len(self.engines))
        self.counter = {role: 0 for role in self.pool}
        self.entry = "prefill" if cfg.disaggregated else "both"
        # open loop, colocated: nothing but an arrival (or the time limit) changes a busy engine's batch, so its
        # decode-only steps up to the next arrival run as one event (leap); next_arrival_s: when the next one is due
        self.leaps = not cfg.disaggregated and not concurrency
        self.next_arrival_s = 0.0
        self.step_floor: dict[tuple[int, int], float] = {}
        self.limit_s = float("inf") if cfg.max_time_s is None else float(cfg.max_time_s)

    def _build_engines(self, model: TransformerSpec, hw: Accelerator, cfg: ServingConfig) -> list[Engine]:
        """The engines of each pool (colocated, or prefill and decode), each with its share of the KV blocks."""
        pools = ([("prefill", cfg.deployment, cfg.prefill_replicas),
                  ("decode", cfg.decode_deployment or cfg.deployment, cfg.decode_replicas)]
                 if cfg.disaggregated else [("both", cfg.deployment, cfg.replicas)])
        engines: list[Engine] = []
        shared = int(self.req.shared.max()) if self.req.n else 0  # the longest cached prefix: held once per engine
        for role, dep, count in pools:
            section = "decode_deployment" if role == "decode" and cfg.decode_deployment is not None else "deployment"
            with deployment_section(section):
                check_deployment(model, hw, dep)
                tp, precision = setting("tp"), setting("precision")
                draft_model = setting("draft_model", "deployment.speculative")
            mem = replica_memory_plan(model, hw, dep)
            if mem.kv_blocks < 1:
                draft = " and the speculative draft" if dep.speculative is not None else ""
                raise PlanError(f"{model.id} does not fit on {hw.id} with {dep.label()}: weights{draft} "
                                f"{units.human_bytes(mem.weights_bytes_per_gpu)} per GPU leave no room for the KV cache; "
                                f"raise {tp} or use a smaller {precision}" + (f" or {draft_model}" if draft else ""))
            if dep.token_cap < dep.seq_cap:
                raise PlanError(f"max batched tokens {dep.engine_token_cap} must be >= max sequences "
                                f"{dep.engine_seq_cap}")
            k = dep.speculative.k if dep.speculative is not None else 0
            table = IterationCostTable(model, hw, dep, dep.token_cap, dep.seq_cap * (k + 2) if k else dep.seq_cap + 1)
            draft_table = DraftCostTable(model, hw, dep, dep.token_cap, dep.seq_cap + 1) if k else None
            pinned = int(mem.blocks_for(shared)) // dep.pp if shared and role != "decode" else 0
            self.kv_deployment[role] = dep
            for _ in range(count):
                pipe = Pipeline() if dep.pp > 1 else None
                for _v in range(dep.pp):  # PP: one virtual engine per stage, each with 1/pp of the blocks
                    engines.append(Engine(len(engines), role, dep, table, mem.kv_blocks // dep.pp, 0.0, pipe,
                                          draft_table, pinned, model.window_tokens if model.n_window_layers else None,
                                          mem.kv_window))
        return engines

    # ------------------------------------------------------------------ routing and request life cycle
    def admit(self, r: int, role: str) -> None:
        """Route request r to an engine of the pool, or reject it if it can never fit."""
        now = self.env.now
        pool, req, q = self.pool[role], self.req, self.q
        e = self.engines[pool.start + self.router(q.outstanding[pool], q.nwait[pool], self.counter[role], self.rng)]
        self.counter[role] += 1
        need = e.blocks(req.prompt[r] + req.output[r] - (req.shared[r] if e.prefix else 0) + e.lookahead)
        too_long = (not e.chunked) and req.prompt[r] > e.chunk_cap
        if need > e.blocks_total - e.pinned - e.watermark or too_long:
            req.rejected[r] = True
            if not self.reject_reason:
                self.reject_reason = (
                    f"a {req.prompt[r]}-token prompt exceeds the engine's {e.chunk_cap}-token budget per iteration "
                    f"and it has no chunked prefill (raise {setting('max_batched_tokens')})" if too_long else
                    f"{req.prompt[r] + req.output[r]} tokens of one request exceed the KV cache "
                    f"({(e.blocks_total - e.watermark) * e.bs} tokens); raise {setting('tp')} or lower the precision")
            self.resolve()
            return
        req.where[r] = e.idx
        e.waiting.append(r)
        q.outstanding[e.idx] += 1
        q.joined(e.idx, now)
        if self.cfg.max_waiting is not None and q.waiting_total.level > self.cfg.max_waiting:
            self.overload_reason = f"more than {self.cfg.max_waiting} requests waiting at t={now:.1f} s"
            if not self.done.triggered:
                self.done.succeed()
        if e.wake is not None and not e.wake.triggered:
            e.wake.succeed()

    def resolve(self) -> None:
        """One request finished or was rejected; the run ends when every request has."""
        self.resolved += 1
        if self.resolved >= len(self.wl) and not self.done.triggered:
            self.done.succeed()

    def arrivals(self) -> Generator[Any, Any, None]:
        n, role = len(self.wl), self.entry
        if self.concurrency:  # closed loop: `concurrency` users, each sends its next request on completion
            self.issued = min(self.concurrency, n)
            self.req.arrival[:self.issued] = 0.0
            for r in range(self.issued):
                self.admit(r, role)
            return
        for r in range(n):
            self.next_arrival_s = float(self.req.arrival[r])
            gap = self.req.arrival[r] - self.env.now
            if gap > 0:
                yield self.env.timeout(gap)
                self.events += 1
            self.admit(r, role)
        self.next_arrival_s = float("inf")
        yield from ()

    def transfer(self, r: int) -> Generator[Any, Any, None]:
        """Send the prompt's KV cache from the prefill to a decode engine (sendrecv on the scale-out link)."""
        kv_bytes = kv_bytes_per_seq(self.kv_model, self.kv_deployment["prefill"], float(self.req.prompt[r]))
        self.req.shared[r] = 0  # the decode engine holds the whole prompt's KV cache in its own blocks
        yield self.env.timeout(float(comm.sendrecv_s(kv_bytes, self.kv_link)))
        self.events += 1
        self.admit(r, "decode")

    # ------------------------------------------------------------------ one engine
    def engine(self, e: Engine) -> Generator[Any, Any, None]:
        """The iteration loop of one engine: schedule a batch, run it for its iteration time, commit."""
        env = self.env
        can_leap = (self.leaps and e.pipe is None and not e.lookahead and not e.prefix and e.kv_window is None
                    and e.window_tokens is None and e.max_seqs <= min(e.table.max_tokens, e.table.max_logits))
        lockstep = lockstep_groups(e.table.model, e.dep)  # attention groups the busiest of which sets the pace
        while True:
            now = env.now
            if can_leap and e.n and not e.waiting:
                delay = self.leap(e, now)
                if delay > 0.0:
                    yield env.timeout(delay)
                    continue
            dec, chunks, n_dec = scheduler.schedule_counted(e, self.req, self.q, now)
            m = dec.size
            if n_dec == 0 and not chunks:
                e.kv.set(now, e.occupancy())
                if e.n:  # only requests whose KV just arrived: they decode from now on
                    continue
                e.wake = env.event()
                yield e.wake
                self.events += 1
                e.wake = None
                continue
            cached = float(e.ctx[:m].sum() if n_dec == m else e.ctx[:m][dec].sum())
            pt = pairs = prefix = 0.0
            finishing = 0
            for i, c in chunks:
                base = float(e.ctx[i])
                pt += c
                pairs += c * (base + (c + 1) / 2.0)
                prefix += base
                finishing += base + c >= e.tgt[i]
            e.kv.set(now, e.occupancy())
            shape = (int(pt), pairs, prefix, n_dec, cached + n_dec, n_dec + finishing)
            window = self.window_sums(e, dec, n_dec, cached, chunks) if e.window_tokens else None
            extra, sampled = 0.0, None
            if e.lookahead:  # speculative: the verify pass of every decode, and the draft's work
                v = verify_iteration(n_dec, cached, e.lookahead)
                shape = (int(pt + v["prefill_tokens"]), pairs + float(v["prefill_pairs"]), prefix, n_dec,
                         float(v["decode_context_tokens"]), int(v["logits"]) + finishing)
                sampled = n_dec + finishing
                extra = e.draft.iteration_s(int(pt), pairs, prefix, finishing, n_dec, cached) if e.draft else 0.0
            # attention data parallelism with MoE layers: the prompts go to the groups round-robin, the busiest group
            # sets the pace (lockstep_groups; 1: an even share)
            group = None if lockstep == 1 else busiest_group_prefill([c for _, c in chunks], lockstep, e.chunk_cap)
            if e.pipe is None:
                dt = e.table.time_s(*shape, window, group, sampled) + extra
            else:  # a pipelined replica: the micro-batches ahead in its stages delay this one
                latency, stage = e.table.time_and_stage_s(*shape, window, group, sampled)
                dt = e.pipe.step_s(now, latency + extra, stage + extra)
            yield env.timeout(dt)
            self.events += 1
            e.busy_s += dt
            self.commit(e, dec, chunks, env.now)

    def leap(self, e: Engine, now: float) -> float:
        """Run e's next decode-only steps as one event when nothing can change them: every running slot decodes, none
        finishes, its KV blocks fit, and each step ends before the next arrival and the time limit. Applies them
        (tokens, blocks, the KV level at each step's start, busy time, the iteration count) exactly as one event per
        step would, to the last bit of every time, and returns how long they take (0.0: run a normal step)."""
        n, limit = e.n, min(self.next_arrival_s, self.limit_s)
        floor = self.step_floor.get((id(e.table), n))  # a step of n decodes takes at least this (one token each)
        if floor is None:
            floor = self.step_floor[id(e.table), n] = e.table.time_s(0, 0.0, 0.0, n, 2.0 * n, n)
        if limit - now < 2.0 * floor:
            return 0.0
        cached = int(e.ctx[:n].sum())
        # steps only lengthen as the context grows: no more than (limit - now) / first step end before the limit
        k = min((limit - now) / e.table.time_s(0, 0.0, 0.0, n, float(cached) + n, n), LEAP_STEPS, LEAP_CELLS // n)
        if k < 2 or (e.ctx[:n] < e.tgt[:n]).any():
            return 0.0
        k = min(int(k), int((e.out[:n] - e.gen[:n]).min()) - 1)
        if k < 2:
            return 0.0
        dts = e.table.decode_times_s(n, (cached + n * np.arange(k)).astype(float) + n)
        ends = np.cumsum(np.concatenate(([now], dts)))[1:]  # sequential sums: SimPy's now + dt, step after step
        taken = scheduler.decode_run_blocks(e, k)
        k = min(int(np.searchsorted(ends, limit)),  # ends strictly before it
                int(np.searchsorted(taken, e.free, side="right")))  # blocks taken stay within the free ones
        while k >= 2 and now + (ends[k - 1] - now) != ends[k - 1]:  # the event must land on the last step's end
            k -= 1
        if k < 2:
            return 0.0
        starts = np.concatenate(([now], ends[:k - 1]))
        for j in np.flatnonzero(np.diff(taken[:k], prepend=-1)):  # the KV level where it changes (and at the start)
            e.kv.set(float(starts[j]), (e.blocks_total - (e.free - int(taken[j]))) / e.blocks_total)
        scheduler.advance_decodes(e, k)
        e.busy_s = float(np.cumsum(np.concatenate(([e.busy_s], dts[:k])))[-1])
        self.events += k
        return float(ends[k - 1] - now)

    def window_sums(self, e: Engine, dec: np.ndarray, n_dec: int, cached: float,
                    chunks: scheduler.Chunks) -> tuple[float, float, float]:
        """The batch's attention sums on the model's sliding-window layers, sequence by sequence (the table's
        `window`): causal pairs and cached prefix of each chunk capped at the window, each decode's min(ctx + 1, window)
        keys; with speculative decoding the verify pass's (verify_window_sums, from the mean context)."""
        w = e.window_tokens
        assert w is not None  # callers check
        pairs = prefix = 0.0
        for i, c in chunks:
            base = float(e.ctx[i])
            pairs += float(causal_pairs(base, c, w))
            prefix += min(base, w)
        if e.lookahead:
            v = verify_window_sums(e.table.model, n_dec, cached, e.lookahead)
            return pairs + float(v["window_pairs"]), prefix, float(v["window_context_tokens"])
        ctx = np.asarray(e.ctx[:dec.size][dec] if n_dec else e.ctx[:0])
        return pairs, prefix, float(np.minimum(ctx + 1, w).sum())

    def commit(self, e: Engine, dec: np.ndarray, chunks: scheduler.Chunks, t: float) -> None:
        """Apply one finished iteration; start KV transfers; count finished requests (closed loop: send the next)."""
        tokens = None
        if e.lookahead:  # the tokens each decode's verify step yielded, at most what it has left to generate
            idx = np.flatnonzero(dec)
            spec = e.dep.speculative
            assert spec is not None
            tokens = np.minimum(sample_tokens_per_step(self.spec_rng, idx.size, spec.acceptance_rate, spec.k),
                                e.out[idx] - e.gen[idx])
        moved, n_finished = scheduler.advance(e, self.req, self.q, dec, chunks, t, tokens)
        for r in moved:
            self.env.process(self.transfer(r))
        for _ in range(n_finished):
            self.resolve()
            if self.concurrency and self.issued < len(self.wl):
                nxt = self.issued
                self.issued += 1
                self.req.arrival[nxt] = t
                self.admit(nxt, self.entry)

    def outcome(self) -> Outcome:
        return Outcome(self.req, self.engines, self.q.waiting_total, float(self.env.now), self.events,
                       self.overload_reason, self.reject_reason, bool(self.concurrency))


def _check(model: TransformerSpec, config: ServingConfig, workload: Workload,
           concurrency: int | None) -> tuple[ServingConfig, int | None]:
    """Refuse a configuration or workload that cannot run, naming the flag to change; returns the configuration and
    concurrency with their counts as ints (a whole float such as replicas=1.0 passes the checks but is no count)."""
    if not isinstance(config, ServingConfig):
        raise PlanError(f"config must be a ServingConfig (simulator.ServingConfig), got {type(config).__name__}")
    if not isinstance(workload, Workload):
        raise PlanError(f"workload must be a Workload (simulator.make_workload), got {type(workload).__name__}")
    decode = config.decode_deployment
    config = replace(
        config, deployment=check_deployment_args(config.deployment),
        decode_deployment=None if decode is None else check_deployment_args(decode, "decode_deployment"),
        replicas=check_int("replicas", config.replicas, 0, MAX_GPUS),
        prefill_replicas=check_int("prefill_replicas", config.prefill_replicas, 0, MAX_GPUS),
        decode_replicas=check_int("decode_replicas", config.decode_replicas, 0, MAX_GPUS),
        max_waiting=check_int("max_waiting", config.max_waiting, 1, MAX_REQUESTS, allow_none=True))
    concurrency = check_int("concurrency", concurrency, 1, MAX_REQUESTS, allow_none=True)
    check_number("max_time", config.max_time_s, 0, MAX_SIM_SECONDS, low_open=True, allow_none=True)
    for name, target in (("--slo-ttft", config.slo_ttft_s), ("--slo-tpot", config.slo_tpot_s)):
        if isinstance(target, bool) or not isinstance(target, numbers.Real) or not target > 0:  # inf: no target
            raise PlanError(f"{name} must be a positive number of seconds (inf: no target), got {target!r}")
    if not isinstance(config.router, str):
        raise PlanError(f"--router must be a name, got {config.router!r}")
    check_int("requests", len(workload), 1, MAX_REQUESTS)
    check_tokens(float(np.sum(workload.prompt_tokens, dtype=float) + np.sum(workload.output_tokens, dtype=float)))
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
    _check_workload(model, workload)
    return config, concurrency


def _check_workload(model: TransformerSpec, workload: Workload) -> None:
    """Cached prompt tokens within each prompt, every request within the model's context window."""
    if workload.cached_tokens is not None:
        c = np.asarray(workload.cached_tokens)
        if c.shape != workload.prompt_tokens.shape or not ((c >= 0) & (c < workload.prompt_tokens)).all():
            raise PlanError("workload.cached_tokens must give each request 0 to prompt_tokens - 1 cached prompt tokens "
                            "(simulator.make_workload(prefix_hit_rate=...) sets them)")
    limit = context_limit_tokens(model)
    total = workload.prompt_tokens + workload.output_tokens
    if limit is not None and total.size and int(total.max()) > limit:
        i = int(np.argmax(total))
        raise PlanError(f"request {i}: prompt_tokens + output_tokens = {int(total[i])} exceeds the {limit}-token "
                        f"context window of {model.id}; shorten {setting('input_len', '')}/"
                        f"{setting('output_len', '')} or the trace")


def simulate_serving(model: str | Path | TransformerSpec, hw: str | Path | Accelerator, config: ServingConfig,
                     workload: Workload, *, seed: int = 0, concurrency: int | None = None) -> ServingResult:
    """Run the serving simulation to completion (or config.max_time_s / config.max_waiting).

    model, hw: ids, paths or loaded objects. concurrency: closed loop with that many users (arrival times of the
    workload are then ignored).
    """
    check_ref("model", model, (TransformerSpec,))
    check_ref("hardware", hw, (Accelerator,))
    check_int("seed", seed, 0, MAX_SEED)
    model, hw = load_model(model), load_hardware(hw)
    config, concurrency = _check(model, config, workload, concurrency)
    config = replace(config, deployment=resolve_draft(config.deployment),
                     decode_deployment=None if config.decode_deployment is None else
                     resolve_draft(config.decode_deployment))
    sim = Simulation(model, hw, config, workload, seed, concurrency)
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
    return build_result(sim.outcome(), config, seed, hw.id, model)
