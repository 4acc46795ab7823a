"""Sweeps that cannot mix or lose results: a locked output folder, atomic and verified shards, one-line file-system
faults, no workers outliving an interrupted sweep, grids bounded before anything runs (issue 19 item 4)."""

import errno
import importlib.util
import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest

import simulator.runs.store as store_mod
from simulator.cli import main
from simulator.errors import DataFileError, OutputError, SimulatorError
from simulator.limits import MAX_SCENARIOS
from simulator.runs.grid import load_grid, parse_grid
from simulator.runs.sweep import MANIFEST, read_results, run_sweep

BASE = {"kind": "training", "model": "llama3.1-8b", "hardware": "h100-sxm-80gb", "gpus": 64,
        "global_batch": 256, "seq_len": 4096, "train_tokens": 1e12, "plan": {"tp": 2, "pp": 1}}
# two different grids of 12 scenarios in 6 shards each (the same shard ids, so mixed rows would pass unnoticed)
GRID_A = {"base": BASE, "axes": {"gpus": [32, 64, 128], "plan.tp": [1, 2, 4, 8]}, "shard_size": 2}
GRID_B = {"base": {**BASE, "seq_len": 2048}, "axes": {"gpus": [32, 64, 128], "plan.tp": [1, 2, 4, 8]}, "shard_size": 2}
# 8 simulations of a second or so each, so a parallel sweep is still running when it is interrupted (the tests
# interrupt it as soon as its workers exist, and never wait for it to finish)
CLUSTER = {"base": {"kind": "cluster", "scenario": "research-1k-h100", "overrides": {"warmup_s": 0},
                    "until_s": 60 * 86400}, "axes": {"policy": ["fifo", "sjf", "priority", "easy"]}, "seeds": 2,
           "shard_size": 1}


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    """Each grid's table from an uninterrupted sweep."""
    root = tmp_path_factory.mktemp("ref")
    out = {}
    for name, data in (("A", GRID_A), ("B", GRID_B)):
        run_sweep(parse_grid(data), root / name)
        out[name] = read_results(root / name)
    return out


# ------------------------------------------------------------------ two sweeps into one folder
def _contender(barrier, tasks, results, no_os_lock=False):
    """A long-lived process that runs one sweep per task, starting together with the other contender (with
    `no_os_lock`, as on a file system without OS locks: the O_EXCL lock file stands in)."""
    from simulator.runs import store
    from simulator.runs.grid import parse_grid as parse
    from simulator.runs.sweep import run_sweep as run

    if no_os_lock:
        store._OS_LOCK = None

    while (task := tasks.get()) is not None:
        name, data, out, resume = task
        grid = parse(data)
        barrier.wait(timeout=120)
        try:
            run(grid, out, resume=resume)
            results.put((name, "ran", ""))
        except SimulatorError as exc:
            results.put((name, "refused", str(exc)))
        except Exception as exc:  # noqa: BLE001 - a traceback is a failure of the test, reported below
            results.put((name, "crashed", repr(exc)))


@pytest.mark.parametrize(("no_os_lock", "trials"), [(False, 20), (True, 10)], ids=["os-lock", "o-excl-fallback"])
def test_concurrent_sweeps_into_one_folder_one_refused_none_mislabelled(tmp_path, references, no_os_lock, trials):
    """20 trials of grid A and grid B swept into the same --out at the same moment (with and without --resume):
    exactly one runs, the other is refused in one line, and the folder holds the winner's rows under the winner's
    manifest, equal to that grid's uninterrupted table; 10 more with the O_EXCL lock file instead of the OS lock."""
    ctx = mp.get_context("spawn")  # not fork: the test process may hold threads from other tests
    barrier = ctx.Barrier(2)
    queues = [ctx.Queue(), ctx.Queue()]
    results = ctx.Queue()
    procs = [ctx.Process(target=_contender, args=(barrier, q, results, no_os_lock), daemon=True) for q in queues]
    for p in procs:
        p.start()
    digests = {"A": parse_grid(GRID_A).digest(), "B": parse_grid(GRID_B).digest()}
    refusals: dict[str, int] = {}
    try:
        for trial in range(trials):
            out = str(tmp_path / f"out{trial}")
            resume = trial % 2 == 1
            queues[0].put(("A", GRID_A, out, resume))
            queues[1].put(("B", GRID_B, out, resume))
            outcome = dict((name, (kind, msg)) for name, kind, msg in (results.get(timeout=180) for _ in range(2)))
            assert not [o for o in outcome.values() if o[0] == "crashed"], outcome
            ran = [name for name, (kind, _) in outcome.items() if kind == "ran"]
            assert len(ran) == 1, f"trial {trial}: {outcome}"
            loser = "B" if ran == ["A"] else "A"
            message = outcome[loser][1]
            assert "\n" not in message and out in message, message
            reason = ("locked" if "another sweep" in message else "different grid" if "different grid" in message
                      else "already holds" if "already holds" in message else message)
            refusals[reason] = refusals.get(reason, 0) + 1
            assert json.loads((Path(out) / MANIFEST).read_text())["digest"] == digests[ran[0]]
            pd.testing.assert_frame_equal(read_results(out), references[ran[0]])
    finally:
        for q in queues:
            q.put(None)
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    assert set(refusals) <= {"locked", "different grid", "already holds"}, refusals


def test_a_locked_folder_is_refused_in_one_line_naming_folder_and_fix(tmp_path, capsys):
    """Whatever grid the second sweep runs, it is refused while another holds the folder; the lock is the OS's
    (it goes with the process), so the same sweep runs once the holder is done."""
    grid_path = tmp_path / "g.yaml"
    grid_path.write_text(json.dumps(GRID_A))
    out = tmp_path / "out"
    out.mkdir()
    with store_mod.folder_lock(out):  # as a running sweep holds it
        code = main(["sweep", str(grid_path), "--out", str(out), "--no-progress"])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1
        assert str(out) in err and "another sweep" in err and "choose another --out" in err
        assert f"process {os.getpid()}" in err
        assert not list(out.glob("part-*"))
    assert main(["sweep", str(grid_path), "--out", str(out), "--no-progress"]) == 0


# ------------------------------------------------------------------ the lock where there is no flock
class _FakeMsvcrt:
    """msvcrt as Windows has it, for the lock's code path on Linux: locking(fd, LK_NBLCK, 1) fails with EACCES while
    another handle holds the byte."""

    LK_NBLCK = 2
    held: set[str] = set()

    def __init__(self):
        self.calls = []

    def locking(self, fd, mode, nbytes):
        self.calls.append((mode, nbytes))
        key = os.readlink(f"/proc/self/fd/{fd}")
        if key in self.held:
            raise OSError(errno.EACCES, "Permission denied")
        self.held.add(key)


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="the fake msvcrt names files through /proc")
def test_windows_locks_with_msvcrt(tmp_path, monkeypatch):
    """On win32 the lock is msvcrt.locking (non-blocking, one byte); a held byte is a one-line refusal."""
    fake = _FakeMsvcrt()
    monkeypatch.setitem(sys.modules, "msvcrt", fake)
    monkeypatch.setattr(store_mod, "_OS_LOCK", store_mod.os_lock_for("win32"))
    with store_mod.folder_lock(tmp_path):
        assert fake.calls == [(fake.LK_NBLCK, 1)]
        with pytest.raises(OutputError, match=f"{tmp_path} is being written by another sweep"):
            with store_mod.folder_lock(tmp_path):
                pass
    assert not (tmp_path / store_mod.HELD).exists()  # msvcrt did the locking: no fallback file


def test_without_flock_or_msvcrt_the_lock_is_an_exclusive_file(tmp_path, monkeypatch):
    """A platform with neither module: os_lock_for gives None and folder_lock creates <out>/_sweep.held (O_EXCL)
    naming its process; a second sweep is refused in one line naming that file; the file goes with the sweep."""
    monkeypatch.setitem(sys.modules, "fcntl", None)  # import fcntl raises ImportError
    monkeypatch.setitem(sys.modules, "msvcrt", None)
    assert store_mod.os_lock_for("linux") is None and store_mod.os_lock_for("win32") is None
    monkeypatch.setattr(store_mod, "_OS_LOCK", None)
    held = tmp_path / store_mod.HELD
    with store_mod.folder_lock(tmp_path):
        assert held.read_text().split()[0] == str(os.getpid())
        with pytest.raises(OutputError) as info:
            with store_mod.folder_lock(tmp_path):
                pass
        message = str(info.value)
        assert "\n" not in message and "another sweep" in message and f"process {os.getpid()} on" in message
        assert f"delete {held}" in message
        assert held.exists()  # the refused sweep did not remove the holder's file
    assert not held.exists()


@pytest.mark.parametrize("code", [errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS])
def test_a_file_system_without_locks_falls_back_to_the_exclusive_file(tmp_path, monkeypatch, code):
    """flock failing for want of locks (NFS without lockd, some FUSE mounts) is not 'another sweep holds it'."""
    def no_locks(fd):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(store_mod, "_OS_LOCK", no_locks)
    with store_mod.folder_lock(tmp_path):
        assert (tmp_path / store_mod.HELD).exists()
    assert not (tmp_path / store_mod.HELD).exists()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize(("owner", "taken"), [
    (lambda: f"{_dead_pid()} {socket.gethostname()}", True),  # killed sweep of this host: taken over
    (lambda: f"{os.getppid()} {socket.gethostname()}", False),  # a live process: refused
    (lambda: f"{_dead_pid()} another-host.example", False),  # cannot tell from here: refused
    (lambda: "", False),  # unreadable: refused
], ids=["dead-here", "alive", "other-host", "empty"])
def test_a_stale_exclusive_lock_file_is_taken_over_only_when_its_process_is_gone(tmp_path, monkeypatch, owner, taken):
    monkeypatch.setattr(store_mod, "_OS_LOCK", None)
    held = tmp_path / store_mod.HELD
    held.write_text(owner())
    if taken:
        with store_mod.folder_lock(tmp_path):
            assert held.read_text().split()[0] == str(os.getpid())
        assert not held.exists() and not list(tmp_path.glob("*.stale"))
    else:
        with pytest.raises(OutputError, match=f"delete {held}"):
            with store_mod.folder_lock(tmp_path):
                pass
        assert held.exists()


def test_a_sweep_runs_and_resumes_with_the_exclusive_file_lock(tmp_path, monkeypatch, references):
    monkeypatch.setattr(store_mod, "_OS_LOCK", None)
    out = tmp_path / "out"
    run_sweep(parse_grid(GRID_A), out)
    pd.testing.assert_frame_equal(read_results(out), references["A"])
    assert not (out / store_mod.HELD).exists()
    assert run_sweep(parse_grid(GRID_A), out, resume=True).computed == 0


# ------------------------------------------------------------------ only its own files
def test_only_the_sweeps_own_temp_files_are_removed(tmp_path, references):
    out = tmp_path / "out"
    out.mkdir()
    mine = [out / "notes.tmp", out / ".cache.tmp", out / "part-0000000000.parquet.tmp", out / ".part-x.1.tmp"]
    for p in mine:
        p.write_text("the user's own")
    stale = out / ".part-0000000002.parquet.4242-0badf00d.tmp"  # left by a killed sweep of this folder
    stale.write_text("half a shard")
    run_sweep(parse_grid(GRID_A), out)
    assert all(p.read_text() == "the user's own" for p in mine)
    assert not stale.exists()
    run_sweep(parse_grid(GRID_A), out, resume=True)
    assert all(p.exists() for p in mine)
    assert not [p for p in out.iterdir() if store_mod.TEMP_NAME.match(p.name)]
    pd.testing.assert_frame_equal(read_results(out), references["A"])


# ------------------------------------------------------------------ damaged shards
def test_damaged_shards_are_named_then_recomputed_on_resume(tmp_path, references):
    out = tmp_path / "out"
    run_sweep(parse_grid(GRID_A), out)
    part = lambda start: out / f"part-{start:010d}.parquet"  # noqa: E731
    truncated, empty, wrong = part(2), part(4), part(6)
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    with pytest.raises(DataFileError, match=rf"{truncated.name}: damaged shard \(does not read back"):
        read_results(out)
    empty.write_bytes(b"")
    shutil.copyfile(part(8), wrong)  # whole, but the rows of scenarios 8-9
    rep = run_sweep(parse_grid(GRID_A), out, resume=True)
    assert (rep.repaired, rep.computed, rep.skipped) == (3, 6, 6)
    pd.testing.assert_frame_equal(read_results(out), references["A"])

    shutil.copyfile(part(8), wrong)
    with pytest.raises(DataFileError, match=rf"{wrong.name}: damaged shard \(its scenario ids are not 6-7\).*--resume"):
        read_results(out)
    shutil.copyfile(part(0), out / "part-0000000001.parquet")  # not on a shard boundary
    with pytest.raises(DataFileError, match="part-0000000001.parquet: not a shard of this sweep"):
        read_results(out)


# ------------------------------------------------------------------ file-system faults
def test_read_only_folder_gives_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    grid_path = tmp_path / "g.yaml"
    grid_path.write_text(json.dumps(GRID_A))
    out = tmp_path / "ro"
    out.mkdir()
    if os.geteuid() != 0:
        out.chmod(0o555)
    else:  # root writes through permissions: a read-only file system says EROFS to anything created in it
        real_open = os.open

        def refuse(path, flags, *args, **kw):
            if str(path).startswith(str(out)) and flags & os.O_CREAT:
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
            return real_open(path, flags, *args, **kw)

        monkeypatch.setattr(os, "open", refuse)
    try:
        code = main(["sweep", str(grid_path), "--out", str(out), "--no-progress"])
    finally:
        out.chmod(0o755)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "cannot write" in err and "writable" in err and str(out) in err


def test_folder_removed_mid_run_gives_one_line_and_resumes(tmp_path, references):
    out = tmp_path / "out"

    def remove_after_first_shard(done, total):
        if done:
            shutil.rmtree(out)

    with pytest.raises(OutputError, match="No such file.*may have been removed.*--resume"):
        run_sweep(parse_grid(GRID_A), out, progress=remove_after_first_shard)
    run_sweep(parse_grid(GRID_A), out, resume=True)
    pd.testing.assert_frame_equal(read_results(out), references["A"])


def test_disk_full_gives_one_line_leaves_no_temp_and_resumes(tmp_path, monkeypatch, references):
    out = tmp_path / "out"
    calls = []

    class Full:
        """A file that takes the manifest and two shards, then finds the disk full."""

        def __init__(self, path, mode):
            calls.append(path)
            self.f = open(path, mode)  # noqa: SIM115 - closed in __exit__

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            if len(calls) > 3:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return self.f.write(data)

        def __getattr__(self, name):
            return getattr(self.f, name)

    monkeypatch.setattr(store_mod, "open", Full, raising=False)
    with pytest.raises(OutputError, match=r"cannot write shard .*No space left.*free some disk space.*--resume"):
        run_sweep(parse_grid(GRID_A), out)
    monkeypatch.undo()
    assert len(list(out.glob("part-*.parquet"))) == 2
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    rep = run_sweep(parse_grid(GRID_A), out, resume=True)
    assert rep.skipped == 4
    pd.testing.assert_frame_equal(read_results(out), references["A"])


# ------------------------------------------------------------------ interrupted sweeps leave no workers
def _children(pid: int) -> list[int]:
    try:
        import psutil
    except ImportError:
        kids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                kids.append(int(stat.parent.name))
        return kids
    try:
        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# the dask runs are interrupted once a shard is written (its workers are computing): 64 shards, so it is still running
DASK_CLUSTER = {**CLUSTER, "seeds": 16}


def _start_parallel_sweep(tmp_path, engine="local"):
    """`simulator sweep --workers 2` (or `--engine dask`, a LocalCluster) in a subprocess, returned once its workers
    exist (for dask: once they compute, a shard being written); stderr goes to a file: a surviving worker would hold a
    pipe open."""
    grid_path = tmp_path / "cluster.yaml"
    grid_path.write_text(json.dumps(CLUSTER if engine == "local" else DASK_CLUSTER))
    out = tmp_path / "out"
    err = tmp_path / "stderr.txt"
    how = ["--workers", "2"] if engine == "local" else ["--engine", "dask", "--workers", "2"]  # two: on a many-core
    # machine Dask's default (a worker per core) finished the 64 scenarios before the signal came
    with err.open("w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "simulator", "sweep", str(grid_path), "--out", str(out),
                                 *how, "--no-progress"], stdout=subprocess.DEVNULL, stderr=f)

    def ready() -> bool:
        return len(_children(proc.pid)) >= 2 and (engine == "local" or any(out.glob("part-*.parquet")))

    deadline = time.time() + 120
    while time.time() < deadline and not ready() and proc.poll() is None:
        time.sleep(0.05)
    workers = _children(proc.pid)
    assert len(workers) >= 2 and proc.poll() is None, ("the sweep did not start its workers", err.read_text()[-2000:])
    return proc, workers, out, err


def _stopped(proc, workers):
    """Wait for the sweep process, then up to 30 s for its workers to go: the workers still alive after that."""
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the sweep did not stop within 60 s of the signal")
    deadline = time.time() + 30  # dying with the parent takes milliseconds; a loaded machine may reap late, an
    while time.time() < deadline and any(_alive(w) for w in workers):  # orphan (before the fix) lived 67 s and more
        time.sleep(0.1)
    alive = [w for w in workers if _alive(w)]
    for w in alive:  # not to leave them running after a failure
        os.kill(w, signal.SIGKILL)
    return alive


ENGINES = ["local", pytest.param("dask", marks=pytest.mark.skipif(importlib.util.find_spec("distributed") is None,
                                                                    reason="dask.distributed is not installed"))]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process checks read /proc")
@pytest.mark.parametrize("engine", ENGINES)
def test_kill_9_of_the_sweep_leaves_no_worker_alive(tmp_path, engine):
    proc, workers, out, _ = _start_parallel_sweep(tmp_path, engine)
    proc.send_signal(signal.SIGKILL)
    assert _stopped(proc, workers) == [], "worker processes outlived the killed sweep"
    with store_mod.folder_lock(out):  # the lock went with the processes: a --resume may start at once
        pass


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process checks read /proc")
@pytest.mark.parametrize("engine", ENGINES)
def test_sigterm_stops_workers_and_says_how_to_resume(tmp_path, engine):
    proc, workers, _, err = _start_parallel_sweep(tmp_path, engine)
    proc.send_signal(signal.SIGTERM)
    assert _stopped(proc, workers) == []
    text = err.read_text()
    assert proc.returncode == 130 and "Traceback" not in text and "rerun with --resume" in text, text
    assert text.count("\n") == 1, text  # one line: no log lines of the workers or of dask


# ------------------------------------------------------------------ grids bounded before anything runs
@pytest.mark.parametrize("change, needle", [
    ({"axes": {"gpus": {"range": [1, 1e10]}}}, r"axis 'gpus': range \[1, 10000000000.0\] with step 1 has "
                                               r"10,000,000,000 values"),
    ({"axes": {"train_tokens": {"range": [0, 1e308], "step": 1e-300}}}, "axis 'train_tokens': .* inf values"),
    ({"axes": {"gpus": {"range": [1, float("inf")]}}}, "finite"),
    ({"seeds": 1e15}, "1,000,000,000,000,000 scenarios.*largest factor is seeds: 1,000,000,000,000,000"),
    ({"axes": {"gpus": {"range": [1, 60000]}, "global_batch": {"range": [1, 60000]}}},
     r"axis 'global_batch'.*\(60,000 taken by the other axes\)"),
    ({"axes": {"gpus": {"range": [1, 4000]}, "global_batch": {"range": [1, 4000]}}},
     "16,000,000 scenarios.*largest factor is axis"),
    ({"axes": {"gpus": {"range": [1, 100000]}}, "seeds": 90, "shard_size": 1}, "shard files"),
    ({"axes": {f"plan.{k}": [1] for k in ("tp", "pp")}, "zip": [{f"options.x{i}": [1] for i in range(120)}]},
     "sweeps 122 fields"),
])
def test_oversized_grids_are_refused_before_anything_is_listed(change, needle):
    tracemalloc.start()
    try:
        with pytest.raises(DataFileError, match=needle):
            parse_grid({"base": BASE, **change})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, f"refusing the grid took {peak / 2**20:.0f} MiB"


def test_yaml_alias_bomb_is_refused_by_the_loader(tmp_path, capsys):
    lines = ["schema_version: 1", "kind: sweep", 'a: &a ["x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    lines.append("base: {kind: training, model: llama3.1-8b, hardware: h100-sxm-80gb, gpus: 64, options: *i}")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    assert bomb.stat().st_size < 1024
    tracemalloc.start()
    try:
        with pytest.raises(DataFileError, match="aliases .* expand to more than 1,000,000 values"):
            load_grid(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20
    assert main(["sweep", str(bomb), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    assert "expand to more than" in capsys.readouterr().err
    recursive = tmp_path / "loop.yaml"
    recursive.write_text("kind: sweep\nbase: &b {kind: training, again: *b}\n")
    with pytest.raises(DataFileError, match="refers to the value that contains it"):
        load_grid(recursive)


def test_the_cap_is_ten_million_scenarios():
    assert MAX_SCENARIOS == 10_000_000
    g = parse_grid({"base": BASE, "axes": {"gpus": {"range": [1, 10_000]}, "global_batch": {"range": [1, 1000]}},
                    "shard_size": 1000})
    assert len(g) == MAX_SCENARIOS  # at the cap: allowed, and counted without listing its scenarios


@pytest.mark.skipif(importlib.util.find_spec("distributed") is None, reason="dask.distributed is not installed")
@pytest.mark.parametrize("workers, want", [(3, {"n_workers": 3, "threads_per_worker": 1}), (None, {})])
def test_dask_local_cluster_takes_the_worker_count(tmp_path, monkeypatch, workers, want):
    """--workers N starts a LocalCluster of N single-threaded processes; without it Dask's default (one per core)."""
    import distributed

    seen = []

    class Refused(Exception):
        pass

    def fake_client(*args, **kwargs):
        seen.append((args, kwargs))
        raise Refused

    monkeypatch.setattr(distributed, "Client", fake_client)
    with pytest.raises(Refused):
        run_sweep(parse_grid(CLUSTER), tmp_path / "out", engine="dask", workers=workers)
    assert seen == [((), want)]
