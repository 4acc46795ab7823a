"""A sweep's output folder: its lock, its manifest (the grid's identity), shards written atomically and checked when
read back, and file-system faults as one-line errors (runs.sweep drives it)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import socket
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
# however it ends (flock on Linux/macOS, msvcrt.locking on Windows; without either, HELD below). The file stays.
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


# The OS lock, chosen once: flock (Linux, macOS, BSD) or msvcrt.locking (Windows); where the OS or the file system
# has neither (os_lock_for gives None, or the call fails with ENOLCK, EOPNOTSUPP, ...), a lock file created with
# O_EXCL (HELD) stands in for it. An OS lock goes with its process however it ends; HELD is removed on exit, and one
# left by a killed sweep is taken over when its process is gone (same host), else the refusal says to delete it.
HELD = "_sweep.held"
_HELD_ERRNOS = {errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES, getattr(errno, "EDEADLK", errno.EACCES)}


def os_lock_for(platform: str) -> Callable[[int], None] | None:
    """The non-blocking exclusive lock of an open file this platform offers, or None (the O_EXCL fallback then)."""
    try:
        if platform == "win32":
            import msvcrt

            return lambda fd: msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        import fcntl

        return lambda fd: fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except ImportError:  # a platform without the module
        return None


_OS_LOCK = os_lock_for(sys.platform)


class _NoOsLock(Exception):
    """This platform or file system offers no OS lock on the folder's lock file."""


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
    """Hold <out>/_sweep.lock exclusively (or, without OS locks, <out>/_sweep.held), or refuse at once in one line
    when another sweep holds it."""
    path = out / LOCK
    cloexec = getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | cloexec, 0o644)
    except OSError as exc:
        try:  # a read-only file system: an existing lock file still locks (a finished sweep resumes to nothing)
            fd = os.open(path, os.O_RDONLY | cloexec)
        except OSError:
            raise io_error(exc, f"the lock file {path}", out) from None
    held = None
    try:
        try:
            _os_lock(fd, out)
        except _NoOsLock:
            held = _hold_exclusive(out)
    except BaseException:
        os.close(fd)
        raise
    _HELD_LOCKS.add(fd)
    try:
        with contextlib.suppress(OSError):  # who holds it, for the refusal below
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        _HELD_LOCKS.discard(fd)
        os.close(fd)  # releases the OS lock
        if held is not None:
            with contextlib.suppress(OSError):
                held.unlink()


def _refused(out: Path, holder: str, extra: str = "") -> OutputError:
    return OutputError(f"{out} is being written by another sweep{holder}; wait for it to finish (and --resume it if "
                       f"it is the same grid), or choose another --out{extra}")


def _os_lock(fd: int, out: Path) -> None:
    """The OS lock on the open lock file; OutputError when another sweep holds it, _NoOsLock where there is none."""
    if _OS_LOCK is None:
        raise _NoOsLock
    try:
        _OS_LOCK(fd)
    except OSError as exc:
        if exc.errno not in _HELD_ERRNOS:  # ENOLCK, EOPNOTSUPP, ENOSYS, ...: this file system has no such lock
            raise _NoOsLock from None
        holder = ""
        with contextlib.suppress(OSError, ValueError):
            holder = f" (process {int(os.read(fd, 32).decode() or 'x')})"
        raise _refused(out, holder) from None


def _hold_exclusive(out: Path) -> Path:
    """Create <out>/_sweep.held exclusively (O_EXCL), holding '<pid> <host>'; one left by a sweep whose process is
    gone (same host) is taken over, any other refused in one line naming it."""
    path, me = out / HELD, f"{os.getpid()} {socket.gethostname()}"
    for _ in range(3):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            owner = _read_small(path)
            if owner is not None and _gone(owner):
                _break_stale(path, owner)
                continue
            who = f" (process {owner.replace(' ', ' on ')}, per {path})" if owner else f" ({path})"
            raise _refused(out, who, f"; if no sweep is running, delete {path}") from None
        except OSError as exc:
            raise io_error(exc, f"the lock file {path}", out) from None
        with os.fdopen(fd, "w") as f:
            f.write(me)
        return path
    raise _refused(out, f" ({path})", f"; if no sweep is running, delete {path}")


def _read_small(path: Path) -> str | None:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        return path.read_text()[:300].strip()
    return None


def _gone(owner: str) -> bool:
    """Whether the '<pid> <host>' of a HELD file names a process of this host that no longer runs (only POSIX can ask
    without harm: os.kill(pid, 0) terminates the process on Windows)."""
    pid, _, host = owner.partition(" ")
    if os.name != "posix" or host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, another user's
        return False
    return False


def _break_stale(path: Path, owner: str) -> None:
    """Remove the HELD file of a process that is gone: moved aside first (a rename is atomic, so of two sweeps
    breaking it at once only one moves it), and put back if what moved was a fresh lock of another sweep."""
    aside = path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}.stale")
    try:
        os.rename(path, aside)
    except OSError:
        return  # gone already: the next O_EXCL create decides
    if _read_small(aside) == owner:
        with contextlib.suppress(OSError):
            aside.unlink()
        return
    with contextlib.suppress(OSError):  # another sweep's fresh lock: back where it was (link refuses to overwrite)
        os.link(aside, path)
    with contextlib.suppress(OSError):
        aside.unlink()


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


