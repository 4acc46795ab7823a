"""Serving-simulator speed: 100,000 requests with ShareGPT-like lengths on 8 replicas, Poisson at 80 % of
capacity (target: under 30 s, median of 3, and under 2 GiB), plus the time of one capacity search
(target: under 60 s).

    python benchmarks/bench_serving.py [--requests 100000] [--repeats 3] [--no-capacity]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simulator import load_hardware, load_model  # noqa: E402
from simulator.core.inference import Deployment  # noqa: E402
from simulator.serving import ServingConfig, make_workload, simulate_serving  # noqa: E402
from simulator.serving.capacity import SLO, plan_capacity  # noqa: E402

MODEL, HARDWARE, REPLICAS = "llama3.1-8b", "h100-sxm-80gb", 8


def capacity_per_replica(model, hw, dep: Deployment) -> float:
    """Saturation throughput of one replica (requests/s): 4,000 ShareGPT-like requests queued at t = 0."""
    wl = make_workload(4000, input_len=1, output_len=1, arrival="offline", length_dist="sharegpt", seed=1)
    return simulate_serving(model, hw, ServingConfig(dep), wl).summary["throughput_requests_per_s"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-capacity", action="store_true", help="skip the capacity-search timing")
    a = ap.parse_args(argv)
    model, hw = load_model(MODEL), load_hardware(HARDWARE)
    dep = Deployment(engine="vllm")
    mu = capacity_per_replica(model, hw, dep)
    rate = 0.8 * mu * REPLICAS
    print(f"{MODEL} on {HARDWARE}, {dep.label()}: saturation {mu:.1f} req/s per replica; "
          f"Poisson {rate:.1f} req/s over {REPLICAS} replicas (80 %), {a.requests:,} ShareGPT-like requests")
    times, rates = [], []
    for i in range(a.repeats):
        wl = make_workload(a.requests, input_len=1, output_len=1, rate_per_s=rate, length_dist="sharegpt", seed=i)
        t0 = time.perf_counter()
        res = simulate_serving(model, hw, ServingConfig(dep, replicas=REPLICAS), wl, seed=i)
        dt = time.perf_counter() - t0
        times.append(dt)
        s = res.summary
        events = s["sim_events"]
        rates.append(events / dt)
        print(f"  run {i}: {dt:6.2f} s wall, {events:,} events ({events / dt:,.0f} events/s), "
              f"{s['requests_completed']:,} completed, TTFT p99 {s['ttft_p99_s']:.3f} s, TPOT p99 "
              f"{s['tpot_p99_s'] * 1e3:.1f} ms, busy {s['gpu_busy_fraction']:.0%}, overloaded {s['overloaded']}")
    med = statistics.median(times)
    rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**30  # Linux reports KiB
    print(f"median {med:.2f} s (target < 30 s): {'PASS' if med < 30 else 'FAIL'}; "
          f"{events / med:,.0f} events/s; peak RSS {rss_gib:.2f} GiB (target < 2 GiB): "
          f"{'PASS' if rss_gib < 2 else 'FAIL'}")
    if not a.no_capacity:
        t0 = time.perf_counter()
        plan = plan_capacity(load_model("llama3.1-70b"), hw, rate_per_s=10, slo=SLO(2.0, 0.1), input_len=1024,
                             output_len=256)
        dt = time.perf_counter() - t0
        b = plan.best
        print(f"capacity search llama3.1-70b @ 10 req/s, SLO p99 TTFT 2 s / TPOT 100 ms: {dt:.1f} s "
              f"(target < 60 s): {'PASS' if dt < 60 else 'FAIL'}; best {b['deployment']} x {b['units']} "
              f"= {b['gpus']} GPUs, ${b['cost_per_hour_usd']:.2f}/h, ${b['cost_per_million_tokens_usd']:.3f}/M tokens")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
