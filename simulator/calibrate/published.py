"""Turn published kernel measurements into measurement files the fit and validate commands read.

Run once by hand when the reference table changes (never at run time)::

    python -m simulator.calibrate.published PATH/TO/microbench_reference.csv hardware_profiles/measurements/published

Each output row keeps its `source` (repository at commit, paper or blog) verbatim. Times come from the
raw published timings where the table has them (Vidur's median ms, nccl-tests' time column), else
from the published rate: GEMM t = 2MNK / (TFLOP/s), all-reduce t = S * 2(n-1)/n / busbw.
"""

from __future__ import annotations

import csv
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from simulator.calibrate.harness import FORMAT, write_csv
from simulator.calibrate.kernels import collective_case, gemm_case
from simulator.errors import DataFileError

SIZE_UNITS = {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "bytes": 1}


def _size_bytes(text: str) -> int:
    m = re.match(r"^\s*([\d.]+)\s*(KiB|MiB|GiB|bytes)\s*$", text)
    if not m:
        raise ValueError(f"cannot read a size from {text!r}")
    return int(float(m[1]) * SIZE_UNITS[m[2]])


def _ms(notes: str, pattern: str) -> float:
    """A time quoted in a row's notes (the unit is in the pattern); DataFileError when the notes lack it."""
    m = re.search(pattern, notes)
    if m is None:
        raise DataFileError(f"no time matching {pattern!r} in the notes {notes[:80]!r}")
    return float(m[1])


def _gemm_row(shape_family: str, m: int, n: int, k: int, time_s: float, source: str) -> dict[str, object]:
    c = gemm_case(shape_family, m, n, k, "bf16")
    row = {f: getattr(c, f) for f in ("family", "kernel", "shape_family", "dtype", "flop", "bytes", "m", "n", "k",
                                      "batch", "seq_len", "heads", "head_dim", "causal", "world_size", "n_kernels")}
    row["causal"] = 0
    row.update({"time_s": time_s, "source": source})
    return row


def _coll_row(shape_family: str, size: int, n: int, time_s: float, source: str) -> dict[str, object]:
    c = collective_case("allreduce", size, n, "bf16")
    row = {f: getattr(c, f) for f in ("family", "kernel", "shape_family", "dtype", "flop", "bytes", "m", "n", "k",
                                      "batch", "seq_len", "heads", "head_dim", "causal", "world_size", "n_kernels")}
    row.update({"causal": 0, "shape_family": shape_family, "time_s": time_s, "source": source})
    return row


Rows = list[dict[str, object]]


@dataclass
class _Sweeps:
    """Published rows by the measurement file they go to, then by shape family."""

    a100_gemm: dict[str, Rows] = field(default_factory=dict)
    h100_gemm: dict[str, Rows] = field(default_factory=dict)
    a100_ar: dict[str, Rows] = field(default_factory=dict)
    h200_ar: Rows = field(default_factory=list)


def _vidur_linear(r: dict[str, str], sw: _Sweeps) -> None:
    """A Vidur linear-layer profile row: one GEMM in the family of its model and op."""
    hw, kernel, shape, notes, src = r["hardware"], r["kernel"], r["shape_or_size"], r["notes"], r["source"]
    m, n, k = (int(x) for x in re.findall(r"[MNK]=(\d+)", shape))
    t_ms = _ms(notes, r"raw median ([\d.]+) ms")
    named = re.match(r"linear (\S+) \((\S+)\)", kernel)
    if named is None:
        raise DataFileError(f"vidur linear kernel {kernel!r} does not read 'linear OP (MODEL)'")
    op, model = named.groups()
    fam = f"vidur-{model.replace('-hf', '').lower()}-{op}"
    target = sw.h100_gemm if "H100" in hw else sw.a100_gemm
    if "H100" in hw:  # one published H100 op: alternate token counts into two families
        seen = len(target.get(fam + "-a", [])) + len(target.get(fam + "-b", []))
        fam += "-a" if seen % 2 == 0 else "-b"
    target.setdefault(fam, []).append(_gemm_row(fam, m, n, k, t_ms * 1e-3, src))


def _collect(rows: list[dict[str, str]]) -> _Sweeps:
    """The rows of the shared reference each file takes, converted to measurement rows."""
    sw = _Sweeps()
    for r in rows:
        src, hw, kernel, shape, notes = r["source"], r["hardware"], r["kernel"], r["shape_or_size"], r["notes"]
        if "CUDA 11 features revealed" in src and kernel == "cuBLAS GEMM":
            s = int(shape.split("=")[-1])
            sw.a100_gemm.setdefault("cublas-square", []).append(
                _gemm_row("cublas-square", s, s, s, 2.0 * s**3 / (float(r["value"]) * 1e12), src))
        elif src.startswith("microsoft/vidur") and "/compute/" in src and kernel.startswith("linear"):
            _vidur_linear(r, sw)
        elif r["metric"] == "MAMF_mean_TFLOPs" and kernel == "matmul (torch.mm)" and hw in ("NVIDIA A100 SXM", "NVIDIA H100 SXM"):
            m, n, k = (int(x) for x in shape.split()[0].split("x"))
            target = sw.a100_gemm if "A100" in hw else sw.h100_gemm
            target.setdefault("mamf-best", []).append(
                _gemm_row("mamf-best", m, n, k, 2.0 * m * n * k / (float(r["value"]) * 1e12), src))
        elif "nccl-tests all_reduce_perf, single A100 node" in src:
            sw.a100_ar.setdefault("nccl-tests", []).append(
                _coll_row("nccl-tests", _size_bytes(shape), 8, _ms(notes, r"time ([\d.]+) us") * 1e-6, src))
        elif src.startswith("microsoft/vidur") and "a100_dgx" in src and hw.startswith("8x A100 DGX"):
            sw.a100_ar.setdefault("vidur-a100-dgx", []).append(
                _coll_row("vidur-a100-dgx", _size_bytes(shape), 8,
                          _ms(notes, r"raw median kernel time ([\d.]+) ms") * 1e-3, src))
        elif "all_reduce_bench.py, 8x H200" in src:
            size = _size_bytes(shape)
            bus_factor = 2.0 * (8 - 1) / 8  # all-reduce busbw = algbw x 2(n-1)/n (nccl-tests PERFORMANCE.md)
            sw.h200_ar.append(_coll_row("all-reduce-bench-nvls", size, 8, size * bus_factor / (float(r["value"]) * 1e9), src))
    return sw


def _order(groups: dict[str, Rows], keys: list[str]) -> Rows:
    return [row for key in keys for row in groups.get(key, [])]


def _files(sw: _Sweeps) -> list[tuple[str, str, Rows, str]]:
    """(file name, device, rows, what the rows are) of each measurement file."""
    files = [
        ("a100-gemm.csv", "NVIDIA A100 SXM4 80GB", _order(sw.a100_gemm, [
            "cublas-square", "vidur-llama-2-70b-mlp_up_proj", "vidur-llama-2-70b-mlp_down_proj",
            "vidur-llama-2-7b-attn_pre_proj", "mamf-best"]),
         "GEMM fp16/bf16: NVIDIA CUDA 11 blog cuBLAS m=n=k sweep (read off a plot, +-5 TFLOP/s); Vidur A100 "
         "linear-layer profiles (median ms; A100 variant not stated); MAMF best shape (Bekman)"),
        ("h100-gemm.csv", "NVIDIA H100 SXM5 80GB", _order(sw.h100_gemm, [
            "vidur-llama-2-7b-attn_pre_proj-a", "vidur-llama-2-7b-attn_pre_proj-b", "mamf-best"]),
         "GEMM fp16/bf16: Vidur H100 Llama-2-7B attn_pre_proj profile, token counts alternated into families "
         "-a and -b (one published op); MAMF best shape (Bekman)"),
        ("a100-allreduce.csv", "NVIDIA A100 SXM4 80GB (8 GPUs, NVLink3 NVSwitch)", _order(sw.a100_ar, ["nccl-tests"]),
         "all-reduce on 8x A100: nccl-tests all_reduce_perf sweep (Bekman, ml-engineering)"),
        ("a100-allreduce-cross.csv", "NVIDIA A100 SXM4 80GB (8 GPUs, NVLink3 NVSwitch)",
         _order(sw.a100_ar, ["nccl-tests", "vidur-a100-dgx"]),
         "all-reduce on 8x A100: nccl-tests all_reduce_perf sweep (Bekman, ml-engineering; the fit half) and Vidur "
         "A100 DGX torch.distributed kernel times (the check half: another tool, kernel time without launch)"),
        ("h200-allreduce.csv", "NVIDIA H200 SXM 141GB (8 GPUs, NVLink4 NVSwitch, NVLS)", sw.h200_ar,
         "all-reduce on 8x H200 with NVLS: all_reduce_bench.py sweep (Bekman, ml-engineering); time from busbw"),
    ]
    return files


def convert(reference_csv: str | Path, out_dir: str | Path) -> list[Path]:
    """Write the published GEMM and all-reduce sweeps as measurement files; returns their paths."""
    rows = list(csv.DictReader(Path(reference_csv).open(encoding="utf-8")))
    common = {"format": FORMAT, "backend": "published", "device_kind": "gpu",
              "units": "time_s seconds; flop count; bytes bytes (SI)",
              "converted_by": "python -m simulator.calibrate.published (microbench_reference.csv, shared reference)"}
    return [write_csv(Path(out_dir) / name, dict(common, device=device, source=what), data)
            for name, device, data, what in _files(_collect(rows))]


if __name__ == "__main__":  # pragma: no cover - manual regeneration
    for p in convert(sys.argv[1], sys.argv[2]):
        print(p)
