"""Batch scenario sweeps: a grid of scenarios -> Parquet shards, resumable, local or on Dask.

A grid file names a base scenario (any kind registered in `scenario.SCENARIO_KINDS`, same schema as
`simulator run` and the app's export) and axes to vary::

    schema_version: 1
    kind: sweep
    base: {kind: training, model: llama3.1-70b, hardware: h100-sxm-80gb, gpus: 1024, ...}
    axes:                      # cartesian product; dotted paths reach nested fields
      hardware: [h100-sxm-80gb, a100-sxm-80gb]
      gpus: {range: [256, 4096], scale: log2}
      plan.tp: {range: [1, 8], step: 1}
    zip:                       # groups of axes that vary together (each group is one axis)
      - {seq_len: [4096, 8192], global_batch: [2048, 1024]}
    seeds: 1                   # replicas per scenario with distinct seeds (stochastic kinds)
    seed: 0                    # root of the replica seeds (numpy SeedSequence; default: base.seed or 0);
                               # replica r has the same seed in every cell (common random numbers);
                               # a `seed` axis instead sets the seeds directly

Results: one row per scenario (`input.<path>` columns, output columns, `error`), written as
`<out>/part-<first id>.parquet` shards as they finish; `--resume` skips finished shards, so a crash
or Ctrl-C loses at most the shards in flight. Training scenarios with a fixed plan are evaluated
vectorised, a shard at a time.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from simulator.catalog import read_yaml
from simulator.errors import DataFileError, SimulatorError
from simulator.runs.scenario import SCENARIO_KINDS, parse_scenario, run_scenario

MANIFEST = "_sweep.json"
ENGINES = ("local", "dask")


# ------------------------------------------------------------------ grid parsing
def _axis_values(name: str, spec: Any) -> list[Any]:
    """A list, or {range: [lo, hi], step: s} (inclusive), or {range: [lo, hi], scale: log2}."""
    if isinstance(spec, list):
        values = spec
    elif isinstance(spec, dict) and "range" in spec:
        unknown = set(spec) - {"range", "step", "scale"}
        if unknown:
            raise DataFileError(f"axis {name!r}: unknown keys {sorted(unknown)}; use range, step or scale")
        rng = spec["range"]
        if (not isinstance(rng, list) or len(rng) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in rng)):
            raise DataFileError(f"axis {name!r}: range must be two numbers [lo, hi], got {rng!r}")
        lo, hi = rng
        scale = spec.get("scale", "linear")
        if scale == "log2":
            if lo <= 0 or hi < lo:
                raise DataFileError(f"axis {name!r}: log2 range needs 0 < lo <= hi, got {spec['range']}")
            values = [2**k for k in range(int(math.ceil(math.log2(lo))), int(math.floor(math.log2(hi))) + 1)]
        elif scale == "linear":
            step = spec.get("step", 1)
            if not isinstance(step, (int, float)) or isinstance(step, bool) or step <= 0:
                raise DataFileError(f"axis {name!r}: step must be a positive number, got {step!r}")
            n = int(math.floor((hi - lo) / step + 1e-9)) + 1
            values = [lo + i * step for i in range(max(n, 0))]
            if all(isinstance(v, float) and v.is_integer() for v in values) and isinstance(lo, int):
                values = [int(v) for v in values]
        else:
            raise DataFileError(f"axis {name!r}: scale must be 'linear' or 'log2', got {scale!r}")
    else:
        raise DataFileError(f"axis {name!r}: expected a list or {{range: [lo, hi], step|scale}}, got {spec!r}")
    if not values:
        raise DataFileError(f"axis {name!r} has no values; a sweep needs at least one value per axis")
    return list(values)


def _check_path(schema: type[BaseModel], path: str, kind: str) -> None:
    """Fail before running if an axis names a field the base scenario's schema does not have."""
    model: Any = schema
    parts = path.split(".")
    for i, part in enumerate(parts):
        fields = getattr(model, "model_fields", None)
        if fields is None or part not in fields:
            known = ", ".join(sorted(fields)) if fields else "(no nested fields)"
            raise DataFileError(f"axis {path!r} names no field of a {kind} scenario "
                                f"(at {'.'.join(parts[:i + 1])!r}; known: {known})")
        ann = fields[part].annotation
        if getattr(ann, "__origin__", None) is dict or ann is dict:
            return  # free-form mapping (e.g. cluster overrides): checked when the scenario runs
        args = [a for a in getattr(ann, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)]
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else (args[0] if args else None)


def _set_path(d: dict[str, Any], path: str, value: Any) -> None:
    value = json.loads(json.dumps(value))  # a copy: later axes must not write into the grid's own values
    parts = path.split(".")
    for part in parts[:-1]:
        nxt = d.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            d[part] = nxt
        d = nxt
    d[parts[-1]] = value


@dataclass(frozen=True)
class Grid:
    base: dict[str, Any]
    axes: tuple[tuple[tuple[str, ...], tuple[tuple[Any, ...], ...]], ...]  # (names, rows of values)
    seeds: int
    seed: int
    shard_size: int

    @property
    def kind(self) -> str:
        return self.base.get("kind", "training")

    def __len__(self) -> int:
        return math.prod(len(rows) for _, rows in self.axes) * self.seeds

    @property
    def has_seed_axis(self) -> bool:
        """A `seed` axis sets the seeds itself (no replica seeds are drawn)."""
        return any("seed" in names for names, _ in self.axes)

    def digest(self) -> str:
        blob = json.dumps({"base": self.base, "axes": self.axes, "seeds": self.seeds, "seed": self.seed},
                          sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def scenario(self, index: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """(scenario dict, input values) for a scenario index (row-major over axes, then seeds)."""
        rest, replica = divmod(index, self.seeds)
        data = json.loads(json.dumps(self.base))
        inputs: dict[str, Any] = {}
        sizes = [len(rows) for _, rows in self.axes]
        for (names, rows), size in zip(reversed(self.axes), reversed(sizes), strict=True):
            rest, pos = divmod(rest, size)
            for name, value in zip(names, rows[pos], strict=True):
                _set_path(data, name, value)
                inputs[f"input.{name}"] = value
        seeded = "seed" in SCENARIO_KINDS[self.kind][0].model_fields  # simulations; training/inference are exact
        if not self.has_seed_axis and (self.seeds > 1 or seeded):
            # common random numbers: replica r gets the same seed in every cell, so cells that differ only
            # in policy or hardware see the same job stream and failures (a fair comparison)
            child = np.random.SeedSequence([self.seed, replica]).generate_state(1)[0]
            inputs["input.seed"] = int(child)
            if seeded:
                data["seed"] = int(child)
        inputs["input.replica"] = replica
        return data, dict(sorted(inputs.items()))


def parse_grid(data: dict[str, Any], source: str = "<grid>") -> Grid:
    """Validate a grid mapping: known axis fields, non-empty axes, a valid base scenario."""
    unknown = set(data) - {"schema_version", "kind", "name", "base", "axes", "zip", "seeds", "seed", "shard_size"}
    if unknown:
        raise DataFileError(f"{source}: unknown grid keys {sorted(unknown)}; allowed: base, axes, zip, seeds, seed, "
                            "shard_size")
    if data.get("kind", "sweep") != "sweep":
        raise DataFileError(f"{source}: field 'kind' must be 'sweep' for a grid file")
    base = data.get("base")
    if not isinstance(base, dict):
        raise DataFileError(f"{source}: field 'base' must be a scenario mapping (kind: training|...)")
    kind = base.get("kind", "training")
    base = {"kind": kind, **base}
    if kind not in SCENARIO_KINDS:
        raise DataFileError(f"{source}: base.kind {kind!r} is not one of {', '.join(SCENARIO_KINDS)}")
    schema, _ = SCENARIO_KINDS[kind]
    axes: list[tuple[tuple[str, ...], tuple[tuple[Any, ...], ...]]] = []
    if not isinstance(data.get("axes") or {}, dict):
        raise DataFileError(f"{source}: 'axes' must map field paths to values, e.g. {{gpus: [256, 512]}}")
    if not isinstance(data.get("zip") or [], list):
        raise DataFileError(f"{source}: 'zip' must be a list of groups, e.g. [{{seq_len: [..], global_batch: [..]}}]")
    for name, spec in (data.get("axes") or {}).items():
        _check_path(schema, name, kind)
        axes.append(((name,), tuple((v,) for v in _axis_values(name, spec))))
    for group in data.get("zip") or []:
        if not isinstance(group, dict) or not group:
            raise DataFileError(f"{source}: each 'zip' entry must map axis names to equal-length lists")
        names = tuple(group)
        cols = [_axis_values(n, group[n]) for n in names]
        for n in names:
            _check_path(schema, n, kind)
        if len({len(c) for c in cols}) != 1:
            raise DataFileError(f"{source}: zipped axes {list(names)} have different lengths "
                                f"{[len(c) for c in cols]}; give each the same number of values")
        axes.append((names, tuple(zip(*cols, strict=True))))
    paths = [n for names, _ in axes for n in names]
    for i, a in enumerate(paths):
        for j, b in enumerate(paths):
            if i != j and (a == b or b.startswith(a + ".")):
                raise DataFileError(f"{source}: axes {a!r} and {b!r} overlap (one sets the other, or it is given "
                                    "twice); sweep each field once, in 'axes' or in one 'zip' group")
    try:
        seeds = int(data.get("seeds", 1))
        # simulations take seconds each: small shards keep every worker busy and lose little to a Ctrl-C
        shard_size = int(data.get("shard_size", 5000 if kind == "training" else 8))
        root_seed = int(data.get("seed", base.get("seed", 0)))
    except (TypeError, ValueError):
        raise DataFileError(f"{source}: seeds, seed and shard_size must be integers") from None
    for key in ("seeds", "seed", "shard_size"):
        if key in data and (isinstance(data[key], bool) or float(data[key]) != int(float(data[key]))):
            raise DataFileError(f"{source}: {key} must be a whole number, got {data[key]!r}")
    if seeds < 1:
        raise DataFileError(f"{source}: seeds must be >= 1, got {seeds}")
    if shard_size < 1:
        raise DataFileError(f"{source}: shard_size must be >= 1, got {shard_size}")
    grid = Grid(base=base, axes=tuple(axes), seeds=seeds, seed=root_seed, shard_size=shard_size)
    if seeds > 1 and grid.has_seed_axis:
        raise DataFileError(f"{source}: give either a 'seed' axis or 'seeds: N' replicas, not both")
    if len(grid) == 0:
        raise DataFileError(f"{source}: the grid has zero scenarios")
    first = grid.scenario(0)[0]
    parse_scenario(first, f"{source} (first scenario)")  # the base itself must be valid
    _check_axis_values(grid, first, source)
    return grid


def _check_axis_values(grid: Grid, first: dict[str, Any], source: str) -> None:
    """Every axis value on its own, on the first scenario, before anything runs: a wrong type, a negative size
    or an unknown id fails here, naming the axis; combinations that cannot run stay per-row errors."""
    from simulator.catalog import load_hardware, load_model

    for names, rows in grid.axes:
        for row in rows:
            where = f"{source} (axis {', '.join(names)} = {', '.join(map(repr, row))})"
            data = json.loads(json.dumps(first))
            for name, value in zip(names, row, strict=True):
                _set_path(data, name, value)
                if name.split(".")[-1] in ("hardware", "model") and isinstance(value, str):
                    try:
                        (load_hardware if name.endswith("hardware") else load_model)(value)
                    except DataFileError as exc:
                        raise DataFileError(f"{where}: {exc}") from None
            parse_scenario(data, where)


def load_grid(path: str | Path) -> Grid:
    p = Path(path)
    if not p.is_file():
        raise DataFileError(f"grid file {str(path)!r} does not exist")
    data = read_yaml(p)

    def near_grid(ref: Any) -> Any:
        """File references are relative to the grid file, like a scenario's own paths."""
        if isinstance(ref, str) and ("/" in ref or ref.endswith((".yaml", ".yml"))) and not Path(ref).is_absolute():
            if (p.parent / ref).is_file() and not Path(ref).is_file():
                return str((p.parent / ref).resolve())
        return ref

    refs = ("scenario", "model", "hardware")
    base = data.get("base")
    if isinstance(base, dict):
        for key in refs:
            if key in base:
                base[key] = near_grid(base[key])
    axis_maps = [data.get("axes")] + list(data.get("zip") or [])
    for axes in (a for a in axis_maps if isinstance(a, dict)):
        for key in refs:
            if isinstance(axes.get(key), list):
                axes[key] = [near_grid(v) for v in axes[key]]
    return parse_grid(data, str(p))


# ------------------------------------------------------------------ evaluation
def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    """Nested result dicts become dotted columns (breakdown.compute)."""
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}{k}.", v, out)
    else:
        out[prefix[:-1]] = value


def _record_row(inputs: dict[str, Any], record: dict[str, Any] | None, error: str) -> dict[str, Any]:
    row: dict[str, Any] = {}
    row.update(inputs)
    if record:
        _flatten("", record, row)
    row["error"] = error
    return row


def _run_training_batch(grid: Grid, items: list[tuple[int, dict[str, Any], dict[str, Any]]]) -> list[dict[str, Any]]:
    """Fixed-plan training scenarios that share model/hardware/batch/options: one vectorised call."""
    from simulator.api.training import make_options
    from simulator.catalog import load_hardware, load_model, load_price_book
    from simulator.core.plans import PlanGrid, describe_reasons, structural_reasons
    from simulator.core.search import plan_record, run_totals
    from simulator.core.training import evaluate
    from simulator.runs.scenario import TrainingScenario
    from simulator.vocab import PRECISIONS, RECOMPUTE

    s0 = TrainingScenario.model_validate(items[0][1])
    model, hw = load_model(s0.model), load_hardware(s0.hardware)
    options = make_options(s0.seq_len, s0.global_batch, **s0.options.model_dump())
    book = load_price_book(s0.price_book)
    rows: list[dict[str, Any] | None] = [None] * len(items)
    cols: dict[str, list[int]] = {k: [] for k in ("tp", "pp", "dp", "cp", "ep", "micro_batch", "zero", "recompute",
                                                   "vpp", "precision", "sequence_parallel")}
    keep: list[int] = []
    uneven: list[bool] = []  # per plan: may its stages hold unequal layer counts (plan.uneven_pp, else options)
    for j, (_, data, inputs) in enumerate(items):
        try:
            s = TrainingScenario.model_validate(data)
            p = s.plan
            mp = p.tp * p.pp * p.cp
            if s.gpus % mp:
                raise SimulatorError(f"gpus {s.gpus} is not divisible by tp x pp x cp = {mp}")
            vpp = p.vpp or (2 if p.pp_schedule == "interleaved" else 1)
            if p.precision == "fp8":
                hw.peak("fp8")
            for k, v in (("tp", p.tp), ("pp", p.pp), ("dp", s.gpus // mp), ("cp", p.cp), ("ep", p.ep),
                         ("micro_batch", p.micro_batch), ("zero", p.zero), ("recompute", RECOMPUTE.index(p.recompute)),
                         ("vpp", vpp), ("precision", PRECISIONS.index(p.precision)),
                         ("sequence_parallel", int(p.tp > 1 if p.sequence_parallel is None else p.sequence_parallel))):
                cols[k].append(v)
            uneven.append(bool(options.uneven_pp if p.uneven_pp is None else p.uneven_pp))
            keep.append(j)
        except Exception as exc:  # noqa: BLE001 - recorded in the row, the sweep goes on
            rows[j] = _record_row(inputs, None, str(exc))
    if keep:
        g = PlanGrid.from_columns(**cols)
        allow = np.array(uneven)
        structural = np.where(allow, *(structural_reasons(g, model, options.global_batch, options.seq_len,
                                                          hw.scale_up_domain_gpus, flag) for flag in (True, False)))
        # the heaviest-stage rule equals layers / pp wherever the split is even, so one evaluation serves both
        options = replace(options, uneven_pp=bool(allow.any()))
        m = evaluate(model, hw, g, options)
        m.update(run_totals(m, g.gpus.astype(float), hw, options, s0.train_tokens, book, s0.purchase))
        for i, j in enumerate(keep):
            inputs = items[j][2]
            if structural[i]:
                rows[j] = _record_row(inputs, None, f"impossible plan: {describe_reasons(int(structural[i]))}")
            else:
                rows[j] = _record_row(inputs, plan_record(g, m, i, model, hw), "")
    return [r for r in rows if r is not None]


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
            out = _run_training_batch(grid, batch)
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
def _shards(n: int, size: int) -> list[tuple[int, int]]:
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def _shard_path(out: Path, start: int) -> Path:
    return out / f"part-{start:010d}.parquet"


def _write_atomic(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_suffix(".parquet.tmp")
    df.to_parquet(tmp, index=False)
    os.replace(tmp, path)


@dataclass
class SweepReport:
    out: Path
    scenarios: int
    computed: int
    skipped: int
    failed: int


def _ignore_sigint() -> None:
    """Worker processes leave Ctrl-C to the parent, which stops them (no traceback per worker)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_sweep(grid: Grid, out: str | Path, *, resume: bool = False, engine: str = "local", workers: int | None = None,
              scheduler: str | None = None, progress: Callable[[int, int], None] | None = None) -> SweepReport:
    """Run a grid, writing shards under `out` as they finish; returns counts (failed = rows with an error).

    workers: local processes; default one for vectorised training grids, one per CPU for simulations."""
    if workers is None:
        workers = 1 if grid.kind in ("training", "inference") else max(1, os.cpu_count() or 1)
    if engine not in ENGINES:
        raise SimulatorError(f"engine {engine!r} is not one of {', '.join(ENGINES)}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SimulatorError(f"--out {out} is a file; name a folder for the result shards")
    if workers < 1:
        raise SimulatorError(f"--workers must be a positive number of processes, got {workers}")
    manifest = {"digest": grid.digest(), "scenarios": len(grid), "shard_size": grid.shard_size, "kind": grid.kind}
    if out.exists() and any(out.glob("part-*.parquet")):
        if not resume:
            raise SimulatorError(f"{out} already holds results; pass --resume to continue it or choose a new --out")
        old = json.loads((out / MANIFEST).read_text()) if (out / MANIFEST).is_file() else {}
        if old.get("digest") != manifest["digest"] or old.get("shard_size") != manifest["shard_size"]:
            raise SimulatorError(f"{out} was written by a different grid; resume only the same grid file")
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2))
    for tmp in out.glob("*.tmp"):
        tmp.unlink()
    todo = [(a, b) for a, b in _shards(len(grid), grid.shard_size) if not _shard_path(out, a).is_file()]
    skipped = len(grid) - sum(b - a for a, b in todo)
    done = skipped
    if progress:
        progress(done, len(grid))
    failed = 0

    def finish(start: int, stop: int, df: pd.DataFrame) -> None:
        nonlocal done, failed
        _write_atomic(df, _shard_path(out, start))
        failed += int((df["error"] != "").sum())
        done += stop - start
        if progress:
            progress(done, len(grid))

    if engine == "dask":
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
    elif workers > 1 and len(todo) > 1:
        pool = ProcessPoolExecutor(max_workers=workers, initializer=_ignore_sigint)
        try:
            futs = {pool.submit(run_shard, grid, a, b): (a, b) for a, b in todo}
            for fut in as_completed(futs):
                a, b = futs[fut]
                finish(a, b, fut.result())
        except BaseException:
            # Ctrl-C or a failure: stop the workers at once (waiting on them can hang); finished shards are
            # already on disk, so --resume continues from them
            for proc in list((getattr(pool, "_processes", None) or {}).values()):
                proc.terminate()
            pool.shutdown(wait=True, cancel_futures=True)  # quick now: its workers are gone
            raise
        pool.shutdown()
    else:
        for a, b in todo:
            finish(a, b, run_shard(grid, a, b))
    if skipped:  # count failures in shards finished by an earlier run too
        failed = int((read_results(out)["error"] != "").sum())
    return SweepReport(out, len(grid), len(grid) - skipped, skipped, failed)


def read_results(out: str | Path) -> pd.DataFrame:
    """All finished shards of a sweep as one DataFrame, ordered by scenario id."""
    parts = sorted(Path(out).glob("part-*.parquet"))
    if not parts:
        raise DataFileError(f"{out}: no result shards found")
    df = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    for col in df.columns:  # a shard of error rows alone can store a flag as float: restore booleans
        if df[col].dtype == object:
            vals = df[col].dropna()
            if len(vals) and vals.map(lambda v: isinstance(v, (bool, np.bool_))).all():
                df[col] = df[col].astype("boolean")
    return df.sort_values("scenario_id", kind="stable").reset_index(drop=True)


def iter_scenarios(grid: Grid) -> Iterator[dict[str, Any]]:
    """Every scenario of a grid as a plain dict (for inspection and tests)."""
    for i in range(len(grid)):
        yield grid.scenario(i)[0]


__all__ = ["Grid", "SweepReport", "iter_scenarios", "load_grid", "parse_grid", "read_results", "run_shard",
           "run_sweep"]
