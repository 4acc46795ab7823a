"""Batch scenario sweeps: a grid of scenarios (runs.grid) -> Parquet shards, resumable, local or on Dask.

Results: one row per scenario (`input.<path>` columns, output columns, `error`), written as
`<out>/part-<first id>.parquet` shards as they finish (atomically: temp file, fsync, rename); `--resume` skips
finished shards that read back whole, so a crash, Ctrl-C or SIGTERM loses at most the shards in flight. The folder
is locked while a sweep writes it and its manifest names the grid, so two sweeps never mix their rows. Training
scenarios with a fixed plan are evaluated vectorised, a shard at a time.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import itertools
import json
import multiprocessing
import os
import re
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

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
from simulator.errors import DataFileError, OutputError, SimulatorError
from simulator.results import flatten
from simulator.runs.grid import Grid
from simulator.runs.scenario import run_scenario
from simulator.runs.schema import TrainingScenario
from simulator.vocab import SWEEP_ENGINES

MANIFEST = "_sweep.json"

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


# ------------------------------------------------------------------ the output folder
# <out>/_sweep.json: the grid's identity, written (under the lock) before any shard and checked on --resume.
# <out>/_sweep.lock: held with an OS lock while a sweep writes the folder; the OS drops it when the process ends,
# however it ends (flock on Linux/macOS, msvcrt.locking on Windows). The file itself stays.
LOCK = "_sweep.lock"
# Temp files a sweep writes are named `.<final name>.<pid>-<8 hex>.tmp`: only names of this form are ever removed.
_TEMP = re.compile(r"^\.(part-\d{10}\.parquet|_sweep\.json)\.\d+-[0-9a-f]{8}\.tmp$")
_SHARD = re.compile(r"^part-(\d{10})\.parquet$")
_HELD_LOCKS: set[int] = set()  # descriptors of the folder locks this process holds
Shard = tuple[int, int]  # scenario ids [start, stop)


def _shards(n: int, size: int) -> list[tuple[int, int]]:
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def _shard_path(out: Path, start: int) -> Path:
    return out / f"part-{start:010d}.parquet"


def _io_error(exc: OSError, what: str, out: Path) -> OutputError:
    """A file-system fault as one line: what could not be written, why, and how to go on."""
    code = exc.errno
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        fix = "free some disk space"
    elif code in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = f"make {out} writable or choose another --out"
    elif code in (errno.ENOENT, errno.ENOTDIR):
        fix = f"check that {out} is a folder that exists (it may have been removed)"
    else:
        fix = f"check {out}"
    return OutputError(f"cannot write {what} ({exc.strerror or exc}); {fix}, then rerun with --resume to continue "
                       "from the finished shards")


def _write_atomic(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write a file whole or not at all: a temp file of this sweep's own (exclusive create), fsync, os.replace."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if os.name == "posix":  # the rename itself survives a power cut once the folder is synced
        with contextlib.suppress(OSError):
            fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
else:
    import fcntl

    def _try_lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _forget_locks() -> None:
    """In a forked worker: drop the inherited copy of the folder lock, so the lock is the sweep process's alone."""
    for fd in _HELD_LOCKS:
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD_LOCKS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_locks)


@contextlib.contextmanager
def _folder_lock(out: Path) -> Iterator[None]:
    """Hold <out>/_sweep.lock exclusively, or refuse at once in one line when another sweep holds it."""
    path = out / LOCK
    cloexec = getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | cloexec, 0o644)
    except OSError as exc:
        try:  # a read-only file system: an existing lock file still locks (a finished sweep resumes to nothing)
            fd = os.open(path, os.O_RDONLY | cloexec)
        except OSError:
            raise _io_error(exc, f"the lock file {path}", out) from None
    try:
        _try_lock(fd)
    except OSError:
        holder = ""
        with contextlib.suppress(OSError, ValueError):
            holder = f" (process {int(os.read(fd, 32).decode() or 'x')})"
        os.close(fd)
        raise OutputError(f"{out} is being written by another sweep{holder}; wait for it to finish (and --resume "
                          "it if it is the same grid), or choose another --out") from None
    _HELD_LOCKS.add(fd)
    try:
        with contextlib.suppress(OSError):  # who holds it, for the refusal above
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        _HELD_LOCKS.discard(fd)
        os.close(fd)  # releases the lock


def _read_manifest(out: Path) -> dict[str, Any] | None:
    """The manifest of a sweep folder; None when it is missing or does not read back."""
    try:
        data = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _rows_problem(df: pd.DataFrame, start: int, stop: int) -> str | None:
    """Why the rows of a shard are not scenarios [start, stop), or None."""
    if "scenario_id" not in df.columns or "error" not in df.columns:
        return "it has no scenario_id or error column"
    if len(df) != stop - start:
        return f"{len(df)} rows where scenarios {start}-{stop - 1} need {stop - start}"
    if not np.array_equal(df["scenario_id"].to_numpy(), np.arange(start, stop)):
        return f"its scenario ids are not {start}-{stop - 1}"
    return None


def _shard_problem(path: Path, start: int, stop: int) -> str | None:
    """Why a finished shard cannot be kept (truncated, empty, wrong rows), or None."""
    try:
        df = pd.read_parquet(path, columns=["scenario_id", "error"])
    except Exception as exc:  # noqa: BLE001 - any failure to read back means recompute
        return f"does not read back: {_first_line(exc)}"
    return _rows_problem(df, start, stop)


def _prepare(grid: Grid, out: Path, resume: bool) -> list[Shard]:
    """With the folder locked: check that its shards are this grid's (manifest), write the manifest before any
    shard, remove this sweep's stale temp files, and list the shards to compute (missing or damaged)."""
    manifest = {"digest": grid.digest(), "scenarios": len(grid), "shard_size": grid.shard_size, "kind": grid.kind}
    try:
        names = set(os.listdir(out))
    except OSError as exc:
        raise _io_error(exc, f"the folder {out}", out) from None
    old = _read_manifest(out)
    if any(_SHARD.match(n) for n in names):
        if not resume:
            raise SimulatorError(f"{out} already holds results; pass --resume to continue it or choose a new --out")
        if old is None:
            raise SimulatorError(f"{out} holds shards but no readable {MANIFEST}, so they cannot be matched to this "
                                 "grid; choose a new --out")
        if old.get("digest") != manifest["digest"] or old.get("shard_size") != manifest["shard_size"]:
            raise SimulatorError(f"{out} was written by a different grid; resume only the same grid file")
    try:
        if old != manifest:  # a finished sweep in a folder since made read-only still resumes (to nothing)
            _write_atomic(out / MANIFEST, lambda f: f.write(json.dumps(manifest, indent=2).encode()))
    except OSError as exc:
        raise _io_error(exc, f"the manifest {out / MANIFEST}", out) from None
    for stale in (n for n in names if _TEMP.match(n)):  # left by a sweep of this folder that was killed
        with contextlib.suppress(OSError):
            (out / stale).unlink()
    return [(a, b) for a, b in _shards(len(grid), grid.shard_size)
            if _shard_path(out, a).name not in names or _shard_problem(_shard_path(out, a), a, b)]


def _read_shard(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    try:
        return pd.read_parquet(path, columns=columns)
    except Exception as exc:  # noqa: BLE001 - named in one line
        raise DataFileError(f"{path}: damaged shard (does not read back: {_first_line(exc)}); rerun the sweep with "
                            "--resume to recompute it") from None


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
    errors = pd.concat([_read_shard(p, ["error"])["error"] for p in parts], ignore_index=True)
    counts = errors[errors != ""].value_counts()
    return {str(reason): int(n) for reason, n in counts.items()}


class SweepTerminated(KeyboardInterrupt):
    """SIGTERM during a sweep, handled as Ctrl-C is: workers stopped, finished shards kept for --resume."""


_DEFER: dict[str, Any] = {"on": False, "pending": None}  # an interrupt held back while a worker is started


def _interrupt(signum: int, frame: Any) -> None:
    exc = SweepTerminated("terminated (SIGTERM)") if signum == signal.SIGTERM else KeyboardInterrupt()
    if _DEFER["on"]:
        _DEFER["pending"] = _DEFER["pending"] or exc
        return
    raise exc


@contextlib.contextmanager
def _interrupts() -> Iterator[None]:
    """While a sweep runs in the main thread, SIGTERM (when left at its default: die at once) raises SweepTerminated
    and Ctrl-C KeyboardInterrupt, both held back inside `_deferred`, so the workers are always stopped and the
    caller can say how to resume."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {}
    for sig, default in ((signal.SIGTERM, signal.SIG_DFL), (signal.SIGINT, signal.default_int_handler)):
        if signal.getsignal(sig) == default:
            saved[sig] = signal.signal(sig, _interrupt)
    try:
        yield
    finally:
        for sig, old in saved.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def _deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block is done, then raise: one landing while `submit` forks a worker is
    otherwise swallowed by the fork's handlers, or leaves a worker the pool does not know and the exit waits on."""
    _DEFER["on"] = True
    try:
        yield
    finally:
        _DEFER["on"] = False
        pending, _DEFER["pending"] = _DEFER["pending"], None
        if pending is not None:
            raise pending


def _worker_init(parent: int, start_method: str) -> None:
    """Worker processes leave Ctrl-C and SIGTERM to the parent, which stops them (no traceback per worker), and die
    with the parent even when it is killed outright (kill -9): Linux's parent-death signal, else a watching thread."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if start_method == "forkserver":  # the forkserver is the parent, and it ends with the sweep process
        parent = os.getppid()
    if not _die_with_parent():
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="watch-sweep").start()
    if os.getppid() != parent:  # the parent ended before the signal was armed
        os._exit(1)


def _die_with_parent() -> bool:
    """Ask Linux to SIGKILL this process when its parent ends (prctl PR_SET_PDEATHSIG); False where unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)) == 0  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.2)
    os._exit(1)


Finish = Callable[[int, int, pd.DataFrame], None]


def _run_dask(grid: Grid, todo: list[Shard], scheduler: str | None, finish: Finish) -> None:
    """Shards on a Dask cluster: the one at `scheduler`, or a LocalCluster."""
    from distributed import Client
    from distributed import as_completed as dask_completed

    try:
        client = Client(scheduler, timeout="10s") if scheduler else Client()
    except OSError as exc:
        raise SimulatorError(f"cannot reach the Dask scheduler {scheduler!r} ({exc}); check the address, "
                             "or drop --scheduler to start a local cluster") from None
    with client:
        futures = {client.submit(run_shard, grid, a, b, pure=False): (a, b) for a, b in todo}
        for fut in dask_completed(futures):
            a, b = futures[fut]
            finish(a, b, fut.result())


def _run_processes(grid: Grid, todo: list[Shard], workers: int, finish: Finish, out: Path) -> None:
    """Shards on local worker processes, a few queued per worker at a time (not the whole grid)."""
    ctx = multiprocessing.get_context()
    before = set(multiprocessing.active_children())
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init,
                               initargs=(os.getpid(), ctx.get_start_method()))
    try:
        queue = iter(todo)
        pending: dict[Future[pd.DataFrame], Shard] = {}
        while True:
            for a, b in itertools.islice(queue, 2 * workers - len(pending)):
                with _deferred():  # submit may start workers
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
        _stop_pool(pool, set(multiprocessing.active_children()) - before)
        raise
    pool.shutdown()


def _stop_pool(pool: ProcessPoolExecutor, started: set[multiprocessing.process.BaseProcess]) -> None:
    """Kill a pool's workers (they hold nothing to save: the parent writes the shards) and take the pool down, in
    whatever state an interrupt or failure left it; `started`: the processes started since the pool was made, so a
    worker the pool had not yet registered goes too (the interpreter's exit would otherwise wait on it)."""
    for proc in started | set((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(Exception):
            proc.kill()
    with contextlib.suppress(Exception):
        pool.shutdown(wait=True, cancel_futures=True)  # quick now: its workers are gone


def run_sweep(grid: Grid, out: str | Path, *, resume: bool = False, engine: str = "local", workers: int | None = None,
              scheduler: str | None = None, progress: Callable[[int, int], None] | None = None) -> SweepReport:
    """Run a grid, writing shards under `out` as they finish; returns counts (failed = rows with an error).

    The folder is locked while the sweep writes it (a second sweep into it is refused: OutputError); on --resume,
    finished shards that do not read back are computed again; file-system faults raise OutputError.
    workers: local processes; default one for vectorised training grids, one per CPU for simulations."""
    if workers is None:
        workers = 1 if grid.kind in ("training", "inference") else max(1, os.cpu_count() or 1)
    if engine not in SWEEP_ENGINES:
        raise SimulatorError(f"engine {engine!r} is not one of {', '.join(SWEEP_ENGINES)}")
    out = Path(out)
    if workers < 1:
        raise SimulatorError(f"--workers must be a positive number of processes, got {workers}")
    if out.exists() and not out.is_dir():
        raise SimulatorError(f"--out {out} is a file; name a folder for the result shards")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _io_error(exc, f"the folder {out}", out) from None
    with _folder_lock(out), _interrupts():
        todo = _prepare(grid, out, resume)
        repaired = sum(1 for a, _ in todo if _shard_path(out, a).exists())
        skipped = len(grid) - sum(b - a for a, b in todo)
        done, failed = skipped, 0
        if progress:
            progress(done, len(grid))

        def finish(start: int, stop: int, df: pd.DataFrame) -> None:
            nonlocal done, failed
            path = _shard_path(out, start)
            try:
                _write_atomic(path, lambda f: df.to_parquet(f, index=False))
            except OSError as exc:
                raise _io_error(exc, f"shard {path}", out) from None
            failed += int((df["error"] != "").sum())
            done += stop - start
            if progress:
                progress(done, len(grid))

        if engine == "dask":
            _run_dask(grid, todo, scheduler, finish)
        elif workers > 1 and len(todo) > 1:
            _run_processes(grid, todo, workers, finish, out)
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
    manifest = _read_manifest(out) or {}
    size, total = manifest.get("shard_size"), manifest.get("scenarios")
    frames = []
    for p in parts:
        df = _read_shard(p)
        m = _SHARD.match(p.name)
        start = int(m.group(1)) if m else -1
        if m is None or (isinstance(size, int) and isinstance(total, int) and (start % size or start >= total)):
            raise DataFileError(f"{p}: not a shard of this sweep (shards are part-<first id>.parquet, every "
                                f"{size or '?'} scenarios); move it out of {out}")
        stop = min(start + size, total) if isinstance(size, int) and isinstance(total, int) else start + len(df)
        why = _rows_problem(df, start, stop)
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
