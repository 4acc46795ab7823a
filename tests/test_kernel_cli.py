"""`simulator kernel`: one kernel on one profile through the estimators' own functions."""

from __future__ import annotations

import json

import pytest

from simulator import cli
from simulator.calibrate.kernel import predict_kernel
from simulator.catalog import load_hardware
from simulator.core import comm, roofline


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    rc = cli.main(["kernel", *args, "--json"])
    out = capsys.readouterr().out
    return rc, (json.loads(out) if rc == 0 else {})


def test_gemm_matches_roofline(capsys: pytest.CaptureFixture[str]) -> None:
    rc, rec = run(capsys, "--hardware", "h100-sxm-80gb", "--op", "gemm", "--m", "8192", "--n", "8192", "--k", "8192")
    hw = load_hardware("h100-sxm-80gb")
    t = float(roofline.gemm_time_s(8192, 8192, 8192, 989e12, 3.35e12, hw.gemm, 2.0, 2.0))
    assert rc == 0 and rec["time_s"] == pytest.approx(t)
    assert rec["flop"] == 2 * 8192**3 and rec["bound"] == "compute"
    assert rec["achieved_flop_per_s"] == pytest.approx(rec["flop"] / t)
    assert 0 < rec["efficiency"] <= hw.gemm.compute_efficiency


def test_decode_gemm_is_memory_bound(capsys: pytest.CaptureFixture[str]) -> None:
    rc, rec = run(capsys, "--hardware", "a100-sxm-80gb", "--op", "gemm", "--m", "1", "--n", "8192", "--k", "8192")
    assert rc == 0 and rec["bound"] == "memory" and rec["efficiency"] < 0.05


def test_attention_and_copy(capsys: pytest.CaptureFixture[str]) -> None:
    rc, rec = run(capsys, "--hardware", "h100-sxm-80gb", "--op", "attention", "--batch", "2", "--seq-len", "4096",
                  "--heads", "32", "--head-dim", "128", "--causal")
    assert rc == 0 and rec["flop"] == pytest.approx(4 * 2 * 4096**2 * 32 * 128 / 2) and rec["bound"] == "compute"
    rc, rec = run(capsys, "--hardware", "host-cpu", "--op", "copy", "--bytes", "1e9")
    hw = load_hardware("host-cpu")
    assert rec["time_s"] == pytest.approx(1e9 / (hw.memory_bandwidth_efficiency * hw.hbm_bandwidth_bytes_per_s)
                                          + hw.kernel_launch_s)
    assert rec["bound"] == "memory"


def test_collectives_network_and_latency_bound(capsys: pytest.CaptureFixture[str]) -> None:
    hw = load_hardware("a100-sxm-80gb")
    rc, big = run(capsys, "--hardware", "a100-sxm-80gb", "--op", "allreduce", "--bytes", "1e9", "--gpus", "8")
    assert rc == 0 and big["bound"] == "network"
    assert big["time_s"] == pytest.approx(float(comm.ring_allreduce_s(8, 1e9, hw.intra)))
    assert big["bus_bytes_per_s"] == pytest.approx(big["achieved_bytes_per_s"] * 1.75)
    rc, small = run(capsys, "--hardware", "a100-sxm-80gb", "--op", "allgather", "--bytes", "4096", "--gpus", "8")
    assert small["bound"] == "latency"
    rc, p2p = run(capsys, "--hardware", "a100-sxm-80gb", "--op", "sendrecv", "--bytes", "1e8", "--scope", "inter")
    assert p2p["time_s"] == pytest.approx(float(comm.sendrecv_s(1e8, hw.inter)))
    rc, a2a = run(capsys, "--hardware", "h100-sxm-80gb", "--op", "alltoall", "--bytes", "1e8")
    assert rc == 0 and a2a["efficiency"] > 0


def test_bad_kernel_input_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["kernel", "--hardware", "h100-sxm-80gb", "--op", "gemm", "--m", "0", "--json"]) == 2
    assert "--m, --n and --k" in capsys.readouterr().err
    assert cli.main(["kernel", "--hardware", "nope-gpu", "--op", "copy", "--bytes", "1"]) == 2
    assert cli.main(["kernel", "--hardware", "host-cpu", "--op", "gemm", "--m", "1", "--n", "1", "--k", "1",
                     "--dtype", "fp8"]) == 2   # host-cpu has no fp8 peak


def test_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["kernel", "--hardware", "h100-sxm-80gb", "--op", "allreduce", "--bytes", "1e9"]) == 0
    assert "network-bound" in capsys.readouterr().out


def test_predict_kernel_unknown_op() -> None:
    from simulator.errors import SimulatorError

    with pytest.raises(SimulatorError, match="unknown --op"):
        predict_kernel(load_hardware("h100-sxm-80gb"), "conv")


def test_collective_scope_follows_the_group_size(capsys: pytest.CaptureFixture[str]) -> None:
    hw = load_hardware("h100-sxm-80gb")
    rc, node = run(capsys, "--hardware", "h100-sxm-80gb", "--op", "allgather", "--bytes", "1e9", "--gpus", "8")
    assert rc == 0 and node["scope"] == "intra"
    rc, wide = run(capsys, "--hardware", "h100-sxm-80gb", "--op", "allgather", "--bytes", "1e9", "--gpus", "1024")
    # across 128 nodes the NIC, not NVLink, carries each GPU's slice: about 2x the in-node time, as p5 data at 256
    # ranks shows (simulator/validation/data/collectives_reference.csv)
    assert rc == 0 and wide["scope"] == "inter" and wide["time_s"] > 1.5 * node["time_s"]
    # packed domains: the pipelined ring runs at the smaller of NVLink and the node's NICs (8 x 50 GB/s)
    peak = min(hw.intra.bandwidth_bytes_per_s, hw.scale_up_domain_gpus * hw.inter.bandwidth_bytes_per_s)
    assert wide["efficiency"] == pytest.approx(wide["bus_bytes_per_s"] / peak) and 0.3 < wide["efficiency"] < 1.0
    assert cli.main(["kernel", "--hardware", "h100-sxm-80gb", "--op", "allgather", "--bytes", "1e9", "--gpus", "16",
                     "--scope", "intra"]) == 2
    assert "do not fit in one scale-up domain" in capsys.readouterr().err


@pytest.mark.parametrize("argv, needle", [
    (["kernel", "--hardware", "h100-sxm-80gb", "--op", "gemm", "--m", "8", "--n", "8", "--k", "8", "--dtype", "fp64"],
     "invalid choice: 'fp64'"),  # a dtype the calibration knows but no profile has a peak for
    (["kernel", "--hardware", "h100-sxm-80gb", "--op", "allreduce", "--bytes", "nan"], "--bytes: expected bytes from 0 to 1e+15, got 'nan'"),
    (["kernel", "--hardware", "h100-sxm-80gb", "--op", "gemm", "--m", "1.5"], "--m: expected an integer"),
    (["calibrate", "run", "--rounds", "0"], "--rounds: expected a number of rounds from 1"),
    (["calibrate", "run", "--families", "gemm,nosuch", "--out", "/nonexistent/x.csv"],
     "--families nosuch: not in the quick suite"),  # refused before any kernel is timed
])
def test_bad_calibrate_arguments_are_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> None:
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse refuses the argument itself
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2
    assert needle in err and err.count("\n") == 1
