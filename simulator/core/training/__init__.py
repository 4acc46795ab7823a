"""The training model: step time, memory and utilisation of parallel plans, vectorised over plans.

stack (what the software stack does) -> options (what an evaluation shares) -> layer (one transformer layer per micro-batch) -> memory (model
states, activations) -> step (`evaluate`: pipeline, data-parallel communication, optimizer, the whole step).
"""

from __future__ import annotations

from simulator.core.training.options import (
    BREAKDOWN_KEYS,
    MEMORY_KEYS,
    TrainingOptions,
)
from simulator.core.training.stack import Stack
from simulator.core.training.step import evaluate

__all__ = ["BREAKDOWN_KEYS", "MEMORY_KEYS", "Stack", "TrainingOptions", "evaluate"]
