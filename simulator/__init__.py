"""Compute cost and capacity planner for large AI models.

The public API; the CLI (`simulator.cli`), the app (`simulator.ui`) and the notebooks use nothing else::

    import simulator as sim
    r = sim.estimate_training("llama3.1-70b", "h100-sxm-80gb", 1024, tp=8, pp=4,
                              global_batch=1024, seq_len=8192)
    r.mfu, r.step_time_s, r.breakdown
    best = sim.plan_training("llama3.1-405b", "h100-sxm-80gb", 16384, global_batch=2048,
                             seq_len=8192, train_tokens=15e12).top(5)

Names are imported on first use, so `import simulator` stays light (no numpy, pandas, pydantic, simpy, streamlit,
dask or matplotlib) and a machine with only numpy (a GPU box running `simulator calibrate run`) can use the parts it
needs. Every enumeration (precisions, purchase options, policies, ...) is in `simulator.vocab`.
"""

from __future__ import annotations

from simulator.lazy import lazy_exports

__version__ = "0.1.0"

# name -> (submodule, attribute), grouped by layer: what `dir(simulator)` and the README list.
_EXPORTS: dict[str, tuple[str, str]] = {
    # errors
    "SimulatorError": ("errors", "SimulatorError"),
    "DataFileError": ("errors", "DataFileError"),
    "UnknownIdError": ("errors", "UnknownIdError"),
    "PlanError": ("errors", "PlanError"),
    "InfeasiblePlanError": ("errors", "InfeasiblePlanError"),
    # the catalog: ids and files to objects
    "load_hardware": ("catalog", "load_hardware"),
    "load_model": ("catalog", "load_model"),
    "load_price_book": ("catalog", "load_price_book"),
    "hardware_ids": ("catalog", "hardware_ids"),
    "model_ids": ("catalog", "model_ids"),
    "price_book_ids": ("catalog", "price_book_ids"),
    "data_root": ("catalog.paths", "data_root"),
    "failure_profile_ids": ("catalog.failures", "failure_profile_ids"),
    "load_failure_profile": ("catalog.failures", "load_failure_profile"),
    "model_from_dict": ("catalog", "model_from_dict"),
    "model_from_yaml_text": ("catalog", "model_from_yaml_text"),
    "model_from_hf_text": ("catalog", "model_from_hf_text"),
    "model_source": ("catalog", "model_source"),
    "hardware_from_yaml_text": ("catalog", "hardware_from_yaml_text"),
    "parse_yaml_text": ("catalog", "parse_yaml_text"),
    "hardware_table": ("catalog.reports", "hardware_table"),
    "roofline_curves": ("catalog.reports", "roofline_curves"),
    "effective_cost_table": ("catalog.reports", "effective_cost_table"),
    # core types and formulas
    "Accelerator": ("core.hardware", "Accelerator"),
    "TransformerSpec": ("core.model", "TransformerSpec"),
    "PlanGrid": ("core.plans", "PlanGrid"),
    "single_plan": ("core.plans", "single_plan"),
    "enumerate_plans": ("core.plans", "enumerate_plans"),
    "describe_plan_reasons": ("core.plans", "describe_reasons"),
    "PriceBook": ("core.cost", "PriceBook"),
    "RentVsBuy": ("core.cost", "RentVsBuy"),
    "busy_gpu_hour_usd": ("core.cost", "busy_gpu_hour_usd"),
    "usd_per_million_tokens": ("core.cost", "usd_per_million_tokens"),
    "COST_OPTIONS": ("vocab", "COST_OPTIONS"),
    "rent_vs_buy": ("api.cost", "rent_vs_buy"),
    # training
    "TrainingOptions": ("core.training", "TrainingOptions"),
    "Stack": ("core.training", "Stack"),
    "load_stack": ("catalog", "load_stack"),
    "stack_ids": ("catalog", "stack_ids"),
    "stack_file": ("catalog", "stack_file"),
    "training_options": ("api.training", "training_options"),
    "evaluate": ("core.training", "evaluate"),
    "make_options": ("core.training.estimate", "make_options"),
    "TrainingResult": ("core.training.result", "TrainingResult"),
    "SearchResult": ("core.search", "SearchResult"),
    "pareto_front": ("core.search", "pareto_front"),
    "estimate_training": ("api.training", "estimate_training"),
    "plan_training": ("api.training", "plan_training"),
    "compare_training": ("api.training", "compare_training"),
    "pick_best": ("api.training", "pick_best"),
    # inference
    "Deployment": ("catalog.engines", "Deployment"),  # via the catalog: its engine names resolve (workloads/engines)
    "SpeculativeDecoding": ("core.inference.speculative", "SpeculativeDecoding"),
    "expected_tokens_per_step": ("core.inference.speculative", "expected_tokens_per_step"),
    "EngineProfile": ("catalog.engines", "EngineProfile"),
    "ENGINES": ("catalog.engines", "ENGINES"),
    "load_engine": ("catalog.engines", "load_engine"),
    "engine_versions": ("catalog.engines", "engine_versions"),
    "QUANTIZATIONS": ("catalog.quantization", "QUANTIZATIONS"),  # via the catalog: filled from workloads/quantization.yaml
    "KV_BYTES": ("catalog.quantization", "KV_BYTES"),
    "MemoryPlan": ("core.inference", "MemoryPlan"),
    "InferenceResult": ("core.inference", "InferenceResult"),
    "iteration_time_s": ("core.inference", "iteration_time_s"),
    "prefill_time_s": ("core.inference", "prefill_time_s"),
    "decode_step_time_s": ("core.inference", "decode_step_time_s"),
    "estimate_inference": ("api.inference", "estimate_inference"),
    "memory_plan": ("api.inference", "memory_plan"),
    # launch settings for a chosen plan or deployment (workloads/launchers.yaml)
    "training_launch": ("api.launch", "training_launch"),
    "serving_launch": ("api.launch", "serving_launch"),
    "launch_formats": ("api.launch", "launch_formats"),
    # serving and capacity
    "Workload": ("serving.workload", "Workload"),
    "make_workload": ("serving.workload", "make_workload"),
    "with_prefix": ("serving.workload", "with_prefix"),
    "read_trace": ("serving.workload", "read_trace"),
    "read_trace_bytes": ("serving.workload", "read_trace_bytes"),
    "workload_from_trace": ("serving.workload", "workload_from_trace"),
    "check_rate": ("serving.workload", "check_rate"),
    "ROUTERS": ("serving.routers", "ROUTERS"),
    "ServingConfig": ("serving.config", "ServingConfig"),
    "ServingResult": ("serving.results", "ServingResult"),
    "simulate_serving": ("serving.simulation", "simulate_serving"),
    "SLO": ("serving.capacity", "SLO"),
    "CandidateSpace": ("serving.capacity", "CandidateSpace"),
    "CapacityPlan": ("serving.capacity", "CapacityPlan"),
    "RateSearch": ("serving.capacity", "RateSearch"),
    "max_sustainable_rate": ("serving.capacity", "max_sustainable_rate"),
    "plan_capacity": ("serving.capacity", "plan_capacity"),
    "capacity_curve": ("serving.capacity", "capacity_curve"),
    # lifecycle: training and inference cost over a model's life (scaling-law fits, families, compression methods)
    "ScalingLaw": ("core.scaling", "ScalingLaw"),
    "ModelFamily": ("core.scaling", "ModelFamily"),
    "CompressionMethod": ("core.scaling", "CompressionMethod"),
    "predicted_loss": ("core.scaling", "predicted_loss"),
    "tokens_for_loss": ("core.scaling", "tokens_for_loss"),
    "compute_optimal": ("core.scaling", "compute_optimal"),
    "family_shape": ("core.scaling", "family_shape"),
    "load_scaling_law": ("catalog.scaling_laws", "load_scaling_law"),
    "load_model_family": ("catalog.scaling_laws", "load_model_family"),
    "load_compression_method": ("catalog.scaling_laws", "load_compression_method"),
    "scaling_law_ids": ("catalog.scaling_laws", "scaling_law_ids"),
    "model_family_ids": ("catalog.scaling_laws", "model_family_ids"),
    "compression_method_ids": ("catalog.scaling_laws", "compression_method_ids"),
    "LifecycleDemand": ("api.lifecycle", "Demand"),
    "LifecyclePlanner": ("api.lifecycle", "LifecyclePlanner"),
    "LifecyclePlan": ("api.lifecycle_price", "LifecyclePlan"),
    "LifecycleSweep": ("api.lifecycle_price", "LifecycleSweep"),
    "lifecycle_planner": ("api.lifecycle", "lifecycle_planner"),
    "plan_lifecycle": ("api.lifecycle", "plan_lifecycle"),
    "lifecycle_sweep": ("api.lifecycle", "lifecycle_sweep"),
    "DEFAULT_COMPRESSION": ("api.lifecycle", "DEFAULT_COMPRESSION"),
    "LIFECYCLE_PROBE_REQUESTS": ("api.lifecycle", "DEFAULT_PROBE_REQUESTS"),
    # cluster
    "ClusterScenario": ("cluster.spec", "ClusterScenario"),
    "ClusterScenarioFile": ("cluster.schema", "ScenarioFile"),
    "ClusterResult": ("cluster.metrics", "ClusterResult"),
    "window_waits": ("cluster.metrics", "window_waits"),
    "started_at_once": ("cluster.metrics", "started_at_once"),
    "cluster_scenario_ids": ("cluster.scenario", "cluster_scenario_ids"),
    "load_cluster_scenario": ("cluster.scenario", "load_scenario"),
    "cluster_scenario_data": ("cluster.scenario", "scenario_data"),
    "parse_cluster_scenario_text": ("cluster.scenario", "parse_scenario_text"),
    "scenario_from_dict": ("cluster.scenario", "scenario_from_dict"),
    "build_cluster_scenario": ("cluster.scenario", "build_scenario"),
    "apply_overrides": ("cluster.scenario", "apply_overrides"),
    "simulate_cluster": ("cluster.engine", "simulate_cluster"),
    "daly_interval_s": ("cluster.analytic", "daly_interval_s"),
    "young_interval_s": ("cluster.analytic", "young_interval_s"),
    "first_order_ettr": ("cluster.analytic", "first_order_ettr"),
    "job_mtti_s": ("cluster.analytic", "job_mtti_s"),
    "mmc_mean_wait_s": ("cluster.analytic", "mmc_mean_wait_s"),
    # scenarios and sweeps
    "TrainingScenario": ("runs.schema", "TrainingScenario"),
    "TrainingOptionsSpec": ("runs.schema", "TrainingOptionsSpec"),
    "PlanSpec": ("catalog.schema", "PlanSpec"),
    "InferenceScenario": ("runs.schema", "InferenceScenario"),
    "ServingScenario": ("runs.schema", "ServingScenario"),
    "DeploymentSpec": ("runs.schema", "DeploymentSpec"),
    "ClusterRunScenario": ("runs.schema", "ClusterRunScenario"),
    "scenario_to_yaml": ("runs.schema", "to_yaml"),
    "load_scenario": ("runs.scenario", "load_scenario"),
    "evaluate_scenario": ("runs.scenario", "evaluate_scenario"),
    "run_scenario": ("runs.scenario", "run_scenario"),
    "run_cluster": ("runs.scenario", "run_cluster"),
    "load_grid": ("runs.grid", "load_grid"),
    "run_sweep": ("runs.sweep", "run_sweep"),
    "read_results": ("runs.sweep", "read_results"),
    # validation against published measurements
    "validate_training": ("validation.training", "validate"),
    "training_validation_summary": ("validation.training", "summary"),
    "training_leave_one_source_out": ("validation.training", "leave_one_source_out"),
    "band_coverage": ("validation.bands", "coverage"),
    "error_band": ("catalog.bands", "error_band"),
    "band_words": ("catalog.bands", "band_words"),
    "band_range": ("catalog.bands", "band_range"),
    "band_is_usable": ("catalog.bands", "band_is_usable"),
    "validate_inference": ("validation.inference", "validate"),
    "inference_validation_summary": ("validation.inference", "summary"),
    "validate_kernels": ("validation.kernels", "validate_kernels"),
    "validation_report": ("validation.report", "run"),
    "write_validation_readme": ("validation.report", "write_readme"),
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports("simulator", _EXPORTS, globals())
