"""Bounds on the figures of model and accelerator files (simulator.limits): every shipped file is inside them, a file
past them is one line naming the field and the bound (as an uploaded file in the app, through model_from_yaml_text and
hardware_from_yaml_text), and a file AT them still gives finite estimates in bounded time, so the bounds are the
limits of what the planner answers, not arbitrary figures.

The command-line side (exit 2, one line) of the same fields is in tests/test_bad_inputs.py.
"""

from __future__ import annotations

import copy
import math
import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simulator as sim
from simulator import limits as L
from simulator.errors import DataFileError, SimulatorError

ROOT = Path(__file__).resolve().parents[1]
HANG_GUARD_S = 120.0  # a hang guard, not a speed claim: each estimate below takes well under a second


def _yaml(folder: str, name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / folder / f"{name}.yaml").read_text())


def _set(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    *parents, leaf = dotted.split(".")
    node = out
    for p in parents:
        node = node.setdefault(p, {})
    node[leaf] = value
    return out


def test_every_shipped_file_is_inside_the_bounds() -> None:
    """All shipped model architectures (YAML and Hugging Face configs), accelerators and price books load."""
    assert len([sim.load_model(m) for m in sim.model_ids()]) >= 20
    assert len([sim.load_hardware(h) for h in sim.hardware_ids()]) >= 10
    assert len([sim.load_price_book(p) for p in sim.price_book_ids()]) >= 2


# (base file, field, a value past its bound, the bound the message must name)
PAST_BOUNDS = [
    ("model", "llama3.1-8b", "n_layers", 10**9, L.MAX_LAYERS),
    ("model", "llama3.1-8b", "d_model", 10**12, L.MAX_MODEL_WIDTH),
    ("model", "llama3.1-8b", "vocab_size", 10**15, L.MAX_VOCAB),
    ("model", "llama3.1-8b", "d_ff", 10**21, L.MAX_FFN_WIDTH),
    ("model", "llama3.1-8b", "n_heads", 10**6, L.MAX_HEADS),
    ("model", "llama3.1-8b", "context_window_tokens", 2**40, L.MAX_CONTEXT_WINDOW),
    ("model", "mixtral-8x7b", "moe.n_experts", 10**6, L.MAX_EXPERTS),
    ("model", "deepseek-v3", "attention.kv_lora_rank", 2**21, L.MAX_MODEL_WIDTH),
    ("hardware", "h100-sxm-80gb", "memory.hbm_bytes", 1e30, L.MAX_DEVICE_BYTES),
    ("hardware", "h100-sxm-80gb", "memory.hbm_bandwidth_bytes_per_s", 1e20, L.MAX_BYTES_PER_S),
    ("hardware", "h100-sxm-80gb", "peak_dense_flop_per_s.bf16", 1e25, L.MAX_PEAK_FLOP_PER_S),
    ("hardware", "h100-sxm-80gb", "peak_dense_flop_per_s.bf16", 1e-300, L.MIN_PEAK_FLOP_PER_S),
    ("hardware", "h100-sxm-80gb", "node.intra_node.bandwidth_bytes_per_s_unidir", 1.0, L.MIN_BYTES_PER_S),
    ("hardware", "h100-sxm-80gb", "efficiency.gemm.compute_efficiency", 1e-9, L.MIN_EFFICIENCY),
    ("hardware", "h100-sxm-80gb", "power.tdp_w", 1e9, L.MAX_TDP_W),
    ("hardware", "h100-sxm-80gb", "node.gpus_per_node", 10**6, L.MAX_GPUS_PER_NODE),
    ("hardware", "h100-sxm-80gb", "node.scale_out.latency_s", 1e6, L.MAX_LATENCY_S),
]


def _bound_in(bound: float, message: str) -> bool:
    """The bound as pydantic or our floor message writes it (1048576, 1e+15, 0.0001, 1e+06)."""
    forms = {str(bound), f"{bound:g}", str(int(bound)) if float(bound).is_integer() else str(bound)}
    return any(f in message for f in forms)


@pytest.mark.parametrize(("what", "base", "field", "value", "bound"), PAST_BOUNDS,
                         ids=[f"{b}.{f}={v:g}" for _, b, f, v, _ in PAST_BOUNDS])
def test_an_upload_past_a_bound_is_one_line_naming_field_and_bound(what: str, base: str, field: str, value: float,
                                                                   bound: float) -> None:
    folder, load = (("workloads/models", sim.model_from_yaml_text) if what == "model"
                    else ("hardware_profiles", sim.hardware_from_yaml_text))
    text = yaml.safe_dump(_set(_yaml(folder, base), field, value))
    with pytest.raises(DataFileError) as info:
        load(text, "upload.yaml")
    message = str(info.value)
    assert "\n" not in message and message.startswith("upload.yaml: "), message
    assert f"field '{field}'" in message, message
    assert _bound_in(bound, message), message


def test_too_many_collective_regimes_are_refused() -> None:
    """Each regime is costed for every plan of a search: a link may hold at most MAX_LINK_REGIMES."""
    data = _yaml("hardware_profiles", "h100-sxm-80gb")
    regime = {"latency_s": 1e-5, "bus_efficiency": 0.5}
    ok = _set(data, "node.intra_node.regimes", [regime] * L.MAX_LINK_REGIMES)
    assert sim.hardware_from_yaml_text(yaml.safe_dump(ok)).intra.regimes
    with pytest.raises(DataFileError, match=r"node\.intra_node\.regimes.*at most 16"):
        sim.hardware_from_yaml_text(yaml.safe_dump(_set(data, "node.intra_node.regimes",
                                                        [regime] * (L.MAX_LINK_REGIMES + 1))))


def test_a_price_past_its_bound_is_refused() -> None:
    book = yaml.safe_load((ROOT / "workloads/prices/hyperscaler-2025-03.yaml").read_text())
    hw = next(iter(book["usd_per_gpu_hour"]))
    for field, value in ((f"usd_per_gpu_hour.{hw}.on_demand", math.inf), ("electricity_usd_per_kwh", 1e300),
                         ("grid_kg_co2e_per_kwh", 1e6)):
        path = Path(f"/tmp/not-read-{field}")  # noqa: S108 - a label only: validate_file reads nothing
        from simulator.catalog.schema import PriceBookFile
        from simulator.catalog.yamlio import validate_file

        with pytest.raises(DataFileError, match=field.rsplit(".", 1)[-1]):
            validate_file(PriceBookFile, _set(book, field, value), str(path))


# ---------------------------------------------------------------- files AT the bounds still give finite estimates
MAX_MODEL = {"schema_version": 1, "kind": "model", "name": "at every bound", "n_layers": L.MAX_LAYERS,
             "d_model": L.MAX_MODEL_WIDTH, "n_heads": L.MAX_HEADS, "n_kv_heads": L.MAX_HEADS, "d_ff": L.MAX_FFN_WIDTH,
             "vocab_size": L.MAX_VOCAB, "context_window_tokens": L.MAX_CONTEXT_WINDOW,
             "max_position_embeddings": L.MAX_CONTEXT_WINDOW, "published_params": L.MAX_MODEL_PARAMS,
             "moe": {"n_experts": L.MAX_EXPERTS, "top_k": L.MAX_EXPERTS, "d_ff_expert": L.MAX_FFN_WIDTH,
                     "n_shared_experts": L.MAX_EXPERTS, "first_dense_layers": L.MAX_LAYERS - 1}}


def _profile_at(high: bool) -> dict[str, Any]:
    """The H100 profile with every bounded figure at its ceiling (high) or its floor: the fastest and the slowest
    device the planner accepts."""
    d = copy.deepcopy(_yaml("hardware_profiles", "h100-sxm-80gb"))
    d["id"] = "at-ceiling" if high else "at-floor"
    d["peak_dense_flop_per_s"] = {k: L.MAX_PEAK_FLOP_PER_S if high else L.MIN_PEAK_FLOP_PER_S
                                  for k in d["peak_dense_flop_per_s"]}
    d["memory"] = {"hbm_bytes": L.MAX_DEVICE_BYTES if high else L.MIN_DEVICE_BYTES, "reserved_bytes": 0.0,
                   "hbm_bandwidth_bytes_per_s": L.MAX_BYTES_PER_S if high else L.MIN_BYTES_PER_S}
    d["power"].update(tdp_w=L.MAX_TDP_W if high else 1e-3, server_to_gpu_power_ratio=L.MAX_SERVER_POWER_RATIO)
    lat, eff = (0.0, 1.2) if high else (L.MAX_LATENCY_S, L.MIN_EFFICIENCY)
    for tier in ("intra_node", "scale_out"):
        link = d["node"][tier]
        link.update(bandwidth_bytes_per_s_unidir=L.MAX_BYTES_PER_S if high else L.MIN_BYTES_PER_S,
                    latency_s=1e-12 if high else L.MAX_LATENCY_S, hop_latency_s=lat, bus_efficiency=eff)
        link["regimes"] = [{"latency_s": lat, "bus_efficiency": eff}] * L.MAX_LINK_REGIMES
        for key in ("tree_hop_latency_s",):
            if key in link:
                link[key] = lat
        for key in ("alltoall_efficiency",):
            if key in link:
                link[key] = eff
        if "in_network" in link:
            link["in_network"] = {"latency_s": lat, "bus_efficiency": eff}
    d["node"].update(gpus_per_node=L.MAX_GPUS_PER_NODE if high else 1,
                     scale_up_domain_gpus=L.MAX_GPUS_PER_NODE if high else 1)
    d["node"]["host"]["speed_vs_reference"] = L.MAX_HOST_SPEED if high else L.MIN_HOST_SPEED
    e, g = d["efficiency"], d["efficiency"]["gemm"]
    g.update(compute_efficiency=1.0 if high else L.MIN_EFFICIENCY, fp8_compute_efficiency=1.0 if high else
             L.MIN_EFFICIENCY, memory_efficiency=eff, launch_s=lat, p=8.0 if high else 0.51)
    for key in ("memory_bandwidth_efficiency", "flash_attention_efficiency", "flash1_attention_efficiency",
                "flash2_attention_efficiency"):
        if key in e:
            e[key] = 1.0 if high else L.MIN_EFFICIENCY
    e["kernel_launch_s"] = lat
    return d


def _finite_nonneg(rec: dict[str, Any], keys: tuple[str, ...]) -> None:
    for k in keys:
        v = rec[k]
        assert v is not None and math.isfinite(v) and v >= 0, (k, v)


def _timed(fn: Any, *args: Any, **kw: Any) -> Any:
    start = time.perf_counter()
    try:
        return fn(*args, **kw)
    except SimulatorError:
        return None
    finally:
        assert time.perf_counter() - start < HANG_GUARD_S


def test_a_model_at_every_bound_gives_finite_estimates_in_bounded_time() -> None:
    """The largest model the bounds allow loads, and training, plan search and inference answer (it fits nowhere,
    so infeasible) with finite figures; the plan search enumerates the divisors of MAX_LAYERS layers."""
    model = sim.model_from_dict(MAX_MODEL, "at-bounds")
    assert model.n_layers == L.MAX_LAYERS
    res = _timed(sim.estimate_training, model, "h100-sxm-80gb", L.MAX_GPUS, global_batch=L.MAX_BATCH,
                 seq_len=L.MAX_TOKENS, train_tokens=L.MAX_TRAIN_TOKENS)
    assert res is not None and not res.feasible
    assert math.isfinite(res.to_dict()["step_time_s"]) and math.isfinite(res.to_dict()["memory_per_gpu_bytes"])
    _timed(sim.plan_training, model, "h100-sxm-80gb", 1024, global_batch=1024, seq_len=4096)
    inf = _timed(sim.estimate_inference, model, "h100-sxm-80gb", sim.Deployment(tp=1), batch=1, input_len=8,
                 output_len=8)
    assert inf is not None and not inf.feasible


@pytest.mark.parametrize("high", [True, False], ids=["ceiling", "floor"])
def test_a_device_at_every_bound_gives_finite_estimates_in_bounded_time(high: bool) -> None:
    """The fastest and the slowest accelerator the bounds allow: estimates are finite and non-negative where
    feasible (the floor device holds 1 MB, so nothing fits on it, but its step time is still a finite number)."""
    hw = sim.hardware_from_yaml_text(yaml.safe_dump(_profile_at(high)), "at-bounds.yaml")
    train = _timed(sim.estimate_training, "llama3.1-8b", hw, 64, tp=8 if high else 1, global_batch=64, seq_len=4096,
                   train_tokens=1e12)  # the floor device is alone in its node: no tensor parallelism
    assert train is not None
    rec = train.to_dict()
    _finite_nonneg(rec, ("step_time_s", "memory_per_gpu_bytes"))
    if train.feasible:
        _finite_nonneg(rec, ("tokens_per_s", "mfu", "total_time_s", "gpu_hours", "energy_kwh"))
    assert train.feasible is high
    inf = _timed(sim.estimate_inference, "llama3.1-8b", hw, sim.Deployment(tp=1), batch=8, input_len=1024,
                 output_len=128)
    assert inf is not None and inf.feasible is high
    if high:
        _finite_nonneg(inf.to_dict(), ("ttft_s", "tpot_s", "e2e_s", "output_tokens_per_s"))
        wl = sim.make_workload(50, input_len=1024, output_len=16, rate_per_s=10, seed=0)
        served = _timed(sim.simulate_serving, "llama3.1-8b", hw, sim.ServingConfig(sim.Deployment(tp=1)), wl, seed=0)
        assert served is not None and served.summary["requests_completed"] == 50
        _finite_nonneg(served.summary, ("ttft_p99_s", "tpot_p99_s", "throughput_output_tokens_per_s"))


# ---------------------------------------------------------------- uploads, fuzzed
ANY_NUMBER = st.one_of(st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
                       st.sampled_from([0, -1, 2**63, 10**30, 1e300, 1e-300, math.inf, math.nan, True, None, "x",
                                        [1], {"a": 1}]))
MODEL_KEYS = ["n_layers", "d_model", "n_heads", "n_kv_heads", "d_ff", "vocab_size", "context_window_tokens",
              "max_position_embeddings", "published_params", "attention.head_dim", "moe.n_experts", "moe.top_k",
              "moe.d_ff_expert", "moe.n_shared_experts", "moe.first_dense_layers"]
HW_KEYS = ["peak_dense_flop_per_s.bf16", "peak_dense_flop_per_s.fp8", "memory.hbm_bytes", "memory.reserved_bytes",
           "memory.hbm_bandwidth_bytes_per_s", "power.tdp_w", "node.gpus_per_node", "node.scale_up_domain_gpus",
           "node.intra_node.bandwidth_bytes_per_s_unidir", "node.intra_node.latency_s", "node.scale_out.bus_efficiency",
           "efficiency.gemm.compute_efficiency", "efficiency.gemm.p", "efficiency.gemm.launch_s",
           "efficiency.memory_bandwidth_efficiency", "efficiency.flash_attention_efficiency"]


@settings(max_examples=300, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(edits=st.lists(st.tuples(st.sampled_from(MODEL_KEYS), ANY_NUMBER), min_size=1, max_size=3))
def test_fuzzed_model_upload_is_refused_or_estimates_finite(edits: list[tuple[str, Any]]) -> None:
    data = _yaml("workloads/models", "mixtral-8x7b")
    for key, value in edits:
        data = _set(data, key, value)
    try:
        model = sim.model_from_yaml_text(yaml.safe_dump(data), "upload.yaml")
    except DataFileError as exc:
        assert "\n" not in str(exc)
        return
    inf = _timed(sim.estimate_inference, model, "h100-sxm-80gb", sim.Deployment(tp=8), batch=4, input_len=256,
                 output_len=32)
    if inf is not None and inf.feasible:
        _finite_nonneg(inf.to_dict(), ("ttft_s", "tpot_s", "e2e_s", "output_tokens_per_s", "weights_bytes_per_gpu"))


@settings(max_examples=300, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(edits=st.lists(st.tuples(st.sampled_from(HW_KEYS), ANY_NUMBER), min_size=1, max_size=3))
def test_fuzzed_hardware_upload_is_refused_or_estimates_finite(edits: list[tuple[str, Any]]) -> None:
    data = _yaml("hardware_profiles", "h100-sxm-80gb")
    for key, value in edits:
        data = _set(data, key, value)
    try:
        hw = sim.hardware_from_yaml_text(yaml.safe_dump(data), "upload.yaml")
    except DataFileError as exc:
        assert "\n" not in str(exc)
        return
    train = _timed(sim.estimate_training, "llama3.1-8b", hw, 8, tp=8, global_batch=64, seq_len=2048,
                   train_tokens=1e10)
    if train is not None and train.feasible:
        _finite_nonneg(train.to_dict(), ("step_time_s", "tokens_per_s", "mfu", "memory_per_gpu_bytes",
                                         "total_time_s", "gpu_hours", "energy_kwh"))
    inf = _timed(sim.estimate_inference, "llama3.1-8b", hw, sim.Deployment(tp=1), batch=4, input_len=256,
                 output_len=32)
    if inf is not None and inf.feasible:
        _finite_nonneg(inf.to_dict(), ("ttft_s", "tpot_s", "e2e_s", "output_tokens_per_s"))


# ---------------------------------------------------------------- one place for the bounds
# Module-level MAX_ constants allowed outside simulator/limits.py, each with why it is not an input bound there.
NOT_INPUT_BOUNDS = {
    ("simulator/cluster/schema.py", "MAX_BATCH_PRIORITY"),  # a rule of the scheduler: services outrank every job
    ("simulator/validation/training.py", "MAX_OVERHEAD_SHARE"),  # identifiability limits of a fit, not of an input
    ("simulator/validation/training.py", "MAX_OVERHEAD_S"),
    ("simulator/ui/inference_settings.py", "MAX_TOKENS"),  # = limits.MAX_TOKENS (the widget's name for it)
    # input bounds still defined where they are used (files of other owners; to move into simulator.limits):
    ("simulator/catalog/hf_config.py", "MAX_CONFIG_BYTES"),
    ("simulator/ui/workspace.py", "MAX_URL_VALUE_CHARS"),
    ("simulator/ui/workspace.py", "MAX_SCENARIO_BYTES"),
}


def test_every_input_bound_lives_in_limits() -> None:
    """A module-level MAX_ constant outside simulator/limits.py is either listed above with its reason or a bound
    that belongs in limits (grid sizes, YAML caps and the cluster's job cap moved there)."""
    found = set()
    for path in sorted((ROOT / "simulator").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel == "simulator/limits.py":
            continue
        for name in re.findall(r"^_?(MAX_[A-Z0-9_]+)\s*(?::[^=]+)?=", path.read_text(), flags=re.M):
            found.add((rel, name))
    assert found <= NOT_INPUT_BOUNDS, sorted(found - NOT_INPUT_BOUNDS)
