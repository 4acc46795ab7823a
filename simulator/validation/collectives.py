"""Collective-communication model vs published nccl-tests-style data (simulator/validation/data/
collectives_reference.csv; sources and columns in collectives_reference.md).

Every row is predicted with simulator.core.comm.collective_s, the function `simulator kernel` and the
training/inference models share, on the row's shipped hardware profile. Rows are split by SOURCE: the `fit`
sources are the ones profile parameters were fitted on (or read from); the `check` sources are held out.
The fit functions here (fit_intra_regimes, fit_scale_out) are run by hand when the reference table changes;
their results are written into hardware_profiles/*.yaml with a fitted_on note, never read at run time.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from simulator.catalog import load_hardware
from simulator.core import comm
from simulator.core.hardware import Accelerator

REFERENCE = Path(__file__).parent / "data" / "collectives_reference.csv"
# nccl-tests bus-bandwidth factors (doc/PERFORMANCE.md): busbw = algbw x factor
BUS_FACTOR = {"allreduce": lambda n: 2.0 * (n - 1) / n, "allgather": lambda n: (n - 1) / n,
              "reducescatter": lambda n: (n - 1) / n, "alltoall": lambda n: (n - 1) / n}
BUCKETS = ((2, 8, "2-8"), (9, 64, "9-64"), (65, 512, "65-512"), (513, 1 << 30, "513+"))


def load_reference(path: Path = REFERENCE) -> pd.DataFrame:
    """The reference rows with the measured time of each (from busbw: t = factor x S / busbw)."""
    df = pd.read_csv(path, dtype={"in_network": str}, keep_default_na=False)
    for col in ("ranks", "gpus_per_node", "nodes"):
        df[col] = df[col].astype(int)
    df["bytes"] = df["bytes"].astype(float)
    df["value"] = df["value"].astype(float)
    factor = np.array([BUS_FACTOR[c](n) for c, n in zip(df["collective"], df["ranks"], strict=True)])
    df["time_s"] = np.where(df["metric"] == "time_us", df["value"] * 1e-6, factor * df["bytes"] / (df["value"] * 1e9))
    df["bucket"] = [next(label for lo, hi, label in BUCKETS if lo <= n <= hi) for n in df["ranks"]]
    return df


def row_stride(row: pd.Series, hw: Accelerator) -> float:
    """Rank spacing of a row's group: packed nodes (1), or one rank per scale-up domain when the source ran
    fewer GPUs per node than the domain holds across nodes."""
    if row["nodes"] > 1 and row["gpus_per_node"] < hw.scale_up_domain_gpus:
        return float(hw.scale_up_domain_gpus // max(row["gpus_per_node"], 1))
    return 1.0


def predict_row(row: pd.Series, hw: Accelerator) -> float:
    """Predicted time of one reference row on `hw` (the row's in_network column: '0' = NVLS/SHARP off)."""
    in_network = row.get("in_network", "") != "0"
    return float(comm.collective_s(row["collective"], float(row["ranks"]), row["bytes"], row_stride(row, hw), hw,
                                   in_network))


def predict(df: pd.DataFrame, profiles: dict[str, Accelerator] | None = None) -> np.ndarray:
    profiles = profiles or {}
    out = []
    for _, row in df.iterrows():
        hw = profiles.get(row["hardware"]) or load_hardware(row["hardware"])
        out.append(predict_row(row, hw))
    return np.array(out)


def with_errors(df: pd.DataFrame, profiles: dict[str, Accelerator] | None = None) -> pd.DataFrame:
    """The rows with pred_time_s and error = predicted / measured time - 1 (positive: predicted slower)."""
    out = df.copy()
    out["pred_time_s"] = predict(df, profiles)
    out["error"] = out["pred_time_s"] / out["time_s"] - 1.0
    return out


def family_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per family (collective x hardware x fabric x rank bucket) and split: rows, median |error|, signed median."""
    g = df.groupby(["split", "collective", "hardware", "fabric", "bucket"])["error"]
    return pd.DataFrame({"rows": g.size(), "median_abs_error": g.apply(lambda e: float(np.median(np.abs(e)))),
                         "signed_median": g.median()}).reset_index()


# --------------------------------------------------------------------- fitting (run by hand)
def _lsq(residual, x0, lo, hi):
    from scipy.optimize import least_squares

    return least_squares(residual, x0, bounds=(lo, hi), x_scale="jac").x


def fit_intra_regimes(df: pd.DataFrame, hw: Accelerator, k: int = 2, nvls: bool = False
                      ) -> tuple[tuple[tuple[float, float], ...], tuple[float, float] | None]:
    """Protocol regimes of the scale-up link fitted to the single-domain all-reduce rows of `df` in log time:
    K free (latency, efficiency) pairs (LL/LL128-like), the large-message regime at the profile's sourced
    bus_efficiency with a fitted latency, and an NVLS (latency, algbw/bandwidth) regime when `nvls`."""
    rows = df[(df["nodes"] == 1) & (df["collective"] == "allreduce")]
    meas = rows["time_s"].to_numpy(float)

    def unpack(x):
        regs = sorted((float(x[2 * i]), float(x[2 * i + 1])) for i in range(k))
        regs.append((float(x[2 * k]), hw.intra.bus_efficiency))
        return tuple(regs), ((float(x[2 * k + 1]), float(x[2 * k + 2])) if nvls else None)

    def residual(x):
        regs, inr = unpack(x)
        h = dataclasses.replace(hw, intra=dataclasses.replace(hw.intra, regimes=regs, in_network=inr))
        return np.log(predict(rows, {hw.id: h})) - np.log(meas)

    t0 = float(meas.min())
    x0 = [v for i in range(k) for v in (t0 * (0.5 + 0.5 * i), 0.05 * 4**i)] + [t0] + ([t0, 0.6] if nvls else [])
    lo = [0.0, 1e-4] * k + [0.0] + ([0.0, 1e-3] if nvls else [])
    hi = [1e-3, 1.2] * k + [1e-3] + ([1e-3, 1.2] if nvls else [])
    return unpack(_lsq(residual, x0, lo, hi))


def fit_scale_out(df: pd.DataFrame, hw: Accelerator) -> dict[str, float]:
    """Latency per level and pipeline chunk of NCCL's tree between domains that fit the multi-domain all-reduce
    rows of `df` in log time (the ring hop stays the profile's sourced hop_latency_s)."""
    rows = df[(df["nodes"] > 1) & (df["collective"] == "allreduce")]
    meas = rows["time_s"].to_numpy(float)
    keys = ("tree_hop_latency_s", "tree_chunk_bytes")

    def make(x):
        inter = dataclasses.replace(hw.inter, tree_hop_latency_s=float(x[0]), tree_chunk_bytes=float(x[1]))
        return dataclasses.replace(hw, inter=inter)

    def residual(x):
        return np.log(predict(rows, {hw.id: make(x)})) - np.log(meas)

    x = _lsq(residual, [10e-6, 1e6], [0.0, 0.0], [1e-3, 1e9])
    return dict(zip(keys, map(float, x), strict=True))


def alltoall_efficiency(row: pd.Series, hw: Accelerator) -> float:
    """All-to-all efficiency a large-message row implies for the link that limits it: busbw / bandwidth inside a
    domain; across domains the NIC carries (n-g)/(n-1) of the bus bytes."""
    n, g = float(row["ranks"]), float(comm.ranks_per_node(row["ranks"], row_stride(row, hw), hw))
    if n <= g:
        return row["value"] * 1e9 / hw.intra.bandwidth_bytes_per_s
    return row["value"] * 1e9 * (n - g) / (n - 1) / hw.inter.bandwidth_bytes_per_s


def fitted_parameters(df: pd.DataFrame | None = None) -> dict[str, object]:
    """Every collective parameter the shipped profiles take from the fit sources (what the YAML fitted_on notes
    cite): A100 and H200 NVLink regimes (+ NVLS), PCIe Gen4 regimes (an A100 PCIe box, for the L40S), the scale-out
    ring/tree latencies from the NVLSTree scan, all-to-all efficiencies from the GTC25 bars."""
    df = load_reference() if df is None else df
    fit = df[df["split"] == "fit"]
    a100, h100, h200 = (load_hardware(i) for i in ("a100-sxm-80gb", "h100-sxm-80gb", "h200-sxm-141gb"))
    out: dict[str, object] = {
        "a100_intra": fit_intra_regimes(fit[fit["source_id"] == "mle-a100-nccltests"], a100, k=1),
        "h200_intra": fit_intra_regimes(fit[fit["source_id"] == "mle-h200-allreducebench"], h200, k=1, nvls=True),
        "scale_out": fit_scale_out(fit[fit["source_id"] == "gtc24-s62129-nvlstree"], h100),
        "pcie_gen4_intra": fit_intra_regimes(fit[fit["source_id"] == "vidur-a100-pcie"], load_hardware("l40s-48gb"),
                                             k=1),
    }
    a2a = fit[(fit["source_id"] == "gtc25-s72583-alltoall")]
    out["alltoall_efficiency"] = {f"{r['hardware']} x{r['ranks']}": alltoall_efficiency(r, load_hardware(r["hardware"]))
                                  for _, r in a2a.iterrows()}
    return out


TARGET = 0.10  # median |error| per check family
# Check sources the shipped profiles cannot express, reported (never hidden) but held to a looser bound:
KNOWN_GAPS = {
    "p5-efa-crazyguitar": "AWS EFA (SRD) fabric: higher per-message latency than the ConnectX-7 InfiniBand the "
                          "h100 profile describes: within ~10% at 4-8 GiB up to 64 ranks, mid sizes at 64-256 "
                          "ranks run slower than predicted",
    "vidur-a100-dgx": "kineto kernel time without launch/sync: at 2 KiB 41% above the nccl-tests floor of the same "
                      "node type and at 1 MiB 37% below its sweep (the two sources disagree); the 2-regime fit also "
                      "misses the sweep's own 8-16 MiB step by ~20%",
}


def check_families(df: pd.DataFrame | None = None) -> pd.DataFrame:
    """The check-split family table, with a `known_gap` flag for the sources in KNOWN_GAPS."""
    df = with_errors(load_reference() if df is None else df)
    check = df[df["split"] == "check"].copy()
    check["known_gap"] = check["source_id"].isin(list(KNOWN_GAPS))
    parts = [family_table(part).assign(known_gap=flag) for flag, part in check.groupby("known_gap")]
    return pd.concat(parts, ignore_index=True)
