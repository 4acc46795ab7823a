"""Requests to serve: synthetic workloads (arrival processes, length distributions) and request traces."""

from __future__ import annotations

import io
import math
import numbers
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from simulator.catalog import existing_file
from simulator.core.inference.static import cached_prompt_tokens, check_prefix
from simulator.errors import DataFileError, PlanError
from simulator.limits import (
    MAX_RATE_PER_S,
    MAX_REQUESTS,
    MAX_SEED,
    MAX_SIMULATED_TOKENS,
    MAX_TOKENS,
    check_int,
    check_number,
)
from simulator.simkit import rng_streams

# `sharegpt` is the ShareGPT sample that the vLLM and SGLang serving benchmarks draw, not the raw dataset (whose means,
# 161 in / 338 out in Kwon et al. 2023 sec. 6.1, the distribution used before: its outputs were 1.7x the benchmarks').
# Both benchmarks take each conversation's first human turn as the prompt and the first reply's token count as the
# output, and drop a pair whose prompt or output is under 4 tokens, whose prompt is over 1024 or whose prompt +
# output is over 2048 tokens (vllm benchmarks/benchmark_serving.py and sglang python/sglang/bench_serving.py,
# sample_sharegpt_requests). The published sample statistics (Llama-3 tokenizer; total tokens / requests):
SHAREGPT_PUBLISHED: tuple[dict[str, str | float], ...] = (
    {"mean_prompt_tokens": 229711 / 1000, "mean_output_tokens": 203068 / 1000, "requests": 1000,
     "source": "vllm-project/vllm PR #18566 (2025-05-22): vllm bench serve, Llama-3.1-8B-Instruct, ShareGPT_Vicuna_"
               "unfiltered, 1000 requests: total input tokens 229711, total generated tokens 203068"},
    {"mean_prompt_tokens": 369103 / 1648, "mean_output_tokens": 326408 / 1648, "requests": 1648,
     "source": "sgl-project/sglang issue #2805 (2025-01-09): sglang.bench_serving --dataset-name sharegpt "
               "(ShareGPT_V3_unfiltered_cleaned_split.json), Llama-3.1-8B-Instruct, 1648 successful requests: total "
               "input tokens 369103, total generated tokens 326408 (bench_serving ignores EOS: outputs are the "
               "dataset's lengths)"},
    {"mean_prompt_tokens": 203559 / 940, "mean_output_tokens": 184674 / 940, "requests": 940,
     "source": "kubeai-project/kubeai PR #341 (2024-12-07): vLLM benchmark_serving.py on ShareGPT, Llama-3.3-70B "
               "(Llama-3 tokenizer), 940 successful requests: total input tokens 203559, total generated 184674"},
)
SHAREGPT_FILTER = (4, 1024, 2048)  # fewest tokens of a prompt or output, longest prompt, longest prompt + output
SHAREGPT_CV = 1.3  # lognormal spread of both lengths before the filter (kept from the earlier model; not published)
# Lognormal means before the filter, solved (Monte Carlo, 3M draws) so that the filtered sample's means are the
# published runs' averages, 223.4 prompt and 199.2 output tokens; its medians are then about 158 and 126.
SHAREGPT_LOGNORMAL_MEANS = (270.6, 208.5)

# Named datasets drawn as lognormal lengths around their published means (the spread is the workload's length_cv: the
# sources state no spread), in the dataset's own tokens.
DATASET_LENGTHS: dict[str, dict[str, str | float]] = {
    "cnn_dailymail": {
        "mean_prompt_tokens": 781.0, "mean_output_tokens": 56.0,
        "source": "See, Liu and Manning 2017, 'Get To The Point: Summarization with Pointer-Generator Networks' (ACL), "
                  "sec. 4: CNN/Daily Mail articles average 781 tokens and their multi-sentence summaries 56 (3.75 "
                  "sentences); Stanford PTB tokens, as the Hugging Face abisee/cnn_dailymail card (v3.0.0) repeats them; "
                  "MLPerf Inference's GPT-J summarization task draws its 13,368 validation articles"},
}


@dataclass(frozen=True)
class Workload:
    """Requests to serve: arrival times (s, non-decreasing), prompt and output token counts, and (with prefix caching)
    the prompt tokens each finds in the prefix cache (core.inference.static.cached_prompt_tokens; None: none)."""

    arrival_s: np.ndarray
    prompt_tokens: np.ndarray
    output_tokens: np.ndarray
    cached_tokens: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.arrival_s.shape[0])


def check_rate(rate_per_s: float | None) -> float:
    """A request rate must be a positive, finite number of requests per second (one message everywhere)."""
    if (not isinstance(rate_per_s, numbers.Real) or isinstance(rate_per_s, bool)
            or not (0 < rate_per_s <= MAX_RATE_PER_S)):  # NaN and inf fail too
        raise PlanError(f"--rate must be a positive, finite number of requests per second (at most "
                        f"{MAX_RATE_PER_S:g}), got {rate_per_s!r}")
    return float(rate_per_s)


def check_tokens(total: float) -> None:
    """The tokens a simulation would prefill and generate, against MAX_SIMULATED_TOKENS (what bounds its time)."""
    if not total <= MAX_SIMULATED_TOKENS:
        raise PlanError(f"the workload holds {total:,.0f} prompt + output tokens, more than the {MAX_SIMULATED_TOKENS:,} "
                        "one simulation takes; use fewer --requests or shorter requests")


def arrival_times_s(n: int, process: str, rate_per_s: float | None, rng: np.random.Generator, cv: float = 2.0) -> np.ndarray:
    """Poisson (exponential gaps), gamma (bursty: gaps with coefficient of variation cv; Vidur and
    DistServe use the same) or offline (everything at t = 0, the max-load benchmark)."""
    if process == "offline":
        return np.zeros(n)
    rate = check_rate(rate_per_s)
    if process == "poisson":
        gaps = rng.exponential(1.0 / rate, n)
    elif process == "gamma":
        if not cv > 0:
            raise PlanError(f"gamma arrival cv must be positive, got {cv!r}")
        shape = 1.0 / cv**2
        gaps = rng.gamma(shape, 1.0 / (rate * shape), n)
    else:
        raise PlanError(f"arrival process {process!r} is not one of poisson, gamma, offline")
    return np.cumsum(gaps) - gaps[0]


def sample_lengths(n: int, mean: float, dist: str, rng: np.random.Generator, cv: float = 1.0,
                   values: np.ndarray | None = None, low: int = 1, high: int | None = None) -> np.ndarray:
    """Token counts: fixed, lognormal with the given mean and coefficient of variation, or drawn with
    replacement from empirical values. Clipped to [low, high]."""
    if dist == "fixed":
        out = np.full(n, float(mean))
    elif dist == "lognormal":
        if not (cv > 0 and math.isfinite(cv)):
            raise PlanError(f"lognormal length cv (--length-dist lognormal:CV) must be a positive number, got {cv!r}")
        sigma2 = np.log1p(cv**2)
        out = rng.lognormal(np.log(mean) - sigma2 / 2.0, np.sqrt(sigma2), n)
    elif dist == "empirical":
        if values is None or len(values) == 0:
            raise PlanError("empirical lengths need a non-empty list of values")
        out = rng.choice(np.asarray(values, dtype=float), n, replace=True)
    else:
        raise PlanError(f"length distribution {dist!r} is not one of fixed, lognormal, empirical, sharegpt, "
                        f"{', '.join(DATASET_LENGTHS)}")
    return np.clip(np.rint(out), low, high if high is not None else np.inf).astype(np.int64)


def sharegpt_lengths(n: int, rng_prompts: np.random.Generator,
                     rng_outputs: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n (prompt, output) token counts as the vLLM/SGLang benchmarks sample ShareGPT: lognormal pairs
    (SHAREGPT_LOGNORMAL_MEANS, cv SHAREGPT_CV) kept only when they pass the benchmarks' filter (SHAREGPT_FILTER)."""
    low, max_prompt, max_total = SHAREGPT_FILTER
    prompts: list[np.ndarray] = []
    outputs: list[np.ndarray] = []
    kept = 0
    while kept < n:
        m = max(2 * (n - kept), 64)
        p = sample_lengths(m, SHAREGPT_LOGNORMAL_MEANS[0], "lognormal", rng_prompts, SHAREGPT_CV)
        o = sample_lengths(m, SHAREGPT_LOGNORMAL_MEANS[1], "lognormal", rng_outputs, SHAREGPT_CV)
        ok = (p >= low) & (o >= low) & (p <= max_prompt) & (p + o <= max_total)
        prompts.append(p[ok])
        outputs.append(o[ok])
        kept += int(ok.sum())
    return np.concatenate(prompts)[:n], np.concatenate(outputs)[:n]


def make_workload(n: int, *, input_len: float, output_len: float, arrival: str = "poisson",
                  rate_per_s: float | None = None, arrival_cv: float = 2.0, length_dist: str = "fixed",
                  length_cv: float = 1.0, empirical: pd.DataFrame | None = None, seed: int = 0,
                  prefix_hit_rate: float = 0.0, prefix_tokens: int = 0) -> Workload:
    """A synthetic workload. length_dist 'sharegpt' is the ShareGPT sample of the vLLM/SGLang serving benchmarks
    (sharegpt_lengths), ignoring input_len/output_len; a DATASET_LENGTHS name draws lognormal lengths (cv length_cv)
    around that dataset's published means, ignoring them too; 'empirical' samples the prompt_tokens/output_tokens
    columns.
    prefix_hit_rate (the share of each prompt found in the prefix cache) or prefix_tokens (a prefix every prompt
    shares) set each request's cached tokens (with_prefix)."""
    n = check_int("requests", n, 1, MAX_REQUESTS)  # a whole float (4.0) is taken, as everywhere else
    for name, v in (("input_len", input_len), ("output_len", output_len)):
        if not isinstance(v, numbers.Real) or isinstance(v, bool) or not v >= 1:
            raise PlanError(f"--{name.replace('_', '-')} must be at least 1 token, got {v!r}")
        check_number(name, v, 1, MAX_TOKENS)
    check_tokens(int(n) * (float(input_len) + float(output_len)))
    check_int("seed", seed, 0, MAX_SEED)
    check_number("arrival_cv", arrival_cv, 0, 100.0, low_open=True)
    check_number("length_cv", length_cv, 0, 100.0, low_open=True)
    check_prefix(prefix_hit_rate, prefix_tokens)
    for name, value in (("arrival", arrival), ("length_dist", length_dist)):
        if not isinstance(value, str):
            raise PlanError(f"{name} must be a name, got {value!r}")
    rngs = rng_streams(seed, ["arrivals", "prompts", "outputs"])
    arrivals = arrival_times_s(n, arrival, rate_per_s, rngs["arrivals"], arrival_cv)
    if length_dist == "sharegpt":
        p, o = sharegpt_lengths(n, rngs["prompts"], rngs["outputs"])
    elif length_dist in DATASET_LENGTHS:
        stats = DATASET_LENGTHS[length_dist]
        p = sample_lengths(n, float(stats["mean_prompt_tokens"]), "lognormal", rngs["prompts"], length_cv)
        o = sample_lengths(n, float(stats["mean_output_tokens"]), "lognormal", rngs["outputs"], length_cv)
    elif length_dist == "empirical":
        if empirical is None:
            raise PlanError("--length-dist empirical needs a file: empirical:PATH")
        p = sample_lengths(n, 0, "empirical", rngs["prompts"], values=empirical["prompt_tokens"].to_numpy())
        o = sample_lengths(n, 0, "empirical", rngs["outputs"], values=empirical["output_tokens"].to_numpy())
    else:
        p = sample_lengths(n, input_len, length_dist, rngs["prompts"], length_cv)
        o = sample_lengths(n, output_len, length_dist, rngs["outputs"], length_cv)
    return with_prefix(Workload(arrivals, p, o), prefix_hit_rate, prefix_tokens)


def with_prefix(wl: Workload, hit_rate: float = 0.0, shared_tokens: int = 0) -> Workload:
    """The workload with each request's prompt tokens served from the prefix cache (cached_prompt_tokens); no cache
    (None) when both are 0."""
    check_prefix(hit_rate, shared_tokens)
    if not hit_rate and not shared_tokens:
        return replace(wl, cached_tokens=None)
    return replace(wl, cached_tokens=cached_prompt_tokens(wl.prompt_tokens, hit_rate, shared_tokens))


TRACE_COLUMNS = ("arrival_s", "prompt_tokens", "output_tokens")


def read_trace(path: str | Path) -> pd.DataFrame:
    """Read a request trace (CSV or Parquet); errors name the file, the column and the fix."""
    path = existing_file(path, "trace file")
    try:
        return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as exc:  # pandas raises many parser types
        raise DataFileError(f"{path}: cannot be read as a table ({exc})") from None


def read_trace_bytes(data: bytes, name: str = "uploaded trace") -> pd.DataFrame:
    """A request trace given as CSV or Parquet bytes (an upload); one clear error when it cannot be read."""
    try:
        return pd.read_parquet(io.BytesIO(data)) if data[:4] == b"PAR1" else pd.read_csv(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - pandas raises many parser types
        raise DataFileError(f"{name}: cannot be read as a CSV or Parquet table ({exc})") from None


def workload_from_trace(df: pd.DataFrame, source: str = "<trace>", need_arrivals: bool = True) -> Workload:
    """Validate a trace table (columns arrival_s, prompt_tokens, output_tokens; times sorted, counts >= 1)."""
    need = TRACE_COLUMNS if need_arrivals else TRACE_COLUMNS[1:]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise DataFileError(f"{source}: missing column(s) {', '.join(missing)}; a trace needs {', '.join(need)} "
                            f"(found: {', '.join(map(str, df.columns))})")
    if len(df) == 0:
        raise DataFileError(f"{source}: has no rows")
    for col in need:
        v = pd.to_numeric(df[col], errors="coerce")
        bad = np.flatnonzero(v.isna().to_numpy() | (v.to_numpy() < (0 if col == "arrival_s" else 1)))
        if bad.size:
            raise DataFileError(f"{source}: column {col} row {int(bad[0])} = {df[col].iloc[bad[0]]!r} is not a "
                                f"{'non-negative time' if col == 'arrival_s' else 'positive token count'}")
    arrivals = df["arrival_s"].to_numpy(float) if need_arrivals else np.zeros(len(df))
    back = np.flatnonzero(np.diff(arrivals) < 0)
    if back.size:
        raise DataFileError(f"{source}: column arrival_s is not sorted (row {int(back[0]) + 1} arrives before "
                            f"row {int(back[0])}); sort the trace by arrival time")
    if len(df) > MAX_REQUESTS:
        raise DataFileError(f"{source}: {len(df):,} requests, more than the {MAX_REQUESTS:,} one simulation takes")
    big = [c for c in need[-2:] if not (pd.to_numeric(df[c]) <= MAX_TOKENS).all()]
    if big:
        raise DataFileError(f"{source}: column {big[0]} holds counts past {MAX_TOKENS:,} tokens per request")
    if not np.isfinite(arrivals).all():
        raise DataFileError(f"{source}: column arrival_s holds a value that is not finite")
    return Workload(arrivals - arrivals[0], df["prompt_tokens"].to_numpy(np.int64), df["output_tokens"].to_numpy(np.int64))


def with_rate(wl: Workload, rate_per_s: float, seed: int = 0) -> Workload:
    """The same lengths re-timed as a Poisson process at another rate (used by capacity search)."""
    rng = rng_streams(seed, ["arrivals"])["arrivals"]
    return replace(wl, arrival_s=arrival_times_s(len(wl), "poisson", rate_per_s, rng))
