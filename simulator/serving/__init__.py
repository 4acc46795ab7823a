"""The serving simulation (SimPy) and capacity planning on top of it.

workload (requests: arrivals, lengths, traces) -> routers -> config (replicas, SLO) -> state + scheduler (one
engine's batches, KV blocks, preemption) -> simulation (the SimPy run) -> results (percentiles, goodput, overload)
-> capacity (the highest rate a deployment holds under an SLO; the cheapest fleet for a target rate).
"""

from __future__ import annotations

from simulator.serving.config import ServingConfig
from simulator.serving.results import ServingResult, summarize
from simulator.serving.routers import ROUTERS
from simulator.serving.simulation import simulate_serving
from simulator.serving.workload import (
    Workload,
    arrival_times_s,
    check_rate,
    make_workload,
    read_trace,
    sample_lengths,
    with_rate,
    workload_from_trace,
)

__all__ = ["ROUTERS", "ServingConfig", "ServingResult", "Workload", "arrival_times_s", "check_rate", "make_workload",
           "read_trace", "sample_lengths", "simulate_serving", "summarize", "with_rate", "workload_from_trace"]
