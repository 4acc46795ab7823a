"""Find shipped and user data files by id or path, validate them, return frozen domain types."""

from __future__ import annotations

import difflib
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from . import model as model_mod
from .errors import DataFileError, UnknownIdError
from .hardware import Accelerator, GemmCurve, Link
from .schema import HardwareFile, ModelFile

ROOT = Path(__file__).resolve().parent.parent
HARDWARE_DIR = ROOT / "hardware_profiles"
MODELS_DIR = ROOT / "workloads" / "models"


def _ids(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.yaml"))


def hardware_ids() -> list[str]:
    """Ids of the shipped accelerator profiles."""
    return _ids(HARDWARE_DIR)


def model_ids() -> list[str]:
    """Ids of the shipped model architectures."""
    return _ids(MODELS_DIR)


def _resolve(ref: str | Path, folder: Path, what: str) -> Path:
    ref_str = str(ref)
    as_path = Path(ref_str).expanduser()
    if as_path.suffix in (".yaml", ".yml") or "/" in ref_str or as_path.is_file():
        if as_path.is_dir():
            raise DataFileError(f"{what} {ref_str!r} is a directory; pass the path of a {what} YAML file or a shipped id")
        if not as_path.is_file():
            raise DataFileError(f"{what} file {ref_str!r} does not exist; pass an existing path or a shipped id")
        return as_path
    if not folder.is_dir():
        raise DataFileError(f"the shipped data folder {folder} is missing: the planner runs from a checkout of the "
                            f"repository (pip install -e .), or pass a path to your own {what} YAML")
    candidate = folder / f"{ref_str}.yaml"
    if candidate.is_file():
        return candidate
    known = _ids(folder)
    near = difflib.get_close_matches(ref_str, known, n=3, cutoff=0.4)
    hint = f"did you mean {', '.join(near)}?" if near else f"known ids: {', '.join(known)}"
    raise UnknownIdError(f"unknown {what} id {ref_str!r}; {hint} (or pass a path to a YAML file)")


class _UniqueKeyLoader(yaml.SafeLoader):
    """The safe loader, refusing a key written twice in one mapping (plain YAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<:` merge keys are resolved by the base class
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping; keep one", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_yaml_text(text: str, source: str | Path) -> dict[str, Any]:
    """Parse untrusted YAML text with the safe loader (duplicate keys refused); a clear error naming the
    source, line and fix for syntax errors or a top level that is not a mapping."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise DataFileError(f"{source}:{where} is not valid YAML ({getattr(exc, 'problem', exc)}); fix the syntax") from None
    if data is None:
        raise DataFileError(f"{source}: the file is empty; it needs the keys of its kind (see the shipped files)")
    if not isinstance(data, dict):
        raise DataFileError(f"{source}: expected a mapping of keys at the top level, got {type(data).__name__}")
    return data


def read_yaml(path: Path) -> dict[str, Any]:
    """Read and parse a YAML data file (parse_yaml_text); a clear error when it cannot be read."""
    path = Path(path)
    if path.is_dir():
        raise DataFileError(f"{path}: is a directory; pass the path of a YAML file")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise DataFileError(f"{path}: byte {exc.start} is not UTF-8 text; save the file as UTF-8") from None
    return parse_yaml_text(text, path)


# pydantic names the branch of a union (int | dict, Model | list[Model]) inside an error's location
_UNION_BRANCH = re.compile(r".*\[.*\]$|^(constrained|function|lax|strict)-|^(int|float|str|bool)$")


def _is_branch(x: Any) -> bool:
    return isinstance(x, str) and x != "[key]" and bool(_UNION_BRANCH.match(x))


def _readable_errors(errors: list[Any]) -> list[Any]:
    """Errors with union-branch tags dropped from their locations. Where the value failed a union in several
    branches, a branch that rejected it outright for its shape (a dict, list or number expected, at the branch
    itself) is left out when another branch says more; every error inside a branch is kept."""
    parsed = []
    for e in errors:
        loc = tuple(e["loc"])
        cut = next((i for i, x in enumerate(loc) if _is_branch(x)), None)
        shape_only = cut is not None and len(loc) == cut + 1 and e["type"].endswith("_type")
        parsed.append((e, loc, cut, shape_only))
    keep = []
    for e, loc, cut, shape_only in parsed:
        if shape_only and any(c == cut and lo[:cut] == loc[:cut] and lo[cut] != loc[cut] and not so
                              for _, lo, c, so in parsed):
            continue
        keep.append({**e, "loc": tuple(x for x in loc if not _is_branch(x))})
    return keep


def format_validation_error(path: Path | str, exc: ValidationError) -> str:
    """One readable line: file, then every missing field at once, then up to six other problems, each
    with its field path, bad value and what is expected."""
    errors = _readable_errors(exc.errors())
    missing = [".".join(str(x) for x in e["loc"]) for e in errors if e["type"] == "missing"]
    parts = [f"missing required field{'s' if len(missing) > 1 else ''}: {', '.join(missing)}"] if missing else []
    others = [e for e in errors if e["type"] != "missing"]
    for err in others[:6]:
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        value = err.get("input")
        shown = repr(value) if not isinstance(value, dict) else "{...}"
        if len(shown) > 60:
            shown = shown[:57] + "..."
        if err["type"] == "extra_forbidden":
            parts.append(f"field '{loc}' is not allowed (unknown key; check spelling and units suffix)")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            parts.append(msg if not err["loc"] else f"field '{loc}' = {shown}: {msg}")
    more = f" (+{len(others) - 6} more)" if len(others) > 6 else ""
    return f"{path}: " + "; ".join(parts) + more


def _validate(cls: type, data: dict[str, Any], path: Path) -> Any:
    try:
        obj = cls.model_validate(data)
    except ValidationError as exc:
        raise DataFileError(format_validation_error(path, exc)) from None
    file_id = getattr(obj, "id", None)
    if file_id is not None and path.parent in (HARDWARE_DIR, MODELS_DIR) and file_id != path.stem:
        raise DataFileError(f"{path}: field 'id' = {file_id!r} must equal the file name stem {path.stem!r}")
    return obj


def _link(d: Any) -> Link:
    return Link(
        bandwidth_bytes_per_s=d.bandwidth_bytes_per_s_unidir,
        latency_s=d.latency_s,
        hop_latency_s=d.hop_latency_s,
        bus_efficiency=d.bus_efficiency,
        regimes=tuple((r.latency_s, r.bus_efficiency) for r in (d.regimes or ())),
        overlap_compute_penalty=d.overlap_compute_penalty,
    )


def hardware_from_file(f: HardwareFile, path: str = "") -> Accelerator:
    peaks = {k: v for k, v in f.peak_dense_flop_per_s.model_dump().items() if v is not None}
    return Accelerator(
        id=f.id,
        name=f.name,
        vendor=f.vendor,
        peak_flop_per_s=peaks,
        hbm_bytes=f.memory.hbm_bytes,
        hbm_bandwidth_bytes_per_s=f.memory.hbm_bandwidth_bytes_per_s,
        reserved_bytes=f.memory.reserved_bytes,
        tdp_w=f.power.tdp_w,
        average_utilization_of_tdp=f.power.average_utilization_of_tdp,
        server_to_gpu_power_ratio=f.power.server_to_gpu_power_ratio,
        gpus_per_node=f.node.gpus_per_node,
        scale_up_domain_gpus=f.node.scale_up_domain_gpus or f.node.gpus_per_node,
        intra=_link(f.node.intra_node),
        inter=_link(f.node.scale_out),
        gemm=GemmCurve(
            compute_efficiency=f.efficiency.gemm.compute_efficiency,
            memory_efficiency=f.efficiency.gemm.memory_efficiency,
            p=f.efficiency.gemm.p,
            launch_s=f.efficiency.gemm.launch_s,
            fp8_compute_efficiency=f.efficiency.gemm.fp8_compute_efficiency,
            gemv_memory_efficiency=f.efficiency.gemm.gemv_memory_efficiency,
        ),
        memory_bandwidth_efficiency=f.efficiency.memory_bandwidth_efficiency,
        flash_attention_efficiency=f.efficiency.flash_attention_efficiency,
        flash1_attention_efficiency=(f.efficiency.flash1_attention_efficiency
                                     or 0.55 * f.efficiency.flash_attention_efficiency),
        kernel_launch_s=f.efficiency.kernel_launch_s,
        **({"host_cpu": f.node.host.cpu, "host_speed": f.node.host.speed_vs_reference} if f.node.host else {}),
        sources=tuple(f"{s.title} ({s.where}, {s.date})" for s in f.sources),
        path=path,
    )


@lru_cache(maxsize=256)
def _load_hardware_cached(path_str: str, mtime: float) -> Accelerator:
    path = Path(path_str)
    return hardware_from_file(_validate(HardwareFile, read_yaml(path), path), path_str)


@lru_cache(maxsize=256)
def _load_model_cached(path_str: str, mtime: float) -> model_mod.TransformerSpec:
    path = Path(path_str)
    f = _validate(ModelFile, read_yaml(path), path)
    return model_mod.from_dict(f.id or path.stem, f.model_dump(), path_str)


def load_hardware(ref: str | Path | Accelerator) -> Accelerator:
    """An accelerator by shipped id (``h100-sxm-80gb``) or by path to a profile YAML."""
    if isinstance(ref, Accelerator):
        return ref
    path = _resolve(ref, HARDWARE_DIR, "hardware")
    return _load_hardware_cached(str(path), path.stat().st_mtime)


def load_model(ref: str | Path | model_mod.TransformerSpec) -> model_mod.TransformerSpec:
    """A model architecture by shipped id (``llama3.1-70b``) or by path to a model YAML."""
    if isinstance(ref, model_mod.TransformerSpec):
        return ref
    path = _resolve(ref, MODELS_DIR, "model")
    return _load_model_cached(str(path), path.stat().st_mtime)


def model_from_dict(data: dict[str, Any], source: str = "<dict>") -> model_mod.TransformerSpec:
    """Validate an in-memory model description (same keys as a model YAML)."""
    try:
        f = ModelFile.model_validate(data)
    except ValidationError as exc:
        raise DataFileError(format_validation_error(source, exc)) from None
    return model_mod.from_dict(f.id or f.name, f.model_dump(), source)


def hardware_from_yaml_text(text: str, source: str = "<upload>") -> Accelerator:
    """Validate an uploaded hardware profile given as YAML text."""
    data = parse_yaml_text(text, source)
    try:
        return hardware_from_file(HardwareFile.model_validate(data), source)
    except ValidationError as exc:
        raise DataFileError(format_validation_error(source, exc)) from None


def model_from_yaml_text(text: str, source: str = "<upload>") -> model_mod.TransformerSpec:
    """Validate an uploaded model description given as YAML text."""
    data = parse_yaml_text(text, source)
    return model_from_dict(data, source)
