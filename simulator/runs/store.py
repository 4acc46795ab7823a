"""A sweep's output folder: its lock, its manifest (the grid's identity), shards written atomically and checked when
read back, and file-system faults as one-line errors (runs.sweep drives it)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from simulator.errors import DataFileError, OutputError, SimulatorError
from simulator.runs.grid import Grid

MANIFEST = "_sweep.json"

# <out>/_sweep.json: the grid's identity, written (under the lock) before any shard and checked on --resume.
# <out>/_sweep.lock: held with an OS lock while a sweep writes the folder; the OS drops it when the process ends,
# however it ends (flock on Linux/macOS, msvcrt.locking on Windows). The file itself stays.
LOCK = "_sweep.lock"
# Temp files a sweep writes are named `.<final name>.<pid>-<8 hex>.tmp`: only names of this form are ever removed.
TEMP_NAME = re.compile(r"^\.(part-\d{10}\.parquet|_sweep\.json)\.\d+-[0-9a-f]{8}\.tmp$")
SHARD_NAME = re.compile(r"^part-(\d{10})\.parquet$")
_HELD_LOCKS: set[int] = set()  # descriptors of the folder locks this process holds
Shard = tuple[int, int]  # scenario ids [start, stop)


def shard_ranges(n: int, size: int) -> list[tuple[int, int]]:
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def shard_path(out: Path, start: int) -> Path:
    return out / f"part-{start:010d}.parquet"


def io_error(exc: OSError, what: str, out: Path) -> OutputError:
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


def write_atomic(path: Path, write: Callable[[BinaryIO], object]) -> None:
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
def folder_lock(out: Path) -> Iterator[None]:
    """Hold <out>/_sweep.lock exclusively, or refuse at once in one line when another sweep holds it."""
    path = out / LOCK
    cloexec = getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | cloexec, 0o644)
    except OSError as exc:
        try:  # a read-only file system: an existing lock file still locks (a finished sweep resumes to nothing)
            fd = os.open(path, os.O_RDONLY | cloexec)
        except OSError:
            raise io_error(exc, f"the lock file {path}", out) from None
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


def read_manifest(out: Path) -> dict[str, Any] | None:
    """The manifest of a sweep folder; None when it is missing or does not read back."""
    try:
        data = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def rows_problem(df: pd.DataFrame, start: int, stop: int) -> str | None:
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
    return rows_problem(df, start, stop)


def prepare(grid: Grid, out: Path, resume: bool) -> list[Shard]:
    """With the folder locked: check that its shards are this grid's (manifest), write the manifest before any
    shard, remove this sweep's stale temp files, and list the shards to compute (missing or damaged)."""
    manifest = {"digest": grid.digest(), "scenarios": len(grid), "shard_size": grid.shard_size, "kind": grid.kind}
    try:
        names = set(os.listdir(out))
    except OSError as exc:
        raise io_error(exc, f"the folder {out}", out) from None
    old = read_manifest(out)
    if any(SHARD_NAME.match(n) for n in names):
        if not resume:
            raise SimulatorError(f"{out} already holds results; pass --resume to continue it or choose a new --out")
        if old is None:
            raise SimulatorError(f"{out} holds shards but no readable {MANIFEST}, so they cannot be matched to this "
                                 "grid; choose a new --out")
        if old.get("digest") != manifest["digest"] or old.get("shard_size") != manifest["shard_size"]:
            raise SimulatorError(f"{out} was written by a different grid; resume only the same grid file")
    try:
        if old != manifest:  # a finished sweep in a folder since made read-only still resumes (to nothing)
            write_atomic(out / MANIFEST, lambda f: f.write(json.dumps(manifest, indent=2).encode()))
    except OSError as exc:
        raise io_error(exc, f"the manifest {out / MANIFEST}", out) from None
    for stale in (n for n in names if TEMP_NAME.match(n)):  # left by a sweep of this folder that was killed
        with contextlib.suppress(OSError):
            (out / stale).unlink()
    return [(a, b) for a, b in shard_ranges(len(grid), grid.shard_size)
            if shard_path(out, a).name not in names or _shard_problem(shard_path(out, a), a, b)]


def read_shard(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    try:
        return pd.read_parquet(path, columns=columns)
    except Exception as exc:  # noqa: BLE001 - named in one line
        raise DataFileError(f"{path}: damaged shard (does not read back: {_first_line(exc)}); rerun the sweep with "
                            "--resume to recompute it") from None


