"""Predictions against published measurements: training (validation.training), inference engines
(validation.inference) and the cluster simulation (validation.cluster). The published rows live in
`data/` inside the package (sources and assumptions in data/README.md), so an installed package can run them."""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
