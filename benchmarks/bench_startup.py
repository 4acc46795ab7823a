"""Start-up time of one CLI call as a process: `simulator train ... --json` (and `simulator list models`), the median
of 5 runs after one warm-up (`python benchmarks/bench_startup.py [--runs N]`). Target (packages issue): 0.3 s.

Two settings: compiled bytecode cached, as an installed package has it (pip compiles it at install time; Python
writes it on first import), kept in a temporary folder so the source tree stays clean; and recompiled every call,
as where PYTHONDONTWRITEBYTECODE is set (~40 ms more).

What keeps it low is checked deterministically in tests/test_architecture.py: the facade imports nothing heavy and a
training estimate loads no pandas, scipy, simpy or app library.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRAIN = ["train", "--model", "llama3.1-70b", "--hardware", "h100-sxm-80gb", "--gpus", "1024", "--tp", "8", "--pp", "4",
         "--global-batch", "1024", "--seq-len", "8192", "--json"]
CALLS = {"simulator train ... --json": TRAIN, "simulator list models": ["list", "models"],
         "python -c 'import simulator'": None}


def time_call(argv: list[str] | None, runs: int, env: dict[str, str]) -> list[float]:
    cmd = [sys.executable, "-m", "simulator", *argv] if argv is not None else [sys.executable, "-c", "import simulator"]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, env=env)  # warm-up: file cache and bytecode
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    for recompile in (False, True):
        with tempfile.TemporaryDirectory() as cache:
            env = dict(os.environ)
            if recompile:
                env["PYTHONDONTWRITEBYTECODE"] = "1"
            else:
                env.pop("PYTHONDONTWRITEBYTECODE", None)
                env["PYTHONPYCACHEPREFIX"] = cache
            print("bytecode: " + ("recompiled every call" if recompile else "cached (as installed)"))
            _time_all(args.runs, env)


def _time_all(runs: int, env: dict[str, str]) -> None:
    for name, argv in CALLS.items():
        t = time_call(argv, runs, env)
        print(f"{name:<32} median {statistics.median(t):.3f} s  (min {min(t):.3f}, max {max(t):.3f}; {runs} runs)")


if __name__ == "__main__":
    main()
