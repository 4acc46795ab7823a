"""No estimate allocates memory in proportion to a number the user typed (issue 19): `simulator infer --batch 10^7`,
an output of 10^7 tokens, or a deployment allowing 10^8 batched tokens stay within a fixed memory budget, measured
with tracemalloc (numpy reports its arrays to it) around one call, with a generous hang guard, not a timing verdict.

Bounded here means: the memory does not grow with the number. The sizes are each at their bound in simulator.limits.
"""

from __future__ import annotations

import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

import simulator as sim
from simulator import limits as L
from simulator.errors import SimulatorError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_data_bounds import _profile_at  # noqa: E402 - the accelerator at every ceiling (1 PB of memory)

HANG_GUARD_S = 120.0  # a hang guard: each call takes about a second


def peak_mib(fn: Callable[[], Any]) -> float:
    """Peak traced memory (MiB) while `fn` runs; a SimulatorError (an infeasible request) is an answer too."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        fn()
    except SimulatorError:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    assert time.perf_counter() - start < HANG_GUARD_S
    return peak


def growth_mib(call: Callable[[int], Any], small: int, big: int) -> float:
    """How much more memory `call(big)` peaks at than `call(small)` (the small call first warms every cache)."""
    peak_mib(lambda: call(small))
    return peak_mib(lambda: call(big)) - peak_mib(lambda: call(small))


def test_a_batch_at_its_bound_allocates_nothing_per_sequence() -> None:
    """`simulator infer --batch 10000000 --max-batch 10000000`: memory and KV are closed forms of the batch."""
    dep = sim.Deployment(tp=8, max_seqs=L.MAX_BATCH)
    grew = growth_mib(lambda b: sim.estimate_inference("llama3.1-70b", "h100-sxm-80gb", dep, batch=b, input_len=1024,
                                                       output_len=256), 1, L.MAX_BATCH)
    assert grew < 8, grew


def test_the_cli_refuses_or_answers_a_huge_batch_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from simulator.cli import main

    start = time.perf_counter()
    rc = main(["infer", "--model", "llama3.1-70b", "--hardware", "h100-sxm-80gb", "--tp", "8", "--batch",
               str(L.MAX_BATCH), "--input-len", "1024", "--output-len", "256"])
    err = capsys.readouterr().err
    assert time.perf_counter() - start < HANG_GUARD_S
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err, (rc, err)  # infeasible: the batch does not fit


def test_an_output_length_at_its_bound_does_not_allocate_per_token() -> None:
    """10^7 output tokens are 10^7 decode steps whose context grows a token each: their times are summed in fixed
    chunks, so memory is the same for 10^3 or 10^7 tokens (the answer itself is infeasible here: past the window)."""
    grew = growth_mib(lambda n: sim.estimate_inference("llama3.1-70b", "h100-sxm-80gb", sim.Deployment(tp=8),
                                                       batch=1, input_len=1, output_len=n), 1000, L.MAX_TOKENS)
    assert grew < 64, grew


def test_a_token_budget_of_ten_million_does_not_tabulate_ten_million_entries() -> None:
    """A deployment that may batch 10^7 tokens (on a device with memory for it) serves 20 short requests without a
    table of 10^7 iteration times."""
    hw = sim.hardware_from_yaml_text(yaml.safe_dump(_profile_at(True)), "at-ceiling.yaml")
    wl = sim.make_workload(20, input_len=100, output_len=10, rate_per_s=5, seed=0)
    grew = growth_mib(lambda n: sim.simulate_serving("llama3.1-8b", hw, sim.ServingConfig(sim.Deployment(
        tp=1, max_batched_tokens=n)), wl, seed=0), 8192, 10**7)
    assert grew < 200, grew
