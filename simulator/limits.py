"""Upper bounds on the numbers a user can type (CLI flags, scenario files, API arguments), in one place.

Each bound is far past any real system yet keeps one run's memory and time bounded: the CLI's argparse types
(simulator.cli.common), the scenario schemas (catalog/runs/cluster schema) and the API entry points use the same
constants, so a flag and the file field it mirrors accept the same values. Every number must also be finite; the
integers below are all under 2**63, so they fit the int64 arrays and Parquet columns they end up in.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from pathlib import Path
from typing import Any, Literal, TypeVar, overload

from simulator.errors import BadValueError

_T = TypeVar("_T")

SECONDS_PER_YEAR = 365.25 * 86400.0

# Accelerators in one job, cluster or collective (and any parallel degree, tp/pp/dp/..., or replica count): the
# largest training clusters are ~10^5 GPUs; 10^6 leaves a decade of room while plan searches stay in seconds.
MAX_GPUS = 10**6
MAX_GPU_COUNTS = 1000  # GPU counts one plan search compares (`simulator plan --gpus A B ...`): each is a full search
# Nodes in one cluster pool (spare nodes included): 10^6 GPUs at 8 per node, rounded up. Each node is an object in
# the cluster simulation, so this bounds its memory.
MAX_NODES = 131_072
# GPUs per node of a cluster pool: the largest scale-up domains announced hold 576 GPUs.
MAX_GPUS_PER_NODE = 1024
# A pool's speed relative to the reference hardware (it divides job durations): 1000x is past any generation gap.
MAX_RELATIVE_SPEED = 1000.0
# Jobs one cluster simulation may hold (explicit copies, a generator's n_jobs or its expected draws over the horizon,
# the scheduler's scan depth): a run this size takes tens of minutes, beyond it memory runs out first.
MAX_JOBS = 2_000_000
# Tokens in one sequence or request (a prompt, an output, a training sequence): today's longest contexts are
# ~10^6-10^7 tokens; a serving request's output tokens are simulated one decode step at a time.
MAX_TOKENS = 10**7
# Tokens one engine iteration may batch (--max-batched-tokens): 10x the longest request.
MAX_BATCHED_TOKENS = 10**8
# Sequences in one batch (global batch, micro-batch, static inference batch, max sequences per iteration):
# published global batches are ~10^3-10^4 sequences.
MAX_BATCH = 10**7
# Tokens a training run consumes: the largest runs are ~10^13-10^14 tokens.
MAX_TRAIN_TOKENS = 1e18
# Requests in one serving simulation (or users of a closed loop): each request is a row of several arrays and a
# SimPy process; 10^7 of them take minutes and a few GiB.
MAX_REQUESTS = 10**7
# Tokens one serving simulation may prefill and generate (requests x (input + output)), where neither count alone
# bounds it: a run simulates 5x10^6 to 10^7 tokens/s on one core whatever the load, so 10^9 is minutes (a batch
# carries many tokens per step, and a quiet engine's decode-only steps up to the next arrival are one event:
# serving.simulation.Simulation.leap; measured 2026-12-07: 100,000 requests of 512 + 256 tokens at 0.25/s, 15.7 s;
# at 20/s, 14.4 s). A model's context window bounds each request too.
MAX_SIMULATED_TOKENS = 10**9
# Requests each simulated probe of a capacity search replays (`simulator capacity --requests`): a search simulates
# dozens of probes, so 250x the default of 400 is the most that still ends in minutes.
MAX_PROBE_REQUESTS = 100_000
# Deployments one capacity search compares (candidates x (1 + disaggregation ratios)): each is simulated to
# saturation (~0.1-1 s), so 1000 is minutes.
MAX_CAPACITY_CANDIDATES = 1000
# Requests per second offered to a deployment: the busiest public APIs serve ~10^5 requests/s in all; a capacity plan
# at 10^9/s (10^8 replicas) still works, as it simulates a slice of the fleet. Past that the fleet sizes overflow.
MAX_RATE_PER_S = 1e9
# Simulated time (cluster --until, horizon_s, serving --max-time) and latency targets: hourly service ticks and
# failures make runs longer than a century take hours.
MAX_SIM_SECONDS = 100 * SECONDS_PER_YEAR
# A random seed: numpy takes any non-negative integer; results store it in an int64 column.
MAX_SEED = 2**63 - 1
# Rows a listing prints (--top): more than anyone reads; bounded so the request is not an allocation.
MAX_TOP = 10**6
# Node failures per 1000 node-days: published fleets show ~1-10; 10^6 (a thousand failures per node per day, what the
# engine's safety-bound test uses) is far past any fleet; 1e300 (a failure every 1e-295 s) was an endless run.
MAX_FAILURES_PER_1000_NODE_DAYS = 1e6
# One kernel dimension (simulator kernel --m/--n/--k/--seq-len) and heads/head size: far past any real kernel.
MAX_KERNEL_DIM = 10**9
MAX_KERNEL_BYTES = 1e15  # bytes moved by one kernel or collective (1 PB)
# Local worker processes of a sweep and BLAS threads: past any machine's core count.
MAX_WORKERS = 4096
# Passes over the calibration suite and timed seconds per case: a full suite at the bound runs for days already.
MAX_ROUNDS = 10_000
MAX_MIN_TIME_S = 3600.0
# Relative error bounds (simulator calibrate validate --max-median/--max-p90): fractions, 1e6 = 10^8 %.
MAX_ERROR_FRACTION = 1e6
# A path or id argument: Linux refuses paths past PATH_MAX (4096 bytes) and names past NAME_MAX (255 bytes).
MAX_PATH_CHARS = 4096
MAX_NAME_CHARS = 255

# ---------------------------------------------------------------- data files (catalog.yamlio)
# Untrusted YAML is bounded before it can exhaust memory. The largest shipped file is 23 KB and a grid's longest
# allowed list (MAX_AXIS_VALUES values) about 1 MB, while PyYAML holds ~100 bytes per byte of text as it parses:
MAX_YAML_BYTES = 2 * 2**20
# values once aliases are expanded: a 1 KB file of nested aliases ("billion laughs") otherwise stands for 10^9
# values that json.dumps or a walk over the data would then build
MAX_YAML_NODES = 1_000_000
# A Hugging Face config.json (catalog.hf_config): the published ones are 1-3 KB (the largest shipped, gpt-oss-120b's,
# 2 KB); 1 MiB is 500x that, and JSON parses into about 10x its size, so a file past it is not a config.
MAX_HF_CONFIG_BYTES = 2**20

# ---------------------------------------------------------------- sweep grids (runs.grid), counted before listing
# A sweep writes one Parquet row per scenario: ten million rows are already gigabytes of results and hours of
# vectorised training (years of simulations). A bigger grid is nearly always a range missing its step or a seeds
# typo, so it is refused, naming the axis, instead of being listed until memory runs out.
MAX_SCENARIOS = 10_000_000
# Every axis value is held in memory and checked on its own before the sweep runs (~35 us each): the values of
# all axes together, so that many ranges cannot add up to what one may not.
MAX_AXIS_VALUES = 100_000
# Fields swept (an axis, or a column of a zip group). Under MAX_SCENARIOS at most 23 axes can have two values, and
# each scenario copies every field: more than this is a generated grid gone wrong.
MAX_AXES = 100
# Each shard is a file and a queued task: more than this means a shard_size far too small for the grid.
MAX_SHARDS = 100_000

# ---------------------------------------------------------------- the web app (simulator.ui.workspace)
# A link's query parameter: ids and numbers are under 100 characters, a list of GPU counts a few hundred; a longer
# value is ignored before it is parsed (a URL may be as long as the browser allows).
MAX_URL_VALUE_CHARS = 2_000
# An uploaded scenario file: the largest shipped is 3 KB (workloads/scenarios); 256 KiB is 80x that, still parsed in
# milliseconds, and a shared server reads no more than that from one upload (data files have MAX_YAML_BYTES).
MAX_SCENARIO_UPLOAD_BYTES = 256 * 1024

# ---------------------------------------------------------------- model architectures (model YAMLs, uploads)
# A Hugging Face config.json's keys take the bounds of the model-YAML fields they become (catalog.hf_config), so a
# config and a YAML of one model accept the same figures.
# The figures of the largest published models, and room past them by the stated factor. Past these a file describes
# no model anyone trains (a unit slip or a typo), and the plan search enumerates the divisors of n_layers one by one.
# Layers: the deepest LLMs have 128 (Megatron 1T), research post-LN transformers 1,000 (DeepNet, Wang et al. 2022).
MAX_LAYERS = 10_000  # 10x DeepNet, 78x the deepest LLM
# Hidden size, head size and MLA low-rank dimensions: the widest published d_model is 25,600 (Megatron 1T).
MAX_MODEL_WIDTH = 2**20  # 41x the widest
# Attention heads (query and key/value): the most published is 160 (Megatron 1T).
MAX_HEADS = 65_536  # 400x the most
# MLP hidden size (dense or per expert): the widest published is 102,400 (Megatron 1T).
MAX_FFN_WIDTH = 2**24  # 160x the widest
# Vocabulary: the largest published is 262,144 (Gemma 3).
MAX_VOCAB = 2**24  # 64x the largest
# Routed or shared experts per MoE layer: the most published is 384 (Kimi K2).
MAX_EXPERTS = 65_536  # 170x the most
# Context window and learned positions: the longest published window is 10^7 tokens (Llama 4 Scout); past MAX_TOKENS
# a window never binds (no request may be longer), so this bound only keeps the figure an int64.
MAX_CONTEXT_WINDOW = 2**30  # 107x the longest
# A published parameter count (tests compare it with the model's own count): the largest are ~2x10^12.
MAX_MODEL_PARAMS = 1e16  # 5,000x the largest

# ---------------------------------------------------------------- accelerator profiles (hardware YAMLs, uploads)
# The fastest shipped device (GB200) peaks at 10^16 dense fp4 FLOP/s, holds 192 GB of HBM at 8 TB/s, draws 1,200 W and
# moves 900 GB/s per direction over NVLink. The upper bounds leave 100x and more; the lower ones are far below any
# computer built since 1990 (the shipped 2-vCPU host profile: 2x10^11 FLOP/s, 2.7x10^10 B/s) and keep the times, which
# divide by these figures, finite (a 1e-300 peak made centuries of 1e+300 s, and `.inf` a time of zero).
MAX_PEAK_FLOP_PER_S = 1e18  # 100x GB200 fp4 dense
MIN_PEAK_FLOP_PER_S = 1e6
MAX_DEVICE_BYTES = 1e15  # device memory (and chunk sizes): 5,000x the largest HBM (192 GB), past any host's RAM
MIN_DEVICE_BYTES = 1e6
MAX_BYTES_PER_S = 1e15  # memory or link bandwidth per device: 125x the fastest HBM, 1,100x NVLink 5
MIN_BYTES_PER_S = 1e3
# Latencies (collective base and per-hop latency, kernel launch): the slowest shipped is 93 us (an NVLS all-reduce).
MAX_LATENCY_S = 1.0  # 10,000x the slowest
# Efficiencies (achieved over spec figure) divide times too: the calibration fit's floor for a collective regime is
# 10^-4 (calibrate/fit.py) and the lowest shipped is 0.078; a kernel below it is a broken measurement.
MIN_EFFICIENCY = 1e-4
MAX_TDP_W = 1e5  # power per device: 80x the hungriest (1,200 W)
MAX_SERVER_POWER_RATIO = 10.0  # server over GPU power: the shipped ratios are 1.0-2.0
MIN_HOST_SPEED = 1e-3  # a host CPU 1,000x slower than the reference (host terms divide by it); the bound above: 10
MAX_HOST_SPEED = 10.0
# Latency-bandwidth regimes of one link: NCCL has 3 protocols; each regime is evaluated for every plan a search
# compares, so a 2 MB file of 10^5 regimes would multiply every collective's cost.
MAX_LINK_REGIMES = 16

# ---------------------------------------------------------------- serving-engine profiles (workloads/engines)
# The engine's scheduler limits take the bounds above (block size: MAX_TOKENS, max_seqs: MAX_BATCH, max_batched_tokens:
# MAX_BATCHED_TOKENS) and its reserved memory MAX_DEVICE_BYTES; fractions are in (0, 1].
# Host time per engine step, per layer launch or per sequence: the largest shipped is 4.2 ms (FasterTransformer's
# fitted step overhead). A host overhead above 1 s per step is no real engine (every step of every request pays it).
MAX_HOST_OVERHEAD_S = 1.0  # 240x the largest
# The engine kernels' share of the hardware's calibrated compute efficiency (it multiplies efficiencies, and times
# divide by it): the shipped ones are 0.6-1.0 and the fit caps it at 1 (validation.inference). 10x would put most
# calibrated kernels above the device's peak; 1/1000 is a kernel 1,000x slower than measured ones.
MAX_ENGINE_COMPUTE_SCALE = 10.0
MIN_ENGINE_COMPUTE_SCALE = 1e-3
# How many times slower an engine's fused-MoE GEMMs compute than the fused-MoE figures at 1,024 wide (EngineProfile
# .moe_compute_slowdown; the factor at any width is never taken below 1): the shipped ones are 2.8-3.0. Below 0.1 the
# fit would have the kernel beat the figures tenfold; 100x is no kernel anyone ships. Its extra time per layer: the shipped ones are 19-30 us, a
# millisecond is a layer no engine ships.
MIN_ENGINE_MOE_SLOWDOWN = 0.1
MAX_ENGINE_MOE_SLOWDOWN = 100.0
MAX_ENGINE_MOE_EXTRA_S = 1e-3
# Bytes per weight or KV element in an engine's benchmark sizing: fp64, the widest number format, is 8 (the widest
# shipped is bf16's 2).
MAX_BYTES_PER_ELEMENT = 8.0

# ---------------------------------------------------------------- failure profiles (workloads/failures)
# A profile's published figure becomes a per-node failure rate (cluster.failures.observation_rate) that a cluster
# scenario then uses as its failures_per_1000_node_days: a count, MTTI or fleet rate implying more than
# MAX_FAILURES_PER_1000_NODE_DAYS is refused at load, naming the row. Job sizes take MAX_GPUS, nodes
# MAX_GPUS_PER_NODE, and windows, MTTIs and recovery times MAX_SIM_SECONDS (a century: nothing was observed longer).
# Failures one source tallied by root cause: Llama 3 counted 419 over 54 days on 16k GPUs, a large cluster's yearly log
# holds ~10^4-10^5; past 10^9 a count is a typo (and an infinite one made NaN shares).
MAX_FAILURE_COUNT = 1e9
# One published checkpoint: ~2-5 TB for a 175B-405B model with its optimizer state (16 bytes per parameter); an
# exabyte is 16 bytes for each of MAX_MODEL_PARAMS parameters, rounded up.
MAX_CHECKPOINT_BYTES = 1e18

# ---------------------------------------------------------------- price books
# Prices multiply into every cost; an `.inf` or 1e300 price made an infinite cost of a feasible plan.
MAX_USD_PER_GPU_HOUR = 1e4  # 1,000x the dearest GPU-hour listed (~$10)
MAX_USD_PER_GPU = 1e8  # purchase, storage or yearly operations per GPU: 2,500x an H100's server share (~$40k)
MAX_USD_PER_KWH = 100.0  # 250x the dearest retail electricity (~$0.4/kWh)
MAX_KG_CO2E_PER_KWH = 10.0  # 9x lignite, the dirtiest grid source (~1.1 kg/kWh)


# ---------------------------------------------------------------- argument checks of the API entry points
def _flag(name: str) -> str:
    return name if name.startswith("-") else f"--{name.replace('_', '-')}"


@overload
def check_int(name: str, value: Any, low: int, high: int, *, allow_none: Literal[False] = False) -> int: ...
@overload
def check_int(name: str, value: Any, low: int, high: int, *, allow_none: bool) -> int | None: ...
def check_int(name: str, value: Any, low: int, high: int, *, allow_none: bool = False) -> int | None:
    """`value` as an int when it is a whole number (an int, or a float/numpy number equal to one) in [low, high];
    else BadValueError naming the argument. Booleans are refused. Use the int it returns: a whole float (2.0) passes
    the check but is no index, range() count or slice bound."""
    if value is None and allow_none:
        return None
    what = f"a positive whole number up to {high:,}" if low == 1 else f"a whole number from {low:,} to {high:,}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise BadValueError(f"{_flag(name)} must be {what}, got {_short(value)} ({type(value).__name__})")
    if isinstance(value, numbers.Integral):
        number = int(value)
    else:
        f = float(value)
        if not math.isfinite(f):
            raise BadValueError(f"{_flag(name)} must be {what}, got {value!r}")
        if f != int(f):
            raise BadValueError(f"{_flag(name)} must be a whole number, got {value!r}")
        number = int(f)
    if not low <= number <= high:
        raise BadValueError(f"{_flag(name)} must be {what}, got {_short(value)}")
    return number


def check_number(name: str, value: Any, low: float, high: float, *, low_open: bool = False,
                 allow_none: bool = False) -> float | None:
    """`value` as a float when it is a finite real number in [low, high] ((low, high] when `low_open`); else
    BadValueError naming the argument."""
    if value is None and allow_none:
        return None
    if low_open and low == 0:
        what = f"a positive number up to {high:g}"
    else:
        what = f"a number {'above' if low_open else 'from'} {low:g} up to {high:g}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise BadValueError(f"{_flag(name)} must be {what}, got {_short(value)} ({type(value).__name__})")
    try:
        f = float(value)
    except OverflowError:  # an int past 1e308
        f = math.inf
    if not ((low < f if low_open else low <= f) and f <= high):  # NaN fails too
        raise BadValueError(f"{_flag(name)} must be {what}, got {_short(value)}")
    return f


def check_choice(name: str, value: Any, choices: tuple[Any, ...], *, allow_none: bool = False,
                 label: str | None = None) -> Any:
    """`value` when it is one of `choices` (compared only with values of a hashable, matching type); `label` names
    the argument in the message (default: its name in words). A whole float among integer choices (1.0 for ZeRO
    stage 1) is taken as that int, as check_int takes it."""
    if value is None and allow_none:
        return None
    if (isinstance(value, numbers.Real) and not isinstance(value, (numbers.Integral, bool))
            and math.isfinite(float(value)) and float(value).is_integer()
            and any(isinstance(c, numbers.Integral) and not isinstance(c, bool) for c in choices)):
        value = int(float(value))
    same_type = [c for c in choices if isinstance(value, str) == isinstance(c, str) and not isinstance(value, bool)]
    if not isinstance(value, (str, numbers.Integral)) or value not in same_type:
        raise BadValueError(f"{label or name.replace('_', ' ')} {_short(value)} is not one of "
                            f"{', '.join(map(str, choices))}")
    return value


def check_ref(name: str, value: Any, types: tuple[type, ...] = ()) -> None:
    """An id or path argument (or a loaded object of one of `types`): a str or PathLike no file system refuses for
    its length, without NUL characters."""
    if types and isinstance(value, types):
        return
    if not isinstance(value, (str, os.PathLike)):
        raise BadValueError(f"{name} must be an id or a path, got {_short(value)} ({type(value).__name__})")
    text = os.fspath(value)
    if not isinstance(text, str):
        raise BadValueError(f"{name} must be an id or a path, got bytes {_short(text)}")
    if "\0" in text or not text.strip():
        raise BadValueError(f"{name} must be an id or a path, got {_short(text)}")
    if text.startswith("~"):
        try:
            Path(text).expanduser()
        except RuntimeError:  # ~user of no user: pathlib cannot expand it
            raise BadValueError(f"{name} {_short(text)}: no such home folder; give the path without ~") from None
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_PATH_CHARS or any(len(part) > MAX_NAME_CHARS for part in raw.split(b"/")):
        raise BadValueError(f"{name} {_short(text)} is longer than a path or file name can be ({MAX_PATH_CHARS} bytes, "
                            f"{MAX_NAME_CHARS} per name)")


def _short(value: Any) -> str:
    """A value in an error message: its repr cut to one short line."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a hostile __repr__ (or an int too long to print)
        text = f"<{type(value).__name__}>"
    text = text.replace("\n", " ")
    return text if len(text) <= 60 else f"{text[:60]}... ({len(text):,} characters)"


def check_deployment_args(dep: _T, name: str = "deployment") -> _T:
    """The user-set numbers of an inference Deployment (tp, pp, ep, dp_attention, max_seqs, max_batched_tokens) and
    the types of its names; which names exist is the core's check. Returns the deployment with those numbers as ints
    (a whole float such as pp=1.0 passes the check but is no range() count): callers go on with what it returns."""
    ints: dict[str, int | None] = {a: check_int(a, getattr(dep, a, None), 1, MAX_GPUS)
                                   for a in ("tp", "pp", "ep", "dp_attention")}
    ints["max_seqs"] = check_int("max_batch", getattr(dep, "max_seqs", None), 1, MAX_BATCH, allow_none=True)
    ints["max_batched_tokens"] = check_int("max_batched_tokens", getattr(dep, "max_batched_tokens", None), 1,
                                           MAX_BATCHED_TOKENS, allow_none=True)
    for attr in ("precision", "kv_precision", "engine"):
        value = getattr(dep, attr, None)
        if not isinstance(value, str) or len(value) > MAX_NAME_CHARS:
            raise BadValueError(f"{name}.{attr} must be a name, got {_short(value)}")
    changed = {k: v for k, v in ints.items() if type(getattr(dep, k)) is not type(v)}
    if changed and dataclasses.is_dataclass(dep) and not isinstance(dep, type):
        return dataclasses.replace(dep, **changed)
    return dep


# ---------------------------------------------------------------- speculative decoding and prefix caching
# Tokens a draft proposes per verification step (vLLM --num-speculative-tokens, SGLang --speculative-num-draft-tokens):
# published setups use 1-8 (EAGLE trees verify up to ~64 candidates); past this the expected accepted tokens are flat
# while every step verifies k + 1 tokens, so a larger k is a typo, not a plan.
MAX_SPECULATIVE_TOKENS = 64
# A draft head's cost in layers of the target's shape per draft step (EAGLE: 1 layer; DeepSeek-V3 MTP: 1 module per
# drafted token); more than the largest model's layers (126) is a draft slower than its target.
MAX_DRAFT_LAYERS = 128.0

# ---------------------------------------------------------------- lifecycle planning (simulator lifecycle)
# Inference demand a day: the busiest public services report ~10^13-10^15 tokens a day; 10^18 leaves 1,000x room. Requests
# a day stop where the rate passes MAX_RATE_PER_S (the capacity planner's bound).
MAX_TOKENS_PER_DAY = 1e18
MAX_REQUESTS_PER_DAY = MAX_RATE_PER_S * 86400.0
# Months a model is served: a century, as MAX_SIM_SECONDS bounds simulated time.
MAX_DEPLOYMENT_MONTHS = 1200.0
# A target loss in nats per token: uniform guessing over a million-token vocabulary scores ln(10^6) = 13.8; past 100 is a
# unit slip (bits, perplexity), not a loss.
MAX_LOSS_NATS = 100.0
# Model sizes one lifecycle search compares: each is a training plan search and a capacity search (seconds each).
MAX_LIFECYCLE_CANDIDATES = 50
# Demand points one lifecycle sweep prices: arithmetic once the candidates are planned.
MAX_LIFECYCLE_DEMANDS = 10_000
# Compression methods one lifecycle search applies (each adds up to one option per candidate).
MAX_COMPRESSION_METHODS = 20
