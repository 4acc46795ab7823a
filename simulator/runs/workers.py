"""A sweep's worker processes: interrupts (Ctrl-C, SIGTERM) held back while a worker starts and turned into a clean
stop, and workers that die with the parent however it ends (runs.sweep drives them). A local Dask cluster's workers
die with the parent by distributed's own watch (each holds a pipe from the parent and exits when it closes); on an
interrupt they are killed at once, as the process pool's are."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pandas as pd


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
def interrupts() -> Iterator[None]:
    """While a sweep runs in the main thread, SIGTERM (when left at its default: die at once) raises SweepTerminated
    and Ctrl-C KeyboardInterrupt, both held back inside `deferred`, so the workers are always stopped and the
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
def deferred() -> Iterator[None]:
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


def worker_init(parent: int, start_method: str) -> None:
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


def kill_processes(procs: set[Any]) -> None:
    """SIGKILL each process (a sweep's workers hold nothing to save: the parent writes the shards)."""
    for proc in procs:
        with contextlib.suppress(Exception):
            proc.kill()


def stop_pool(pool: ProcessPoolExecutor, started: set[multiprocessing.process.BaseProcess]) -> None:
    """Kill a pool's workers and take the pool down, in whatever state an interrupt or failure left it; `started`:
    the processes started since the pool was made, so a worker the pool had not yet registered goes too (the
    interpreter's exit would otherwise wait on it)."""
    kill_processes(started | set((getattr(pool, "_processes", None) or {}).values()))
    with contextlib.suppress(Exception):
        pool.shutdown(wait=True, cancel_futures=True)  # quick now: its workers are gone


# Dask's own log lines (a worker's cancelled task, a nanny waiting 4 s on a busy worker, an event loop slowed by a
# loaded machine) would be extra stderr lines of a sweep that reports in one: only its errors are shown, in this
# process and in the local cluster's worker processes (which read the environment when they start)
_DASK_LOG_ENV = "DASK_LOGGING__DISTRIBUTED"


@contextlib.contextmanager
def quiet_dask() -> Iterator[None]:
    """Dask's logging at ERROR and its warnings ignored while a sweep runs on it (its workers too, through the
    environment they inherit): a slow disk makes distributed warn about its scratch directories on stderr."""
    log = logging.getLogger("distributed")
    level = log.level
    saved = {name: os.environ.get(name) for name in (_DASK_LOG_ENV, "PYTHONWARNINGS")}
    log.setLevel(logging.ERROR)
    os.environ[_DASK_LOG_ENV] = "error"
    os.environ["PYTHONWARNINGS"] = "ignore"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        log.setLevel(level)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def stop_dask(client: Any, started: set[Any]) -> None:
    """After an interrupt or failure: kill the local cluster's worker processes at once (`started`: the processes
    this sweep started; none when the cluster is remote), then close the client, silently (its cluster reports the
    workers it lost). Closing cancels what a remote cluster still runs for the sweep."""
    kill_processes(started)
    logging.getLogger("distributed").setLevel(logging.CRITICAL + 1)
    if client is not None:
        with contextlib.suppress(BaseException):
            client.close(timeout=10)


