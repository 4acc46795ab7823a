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
    "apply_overrides": ("runs.scenario", "apply_overrides"),
    "busy_gpu_hour_usd": ("core.cost", "busy_gpu_hour_usd"),
    "COST_OPTIONS": ("vocab", "COST_OPTIONS"),
    "usd_per_million_tokens": ("core.cost", "usd_per_million_tokens"),
    "Accelerator": ("core.hardware", "Accelerator"),
    "CandidateSpace": ("serving.capacity", "CandidateSpace"),
    "CapacityPlan": ("serving.capacity", "CapacityPlan"),
    "cluster_scenario_ids": ("cluster.scenario", "cluster_scenario_ids"),
    "ClusterResult": ("cluster.engine", "ClusterResult"),
    "ClusterScenario": ("cluster.scenario", "ClusterScenario"),
    "ClusterRunScenario": ("runs.scenario", "ClusterRunScenario"),
    "compare_training": ("api.training", "compare_training"),
    "daly_interval_s": ("cluster.analytic", "daly_interval_s"),
    "DataFileError": ("errors", "DataFileError"),
    "decode_step_time_s": ("core.inference", "decode_step_time_s"),
    "Deployment": ("core.inference", "Deployment"),
    "effective_cost_table": ("catalog.reports", "effective_cost_table"),
    "EngineProfile": ("core.inference", "EngineProfile"),
    "ENGINES": ("core.inference", "ENGINES"),
    "enumerate_plans": ("core.plans", "enumerate_plans"),
    "estimate_inference": ("api.inference", "estimate_inference"),
    "estimate_training": ("api.training", "estimate_training"),
    "evaluate": ("core.training", "evaluate"),
    "first_order_ettr": ("cluster.analytic", "first_order_ettr"),
    "Framework": ("core.training", "Framework"),
    "FRAMEWORKS": ("core.training", "FRAMEWORKS"),
    "hardware_ids": ("catalog", "hardware_ids"),
    "hardware_table": ("catalog.reports", "hardware_table"),
    "InfeasiblePlanError": ("errors", "InfeasiblePlanError"),
    "InferenceResult": ("core.inference", "InferenceResult"),
    "iteration_time_s": ("core.inference", "iteration_time_s"),
    "job_mtti_s": ("cluster.analytic", "job_mtti_s"),
    "load_cluster_scenario": ("cluster.scenario", "load_scenario"),
    "load_grid": ("runs.sweep", "load_grid"),
    "load_hardware": ("catalog", "load_hardware"),
    "load_model": ("catalog", "load_model"),
    "load_price_book": ("catalog", "load_price_book"),
    "load_scenario": ("runs.scenario", "load_scenario"),
    "make_options": ("api.training", "make_options"),
    "make_workload": ("serving", "make_workload"),
    "max_sustainable_rate": ("serving.capacity", "max_sustainable_rate"),
    "memory_plan": ("api.inference", "memory_plan"),
    "MemoryPlan": ("core.inference", "MemoryPlan"),
    "mmc_mean_wait_s": ("cluster.analytic", "mmc_mean_wait_s"),
    "model_from_dict": ("catalog", "model_from_dict"),
    "model_ids": ("catalog", "model_ids"),
    "pareto_front": ("core.search", "pareto_front"),
    "pick_best": ("api.training", "pick_best"),
    "plan_capacity": ("serving.capacity", "plan_capacity"),
    "plan_training": ("api.training", "plan_training"),
    "PlanError": ("errors", "PlanError"),
    "PlanGrid": ("core.plans", "PlanGrid"),
    "prefill_time_s": ("core.inference", "prefill_time_s"),
    "price_book_ids": ("catalog", "price_book_ids"),
    "PriceBook": ("core.cost", "PriceBook"),
    "QUANTIZATIONS": ("core.inference", "QUANTIZATIONS"),
    "RateSearch": ("serving.capacity", "RateSearch"),
    "read_results": ("runs.sweep", "read_results"),
    "read_trace": ("serving", "read_trace"),
    "rent_vs_buy": ("api.cost", "rent_vs_buy"),
    "RentVsBuy": ("core.cost", "RentVsBuy"),
    "roofline_curves": ("catalog.reports", "roofline_curves"),
    "ROUTERS": ("serving", "ROUTERS"),
    "run_cluster": ("runs.scenario", "run_cluster"),
    "run_scenario": ("runs.scenario", "run_scenario"),
    "run_sweep": ("runs.sweep", "run_sweep"),
    "scenario_from_dict": ("cluster.scenario", "scenario_from_dict"),
    "SearchResult": ("core.search", "SearchResult"),
    "ServingConfig": ("serving", "ServingConfig"),
    "ServingResult": ("serving", "ServingResult"),
    "simulate_cluster": ("cluster.engine", "simulate_cluster"),
    "simulate_serving": ("serving", "simulate_serving"),
    "SimulatorError": ("errors", "SimulatorError"),
    "single_plan": ("core.plans", "single_plan"),
    "SLO": ("serving.capacity", "SLO"),
    "TrainingOptions": ("core.training", "TrainingOptions"),
    "TrainingResult": ("api.training", "TrainingResult"),
    "TransformerSpec": ("core.model", "TransformerSpec"),
    "UnknownIdError": ("errors", "UnknownIdError"),
    "validate_training": ("validation.training", "validate"),
    "Workload": ("serving", "Workload"),
    "workload_from_trace": ("serving", "workload_from_trace"),
    "young_interval_s": ("cluster.analytic", "young_interval_s"),
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
