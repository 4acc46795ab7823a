"""Quantization modes and KV-cache dtypes (workloads/quantization.yaml) to core.inference.Quantization objects.

Every figure is a `{value, source}` pair; a mode without its source, with an unknown compute dtype or with a byte
count outside (0, 4] is refused in one line. Importing this module installs the loaders of
core.inference.QUANTIZATIONS and KV_BYTES (the core reads no file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveFloat

from simulator.catalog.paths import ROOT
from simulator.catalog.schema import Strict
from simulator.catalog.stacks import Sourced
from simulator.catalog.yamlio import read_yaml, validate_file
from simulator.core.inference.deployment import KV_BYTES, QUANTIZATIONS, Quantization
from simulator.errors import DataFileError

QUANTIZATION_FILE = ROOT / "workloads" / "quantization.yaml"
ComputeDtype = Literal["bf16", "fp16", "fp8", "int8", "int4", "fp4"]  # keys of the hardware profiles' peaks

__all__ = ["KV_BYTES", "QUANTIZATIONS", "QUANTIZATION_FILE", "kv_cache_dtypes", "quantization_modes"]



class Mode(Strict):
    description: str = Field(min_length=3)
    weight_bytes: Sourced[PositiveFloat]
    activation_bytes: Sourced[PositiveFloat]
    compute_dtype: Sourced[ComputeDtype]


class QuantizationFile(Strict):
    schema_version: Literal[1]
    kind: Literal["quantization"]
    description: str = Field(min_length=3)
    modes: dict[str, Mode] = Field(min_length=1)
    kv_cache: dict[str, Sourced[PositiveFloat]] = Field(min_length=1)


@lru_cache(maxsize=4)
def _read(path_str: str, mtime: float) -> QuantizationFile:
    path = Path(path_str)
    f = validate_file(QuantizationFile, read_yaml(path), path)
    for name, m in f.modes.items():
        for field in ("weight_bytes", "activation_bytes"):
            if getattr(m, field).value > 4.0:
                raise DataFileError(f"{path}: modes.{name}.{field} = {getattr(m, field).value} exceeds 4 bytes "
                                    f"(fp32); give bytes per element")
    return f


def _file() -> QuantizationFile:
    return _read(str(QUANTIZATION_FILE), QUANTIZATION_FILE.stat().st_mtime)


@lru_cache(maxsize=1)
def quantization_modes() -> dict[str, Quantization]:
    """Every shipped quantization mode by name, in file order (read once per process)."""
    return {name: Quantization(name, m.weight_bytes.value, m.compute_dtype.value, m.activation_bytes.value,
                               m.description, f"{m.weight_bytes.source}; {m.compute_dtype.source}")
            for name, m in _file().modes.items()}


@lru_cache(maxsize=1)
def kv_cache_dtypes() -> dict[str, float]:
    """Bytes per KV-cache element by dtype name (read once per process)."""
    return {name: v.value for name, v in _file().kv_cache.items()}


QUANTIZATIONS.install(quantization_modes)
KV_BYTES.install(kv_cache_dtypes)
