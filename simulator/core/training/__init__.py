"""The training model: step time, memory and utilisation of parallel plans, vectorised over plans.

options (what an evaluation shares, frameworks) -> layer (one transformer layer per micro-batch) -> memory (model
states, activations) -> step (`evaluate`: pipeline, data-parallel communication, optimizer, the whole step).
"""

from __future__ import annotations

from simulator.core.training.options import (
    BREAKDOWN_KEYS,
    FRAMEWORKS,
    MEMORY_KEYS,
    Framework,
    TrainingOptions,
    resolve_framework,
)
from simulator.core.training.step import evaluate

__all__ = ["BREAKDOWN_KEYS", "FRAMEWORKS", "MEMORY_KEYS", "Framework", "TrainingOptions", "evaluate",
           "resolve_framework"]
