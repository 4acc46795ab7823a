"""Measure -> fit -> predict -> compare on real kernels of this machine (numpy/BLAS).

A quick GEMM measurement (about 20-40 s on 2 cores), fitted on one half of the shape families and
checked on the other. It fails if the roofline model stops predicting real kernels. The machine is
shared and noisy, so the bounds are looser than the issue's targets (median <= 10 %, p90 <= 20 %),
which the committed measurement is held to in test_calibrate.py.
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

HELD_OUT_MEDIAN_BOUND = 0.15
HELD_OUT_P90_BOUND = 0.35


def test_quick_gemm_measurement_predicts_held_out_shapes(tmp_path: Path) -> None:
    out = tmp_path / "host-cpu-ci.csv"
    # one BLAS thread: on a shared 2-core machine a 2-thread GEMM waits on a descheduled thread
    proc = subprocess.run([sys.executable, "-m", "simulator", "calibrate", "run", "--backend", "numpy",
                           "--suite", "quick", "--families", "gemm", "--threads", "1", "--rounds", "2",
                           "--min-time-s", "0.04", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    m = read_many([out])
    assert m.meta[str(out)]["blas_threads"] == "1"
    report, _, _ = validate(m, load_hardware("host-cpu"))
    gemm = report["families"]["gemm"]
    assert gemm["n_check"] >= 30
    assert gemm["check"]["median"] <= HELD_OUT_MEDIAN_BOUND, report
    assert gemm["check"]["p90"] <= HELD_OUT_P90_BOUND, report


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
