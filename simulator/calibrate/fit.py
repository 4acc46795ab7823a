"""Fit a profile's efficiency curves to measured kernels, choosing each form by held-out error.

Every prediction goes through the functions the estimators use (roofline.gemm_time_s,
roofline.stream_time_s, roofline.flash_attention_time_s, comm.*), so a fitted parameter means
exactly what it means in a training estimate. Fits minimise squared log-time error (relative error,
scale free) with scipy's bounded least squares; bounds keep every efficiency in (0, 1] (links up to
the schema's 1.2 for in-network reduction).

Forms (microbench_anchors.md 3.1, 3.3):
* GEMM: hard roofline + launch (p = 8, the schema's maximum, ~max), additive (p = 1), and the
  p-norm soft roofline with p free (Calculon-style caps; anchors' best form on Vidur data).
* Collectives: the minimum over K alpha-beta regimes (K = 1, 2, 3; like NCCL's LL / LL128 / Simple
  protocols, NVIDIA nccl src/graph/tuning.cc), each regime a (latency_s, bus_efficiency) pair of the link.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from simulator.calibrate.kernels import ATTENTION, DTYPE_BYTES, ELEMENTWISE, GEMM, MEMORY
from simulator.core import comm, roofline
from simulator.core.hardware import Accelerator, GemmCurve, Link
from simulator.errors import SimulatorError
from simulator.vocab import COLLECTIVE_OPS, KERNEL_DTYPES

# name -> (fixed p or None = fitted, separate GEMV memory efficiency?)
GEMM_FORMS = {"hard": (8.0, False), "additive": (1.0, False), "pnorm": (None, False), "pnorm+gemv": (None, True)}
REGIME_COUNTS = (1, 2, 3)


class FitError(SimulatorError):
    """A fit that cannot be done or would give an invalid curve; the message says why."""


# ----------------------------------------------------------------- error statistics
def ape(pred: np.ndarray, meas: np.ndarray) -> np.ndarray:
    """Absolute percentage error |pred - meas| / meas, as a fraction."""
    return np.abs(np.asarray(pred, float) - np.asarray(meas, float)) / np.asarray(meas, float)


def error_stats(errors: np.ndarray) -> dict[str, float]:
    """Mean (MAPE), median, p90 and max of absolute percentage errors (fractions)."""
    e = np.asarray(errors, dtype=float)
    if e.size == 0:
        return {"n": 0, "mape": float("nan"), "median": float("nan"), "p90": float("nan"), "max": float("nan")}
    return {"n": int(e.size), "mape": float(e.mean()), "median": float(np.median(e)),
            "p90": float(np.percentile(e, 90)), "max": float(e.max())}


# ----------------------------------------------------------------- fit / check split
def split_rows(df: pd.DataFrame) -> pd.Series:
    """'fit' or 'check' per row. Within each kernel family, shape families alternate fit, check, fit, ...
    in order of first appearance (the suites list them so each half spans the same regimes). A kernel
    family with a single shape family (e.g. one collective sweep) alternates its sizes instead, so the
    check half holds message sizes the fit never saw."""
    split = pd.Series("fit", index=df.index, dtype=object)
    for _, rows in df.groupby("family", sort=False):
        fams = list(dict.fromkeys(rows["shape_family"]))
        if len(fams) >= 2:
            for i, fam in enumerate(fams):
                split[rows.index[rows["shape_family"] == fam]] = "fit" if i % 2 == 0 else "check"
        else:
            order = rows.sort_values(["world_size", "bytes", "flop"]).index
            split[order[1::2]] = "check"
    return split


# ----------------------------------------------------------------- predictions (all via roofline/comm)
def _peaks(df: pd.DataFrame, hw: Accelerator) -> np.ndarray:
    return np.array([hw.peak_flop_per_s.get(d, np.nan) if d in KERNEL_DTYPES else np.nan for d in df["dtype"]], dtype=float)


def _elem_bytes(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    size = df["dtype"].map(DTYPE_BYTES).to_numpy(dtype=float)
    out = np.where(df["dtype"].to_numpy() == "fp8", 2.0, size)
    return size, out


is_gemv = roofline.is_gemv  # BLAS runs M or N = 1 as GEMV (OpenBLAS interface/gemm.c)


def predict_gemm(df: pd.DataFrame, hw: Accelerator, curve: GemmCurve,
                 gemv_memory_efficiency: float | None = None) -> np.ndarray:
    """GEMM times through roofline.gemm_time_s (fp8 rows use the curve's fp8 compute efficiency;
    GEMV rows use `gemv_memory_efficiency` as the memory cap when one is given)."""
    size, out = _elem_bytes(df)
    m, n, k = (df[c].to_numpy(float) for c in ("m", "n", "k"))
    eta = curve.compute_efficiency_for(df["dtype"].to_numpy() == "fp8")
    args = (_peaks(df, hw), hw.hbm_bandwidth_bytes_per_s)
    if gemv_memory_efficiency is not None:
        curve = replace(curve, gemv_memory_efficiency=gemv_memory_efficiency)
    return roofline.gemm_time_s(m, n, k, *args, curve, size, out, df["batch"].to_numpy(float), eta)


def predict_stream(df: pd.DataFrame, hw: Accelerator, efficiency: float, launch_s: float) -> np.ndarray:
    """Streaming/elementwise kernels through roofline.stream_time_s."""
    return roofline.stream_time_s(df["bytes"].to_numpy(float), hw.hbm_bandwidth_bytes_per_s, efficiency,
                                  df["n_kernels"].to_numpy(float), launch_s)


def predict_attention(df: pd.DataFrame, hw: Accelerator, curve: GemmCurve, efficiency: float) -> np.ndarray:
    """Fused attention through roofline.flash_attention_time_s with the row's own FLOP and bytes."""
    return roofline.flash_attention_time_s(df["flop"].to_numpy(float), df["bytes"].to_numpy(float), _peaks(df, hw),
                                           hw.hbm_bandwidth_bytes_per_s, efficiency, curve)


COLLECTIVE_FN: dict[str, Callable[[np.ndarray, np.ndarray, Link], np.ndarray]] = {
    "allreduce": comm.ring_allreduce_s,
    "allgather": comm.ring_gather_s,
    "reducescatter": comm.ring_gather_s,
    "alltoall": comm.alltoall_s,
    "sendrecv": lambda n, b, link: comm.sendrecv_s(b, link),
}


def regime_time_s(family: str, n: np.ndarray, bytes_: np.ndarray, link: Link,
                  regimes: list[tuple[float, float]] | None) -> np.ndarray:
    """Collective time as the fastest of several (latency_s, bus_efficiency) regimes of one link, each
    timed by comm.py's alpha-beta function (NCCL picks the fastest algorithm/protocol per size:
    nccl src/graph/tuning.cc; microbench_anchors.md 3.3). No regimes: the link as it is."""
    fn = COLLECTIVE_FN[family]
    return fn(n, bytes_, replace(link, regimes=tuple(regimes)) if regimes else link)


def predict_collective(df: pd.DataFrame, link: Link, regimes: list[tuple[float, float]] | None) -> np.ndarray:
    out = np.empty(len(df))
    for fam, rows in df.groupby("family", sort=False):
        idx = df.index.get_indexer(rows.index)
        out[idx] = regime_time_s(str(fam), rows["world_size"].to_numpy(float), rows["bytes"].to_numpy(float),
                                 link, regimes)
    return out


# ----------------------------------------------------------------- least squares helpers
def _lsq(residual: Callable[[np.ndarray], np.ndarray], starts: list[list[float]], lo: list[float],
         hi: list[float]) -> np.ndarray:
    from scipy.optimize import least_squares

    best, best_cost = None, np.inf
    for x0 in starts:
        x0 = np.clip(np.asarray(x0, dtype=float), np.asarray(lo) + 1e-12, np.asarray(hi) - 1e-12)
        try:
            res = least_squares(residual, x0, bounds=(lo, hi), method="trf", x_scale="jac", max_nfev=400)
        except ValueError:
            continue
        if np.isfinite(res.cost) and res.cost < best_cost:
            best, best_cost = res.x, res.cost
    if best is None:
        raise FitError("least-squares fit did not converge from any starting point")
    return best


def _log_residual(pred: np.ndarray, meas: np.ndarray) -> np.ndarray:
    pred = np.where(np.isfinite(pred) & (pred > 0), pred, 1e30)
    return np.log(pred) - np.log(meas)


# ----------------------------------------------------------------- GEMM
@dataclass(frozen=True)
class FormResult:
    """One candidate form: fitted parameters and its error on fit rows and on held-out rows."""

    form: str
    params: dict[str, Any]  # floats, or for collectives a list of (latency_s, bus_efficiency) regimes
    fit_error: dict[str, float]
    check_error: dict[str, float]


@dataclass(frozen=True)
class FamilyFit:
    """The chosen form for one kernel family, with every candidate's scores."""

    family: str
    chosen: FormResult
    candidates: list[FormResult] = field(default_factory=list)
    note: str = ""


def gemm_curve_from(params: dict[str, float], base: GemmCurve | None = None) -> GemmCurve:
    fp8 = params.get("fp8_compute_efficiency", base.fp8_compute_efficiency if base else None)
    return GemmCurve(compute_efficiency=params["compute_efficiency"], memory_efficiency=params["memory_efficiency"],
                     p=params["p"], launch_s=params["launch_s"], fp8_compute_efficiency=fp8)


def _fit_gemm_form(fit_df: pd.DataFrame, hw: Accelerator, p_fixed: float | None, gemv: bool) -> dict[str, float]:
    meas = fit_df["time_s"].to_numpy(float)
    floor = float(np.min(meas))
    gemv = gemv and bool(is_gemv(fit_df["m"], fit_df["n"]).any())

    def unpack(x: np.ndarray) -> dict[str, float]:
        out = {"compute_efficiency": float(x[0]), "memory_efficiency": float(x[1]),
               "p": float(p_fixed if p_fixed is not None else x[3]), "launch_s": float(x[2])}
        if gemv:
            out["gemv_memory_efficiency"] = float(x[-1])
        return out

    def residual(x: np.ndarray) -> np.ndarray:
        params = unpack(x)
        return _log_residual(predict_gemm(fit_df, hw, gemm_curve_from(params),
                                          params.get("gemv_memory_efficiency")), meas)

    lo, hi = [0.01, 0.01, 0.0], [1.0, 1.2, max(floor, 1e-7)]
    starts = [[0.8, 0.8, 0.2 * floor], [0.5, 0.5, 0.5 * floor], [0.95, 0.3, 0.05 * floor]]
    if p_fixed is None:
        lo, hi = lo + [0.51], hi + [8.0]
        starts = [s + [p] for s in starts for p in (1.3, 2.5)]
    if gemv:  # a read-only stream can beat the copy-measured bandwidth some profiles store
        lo, hi = lo + [0.01], hi + [1.5]
        starts = [s + [0.9] for s in starts]
    return unpack(_lsq(residual, starts, lo, hi))


def fit_gemm(df: pd.DataFrame, hw: Accelerator, split: pd.Series) -> FamilyFit:
    """GEMM soft roofline on non-fp8 rows with a profile peak; fp8 rows fit fp8_compute_efficiency alone."""
    rows = df[(df["family"] == GEMM) & np.isfinite(_peaks(df, hw))]
    skipped = sorted(set(df.loc[df["family"] == GEMM, "dtype"]) - set(rows["dtype"]))
    base = rows[rows["dtype"] != "fp8"]
    fit_df, check_df = base[split[base.index] == "fit"], base[split[base.index] == "check"]
    if len(fit_df) < 4:
        raise FitError(f"GEMM fit needs at least 4 fit rows with a profile peak, found {len(fit_df)}")
    candidates, selection = [], {}
    in_fit, in_sel = _inner_split(fit_df)

    def predict(d: pd.DataFrame, p: dict[str, float]) -> np.ndarray:
        return predict_gemm(d, hw, gemm_curve_from(p), p.get("gemv_memory_efficiency"))

    for form, (p_fixed, gemv) in GEMM_FORMS.items():
        if gemv and not is_gemv(fit_df["m"], fit_df["n"]).any():
            continue
        inner_ok = len(in_fit) >= 4 and (not gemv or bool(is_gemv(in_fit["m"], in_fit["n"]).any()))
        res, score = _evaluate_form(form, partial(_fit_gemm_form, hw=hw, p_fixed=p_fixed, gemv=gemv), predict,
                                    fit_df, check_df, (in_fit, in_sel) if inner_ok else None)
        candidates.append(res)
        if score is not None:
            selection[form] = score
    chosen = choose(candidates, selection if len(selection) == len(candidates) else None)
    notes = [f"skipped dtype(s) without a profile peak: {', '.join(skipped)}"] if skipped else []
    for key, cap in (("compute_efficiency", 1.0), ("memory_efficiency", 1.2), ("gemv_memory_efficiency", 1.5)):
        if chosen.params.get(key, 0.0) >= cap - 1e-6:
            notes.append(f"{key} sits at its bound {cap:g}: the profile's peak or bandwidth is below what these "
                         f"kernels reach; consider raising it")
    note = "; ".join(notes)
    fp8 = rows[rows["dtype"] == "fp8"]
    if len(fp8):
        chosen = _fit_fp8(fp8, split, hw, chosen)
    return FamilyFit(GEMM, chosen, candidates, note)


def _score(e: dict[str, float]) -> float:
    return e["median"] + 0.5 * e["p90"]


def choose(candidates: list[FormResult], selection: dict[str, float] | None = None,
           tolerance: float = 0.01) -> FormResult:
    """The simplest candidate (list order) whose selection score, median + p90 / 2 of the absolute
    percentage error, is within `tolerance` of the best. `selection` holds scores measured on an inner
    split of the fit rows (fit on one half of the fit shape families, scored on the other), so the
    check rows never take part in choosing the form; without it, the fit-row error is used."""
    scores = {c.form: (selection or {}).get(c.form, _score(c.fit_error)) for c in candidates}
    best = min(scores.values())
    return next(c for c in candidates if scores[c.form] <= best + tolerance)


def _evaluate_form(form: str, fit: Callable[[pd.DataFrame], dict[str, Any]],
                   predict: Callable[[pd.DataFrame, dict[str, Any]], np.ndarray], fit_df: pd.DataFrame,
                   check_df: pd.DataFrame, inner: tuple[pd.DataFrame, pd.DataFrame] | None
                   ) -> tuple[FormResult, float | None]:
    """One candidate form: fitted on the inner-fit rows and scored on the inner-selection rows (the
    score `choose` uses), then fitted on all fit rows and scored on fit and check rows (the report)."""
    score = None
    if inner is not None and len(inner[1]):
        in_fit, in_sel = inner
        score = _score(error_stats(ape(predict(in_sel, fit(in_fit)), in_sel["time_s"])))
    params = fit(fit_df)
    res = FormResult(form, params, error_stats(ape(predict(fit_df, params), fit_df["time_s"])),
                     error_stats(ape(predict(check_df, params), check_df["time_s"])))
    return res, score


def _inner_split(fit_df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The fit rows split again, the same way, for choosing a form without touching the check rows."""
    inner = split_rows(fit_df)
    return fit_df[inner == "fit"], fit_df[inner == "check"]


def _fit_fp8(fp8: pd.DataFrame, split: pd.Series, hw: Accelerator, chosen: FormResult) -> FormResult:
    fit_df = fp8[split[fp8.index] == "fit"]
    if fit_df.empty:  # no fp8 shape on the fit side: keep the ratio from the profile rather than fit on check rows
        return chosen
    meas = fit_df["time_s"].to_numpy(float)

    def residual(x: np.ndarray) -> np.ndarray:
        curve = gemm_curve_from({**chosen.params, "fp8_compute_efficiency": float(x[0])})
        return _log_residual(predict_gemm(fit_df, hw, curve, chosen.params.get("gemv_memory_efficiency")), meas)

    x = _lsq(residual, [[0.7], [0.4]], [0.01], [1.0])
    return replace(chosen, params={**chosen.params, "fp8_compute_efficiency": float(x[0])})


# ----------------------------------------------------------------- memory, attention
def fit_stream(df: pd.DataFrame, hw: Accelerator, split: pd.Series) -> FamilyFit:
    """memory_bandwidth_efficiency and kernel_launch_s from streaming kernels (copy, scale, add, ...)."""
    rows = df[df["family"] == MEMORY]
    fit_df, check_df = rows[split[rows.index] == "fit"], rows[split[rows.index] == "check"]
    if len(fit_df) < 2:
        raise FitError(f"memory-bandwidth fit needs at least 2 fit rows, found {len(fit_df)}")
    meas = fit_df["time_s"].to_numpy(float)
    floor = float(meas.min())

    def residual(x: np.ndarray) -> np.ndarray:
        return _log_residual(predict_stream(fit_df, hw, float(x[0]), float(x[1])), meas)

    x = _lsq(residual, [[0.8, 0.3 * floor], [0.5, 0.8 * floor]], [0.01, 0.0], [1.0, max(floor, 1e-7)])
    params = {"memory_bandwidth_efficiency": float(x[0]), "kernel_launch_s": float(x[1])}
    res = FormResult("stream", params, error_stats(ape(predict_stream(fit_df, hw, *x), fit_df["time_s"])),
                     error_stats(ape(predict_stream(check_df, hw, *x), check_df["time_s"])))
    return FamilyFit(MEMORY, res, [res])


def fit_attention(df: pd.DataFrame, hw: Accelerator, split: pd.Series, curve: GemmCurve) -> FamilyFit:
    """flash_attention_efficiency: the compute cap that makes flash_attention_time_s match measured attention."""
    rows = df[(df["family"] == ATTENTION) & np.isfinite(_peaks(df, hw))]
    fit_df, check_df = rows[split[rows.index] == "fit"], rows[split[rows.index] == "check"]
    if len(fit_df) < 1:
        raise FitError("attention fit needs at least one fit row with a profile peak")
    meas = fit_df["time_s"].to_numpy(float)

    def residual(x: np.ndarray) -> np.ndarray:
        return _log_residual(predict_attention(fit_df, hw, curve, float(x[0])), meas)

    x = _lsq(residual, [[0.5], [0.1]], [0.001], [1.0])
    params = {"flash_attention_efficiency": float(x[0])}
    res = FormResult("flash", params, error_stats(ape(predict_attention(fit_df, hw, curve, x[0]), fit_df["time_s"])),
                     error_stats(ape(predict_attention(check_df, hw, curve, x[0]), check_df["time_s"])))
    return FamilyFit(ATTENTION, res, [res])


# ----------------------------------------------------------------- collectives
def _fit_regimes(fit_df: pd.DataFrame, link: Link, k: int) -> list[tuple[float, float]]:
    meas = fit_df["time_s"].to_numpy(float)
    t_small = float(np.min(meas))

    def unpack(x: np.ndarray) -> list[tuple[float, float]]:
        return sorted((float(x[2 * i]), float(x[2 * i + 1])) for i in range(k))

    def residual(x: np.ndarray) -> np.ndarray:
        return _log_residual(predict_collective(fit_df, link, unpack(x)), meas)

    starts = []
    for spread in (1.0, 3.0):
        x0 = []
        for i in range(k):  # regime i: larger latency, higher bandwidth (LL -> LL128 -> Simple)
            x0 += [t_small * (0.5 + i * spread), min(1.0, 0.05 * 10**i)]
        starts.append(x0)
    lo = [0.0, 1e-4] * k
    hi = [max(10 * t_small, 1e-6), 1.2] * k
    return unpack(_lsq(residual, starts, lo, hi))


def _regimes_params(fit_df: pd.DataFrame, link: Link, k: int) -> dict[str, Any]:
    return {"regimes": _fit_regimes(fit_df, link, k)}


def fit_collectives(df: pd.DataFrame, split: pd.Series, link: Link) -> FamilyFit:
    """Min over K alpha-beta regimes of one link, K chosen by held-out error on unseen message sizes."""
    rows = df[df["family"].isin(COLLECTIVE_OPS)]
    fit_df, check_df = rows[split[rows.index] == "fit"], rows[split[rows.index] == "check"]
    if len(fit_df) < 2:
        raise FitError(f"collective fit needs at least 2 fit rows, found {len(fit_df)}")
    candidates, selection = [], {}
    in_fit, in_sel = _inner_split(fit_df)

    def predict(d: pd.DataFrame, p: dict[str, Any]) -> np.ndarray:
        return predict_collective(d, link, p["regimes"])

    for k in REGIME_COUNTS:
        if len(fit_df) < 2 * k + 1:
            continue
        res, score = _evaluate_form(f"{k}-regime", partial(_regimes_params, link=link, k=k), predict, fit_df, check_df, (in_fit, in_sel) if len(in_fit) >= 2 * k + 1 else None)
        candidates.append(res)
        if score is not None:
            selection[res.form] = score
    chosen = choose(candidates, selection if len(selection) == len(candidates) else None)
    return FamilyFit("collectives", chosen, candidates)


# ----------------------------------------------------------------- everything a profile stores
@dataclass(frozen=True)
class ProfileFit:
    """All fitted families; `efficiency_updates` are the keys to write into the profile."""

    families: dict[str, FamilyFit]
    split: pd.Series
    notes: list[str]

    def gemm_curve(self, hw: Accelerator) -> GemmCurve:
        fam = self.families.get(GEMM)
        return gemm_curve_from(fam.chosen.params, hw.gemm) if fam else hw.gemm


def fit_profile(df: pd.DataFrame, hw: Accelerator, split: pd.Series | None = None, scope: str = "intra") -> ProfileFit:
    """Fit every family present in `df` on its 'fit' rows (all rows when `split` says so)."""
    split = split_rows(df) if split is None else split
    families: dict[str, FamilyFit] = {}
    notes: list[str] = []
    present = set(df["family"])
    if GEMM in present:
        families[GEMM] = fit_gemm(df, hw, split)
    if MEMORY in present:
        families[MEMORY] = fit_stream(df, hw, split)
    if ATTENTION in present:
        curve = gemm_curve_from(families[GEMM].chosen.params, hw.gemm) if GEMM in families else hw.gemm
        families[ATTENTION] = fit_attention(df, hw, split, curve)
    if present & set(COLLECTIVE_OPS):
        link = hw.intra if scope == "intra" else hw.inter
        families["collectives"] = fit_collectives(df, split, link)
    if ELEMENTWISE in present:
        notes.append("elementwise kernels are not fitted: they are checked against memory_bandwidth_efficiency")
    for fam in families.values():
        check_params(fam)
    return ProfileFit(families, split, notes)


def check_params(fam: FamilyFit) -> None:
    """Reject fitted values outside the ranges the schema and the estimators accept."""
    for key, value in fam.chosen.params.items():
        if key == "regimes":
            for lat, eff in value:
                if not (np.isfinite(lat) and lat >= 0 and 0 < eff <= 1.2):
                    raise FitError(f"collective regime ({lat:g} s, {eff:g}) is outside latency >= 0, efficiency in (0, 1.2]")
            continue
        if not np.isfinite(value):
            raise FitError(f"{fam.family}: fitted {key} is not finite")
        cap = {"memory_efficiency": 1.2, "gemv_memory_efficiency": 1.5}.get(key, 1.0)
        if key.endswith("efficiency") and not (0 < value <= cap):
            raise FitError(f"{fam.family}: fitted {key} = {value:g} is outside (0, 1]; check the profile's peak")
        if key in ("launch_s", "kernel_launch_s") and value < 0:
            raise FitError(f"{fam.family}: fitted {key} = {value:g} is negative")
