"""The torch backend on the CPU (the GPU suite runs where a GPU is lent); skipped without torch."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from simulator.calibrate import harness, kernels  # noqa: E402
from simulator.calibrate.measurements import read_measurements  # noqa: E402
from simulator.calibrate.torch_backend import TorchBackend  # noqa: E402


def test_torch_cpu_kernels_and_metadata(tmp_path: Path) -> None:
    b = TorchBackend(device="cpu")
    cases = [kernels.gemm_case("sq", 256, 256, 256, "fp32"),
             kernels.attention_case("a", 1, 128, 4, 64, True, "fp32", "sdpa"),
             kernels.stream_case("triad", 2**16, "fp32"), kernels.elementwise_case("silu_mul", 64, 256, "fp32"),
             kernels.elementwise_case("rmsnorm", 64, 256, "bf16")]
    env, rows = harness.run_suite(b, "quick", harness.Timing(warmup=1, min_reps=2, max_reps=2, rounds=1), cases=cases)
    assert env["torch"] == torch.__version__ and env["device_kind"] == "cpu"
    m = read_measurements(harness.write_csv(tmp_path / "t.csv", env, rows))
    assert len(m.frame) == 5 and (m.frame["time_s"] > 0).all()


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed missing")
def test_gloo_collectives_two_ranks() -> None:
    b = TorchBackend(device="cpu", world_size=2)
    cases = [kernels.collective_case(f, 2**14, 2, "fp32") for f in kernels.COLLECTIVES]
    rows = b.run_collectives(cases, harness.Timing(warmup=1, min_reps=2, max_reps=2, rounds=1))
    fams = {r["family"] for r in rows}
    assert {"allreduce", "allgather", "sendrecv"} <= fams          # gloo has no reduce-scatter
    assert all(r["time_s"] > 0 and r["world_size"] == 2 for r in rows)


def test_gpu_suite_requires_cuda() -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(harness.BackendUnavailable, match="no CUDA GPU"):
        TorchBackend(device="cuda")
