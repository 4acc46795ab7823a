"""Job traces (Helios/Acme-style CSV: job_id, submit_time, gpu_num, duration[, state, priority, pool, user]) replayed
as the jobs of a cluster scenario."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from pathlib import Path

from simulator.cluster.schema import MAX_BATCH_PRIORITY, ScenarioFile, TraceFile
from simulator.cluster.spec import JobSpec, PoolSpec
from simulator.errors import DataFileError

TRACE_REQUIRED = ("job_id", "submit_time", "gpu_num", "duration")
TRACE_OPTIONAL = ("state", "priority", "pool", "user")
UPLOADED_TRACE = "uploaded trace"  # how errors name a trace given as text rather than a file
# Public-trace states (Helios/Acme Slurm states, Philly Pass/Killed/Failed) -> how the replayed job ends.
TRACE_STATES = {"COMPLETED": "COMPLETED", "PASS": "COMPLETED", "FAILED": "FAILED", "NODE_FAIL": "FAILED",
                "TIMEOUT": "FAILED", "CANCELLED": "CANCELLED", "KILLED": "CANCELLED"}


def allowed_pools(names: list[str] | None, f: ScenarioFile) -> tuple[str, ...]:
    """The pools a job may run in: those it names, else every pool of the scenario."""
    return tuple(names) if names else tuple(p.id for p in f.pools)


def check_fits(gpus: int, pools: tuple[str, ...], by_id: dict[str, PoolSpec], what: str) -> None:
    """A job must fit in the largest pool it may use."""
    biggest = max(by_id[p].gpus for p in pools)
    if gpus > biggest:
        raise DataFileError(f"{what} asks for {gpus} GPUs but the largest allowed pool has {biggest}; "
                            "lower gpus or add nodes to a pool")


def trace_jobs(t: TraceFile, f: ScenarioFile, by_id: dict[str, PoolSpec], source: str,
               base_dir: Path, text: str | None = None) -> list[JobSpec]:
    """The jobs of a trace: the file `t.path` names (relative to base_dir), or `text` when given (an upload)."""
    if text is not None:
        return _trace_rows(io.StringIO(text, newline=""), UPLOADED_TRACE, t, f, by_id)
    path = (base_dir / t.path).resolve() if not Path(t.path).is_absolute() else Path(t.path)
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise DataFileError(f"{source}: trace file {str(path)!r} cannot be read ({exc.strerror}); "
                            "fix trace.path (relative to the scenario file)") from None
    with handle:
        return _trace_rows(handle, str(path), t, f, by_id)


def _trace_rows(lines: Iterable[str], path: str, t: TraceFile, f: ScenarioFile,
                by_id: dict[str, PoolSpec]) -> list[JobSpec]:
    default_pools = allowed_pools(t.pools, f)
    write, restart, interval = f.checkpoint.for_job()
    jobs: list[JobSpec] = []
    reader = csv.DictReader(lines)
    cols = [c.strip() for c in (reader.fieldnames or [])]
    missing = [c for c in TRACE_REQUIRED if c not in cols]
    if missing:
        raise DataFileError(f"{path}: missing column(s) {', '.join(missing)}; a cluster trace needs "
                            f"{', '.join(TRACE_REQUIRED)} (optional: {', '.join(TRACE_OPTIONAL)})")
    last = -math.inf
    for row_no, raw in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        where = f"{path}: row {row_no}"
        submit = _num(row, "submit_time", where) * t.time_scale
        if submit < last:
            raise DataFileError(f"{where}: submit_time {submit:g} is earlier than the previous row ({last:g}); "
                                "sort the trace by submit_time")
        last = submit
        gpus = _num(row, "gpu_num", where)
        if gpus < 1 or gpus != int(gpus):
            raise DataFileError(f"{where}: gpu_num = {row['gpu_num']!r} must be a whole number >= 1 "
                                "(drop CPU-only rows)")
        dur = _num(row, "duration", where) * t.time_scale
        if dur < 0:
            raise DataFileError(f"{where}: duration = {row['duration']!r} is negative; durations are seconds >= 0")
        state = row.get("state") or "COMPLETED"
        final = TRACE_STATES.get(state.upper())
        if final is None:
            raise DataFileError(f"{where}: state = {state!r} is not one of {', '.join(sorted(TRACE_STATES))}")
        pools = default_pools
        if row.get("pool"):
            if row["pool"] not in by_id:
                raise DataFileError(f"{where}: pool = {row['pool']!r} is not a pool of the scenario "
                                    f"({', '.join(by_id)})")
            pools = (row["pool"],)
        check_fits(int(gpus), pools, by_id, where)
        prio = int(_num(row, "priority", where)) if row.get("priority") else 0
        if abs(prio) > MAX_BATCH_PRIORITY:
            raise DataFileError(f"{where}: priority = {prio} is outside +-{MAX_BATCH_PRIORITY}; inference "
                                "replicas outrank every batch priority, so rescale the column")
        jobs.append(JobSpec(row["job_id"] or f"row{row_no}", t.kind, int(gpus), submit, pools,
                            tuple(dur / by_id[p].relative_speed for p in pools), prio, t.preemptible, False,
                            write, restart, interval, final, row.get("user", "")))
    if not jobs:
        raise DataFileError(f"{path}: the trace has no rows")
    return jobs


def _num(row: dict[str, str], col: str, where: str) -> float:
    text = row.get(col, "")
    try:
        value = float(text)
    except ValueError:
        raise DataFileError(f"{where}: {col} = {text!r} is not a number") from None
    if not math.isfinite(value):
        raise DataFileError(f"{where}: {col} = {text!r} is not a finite number")
    return value
