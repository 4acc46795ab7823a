"""Read and check measurement CSVs: metadata lines, units in column names, no NaNs, right device."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from simulator.calibrate.harness import FORMAT
from simulator.calibrate.kernels import ATTENTION, ELEMENTWISE, FAMILIES, GEMM, HOST_COPY, MEMORY
from simulator.catalog import existing_file
from simulator.core.hardware import Accelerator
from simulator.errors import DataFileError
from simulator.vocab import COLLECTIVE_OPS

REQUIRED = ["family", "kernel", "shape_family", "dtype", "time_s", "flop", "bytes"]
BY_FAMILY: dict[str, list[str]] = {GEMM: ["m", "n", "k"], ATTENTION: ["batch", "seq_len", "heads", "head_dim", "causal"],
             MEMORY: ["n_kernels"], ELEMENTWISE: ["n_kernels"], HOST_COPY: [],
             **{c: ["world_size"] for c in COLLECTIVE_OPS}}
NUMERIC = ["time_s", "flop", "bytes", "m", "n", "k", "batch", "seq_len", "heads", "head_dim", "causal",
           "world_size", "n_kernels"]
DEFAULTS = {"m": 0, "n": 0, "k": 0, "batch": 1, "seq_len": 0, "heads": 0, "head_dim": 0, "causal": 0,
            "world_size": 1, "n_kernels": 1}
# Column names that carry a different unit than the one the format uses, with the fix.
_WRONG_UNITS = re.compile(r"^(time(_ms|_us|_ns|_msec|_usec)?|latency_(ms|us)|.*_(ms|us|ns)|.*(gb|gib|mb|mib|kb|kib)"
                          r"(_per_s)?|.*tflops?.*|.*gflops?.*|size|msg_size)$", re.IGNORECASE)


@dataclass(frozen=True)
class Measurements:
    """Rows of one or more measurement files (column `file` says which) and each file's metadata."""

    frame: pd.DataFrame
    meta: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def files(self) -> list[str]:
        return list(self.meta)


def read_metadata(path: Path) -> dict[str, str]:
    """The `# key: value` lines at the top of a measurement file."""
    meta: dict[str, str] = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            if not line.startswith("#"):
                break
            key, sep, value = line[1:].partition(":")
            if sep:
                meta[key.strip()] = value.strip()
    return meta


def _check_columns(df: pd.DataFrame, path: Path) -> None:
    """Units in the column names, the required columns, known families and each family's columns."""
    columns = list(df.columns)
    for col in columns:
        if col not in REQUIRED + NUMERIC and _WRONG_UNITS.match(str(col)):
            raise DataFileError(f"{path}: column {col!r} has a unit this format does not use; times go in "
                                f"'time_s' (seconds), work in 'flop' (a count), sizes in 'bytes' (bytes)")
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise DataFileError(f"{path}: missing column(s) {', '.join(missing)}; a measurement file needs "
                            f"{', '.join(REQUIRED)} (units in the names)")
    unknown = sorted(set(df["family"].astype(str)) - set(FAMILIES))
    if unknown:
        raise DataFileError(f"{path}: column 'family' has unknown value(s) {', '.join(unknown)}; "
                            f"known: {', '.join(FAMILIES)}")
    for fam in df["family"].unique():
        need = [c for c in BY_FAMILY[fam] if c not in columns]
        if need:
            raise DataFileError(f"{path}: {fam} rows need column(s) {', '.join(need)}")


def _numeric(df: pd.DataFrame, path: Path, header_lines: int) -> None:
    """Every numeric column as floats, finite; times positive and in seconds (in place)."""
    for col, default in DEFAULTS.items():
        if col not in df.columns:
            df[col] = default
    for col in NUMERIC:
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() | ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            line = int(np.flatnonzero(bad.to_numpy())[0]) + 2 + header_lines
            raise DataFileError(f"{path}: column {col!r} has a missing or non-numeric value "
                                f"({df[col].iloc[int(np.flatnonzero(bad.to_numpy())[0])]!r}) on line {line}")
        df[col] = values.astype(float)
    if (df["time_s"] <= 0).any():
        raise DataFileError(f"{path}: column 'time_s' must be > 0 seconds")
    if (df["time_s"] > 3600).any():
        raise DataFileError(f"{path}: column 'time_s' has values over an hour; are they seconds?")


def read_measurements(path: str | Path) -> Measurements:
    """One measurement file, checked: a clear DataFileError names the file and the column at fault."""
    path = existing_file(path, "measurement file", "run `simulator calibrate run` first")
    try:
        meta = read_metadata(path)
        df = pd.read_csv(path, comment="#")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataFileError(f"{path}: cannot read as CSV ({exc})") from None
    if meta.get("format", FORMAT) != FORMAT:
        raise DataFileError(f"{path}: format {meta['format']!r} is not {FORMAT!r}")
    _check_columns(df, path)
    _numeric(df, path, len(meta))
    df["file"] = str(path)
    if "source" not in df.columns:
        df["source"] = meta.get("source", str(path))
    return Measurements(df.reset_index(drop=True), {str(path): meta})


def read_many(paths: list[str | Path]) -> Measurements:
    """Several files as one table (each row keeps its `file`)."""
    if not paths:
        raise DataFileError("no measurement files given; pass --measurements FILE [FILE ...]")
    parts = [read_measurements(p) for p in paths]
    meta: dict[str, dict[str, str]] = {}
    for p in parts:
        meta.update(p.meta)
    return Measurements(pd.concat([p.frame for p in parts], ignore_index=True), meta)


_MODEL = re.compile(r"\b([A-Z]{1,3}\d{2,4}[A-Z]?)\b")


def device_codes(text: str) -> set[str]:
    """Accelerator model codes in a name: 'NVIDIA H100 80GB HBM3' -> {'H100'}."""
    return {m.upper() for m in _MODEL.findall(text.upper().replace("-", " "))} - {"HBM3", "HBM2", "SXM4", "SXM5"}


def check_device(m: Measurements, hw: Accelerator) -> None:
    """Refuse measurements taken on another device than the profile describes."""
    profile_text = f"{hw.id} {hw.name}"
    profile_is_cpu = "cpu" in profile_text.lower()
    for path, meta in m.meta.items():
        device = meta.get("device", "")
        kind = meta.get("device_kind", "")
        if not device:
            raise DataFileError(f"{path}: metadata line '# device: ...' is missing; cannot check it matches {hw.id}")
        if kind == "cpu" or profile_is_cpu:
            if (kind == "cpu") != profile_is_cpu:
                raise DataFileError(f"{path}: measured on {device!r} ({kind or 'gpu'}), but profile {hw.id} "
                                    f"describes {'a CPU' if profile_is_cpu else 'an accelerator'}; "
                                    f"pass the matching --profile (or --allow-other-device)")
            continue
        codes = device_codes(device)
        if codes and not codes & device_codes(profile_text.upper()):
            raise DataFileError(f"{path}: measured on {device!r}, but profile {hw.id} is {hw.name!r}; "
                                f"pass the matching --profile (or --allow-other-device)")
