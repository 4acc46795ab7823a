"""Sweep grids: a base scenario and axes to vary, validated before anything runs (runs.sweep runs them).

A grid file names a base scenario (any kind registered in `runs.scenario.SCENARIO_RUNNERS`, same schema as
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

Results and resuming: runs.sweep.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from simulator.catalog import existing_file, load_hardware, load_model, read_yaml
from simulator.errors import DataFileError
from simulator.limits import MAX_AXES, MAX_AXIS_VALUES, MAX_SCENARIOS, MAX_SEED, MAX_SHARDS
from simulator.runs.scenario import SCENARIO_RUNNERS, parse_scenario

# The grid's bounds (MAX_SCENARIOS, MAX_AXIS_VALUES, MAX_AXES, MAX_SHARDS, with their reasons) are in simulator.limits;
# they are counted arithmetically before anything is listed, so a few lines of YAML cannot exhaust memory.


# ------------------------------------------------------------------ grid parsing
def _axis_values(name: str, spec: Any, room: int = MAX_AXIS_VALUES) -> list[Any]:
    """A list, or {range: [lo, hi], step: s} (inclusive), or {range: [lo, hi], scale: log2}; counted before it is
    listed and refused past `room` values (what MAX_AXIS_VALUES leaves after the grid's other axes)."""
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
        if not all(math.isfinite(v) for v in rng):
            raise DataFileError(f"axis {name!r}: range must be two finite numbers [lo, hi], got {rng!r}")
        scale = spec.get("scale", "linear")
        if scale == "log2":
            if lo <= 0 or hi < lo:
                raise DataFileError(f"axis {name!r}: log2 range needs 0 < lo <= hi, got {spec['range']}")
            first, last = int(math.ceil(math.log2(lo))), int(math.floor(math.log2(hi)))
            _check_axis_count(name, last - first + 1, f"range {rng} (log2)", room)
            values = [2**k for k in range(first, last + 1)]
        elif scale == "linear":
            step = spec.get("step", 1)
            if (not isinstance(step, (int, float)) or isinstance(step, bool) or not math.isfinite(step)
                    or step <= 0):
                raise DataFileError(f"axis {name!r}: step must be a positive number, got {step!r}")
            q = (hi - lo) / step  # inf when the span or the step is near the float limits
            _check_axis_count(name, math.floor(q + 1e-9) + 1 if math.isfinite(q) else math.inf,
                              f"range {rng} with step {step}", room)
            n = int(math.floor(q + 1e-9)) + 1
            values = [lo + i * step for i in range(max(n, 0))]
            if all(isinstance(v, float) and v.is_integer() for v in values) and isinstance(lo, int):
                values = [int(v) for v in values]
        else:
            raise DataFileError(f"axis {name!r}: scale must be 'linear' or 'log2', got {scale!r}")
    else:
        raise DataFileError(f"axis {name!r}: expected a list or {{range: [lo, hi], step|scale}}, got {spec!r}")
    if not values:
        raise DataFileError(f"axis {name!r} has no values; a sweep needs at least one value per axis")
    _check_axis_count(name, len(values), "list", room)
    return list(values)


def _check_axis_count(name: str, n: float, what: str, room: int) -> None:
    """Refuse an axis of more values than `room` before any of them is listed."""
    if n > room:
        others = "" if room == MAX_AXIS_VALUES else f" ({MAX_AXIS_VALUES - room:,} taken by the other axes)"
        raise DataFileError(f"axis {name!r}: {what} has {n:,.0f} values; a grid's axes may hold at most "
                            f"{MAX_AXIS_VALUES:,} values in all{others}: use a coarser step or a log2 scale")


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
        seeded = "seed" in SCENARIO_RUNNERS[self.kind][0].model_fields  # simulations; training/inference are exact
        if not self.has_seed_axis and (self.seeds > 1 or seeded):
            # common random numbers: replica r gets the same seed in every cell, so cells that differ only
            # in policy or hardware see the same job stream and failures (a fair comparison)
            child = np.random.SeedSequence([self.seed, replica]).generate_state(1)[0]
            inputs["input.seed"] = int(child)
            if seeded:
                data["seed"] = int(child)
        inputs["input.replica"] = replica
        return data, dict(sorted(inputs.items()))


def _base(data: dict[str, Any], source: str) -> tuple[dict[str, Any], str]:
    """The grid's base scenario (with its kind) after the grid's own keys are checked."""
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
    if kind not in SCENARIO_RUNNERS:
        raise DataFileError(f"{source}: base.kind {kind!r} is not one of {', '.join(SCENARIO_RUNNERS)}")
    return {"kind": kind, **base}, kind


Axes = list[tuple[tuple[str, ...], tuple[tuple[Any, ...], ...]]]  # (field paths, rows of their values)


def _axes(data: dict[str, Any], kind: str, source: str) -> Axes:
    """The axes and zipped groups of a grid, each path a field of the base's schema; no field swept twice."""
    schema, _ = SCENARIO_RUNNERS[kind]
    axes: Axes = []
    if not isinstance(data.get("axes") or {}, dict):
        raise DataFileError(f"{source}: 'axes' must map field paths to values, e.g. {{gpus: [256, 512]}}")
    if not isinstance(data.get("zip") or [], list):
        raise DataFileError(f"{source}: 'zip' must be a list of groups, e.g. [{{seq_len: [..], global_batch: [..]}}]")
    groups = data.get("zip") or []
    fields = len(data.get("axes") or {}) + sum(len(g) for g in groups if isinstance(g, dict))
    if fields > MAX_AXES:
        raise DataFileError(f"{source}: the grid sweeps {fields:,} fields; the most is {MAX_AXES} (axes and zipped "
                            "columns together): sweep fewer fields")
    listed = 0  # axis values so far, against MAX_AXIS_VALUES
    for name, spec in (data.get("axes") or {}).items():
        _check_path(schema, name, kind)
        values = _axis_values(name, spec, MAX_AXIS_VALUES - listed)
        listed += len(values)
        axes.append(((name,), tuple((v,) for v in values)))
    for group in groups:
        if not isinstance(group, dict) or not group:
            raise DataFileError(f"{source}: each 'zip' entry must map axis names to equal-length lists")
        names = tuple(group)
        cols = []
        for n in names:
            cols.append(_axis_values(n, group[n], MAX_AXIS_VALUES - listed))
            listed += len(cols[-1])
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
    return axes


def _counts(data: dict[str, Any], base: dict[str, Any], kind: str, source: str) -> tuple[int, int, int]:
    """(replicas per scenario, root seed, shard size), whole numbers of the right signs."""
    try:
        seeds = int(data.get("seeds", 1))
        # simulations take seconds each: small shards keep every worker busy and lose little to a Ctrl-C
        shard_size = int(data.get("shard_size", 5000 if kind == "training" else 8))
        root_seed = int(data.get("seed", base.get("seed", 0)))
    except (TypeError, ValueError, OverflowError):  # OverflowError: .inf
        raise DataFileError(f"{source}: seeds, seed and shard_size must be integers") from None
    for key in ("seeds", "seed", "shard_size"):
        if key in data and (isinstance(data[key], bool) or (isinstance(data[key], float) and not data[key].is_integer())):
            raise DataFileError(f"{source}: {key} must be a whole number, got {data[key]!r}")
    if seeds < 1:
        raise DataFileError(f"{source}: seeds must be >= 1, got {seeds}")
    if shard_size < 1:
        raise DataFileError(f"{source}: shard_size must be >= 1, got {shard_size}")
    for key, value in (("seeds", seeds), ("seed", root_seed), ("shard_size", shard_size)):
        if value > MAX_SEED:  # past int64: no column or numpy seed holds it
            raise DataFileError(f"{source}: {key} = {value} is past {MAX_SEED:,} (2**63 - 1)")
    return seeds, root_seed, shard_size


def _check_size(axes: Axes, seeds: int, shard_size: int, source: str) -> None:
    """The grid's size, counted before anything is listed: at most MAX_SCENARIOS scenarios in MAX_SHARDS shards;
    the refusal names the axis (or `seeds`) that makes it too big."""
    sizes = [(", ".join(names), len(rows)) for names, rows in axes] + [("seeds", seeds)]
    total = math.prod(n for _, n in sizes)
    if total > MAX_SCENARIOS:
        name, n = max(sizes, key=lambda s: s[1])
        shown = f"seeds: {seeds:,}" if name == "seeds" else f"axis {name!r} ({n:,} values)"
        raise DataFileError(f"{source}: the grid has {total:,} scenarios, more than the {MAX_SCENARIOS:,} a sweep "
                            f"may run; its largest factor is {shown}: sweep fewer values or split the grid")
    shards = -(-total // shard_size)
    if shards > MAX_SHARDS:
        raise DataFileError(f"{source}: {total:,} scenarios in shards of {shard_size:,} make {shards:,} shard files, "
                            f"more than {MAX_SHARDS:,}; set shard_size to at least {-(-total // MAX_SHARDS):,}")


def parse_grid(data: dict[str, Any], source: str = "<grid>") -> Grid:
    """Validate a grid mapping: known axis fields, non-empty axes, a valid base scenario."""
    base, kind = _base(data, source)
    axes = _axes(data, kind, source)
    seeds, root_seed, shard_size = _counts(data, base, kind, source)
    _check_size(axes, seeds, shard_size, source)
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
    p = existing_file(path, "grid file")
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
    axis_maps = [data.get("axes")] + (data["zip"] if isinstance(data.get("zip"), list) else [])
    for axes in (a for a in axis_maps if isinstance(a, dict)):
        for key in refs:
            if isinstance(axes.get(key), list):
                axes[key] = [near_grid(v) for v in axes[key]]
    return parse_grid(data, str(p))
