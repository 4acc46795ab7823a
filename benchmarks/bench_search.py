"""Plan-search speed and memory: plans evaluated per second (median of 5) and peak memory.

    python benchmarks/bench_search.py
Targets (issue 2): >= 1,000,000 plans/s on a 2-core machine; a full `simulator plan` for a 405B
model on 16,384 GPUs under 2 s; a 1M-plan search under 2 GiB peak.
"""

import resource
import statistics
import subprocess
import sys
import time

import numpy as np

from simulator import TrainingOptions, enumerate_plans, load_hardware, load_model
from simulator.core.search import evaluate_chunked


def main() -> None:
    model, hw = load_model("llama3.1-70b"), load_hardware("h100-sxm-80gb")
    base = enumerate_plans(model, 1024, 1024, 8192, hw.scale_up_domain_gpus, precisions=("bf16", "fp8"))
    grid = base.take(np.resize(np.arange(len(base)), 1_000_000))
    options = TrainingOptions(seq_len=8192, global_batch=1024)
    evaluate_chunked(model, hw, grid.take(slice(0, 10_000)), options)  # warm-up
    rates = []
    for _ in range(5):
        t0 = time.perf_counter()
        evaluate_chunked(model, hw, grid, options)
        rates.append(len(grid) / (time.perf_counter() - t0))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"evaluate: {len(grid):,} plans, median {statistics.median(rates):,.0f} plans/s "
          f"(min {min(rates):,.0f}, max {max(rates):,.0f}); peak RSS {peak_mib:,.0f} MiB")

    cmd = [sys.executable, "-m", "simulator", "plan", "--model", "llama3.1-405b", "--hardware", "h100-sxm-80gb",
           "--gpus", "16384", "--global-batch", "2048", "--seq-len", "8192", "--train-tokens", "15e12", "--top", "10"]
    for stack in ("megatron-core", "torchtitan"):  # torchtitan: FSDP under pipelines, HSDP, four schedules
        walls = []
        for _ in range(5):
            t0 = time.perf_counter()
            subprocess.run(cmd + ["--stack", stack], check=True, capture_output=True)
            walls.append(time.perf_counter() - t0)
        print(f"`simulator plan` 405B on 16,384 GPUs, {stack} (whole process): median {statistics.median(walls):.2f} s "
              f"(min {min(walls):.2f}, max {max(walls):.2f})")

if __name__ == "__main__":
    main()
