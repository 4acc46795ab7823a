"""Training and inference cost over a model's life (`simulator lifecycle`, `simulator.plan_lifecycle`): for a target
quality (a loss, or a reference model and its training tokens), the models of a family on the iso-loss curve of a
published scaling law, each trained by the training planner (the cheapest plan on the training cluster) and served by
the capacity planner (the cheapest fleet that holds the SLO), plus compressed variants; each priced over the
deployment, the cheapest that reaches the target chosen (Sardana et al. 2023, "Beyond Chinchilla-Optimal").

A LifecyclePlanner keeps what does not depend on demand: the training plan of each (model, tokens) and each served
model's deployments with their per-unit SLO rates (lifecycle_fleet.ServingPool), so a sweep over demand costs little
more than one demand point.
"""

from __future__ import annotations

import math
import multiprocessing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from simulator.api.lifecycle_fleet import ServingPool
from simulator.api.lifecycle_fleet import warm as warm_pool
from simulator.api.lifecycle_options import OptionSpec, TrainingPart, build_options
from simulator.api.lifecycle_price import LifecyclePlan, LifecycleSweep, price_option
from simulator.api.training import plan_training
from simulator.catalog import load_hardware, load_model, load_price_book, load_stack
from simulator.catalog.scaling_laws import load_compression_method, load_model_family, load_scaling_law
from simulator.core import cost as cost_mod
from simulator.core.hardware import Accelerator
from simulator.core.model import TransformerSpec
from simulator.core.scaling import ModelFamily, ScalingLaw, predicted_loss
from simulator.errors import BadValueError, PlanError
from simulator.limits import (
    MAX_BATCH,
    MAX_COMPRESSION_METHODS,
    MAX_DEPLOYMENT_MONTHS,
    MAX_GPUS,
    MAX_LIFECYCLE_CANDIDATES,
    MAX_LIFECYCLE_DEMANDS,
    MAX_LOSS_NATS,
    MAX_PROBE_REQUESTS,
    MAX_RATE_PER_S,
    MAX_REQUESTS_PER_DAY,
    MAX_SEED,
    MAX_TOKENS,
    MAX_TOKENS_PER_DAY,
    MAX_TRAIN_TOKENS,
    MAX_WORKERS,
    check_choice,
    check_int,
    check_number,
    check_ref,
)
from simulator.serving.capacity import SLO, CandidateSpace
from simulator.serving.workload import make_workload
from simulator.units import SECONDS_PER_DAY
from simulator.vocab import CANDIDATE_TPS, COST_OPTIONS, ENGINE_NAMES, PRECISIONS

DEFAULT_COMPRESSION = ("fp8", "int4-awq", "distill", "minitron")
DEFAULT_PROBE_REQUESTS = 200  # requests each capacity probe replays (`simulator capacity --requests 200` to compare)


@dataclass(frozen=True)
class Demand:
    """Inference demand: tokens (prompt + output) or requests a day, and the mean request's lengths."""

    input_len: int
    output_len: int
    tokens_per_day: float | None = None
    requests_per_day: float | None = None

    @property
    def tokens_per_request(self) -> int:
        return self.input_len + self.output_len

    @property
    def rate_per_s(self) -> float:
        """Requests per second: requests a day / 86,400 s, or tokens a day / tokens per request / 86,400 s."""
        per_day = self.requests_per_day if self.requests_per_day is not None else (
            float(self.tokens_per_day or 0.0) / self.tokens_per_request)
        return per_day / SECONDS_PER_DAY

    @property
    def daily_tokens(self) -> float:
        return self.rate_per_s * SECONDS_PER_DAY * self.tokens_per_request


def _check_demand(tokens_per_day: Any, requests_per_day: Any, input_len: Any, output_len: Any) -> Demand:
    if (tokens_per_day is None) == (requests_per_day is None):
        raise BadValueError("give the demand as --tokens-per-day or --requests-per-day (one of them)")
    check_number("tokens_per_day", tokens_per_day, 0, MAX_TOKENS_PER_DAY, low_open=True, allow_none=True)
    check_number("requests_per_day", requests_per_day, 0, MAX_REQUESTS_PER_DAY, low_open=True, allow_none=True)
    check_int("input_len", input_len, 1, MAX_TOKENS)
    check_int("output_len", output_len, 1, MAX_TOKENS)
    demand = Demand(int(input_len), int(output_len), tokens_per_day, requests_per_day)
    if demand.rate_per_s > MAX_RATE_PER_S:
        raise BadValueError(f"--tokens-per-day {tokens_per_day:g} is {demand.rate_per_s:.3g} requests/s at "
                            f"{demand.tokens_per_request:,} tokens a request, more than {MAX_RATE_PER_S:g}; give less "
                            "demand or longer requests")
    return demand


@dataclass(frozen=True)
class Quality:
    """The target: a loss under a fit, with where it came from."""

    law: ScalingLaw
    family: ModelFamily
    loss: float
    basis: str


def resolve_quality(scaling_law: Any, family: Any, target_loss: Any, reference_model: Any,
                    reference_tokens: Any) -> Quality:
    """The fit, the family it must cover and the target loss (given, or a reference model's at its tokens); one-line
    BadValueError naming the field otherwise."""
    check_ref("scaling_law", scaling_law, (ScalingLaw,))
    check_ref("family", family, (ModelFamily,))
    law, fam = load_scaling_law(scaling_law), load_model_family(family)
    if fam.id not in law.families:
        raise BadValueError(f"--family {fam.id!r} is not covered by the fit {law.id!r} (it covers "
                            f"{', '.join(law.families)}); choose one of those or pass --scaling-law with a fit file "
                            f"that lists {fam.id}")
    if (target_loss is None) == (reference_model is None):
        raise BadValueError("give the target as --target-loss, or as --reference-model with --reference-tokens")
    if reference_model is not None:
        check_ref("reference_model", reference_model, (TransformerSpec,))
        check_number("reference_tokens", reference_tokens, 0, MAX_TRAIN_TOKENS, low_open=True)
        ref = load_model(reference_model)
        loss = predicted_loss(law, ref.total_params(), float(reference_tokens))
        return Quality(law, fam, loss, f"{ref.id} ({ref.total_params() / 1e9:.2f}B) on {reference_tokens:.3g} tokens")
    loss = float(check_number("target_loss", target_loss, 0, MAX_LOSS_NATS, low_open=True) or 0.0)
    if loss <= law.e_nats:
        raise BadValueError(f"--target-loss {loss:g} is not above the fit's irreducible loss E = {law.e_nats:g} nats "
                            f"({law.id}): no model reaches it; give a target above {law.e_nats:g}")
    return Quality(law, fam, loss, f"loss {loss:g} nats per token")


@dataclass(frozen=True)
class TrainSide:
    hardware: Accelerator
    gpus: int
    global_batch: int
    seq_len: int
    price_book: cost_mod.PriceBook
    purchase: str
    option_kw: dict
    precisions: tuple[str, ...]


@dataclass(frozen=True)
class ServeSide:
    hardware: Accelerator
    engine: str
    price_book: cost_mod.PriceBook
    purchase: str
    slo: SLO
    tps: tuple[int, ...]
    probe_requests: int
    seed: int
    deployment_months: float
    workers: int = 1  # processes that run the serving simulations of different models at once


class LifecyclePlanner:
    """Every option of one lifecycle question, with what does not depend on demand kept between demand points."""

    kind: ClassVar[str] = "lifecycle"

    def __init__(self, quality: Quality, train: TrainSide, serve: ServeSide, candidates: int,
                 methods: Sequence[Any], input_len: int, output_len: int) -> None:
        self.quality, self.train, self.serve = quality, train, serve
        self.input_len, self.output_len = input_len, output_len
        self.methods = [load_compression_method(m) for m in methods]
        self.options: list[OptionSpec] = build_options(quality.law, quality.family, quality.loss, candidates,
                                                       self.methods)
        self._plans: dict[tuple[str, float], dict[str, Any]] = {}
        self._pools: dict[str, ServingPool] = {}
        self.usd_per_gpu_hour = cost_mod.busy_gpu_hour_usd(serve.price_book, serve.hardware, serve.purchase)
        self._workload = make_workload(serve.probe_requests, input_len=input_len, output_len=output_len,
                                       rate_per_s=1.0, seed=serve.seed)

    def training(self, part: TrainingPart) -> dict[str, Any]:
        """The cheapest training plan of the part's model on its tokens (`simulator plan ... --objective cost`), kept
        per (model, tokens); a record with feasible False and the reason when nothing fits."""
        key = (part.model.id, part.tokens)
        if key not in self._plans:
            t = self.train
            priced = math.isfinite(cost_mod.busy_gpu_hour_usd(t.price_book, t.hardware, t.purchase))
            try:
                res = plan_training(part.model, t.hardware, t.gpus, global_batch=t.global_batch, seq_len=t.seq_len,
                                    train_tokens=part.tokens, objective="cost" if priced else "time",
                                    precisions=t.precisions, price_book=t.price_book, purchase=t.purchase,
                                    option_kw=dict(t.option_kw))
                top = res.top(1)
                self._plans[key] = top[0] if top else {
                    "feasible": False, "reason": f"no training plan fits on {t.gpus:,} GPUs ({res.reasons_text()})"}
            except PlanError as exc:
                self._plans[key] = {"feasible": False, "reason": str(exc)}
        return self._plans[key]

    def pool(self, model: TransformerSpec) -> ServingPool:
        """The serving deployments of a model (one pool per model, every precision the options serve at)."""
        if model.id not in self._pools:
            s = self.serve
            precisions = tuple(sorted({o.precision for o in self.options if o.served.id == model.id}))
            space = CandidateSpace(tps=s.tps, precisions=precisions, engine=s.engine)
            self._pools[model.id] = ServingPool(model, s.hardware, s.slo, self._workload, space, self.usd_per_gpu_hour,
                                                self.input_len + self.output_len, s.seed)
        return self._pools[model.id]

    def warm(self, demands: Sequence[Demand], progress: Callable[[int, int], None] | None = None) -> None:
        """Run the serving simulations the demands will need in `workers` processes at once, one job per served model
        and precision, and keep their results (the same runs, in the same order per deployment, as plan() would make
        one by one; a platform without fork runs them in plan())."""
        if self.serve.workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
            return
        pairs = {(o.served.id, o.precision): o.served for o in self.options if not o.reason}
        jobs = []
        for (_, precision), model in pairs.items():
            pool = self.pool(model)
            rates = [d.rate_per_s for d in demands if precision in pool.precisions()
                     and pool.pending(d.rate_per_s, precision)]
            if rates:
                jobs.append((pool, rates, precision))
        if len(jobs) < 2:
            return
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(min(self.serve.workers, len(jobs))) as workers:
            for i, done in enumerate(workers.imap(warm_pool, jobs)):
                self._pools[done.model.id].merge(done)
                if progress is not None:
                    progress(i + 1, len(jobs))

    def plan(self, demand: Demand, progress: Callable[[int, int], None] | None = None) -> LifecyclePlan:
        """Every option priced at one demand, the cheapest that reaches the target chosen."""
        self.warm([demand])
        rows = []
        for i, spec in enumerate(self.options):
            rows.append(price_option(self, spec, demand))
            if progress is not None:
                progress(i + 1, len(self.options))
        return LifecyclePlan.build(self, demand, rows)

    def sweep(self, demands: Iterable[Demand], progress: Callable[[int, int], None] | None = None) -> LifecycleSweep:
        """One plan per demand point (the first point plans the candidates; the others reuse them)."""
        demands = list(demands)
        self.warm(demands)
        plans = []
        for i, d in enumerate(demands):
            plans.append(self.plan(d))
            if progress is not None:
                progress(i + 1, len(demands))
        return LifecycleSweep(plans)

    def inputs(self) -> dict[str, Any]:
        """The question, as the plan's JSON states it."""
        q, t, s = self.quality, self.train, self.serve
        return {"scaling_law": q.law.id, "family": q.family.id, "target_loss": q.loss, "target": q.basis,
                "train_hardware": t.hardware.id, "train_gpus": t.gpus, "global_batch": t.global_batch,
                "seq_len": t.seq_len, "train_price_book": t.price_book.id, "train_purchase": t.purchase,
                "serve_hardware": s.hardware.id, "engine": s.engine, "serve_price_book": s.price_book.id,
                "serve_purchase": s.purchase, "slo_ttft_p99_s": s.slo.ttft_s, "slo_tpot_p99_s": s.slo.tpot_s,
                "input_len": self.input_len, "output_len": self.output_len, "deployment_months": s.deployment_months,
                "probe_requests": s.probe_requests, "seed": s.seed, "tps": list(s.tps),
                "compression": [m.id for m in self.methods]}


def _check_space(candidates: Any, compression: Any, tps: Any, probe_requests: Any, seed: Any,
                 deployment_months: Any, engine: Any) -> None:
    check_int("candidates", candidates, 1, MAX_LIFECYCLE_CANDIDATES)
    if isinstance(compression, (str, Path)) or not isinstance(compression, Iterable):
        raise BadValueError(f"compression must be a list of method ids or paths, got {compression!r}")
    if len(list(compression)) > MAX_COMPRESSION_METHODS:
        raise BadValueError(f"compression lists more than {MAX_COMPRESSION_METHODS} methods")
    for m in compression:
        check_ref("compression", m)
    if isinstance(tps, (str, bytes)) or not isinstance(tps, Iterable) or not list(tps):
        raise BadValueError(f"tps must be a list of tensor-parallel sizes, got {tps!r}")
    for tp in tps:
        check_int("tp", tp, 1, MAX_GPUS)
    check_int("probe_requests", probe_requests, 1, MAX_PROBE_REQUESTS)
    check_int("seed", seed, 0, MAX_SEED)
    check_number("deployment_months", deployment_months, 0, MAX_DEPLOYMENT_MONTHS, low_open=True)
    if not isinstance(engine, str):
        raise BadValueError(f"engine must be an engine name, got {engine!r}")
    check_choice("engine", engine.split("@")[0], ENGINE_NAMES)


def lifecycle_planner(*, target_loss: float | None = None, reference_model: str | Path | TransformerSpec | None = None,
                      reference_tokens: float | None = None, family: str | Path | ModelFamily = "llama3",
                      scaling_law: str | Path | ScalingLaw = "hoffmann2022",
                      train_hardware: str | Path | Accelerator = "h100-sxm-80gb", train_gpus: int = 1024,
                      global_batch: int = 1024, seq_len: int = 4096, train_price_book: Any = None,
                      train_purchase: str = "on_demand", train_precisions: Sequence[str] = ("bf16",),
                      stack: str | Path | None = None, serve_hardware: str | Path | Accelerator = "h100-sxm-80gb",
                      engine: str = "vllm", serve_price_book: Any = None, serve_purchase: str = "on_demand",
                      input_len: int = 1024, output_len: int = 256, slo: SLO | None = None,
                      deployment_months: float = 12.0, candidates: int = 6,
                      compression: Sequence[str | Path] = DEFAULT_COMPRESSION, tps: Sequence[int] = CANDIDATE_TPS,
                      probe_requests: int = DEFAULT_PROBE_REQUESTS, seed: int = 0, workers: int = 1
                      ) -> LifecyclePlanner:
    """A LifecyclePlanner for one question (every argument checked before anything is planned; see plan_lifecycle)."""
    quality = resolve_quality(scaling_law, family, target_loss, reference_model, reference_tokens)
    check_ref("train_hardware", train_hardware, (Accelerator,))
    check_int("global_batch", global_batch, 1, MAX_BATCH)
    check_int("seq_len", seq_len, 1, MAX_TOKENS)
    if train_price_book is not None:
        check_ref("train_price_book", train_price_book, (cost_mod.PriceBook,))
    check_choice("train_purchase", train_purchase, COST_OPTIONS, label="purchase option")
    check_int("train_gpus", train_gpus, 1, MAX_GPUS)
    check_ref("serve_hardware", serve_hardware, (Accelerator,))
    if serve_price_book is not None:
        check_ref("serve_price_book", serve_price_book, (cost_mod.PriceBook,))
    check_choice("serve_purchase", serve_purchase, COST_OPTIONS, label="purchase option")
    for p in train_precisions:
        check_choice("train_precision", p, PRECISIONS)
    check_int("input_len", input_len, 1, MAX_TOKENS)
    check_int("output_len", output_len, 1, MAX_TOKENS)
    _check_space(candidates, compression, tps, probe_requests, seed, deployment_months, engine)
    check_int("workers", workers, 1, MAX_WORKERS)
    if slo is not None and not isinstance(slo, SLO):
        raise BadValueError(f"slo must be an SLO (simulator.SLO), got {type(slo).__name__}")
    if stack is not None:
        check_ref("stack", stack)
        load_stack(stack)  # a bad stack is refused here, not at the first training plan
    train = TrainSide(load_hardware(train_hardware), int(train_gpus), int(global_batch), int(seq_len),
                      load_price_book(train_price_book), train_purchase, {"stack": stack}, tuple(train_precisions))
    serve = ServeSide(load_hardware(serve_hardware), engine, load_price_book(serve_price_book), serve_purchase,
                      slo or SLO(), tuple(int(t) for t in tps), int(probe_requests), int(seed),
                      float(deployment_months), int(workers))
    return LifecyclePlanner(quality, train, serve, int(candidates), list(compression), int(input_len), int(output_len))


def plan_lifecycle(*, tokens_per_day: float | None = None, requests_per_day: float | None = None,
                   progress: Callable[[int, int], None] | None = None, **kw: Any) -> LifecyclePlan:
    """Lifecycle cost of every option at one inference demand, and the cheapest that reaches the target.

    The target is `target_loss` (nats per token under `scaling_law`) or `reference_model` trained on
    `reference_tokens`; `family` generates the candidate shapes; training runs on `train_gpus` x `train_hardware`
    priced by `train_price_book`; serving on `serve_hardware` with `engine` under `slo` for `deployment_months`,
    priced by `serve_price_book`; demand is `tokens_per_day` (prompt + output) or `requests_per_day` of `input_len` +
    `output_len` tokens. `compression` lists compression methods (workloads/scaling_laws/compression/). Raises
    BadValueError (a SimulatorError) naming the argument for a bad value.
    """
    demand = _check_demand(tokens_per_day, requests_per_day, kw.get("input_len", 1024), kw.get("output_len", 256))
    if progress is not None and not callable(progress):
        raise PlanError(f"progress must be a callable or None, got {type(progress).__name__}")
    return lifecycle_planner(**kw).plan(demand, progress)


def lifecycle_sweep(*, tokens_per_day: Sequence[float], progress: Callable[[int, int], None] | None = None,
                    **kw: Any) -> LifecycleSweep:
    """plan_lifecycle at each demand in `tokens_per_day`, the candidates planned once (LifecycleSweep: .plans,
    .to_frame() with every option's total cost per demand, .chosen_frame())."""
    if isinstance(tokens_per_day, (str, bytes)) or not isinstance(tokens_per_day, Iterable):
        raise BadValueError(f"tokens_per_day must be a list of demands, got {tokens_per_day!r}")
    points = list(tokens_per_day)
    if not points or len(points) > MAX_LIFECYCLE_DEMANDS:
        raise BadValueError(f"tokens_per_day lists {len(points):,} demands; give 1 to {MAX_LIFECYCLE_DEMANDS:,}")
    demands = [_check_demand(t, None, kw.get("input_len", 1024), kw.get("output_len", 256)) for t in points]
    return lifecycle_planner(**kw).sweep(demands, progress)
