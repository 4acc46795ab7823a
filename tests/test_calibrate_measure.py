"""Measure -> fit -> predict -> compare on real kernels of this machine (numpy/BLAS), as behaviour.

A small GEMM measurement runs end to end and the fit-and-check pipeline scores it. How accurate a fresh
measurement is depends on how busy the machine is, so no test asserts it (a red `make test` on a busy machine
is a defect): benchmarks/bench_calibrate.py prints it, and the accuracy targets (median <= 10 %, p90 <= 20 %)
are held deterministically on the committed measurement in test_calibrate.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.calibrate.measurements import read_many
from simulator.calibrate.validate import validate
from simulator.catalog import ROOT, load_hardware


def test_quick_gemm_measurement_is_fitted_and_scored_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "host-cpu-ci.csv"
    # one BLAS thread and one short round: the run is about behaviour, not timing quality
    proc = subprocess.run([sys.executable, "-m", "simulator", "calibrate", "run", "--backend", "numpy",
                           "--suite", "quick", "--families", "gemm", "--threads", "1", "--rounds", "1",
                           "--min-time-s", "0.005", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=1800)  # a hang guard: ~100 s idle
    assert proc.returncode == 0, proc.stderr
    m = read_many([out])
    assert m.meta[str(out)]["blas_threads"] == "1"
    report, _, _ = validate(m, load_hardware("host-cpu"))
    gemm = report["families"]["gemm"]
    assert gemm["n_check"] >= 30 and gemm["n_fit"] >= 30
    assert 0.0 <= gemm["check"]["median"] <= gemm["check"]["p90"] < float("inf")  # scored, whatever the load


BLOCKER = r"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"pandas", "scipy", "yaml", "pydantic", "matplotlib", "simpy"}:
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
from simulator.cli import main   # the real package: its facade and the command modules import nothing heavy
raise SystemExit(main(sys.argv[1:]))
"""


def test_run_needs_only_numpy(tmp_path: Path) -> None:
    """`calibrate run` must work on a GPU box with only torch and numpy installed."""
    out = tmp_path / "m.csv"
    proc = subprocess.run([sys.executable, "-c", BLOCKER, "calibrate", "run", "--backend", "numpy", "--families",
                           "attention", "--rounds", "1", "--min-time-s", "0.001", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ})
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().startswith("# format: simulator-calibrate-measurements/1")


@pytest.mark.parametrize("args", [["--backend", "cupy"], ["--backend", "torch"]])
def test_unavailable_backend_exits_2(args: list[str], tmp_path: Path) -> None:
    try:
        import torch
        if args[1] == "torch" and torch.cuda.is_available():
            pytest.skip("a GPU is present")
    except ImportError:
        pass
    from simulator.cli import main

    assert main(["calibrate", "run", *args, "--out", str(tmp_path / "x.csv")]) == 2
