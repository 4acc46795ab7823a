"""Predictions against published measurements: training (validation.training), inference engines
(validation.inference) and the cluster simulation (validation.cluster). The published rows live in
`data/` beside this code rather than in tests/ (the training files' sources and assumptions in data/README.md, the
inference file's split and sources in validation.inference), read with the profiles in hardware_profiles/."""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
