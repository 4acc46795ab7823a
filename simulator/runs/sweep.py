"""Batch scenario sweeps: a grid of scenarios (runs.grid) -> Parquet shards, resumable, local or on Dask.

Results: one row per scenario (`input.<path>` columns, output columns, `error`), written as
`<out>/part-<first id>.parquet` shards as they finish (atomically: temp file, fsync, rename); `--resume` skips
finished shards that read back whole, so a crash, Ctrl-C or SIGTERM loses at most the shards in flight. The folder
is locked while a sweep writes it and its manifest names the grid, so two sweeps never mix their rows. Training
scenarios with a fixed plan are evaluated vectorised, a shard at a time.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.api.training import training_options
from simulator.catalog import load_hardware, load_model, load_price_book
from simulator.core.hardware import Accelerator
from simulator.core.model import TransformerSpec
from simulator.core.plans import PlanGrid, describe_reasons
from simulator.core.training import Stack, evaluate
from simulator.core.training.estimate import PlanArgs, plan_columns
from simulator.core.training.record import plan_record, run_totals
from simulator.core.training.step import plan_reasons
from simulator.errors import DataFileError, SimulatorError
from simulator.results import flatten
from simulator.runs.grid import Grid
from simulator.runs.scenario import run_scenario
from simulator.runs.schema import TrainingScenario
from simulator.runs.store import (  # noqa: F401  (MANIFEST: the folder's manifest name, part of this module's API)
    LOCK,
    MANIFEST,
    SHARD_NAME,
    Shard,
    folder_lock,
    io_error,
    prepare,
    read_manifest,
    read_shard,
    rows_problem,
    shard_path,
    shard_ranges,
    write_atomic,
)
from simulator.runs.workers import Finish, deferred, interrupts, quiet_dask, stop_dask, stop_pool, worker_init
from simulator.vocab import SWEEP_ENGINES


# ------------------------------------------------------------------ evaluation
def _record_row(inputs: dict[str, Any], record: dict[str, Any] | None, error: str) -> dict[str, Any]:
    """One row of the results: the varied inputs, the result with nested parts as dotted columns, the error."""
    return {**inputs, **(flatten(record) if record else {}), "error": error}


def _plan_of(s: TrainingScenario, model: TransformerSpec, hw: Accelerator, stack: Stack) -> dict[str, int]:
    """The plan of one fixed-plan training scenario as PlanGrid columns (PlanError when the arguments fail)."""
    if s.plan is None:
        raise SimulatorError("internal: a batched training scenario has no plan")
    p = PlanArgs(**s.plan.plan_kwargs()).with_defaults(stack)
    stack.check_plan(zero=p.zero or 0, pp=p.pp, pp_schedule=p.pp_schedule, recompute=p.recompute or "",
                     precision=p.precision, cp=p.cp, ep=p.ep, fsdp_shard=p.fsdp_shard)
    return plan_columns(model, hw, s.gpus, p, stack)


def _run_training_batch(items: list[tuple[int, dict[str, Any], dict[str, Any]]]) -> list[dict[str, Any]]:
    """Fixed-plan training scenarios that share model/hardware/batch/options: one vectorised call."""
    s0 = TrainingScenario.model_validate(items[0][1])
    model, hw = load_model(s0.model), load_hardware(s0.hardware)
    options = training_options(s0.seq_len, s0.global_batch, stack=s0.stack, **s0.options.model_dump())
    rows: list[dict[str, Any] | None] = [None] * len(items)
    plans: list[dict[str, int]] = []
    keep: list[int] = []
    uneven: list[bool] = []  # per plan: may its stages hold unequal layer counts (plan.uneven_pp, else options)
    for j, (_, data, inputs) in enumerate(items):
        try:
            s = TrainingScenario.model_validate(data)
            plans.append(_plan_of(s, model, hw, options.stack))
            uneven.append(bool(options.uneven_pp if s.plan is None or s.plan.uneven_pp is None else s.plan.uneven_pp))
            keep.append(j)
        except Exception as exc:  # noqa: BLE001 - recorded in the row, the sweep goes on
            rows[j] = _record_row(inputs, None, str(exc))
    if keep:
        g = PlanGrid.from_columns(**{k: [p[k] for p in plans] for k in plans[0]})
        allow = np.array(uneven)
        resolved = options.resolved(model.dropout)
        structural = np.where(allow, *(plan_reasons(g, model, hw, resolved, flag and resolved.stack.uneven_pp)
                                       for flag in (True, False)))
        # the heaviest-stage rule equals layers / pp wherever the split is even, so one evaluation serves both
        options = replace(options, uneven_pp=bool(allow.any()))
        m = evaluate(model, hw, g, options)
        m.update(run_totals(m, g.gpus.astype(float), hw, s0.train_tokens, load_price_book(s0.price_book),
                            s0.purchase))
        for i, j in enumerate(keep):
            code = int(structural[i])
            rows[j] = (_record_row(items[j][2], None, f"impossible plan: {describe_reasons(code)}") if code
                       else _record_row(items[j][2], _stack_record(plan_record(g, m, i, model, hw), options), ""))
    return [r for r in rows if r is not None]


def _stack_record(rec: dict[str, Any], options: Any) -> dict[str, Any]:
    """A plan record with the sweep's stack fields (id, torch.compile, fp8 recipe)."""
    rec.update(options.stack.record_fields(str(rec["precision"])))
    return rec


def _batch_key(data: dict[str, Any]) -> str | None:
    """Scenarios with the same key can share one vectorised evaluation (training with a fixed plan)."""
    if data.get("kind", "training") != "training" or not isinstance(data.get("plan"), dict):
        return None
    shared = {k: v for k, v in data.items() if k not in ("plan", "gpus", "name")}
    return json.dumps(shared, sort_keys=True, default=str)


def run_shard(grid: Grid, start: int, stop: int) -> pd.DataFrame:
    """Evaluate scenarios [start, stop) of a grid; failures become rows with an `error`."""
    items = [(i, *grid.scenario(i)) for i in range(start, stop)]
    rows: dict[int, dict[str, Any]] = {}
    batches: dict[str, list[tuple[int, dict[str, Any], dict[str, Any]]]] = {}
    for i, data, inputs in items:
        key = _batch_key(data)
        if key is not None:
            batches.setdefault(key, []).append((i, data, inputs))
            continue
        try:
            rows[i] = _record_row(inputs, run_scenario(data), "")
        except Exception as exc:  # noqa: BLE001 - recorded, not raised
            rows[i] = _record_row(inputs, None, str(exc))
    for batch in batches.values():
        try:
            out = _run_training_batch(batch)
        except Exception as exc:  # noqa: BLE001
            out = [_record_row(inputs, None, str(exc)) for _, _, inputs in batch]
        for (i, _, _), row in zip(batch, out, strict=True):
            rows[i] = row
    df = pd.DataFrame([{"scenario_id": i, **rows[i]} for i in range(start, stop)])
    return _normalise(df)


def _normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Stable column types across shards: numbers as float64/int64, everything else as strings."""
    for col in df.columns:
        if col in ("scenario_id",):
            continue
        s = df[col]
        if s.dtype == object:
            # a key some rows lack (error rows) arrives as NaN, not None
            s = s.map(lambda v: None if isinstance(v, float) and v != v else v)
            if s.map(lambda v: v is None or isinstance(v, bool)).all() and s.notna().any():
                df[col] = s.astype("boolean")
            elif s.map(lambda v: v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))).all():
                df[col] = pd.to_numeric(s, errors="coerce").astype(float)
            else:
                df[col] = s.map(lambda v: "" if v is None else str(v))
    return df


# ------------------------------------------------------------------ driver
@dataclass
class SweepReport:
    """What a sweep did; `failures`: each distinct reason a scenario failed with and how many did, most first;
    `repaired`: finished shards that did not read back and were computed again."""

    out: Path
    scenarios: int
    computed: int
    skipped: int
    failed: int
    failures: dict[str, int] = field(default_factory=dict)
    repaired: int = 0


def failure_reasons(out: str | Path) -> dict[str, int]:
    """Reason -> number of scenarios that failed with it, over every finished shard of a sweep, most frequent first."""
    parts = sorted(Path(out).glob("part-*.parquet"))
    if not parts:
        return {}
    errors = pd.concat([read_shard(p, ["error"])["error"] for p in parts], ignore_index=True)
    counts = errors[errors != ""].value_counts()
    return {str(reason): int(n) for reason, n in counts.items()}


def _run_dask(grid: Grid, todo: list[Shard], scheduler: str | None, finish: Finish, workers: int | None) -> None:
    """Shards on a Dask cluster: the one at `scheduler`, or a LocalCluster of `workers` single-threaded processes
    (Dask's default, one per core, when None), whose processes are killed at once on Ctrl-C, SIGTERM or a failure, as
    the process pool's are."""
    from distributed import Client
    from distributed import as_completed as dask_completed

    before = set(multiprocessing.active_children())
    client = None
    with quiet_dask():
        try:
            try:
                if scheduler:
                    client = Client(scheduler, timeout="10s")
                elif workers:
                    client = Client(n_workers=workers, threads_per_worker=1)
                else:
                    client = Client()
            except OSError as exc:
                raise SimulatorError(f"cannot reach the Dask scheduler {scheduler!r} ({exc}); check the address, "
                                     "or drop --scheduler to start a local cluster") from None
            futures = {client.submit(run_shard, grid, a, b, pure=False): (a, b) for a, b in todo}
            for fut in dask_completed(futures):
                a, b = futures[fut]
                finish(a, b, fut.result())
        except BaseException:
            stop_dask(client, set(multiprocessing.active_children()) - before)
            raise
        client.close()


def _run_processes(grid: Grid, todo: list[Shard], workers: int, finish: Finish, out: Path) -> None:
    """Shards on local worker processes, a few queued per worker at a time (not the whole grid)."""
    ctx = multiprocessing.get_context()
    before = set(multiprocessing.active_children())
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=worker_init,
                               initargs=(os.getpid(), ctx.get_start_method()))
    try:
        queue = iter(todo)
        pending: dict[Future[pd.DataFrame], Shard] = {}
        while True:
            for a, b in itertools.islice(queue, 2 * workers - len(pending)):
                with deferred():  # submit may start workers
                    pending[pool.submit(run_shard, grid, a, b)] = (a, b)
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                a, b = pending.pop(fut)
                try:
                    df = fut.result()
                except BrokenProcessPool:
                    raise SimulatorError(f"a worker process ended unexpectedly (killed, or out of memory?); the "
                                         f"finished shards are kept in {out}: rerun with --resume to continue, or "
                                         "with fewer --workers") from None
                finish(a, b, df)
    except BaseException:
        # Ctrl-C, SIGTERM or a failure: stop the workers at once (waiting on them can hang); finished shards are
        # already on disk, so --resume continues from them
        stop_pool(pool, set(multiprocessing.active_children()) - before)
        raise
    pool.shutdown()


def run_sweep(grid: Grid, out: str | Path, *, resume: bool = False, engine: str = "local", workers: int | None = None,
              scheduler: str | None = None, progress: Callable[[int, int], None] | None = None) -> SweepReport:
    """Run a grid, writing shards under `out` as they finish; returns counts (failed = rows with an error).

    The folder is locked while the sweep writes it (a second sweep into it is refused: OutputError); on --resume,
    finished shards that do not read back are computed again; file-system faults raise OutputError.
    workers: local processes; default one for vectorised training grids, one per CPU for simulations (engine dask: the
    LocalCluster's worker processes, Dask's default when None; ignored with a scheduler)."""
    local = workers if workers is not None else (
        1 if grid.kind in ("training", "inference") else max(1, os.cpu_count() or 1))
    if engine not in SWEEP_ENGINES:
        raise SimulatorError(f"engine {engine!r} is not one of {', '.join(SWEEP_ENGINES)}")
    out = Path(out)
    if local < 1:
        raise SimulatorError(f"--workers must be a positive number of processes, got {local}")
    if out.exists() and not out.is_dir():
        raise SimulatorError(f"--out {out} is a file; name a folder for the result shards")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise io_error(exc, f"the folder {out}", out) from None
    with folder_lock(out), interrupts():
        todo = prepare(grid, out, resume)
        repaired = sum(1 for a, _ in todo if shard_path(out, a).exists())
        skipped = len(grid) - sum(b - a for a, b in todo)
        done, failed = skipped, 0
        if progress:
            progress(done, len(grid))

        def finish(start: int, stop: int, df: pd.DataFrame) -> None:
            nonlocal done, failed
            path = shard_path(out, start)
            try:
                write_atomic(path, lambda f: df.to_parquet(f, index=False))
            except OSError as exc:
                raise io_error(exc, f"shard {path}", out) from None
            failed += int((df["error"] != "").sum())
            done += stop - start
            if progress:
                progress(done, len(grid))

        if engine == "dask":
            _run_dask(grid, todo, scheduler, finish, workers)
        elif local > 1 and len(todo) > 1:
            _run_processes(grid, todo, local, finish, out)
        else:
            for a, b in todo:
                finish(a, b, run_shard(grid, a, b))
        reasons = failure_reasons(out) if failed or skipped else {}  # shards finished by an earlier run count too
    return SweepReport(out, len(grid), len(grid) - skipped, skipped, sum(reasons.values()), reasons, repaired)


def read_results(out: str | Path) -> pd.DataFrame:
    """All finished shards of a sweep as one DataFrame, ordered by scenario id; a shard that does not read back or
    holds the wrong rows is named in one line (DataFileError; --resume computes it again)."""
    out = Path(out)
    parts = sorted(out.glob("part-*.parquet"))
    if not parts:
        raise DataFileError(f"{out}: no result shards found")
    manifest = read_manifest(out) or {}
    size, total = manifest.get("shard_size"), manifest.get("scenarios")
    frames = []
    for p in parts:
        df = read_shard(p)
        m = SHARD_NAME.match(p.name)
        start = int(m.group(1)) if m else -1
        if m is None or (isinstance(size, int) and isinstance(total, int) and (start % size or start >= total)):
            raise DataFileError(f"{p}: not a shard of this sweep (shards are part-<first id>.parquet, every "
                                f"{size or '?'} scenarios); move it out of {out}")
        stop = min(start + size, total) if isinstance(size, int) and isinstance(total, int) else start + len(df)
        why = rows_problem(df, start, stop)
        if why:
            raise DataFileError(f"{p}: damaged shard ({why}); rerun the sweep with --resume to recompute it")
        frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    for col in df.columns:  # a shard of error rows alone can store a flag as float: restore booleans
        if df[col].dtype == object:
            vals = df[col].dropna()
            if len(vals) and vals.map(lambda v: isinstance(v, (bool, np.bool_))).all():
                df[col] = df[col].astype("boolean")
    return df.sort_values("scenario_id", kind="stable").reset_index(drop=True)
