"""Compute cost and capacity planner for large AI models.

Public API (imports nothing heavy: no streamlit, dask or matplotlib)::

    import simulator as sim
    r = sim.estimate_training("llama3.1-70b", "h100-sxm-80gb", 1024, tp=8, pp=4,
                              global_batch=1024, seq_len=8192)
    r.mfu, r.step_time_s, r.breakdown
    best = sim.plan_training("llama3.1-405b", "h100-sxm-80gb", 16384, global_batch=2048,
                             seq_len=8192, train_tokens=15e12).top(5)
"""

from __future__ import annotations

from .api import TrainingResult, compare_training, estimate_training, make_options, pick_best, plan_training
from .capacity import SLO, CapacityPlan, RateSearch, max_sustainable_rate, plan_capacity
from .catalog import hardware_ids, load_hardware, load_model, model_from_dict, model_ids
from .cluster import ClusterResult, simulate_cluster
from .cluster_workload import ClusterScenario, cluster_scenario_ids
from .cluster_workload import load_scenario as load_cluster_scenario
from .cost import PriceBook, RentVsBuy, load_price_book, price_book_ids, rent_vs_buy
from .errors import DataFileError, InfeasiblePlanError, PlanError, SimulatorError, UnknownIdError
from .hardware import Accelerator
from .inference import (
                        ENGINES,
                        QUANTIZATIONS,
                        Deployment,
                        EngineProfile,
                        InferenceResult,
                        MemoryPlan,
                        decode_step_time_s,
                        estimate_inference,
                        iteration_time_s,
                        memory_plan,
                        prefill_time_s,
)
from .model import TransformerSpec
from .plans import PlanGrid, enumerate_plans, single_plan
from .reports import effective_cost_table, hardware_table, roofline_curves
from .search import SearchResult, pareto_front
from .serving import (
                        ROUTERS,
                        ServingConfig,
                        ServingResult,
                        Workload,
                        make_workload,
                        read_trace,
                        simulate_serving,
                        workload_from_trace,
)
from .training import TrainingOptions, evaluate

__version__ = "0.1.0"

__all__ = [
    "ENGINES", "QUANTIZATIONS", "ROUTERS", "SLO", "CapacityPlan", "Deployment", "EngineProfile", "InferenceResult",
    "MemoryPlan", "RateSearch", "ServingConfig", "ServingResult", "Workload", "decode_step_time_s",
    "estimate_inference", "iteration_time_s", "make_workload", "max_sustainable_rate", "memory_plan",
    "plan_capacity", "prefill_time_s", "read_trace", "simulate_serving", "workload_from_trace",
    "ClusterResult", "ClusterScenario", "RentVsBuy", "cluster_scenario_ids", "load_cluster_scenario", "rent_vs_buy",
    "simulate_cluster",
    "Accelerator", "compare_training", "DataFileError", "InfeasiblePlanError", "PlanError", "PlanGrid", "PriceBook", "SearchResult",
    "SimulatorError", "TrainingOptions", "TrainingResult", "TransformerSpec", "UnknownIdError", "enumerate_plans",
    "effective_cost_table", "estimate_training", "evaluate", "hardware_table", "roofline_curves", "hardware_ids", "load_hardware", "load_model", "load_price_book",
    "make_options", "pick_best", "model_from_dict", "model_ids", "pareto_front", "plan_training", "price_book_ids",
    "single_plan",
]
