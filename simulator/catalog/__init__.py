"""The data boundary: shipped and user YAML files (hardware profiles, models, price books, serving engines) and Hugging Face model
config.json files, found by id or path,
validated by the pydantic schemas in `schema`, returned as the frozen types of `simulator.core`. The only place an
id becomes an object."""

from __future__ import annotations

from simulator.catalog.engines import (
    ENGINES_DIR,
    engine_file,
    engine_ids,
    engine_versions,
    load_engine,
    split_engine_ref,
)
from simulator.catalog.hardware import hardware_from_file, hardware_from_yaml_text, hardware_ids, load_hardware
from simulator.catalog.models import (
    load_model,
    model_from_dict,
    model_from_hf_text,
    model_from_yaml_text,
    model_ids,
    model_source,
)
from simulator.catalog.paths import (
    HARDWARE_DIR,
    MODELS_DIR,
    PRICES_DIR,
    ROOT,
    SCENARIOS_DIR,
    STACKS_DIR,
    existing_file,
    resolve,
)
from simulator.catalog.prices import load_price_book, price_book_ids
from simulator.catalog.quantization import kv_cache_dtypes, quantization_modes
from simulator.catalog.stacks import load_stack, stack_file, stack_ids
from simulator.catalog.yamlio import format_validation_error, parse_yaml_text, read_yaml, validate_file

__all__ = ["HARDWARE_DIR", "MODELS_DIR", "PRICES_DIR", "ROOT", "SCENARIOS_DIR", "format_validation_error",
           "hardware_from_file", "hardware_from_yaml_text", "hardware_ids", "load_hardware", "load_model",
           "load_price_book", "model_from_dict", "model_from_hf_text", "model_from_yaml_text", "model_ids",
           "model_source", "parse_yaml_text",
           "price_book_ids", "read_yaml", "resolve", "validate_file", "existing_file", "STACKS_DIR", "load_stack",
           "stack_file", "stack_ids", "ENGINES_DIR", "engine_file", "engine_ids", "engine_versions", "load_engine",
           "split_engine_ref", "kv_cache_dtypes", "quantization_modes"]
