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

import importlib
from typing import Any

__version__ = "0.1.0"

# name -> (submodule, attribute): imported on first use, so `import simulator` stays light and a
# machine with only numpy (e.g. a GPU box running `simulator calibrate run`) can use the parts it needs.
_EXPORTS: dict[str, tuple[str, str]] = {
    "apply_overrides": ("scenario", "apply_overrides"),
    "busy_gpu_hour_usd": ("cost", "busy_gpu_hour_usd"),
    "COST_OPTIONS": ("cost", "COST_OPTIONS"),
    "usd_per_million_tokens": ("cost", "usd_per_million_tokens"),
    "Accelerator": ("hardware", "Accelerator"),
    "CapacityPlan": ("capacity", "CapacityPlan"),
    "cluster_scenario_ids": ("cluster_workload", "cluster_scenario_ids"),
    "ClusterResult": ("cluster", "ClusterResult"),
    "ClusterScenario": ("cluster_workload", "ClusterScenario"),
    "compare_training": ("api", "compare_training"),
    "daly_interval_s": ("cluster_analytic", "daly_interval_s"),
    "DataFileError": ("errors", "DataFileError"),
    "decode_step_time_s": ("inference", "decode_step_time_s"),
    "Deployment": ("inference", "Deployment"),
    "effective_cost_table": ("reports", "effective_cost_table"),
    "EngineProfile": ("inference", "EngineProfile"),
    "ENGINES": ("inference", "ENGINES"),
    "enumerate_plans": ("plans", "enumerate_plans"),
    "estimate_inference": ("inference", "estimate_inference"),
    "estimate_training": ("api", "estimate_training"),
    "evaluate": ("training", "evaluate"),
    "first_order_ettr": ("cluster_analytic", "first_order_ettr"),
    "Framework": ("training", "Framework"),
    "FRAMEWORKS": ("training", "FRAMEWORKS"),
    "hardware_ids": ("catalog", "hardware_ids"),
    "hardware_table": ("reports", "hardware_table"),
    "InfeasiblePlanError": ("errors", "InfeasiblePlanError"),
    "InferenceResult": ("inference", "InferenceResult"),
    "iteration_time_s": ("inference", "iteration_time_s"),
    "job_mtti_s": ("cluster_analytic", "job_mtti_s"),
    "load_cluster_scenario": ("cluster_workload", "load_scenario"),
    "load_grid": ("sweep", "load_grid"),
    "load_hardware": ("catalog", "load_hardware"),
    "load_model": ("catalog", "load_model"),
    "load_price_book": ("cost", "load_price_book"),
    "load_scenario": ("scenario", "load_scenario"),
    "make_options": ("api", "make_options"),
    "make_workload": ("serving", "make_workload"),
    "max_sustainable_rate": ("capacity", "max_sustainable_rate"),
    "memory_plan": ("inference", "memory_plan"),
    "MemoryPlan": ("inference", "MemoryPlan"),
    "mmc_mean_wait_s": ("cluster_analytic", "mmc_mean_wait_s"),
    "model_from_dict": ("catalog", "model_from_dict"),
    "model_ids": ("catalog", "model_ids"),
    "pareto_front": ("search", "pareto_front"),
    "pick_best": ("api", "pick_best"),
    "plan_capacity": ("capacity", "plan_capacity"),
    "plan_training": ("api", "plan_training"),
    "PlanError": ("errors", "PlanError"),
    "PlanGrid": ("plans", "PlanGrid"),
    "prefill_time_s": ("inference", "prefill_time_s"),
    "price_book_ids": ("cost", "price_book_ids"),
    "PriceBook": ("cost", "PriceBook"),
    "QUANTIZATIONS": ("inference", "QUANTIZATIONS"),
    "RateSearch": ("capacity", "RateSearch"),
    "read_results": ("sweep", "read_results"),
    "read_trace": ("serving", "read_trace"),
    "rent_vs_buy": ("cost", "rent_vs_buy"),
    "RentVsBuy": ("cost", "RentVsBuy"),
    "roofline_curves": ("reports", "roofline_curves"),
    "ROUTERS": ("serving", "ROUTERS"),
    "run_cluster": ("scenario", "run_cluster"),
    "run_scenario": ("scenario", "run_scenario"),
    "run_sweep": ("sweep", "run_sweep"),
    "scenario_from_dict": ("cluster_workload", "scenario_from_dict"),
    "SearchResult": ("search", "SearchResult"),
    "ServingConfig": ("serving", "ServingConfig"),
    "ServingResult": ("serving", "ServingResult"),
    "simulate_cluster": ("cluster", "simulate_cluster"),
    "simulate_serving": ("serving", "simulate_serving"),
    "SimulatorError": ("errors", "SimulatorError"),
    "single_plan": ("plans", "single_plan"),
    "SLO": ("capacity", "SLO"),
    "TrainingOptions": ("training", "TrainingOptions"),
    "TrainingResult": ("api", "TrainingResult"),
    "TransformerSpec": ("model", "TransformerSpec"),
    "UnknownIdError": ("errors", "UnknownIdError"),
    "validate_training": ("validation", "validate"),
    "Workload": ("serving", "Workload"),
    "workload_from_trace": ("serving", "workload_from_trace"),
    "young_interval_s": ("cluster_analytic", "young_interval_s"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'simulator' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f".{module}", __name__), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
