"""Held-out kernel-prediction error on the committed measurements: this machine's host-cpu sweep and the published
GPU GEMM and all-reduce sweeps, each fitted on half its shape families and scored on the other half."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simulator.calibrate.measurements import read_many
from simulator.calibrate.validate import validate
from simulator.catalog import HARDWARE_DIR, load_hardware

MEASUREMENTS_DIR = HARDWARE_DIR / "measurements"
PUBLISHED = (("a100-sxm-80gb", "a100-gemm.csv"), ("h100-sxm-80gb", "h100-gemm.csv"),
             ("a100-sxm-80gb", "a100-allreduce.csv"), ("a100-sxm-80gb", "a100-allreduce-cross.csv"),
             ("h200-sxm-141gb", "h200-allreduce.csv"))


def kernel_cases() -> list[tuple[str, Path]]:
    """(profile id, measurement file): the newest host-cpu sweep and the published GPU sweeps that exist."""
    host = sorted(MEASUREMENTS_DIR.glob("host-cpu-*.csv"))
    cases = [("host-cpu", host[-1])] if host else []
    cases += [(hw, MEASUREMENTS_DIR / "published" / name) for hw, name in PUBLISHED]
    return [(hw, path) for hw, path in cases if path.is_file()]


def validate_kernels(allow_other_device: bool = False) -> list[tuple[str, Path, dict[str, Any], Any]]:
    """(profile, file, report, predicted-vs-measured rows) for every case (calibrate.validate.validate)."""
    out = []
    for hw_id, path in kernel_cases():
        report, rows, _ = validate(read_many([path]), load_hardware(hw_id), allow_other_device=allow_other_device)
        out.append((hw_id, path, report, rows))
    return out
