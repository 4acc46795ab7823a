"""The summary of a serving run: latency percentiles, throughput, goodput under the SLO, KV occupancy, and whether
the run was overloaded; per-request records and the KV time series as DataFrames."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from simulator.catalog.bands import inference_band
from simulator.core.model import TransformerSpec
from simulator.serving.config import ServingConfig
from simulator.serving.state import Outcome
from simulator.simkit import growth_trend

MIN_OVERLOAD_QUEUE = 8.0  # requests: a queue that ends shorter than this is not called overloaded
# the queue must gain this share of the arrivals across the judged slices, and more than sqrt(arrivals), the
# scale a queue near capacity wanders by at random: stable runs at 85-90 % load gained <= 0.5 %, real overloads
# 2.6 % and up (seeds 0-9, 300-5000 requests, 2026-11-29)
OVERLOAD_GROWTH_SHARE = 0.02


@dataclass(frozen=True)
class ServingResult:
    """Per-request records, a summary dict (the `simulator serve --json` contract) and time series."""

    summary: dict
    requests: pd.DataFrame
    timeseries: pd.DataFrame
    kind: ClassVar[str] = "serving"

    def to_dict(self) -> dict:
        return dict(self.summary)

    def to_record(self) -> dict[str, Any]:
        """The summary without its list or mapping fields (one row of a sweep)."""
        return {k: v for k, v in self.summary.items() if not isinstance(v, (list, tuple, dict))}

    def to_frame(self) -> pd.DataFrame:
        """The summary as one row (per-request rows: `requests`)."""
        return pd.DataFrame([self.to_record()])


def offered_rate_per_s(requests: pd.DataFrame) -> float:
    """Requests per second the workload offered: arrivals over the arrival window (NaN for one instant)."""
    span = float(requests["arrival_s"].max() - requests["arrival_s"].min()) if len(requests) > 1 else 0.0
    return (len(requests) - 1) / span if span > 0 else math.nan


def summarize(req: pd.DataFrame, slo_ttft_s: float = float("inf"), slo_tpot_s: float = float("inf")) -> dict:
    """Latency percentiles, throughput and goodput (requests meeting both SLOs per second) from records."""
    ok = req[req["completion_s"].notna()]
    ttft, tpot, e2e = (ok[c].to_numpy(float) for c in ("ttft_s", "tpot_s", "e2e_s"))
    tpot = tpot[~np.isnan(tpot)]
    span = float(ok["completion_s"].max() - req["arrival_s"].min()) if len(ok) else float("nan")
    good = ((ok["ttft_s"] <= slo_ttft_s) & (ok["tpot_s"].fillna(0.0) <= slo_tpot_s)).to_numpy()
    out = {}
    for name, x in (("ttft", ttft), ("tpot", tpot), ("e2e", e2e)):
        out[f"{name}_mean_s"] = float(x.mean()) if x.size else float("nan")
        for q in (50, 90, 99):
            out[f"{name}_p{q}_s"] = float(np.percentile(x, q)) if x.size else float("nan")
    def per_s(amount: float) -> float:
        """A count over the span; nothing completed: zero (NaN only for a single instant with no span)."""
        return float(amount) / span if span > 0 else (0.0 if not len(ok) else float("nan"))

    out.update({
        "requests_completed": int(len(ok)), "requests_total": int(len(req)),
        "requests_rejected": int(req["rejected"].sum()), "preemptions": int(req["preemptions"].sum()),
        "makespan_s": span,
        "offered_requests_per_s": offered_rate_per_s(req),
        "throughput_requests_per_s": per_s(len(ok)),
        "throughput_output_tokens_per_s": per_s(ok["output_tokens"].sum()),
        "throughput_total_tokens_per_s": per_s((ok["output_tokens"] + ok["prompt_tokens"]).sum()),
        "slo_attainment": float(good.sum() / len(req)) if len(req) else float("nan"),
        "goodput_requests_per_s": per_s(good.sum()),
    })
    return out


def _requests_frame(o: Outcome) -> pd.DataFrame:
    """One row per request: its timestamps, lengths and latencies (s)."""
    r = o.req
    out = np.maximum(r.output, 1)
    req = pd.DataFrame({
        "request": np.arange(r.n), "engine": r.where, "arrival_s": r.arrival,
        "first_scheduled_s": r.sched_s, "first_token_s": r.first_s, "completion_s": r.done_s,
        "prompt_tokens": r.prompt, "output_tokens": r.output, "generated_tokens": r.generated,
        "preemptions": r.preempt, "rejected": r.rejected,
    })
    req["ttft_s"] = req["first_token_s"] - req["arrival_s"]
    req["e2e_s"] = req["completion_s"] - req["arrival_s"]
    req["tpot_s"] = np.where(out > 1, (req["completion_s"] - req["first_token_s"]) / (out - 1), np.nan)
    req["scheduling_delay_s"] = req["first_scheduled_s"] - req["arrival_s"]
    return req


def overload_reason(o: Outcome, incomplete: int, start: float) -> str:
    """Why the run is called overloaded ('' when it is not): it stopped on its waiting bound, requests were left
    unfinished, or the waiting queue kept growing through the arrival window."""
    reason = o.overload_reason
    if not reason and incomplete:
        reason = f"{incomplete} requests unfinished at t={o.end_s:.1f} s (time limit or no progress)"
    n = o.req.n
    last_arrival = float(np.max(o.req.arrival)) if n else 0.0
    if not reason and not o.closed_loop and last_arrival > start:
        # the first slice fills an empty system, so growth is judged from the second slice on: a stable queue
        # levels off there, an overloaded one keeps growing, by a real share of the arrivals in between (a queue
        # near capacity wanders by a few)
        trend = growth_trend(*o.waiting.arrays(), start, last_arrival, 5)[1:]
        judged = 3.0 / 5.0 * n  # arrivals between the middles of the second and the last slice
        grew = trend[-1] - trend[0] > max(OVERLOAD_GROWTH_SHARE * judged, math.sqrt(judged))
        if np.all(np.diff(trend) > 0) and trend[-1] > MIN_OVERLOAD_QUEUE and grew:
            reason = (f"the waiting queue grew through the arrival window (mean {trend[0]:.0f} -> {trend[-1]:.0f} "
                      f"requests): arrivals exceed the service rate")
    return reason


def build_result(o: Outcome, cfg: ServingConfig, seed: int, hardware_id: str,
                 model: str | TransformerSpec = "") -> ServingResult:
    """The summary (the `simulator serve --json` contract), request records and KV time series of a run."""
    req = _requests_frame(o)
    s = summarize(req, cfg.slo_ttft_s, cfg.slo_tpot_s)
    r, engines = o.req, o.engines
    end = float(np.nanmax(r.done_s)) if np.isfinite(r.done_s).any() else o.end_s
    start = float(np.min(r.arrival)) if r.n else 0.0
    busy = np.array([e.busy_s for e in engines])
    span = max(end - start, 1e-12)
    kv_mean = [e.kv.mean(start, end) if end > start else 0.0 for e in engines]
    frames = [e.kv.to_frame("kv_occupancy").assign(engine=e.idx, role=e.role) for e in engines]
    incomplete = r.n - s["requests_completed"] - s["requests_rejected"]
    reason = overload_reason(o, incomplete, start)
    s.update({
        "gpus": cfg.gpus(), "engines": len(engines), "disaggregated": cfg.disaggregated, "router": cfg.router,
        "gpu_busy_fraction": float(busy.mean() / span), "kv_occupancy_mean": float(np.mean(kv_mean)),
        "kv_occupancy_max": float(max(e.kv.maximum() for e in engines)),
        "requests_unfinished": int(incomplete), "overloaded": bool(reason), "overload_reason": reason,
        "rejection_reason": o.reject_reason,
        "kv_blocks_in_use_at_end": int(sum(e.blocks_total - e.free for e in engines)),
        "sim_events": int(o.events), "seed": seed,
        # how far published runs of this engine, hardware generation and scale fell from the static model's times
        "error_band": inference_band(cfg.deployment.engine, hardware_id, cfg.deployment.gpus, model,
                                     max(cfg.deployment.dp_attention,  # either pool in a known gap sets the band
                                         (cfg.decode_deployment or cfg.deployment).dp_attention)),
    })
    s.update(_features(o, cfg))
    return ServingResult(s, req, pd.concat(frames, ignore_index=True))


def _features(o: Outcome, cfg: ServingConfig) -> dict[str, Any]:
    """The summary's keys for the serving features in use, with where their figures come from (none when off)."""
    out: dict[str, Any] = {}
    spec = cfg.deployment.speculative
    if spec is not None:
        out["speculative"] = spec.to_dict()
    r = o.req
    if r.n and r.cached.any():
        out["prefix_cache"] = {"cached_tokens_mean": float(r.cached.mean()), "prompt_tokens_mean": float(r.prompt.mean()),
                               "cached_share": float(r.cached.sum() / max(r.prompt.sum(), 1)),
                               "shared_blocks_per_engine": int(max(e.pinned for e in o.engines)),
                               "source": "user-stated hit rate or shared prefix (simulator.make_workload)"}
    return out
