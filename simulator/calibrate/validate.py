"""Fit on one half of the shapes, predict the other half, report per-family error and a plot.

The split is by shape family (fit.split_rows): the check half holds whole models, kernels or message
sizes the fit never saw. Two predictions are scored on the check rows: the refit (the curves a
`calibrate fit` would write) and the profile as it is now.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.calibrate import fit as F
from simulator.calibrate.kernels import ATTENTION, ELEMENTWISE, GEMM, MEMORY
from simulator.calibrate.measurements import Measurements, check_device
from simulator.core.hardware import Accelerator
from simulator.errors import DataFileError
from simulator.vocab import COLLECTIVE_OPS, TIMING_STATS

MODELLED = (GEMM, ATTENTION, MEMORY, ELEMENTWISE, *COLLECTIVE_OPS)


def with_stat(m: Measurements, stat: str) -> pd.DataFrame:
    """The rows with `time_s` replaced by the chosen statistic (median by default)."""
    if stat not in TIMING_STATS:
        raise DataFileError(f"unknown --stat {stat!r}; choose one of {', '.join(TIMING_STATS)}")
    df = m.frame.copy()
    if stat != "time_s":
        if stat not in df.columns:
            raise DataFileError(f"{', '.join(m.files)}: column {stat!r} is missing (older or published file); "
                                f"use --stat time_s")
        df["time_s"] = pd.to_numeric(df[stat], errors="coerce")
        if df["time_s"].isna().any() or (df["time_s"] <= 0).any():
            raise DataFileError(f"{', '.join(m.files)}: column {stat!r} has missing or non-positive values")
    return df[df["family"].isin(MODELLED)].reset_index(drop=True)


def predictions(df: pd.DataFrame, hw: Accelerator, pf: F.ProfileFit | None, scope: str = "intra") -> np.ndarray:
    """Predicted time per row: from the refit `pf`, or from the profile as it is when `pf` is None."""
    link = hw.intra if scope == "intra" else hw.inter
    out = np.full(len(df), np.nan)
    fams = pf.families if pf is not None else {}
    curve = pf.gemm_curve(hw) if pf is not None else hw.gemm
    gemv = fams[GEMM].chosen.params.get("gemv_memory_efficiency") if GEMM in fams else hw.gemm.gemv_memory_efficiency
    mem = fams[MEMORY].chosen.params if MEMORY in fams else {
        "memory_bandwidth_efficiency": hw.memory_bandwidth_efficiency, "kernel_launch_s": hw.kernel_launch_s}
    attn = (fams[ATTENTION].chosen.params["flash_attention_efficiency"] if ATTENTION in fams
            else hw.flash_attention_efficiency)
    regimes = (fams["collectives"].chosen.params["regimes"] if "collectives" in fams
               else (list(link.regimes) or None))
    for fam, rows in df.groupby("family", sort=False):
        idx = df.index.get_indexer(rows.index)
        if fam == GEMM:
            out[idx] = F.predict_gemm(rows, hw, curve, gemv)
        elif fam in (MEMORY, ELEMENTWISE):
            out[idx] = F.predict_stream(rows, hw, mem["memory_bandwidth_efficiency"], mem["kernel_launch_s"])
        elif fam == ATTENTION:
            out[idx] = F.predict_attention(rows, hw, curve, attn)
        elif fam in COLLECTIVE_OPS:
            out[idx] = F.predict_collective(rows, link, regimes)
    return out


def _family_names(df: pd.DataFrame, split: pd.Series, which: str) -> list[str]:
    return list(dict.fromkeys(df.loc[split == which, "shape_family"]))


def validate(m: Measurements, hw: Accelerator, stat: str = "time_s", scope: str = "intra",
             allow_other_device: bool = False) -> tuple[dict[str, Any], pd.DataFrame, F.ProfileFit]:
    """Fit on the fit half, score the check half; returns (report, rows with predictions, fit)."""
    if not allow_other_device:
        check_device(m, hw)
    df = with_stat(m, stat)
    no_peak = df["family"].isin([GEMM, ATTENTION]) & ~np.isfinite(F._peaks(df, hw))
    skipped = sorted(set(df.loc[no_peak, "dtype"]))
    df = df[~no_peak].reset_index(drop=True)
    if df.empty:
        raise DataFileError(f"{', '.join(m.files)}: no rows of a modelled kernel family ({', '.join(MODELLED)})")
    split = F.split_rows(df)
    pf = F.fit_profile(df, hw, split, scope)
    df = df.assign(split=split.to_numpy(), predicted_s=predictions(df, hw, pf, scope),
                   profile_predicted_s=predictions(df, hw, None, scope))
    df["error"] = (df["predicted_s"] - df["time_s"]) / df["time_s"]
    df["profile_error"] = (df["profile_predicted_s"] - df["time_s"]) / df["time_s"]
    report: dict[str, Any] = {"profile": hw.id, "files": m.files, "stat": stat, "scope": scope,
                              "split_rule": "shape families alternate fit/check in file order; a family with "
                                            "one shape family alternates its sizes", "families": {}}
    mape: dict[str, float] = {}
    profile_mape: dict[str, float] = {}
    for fam, rows in df.groupby("family", sort=False):
        check = rows[rows["split"] == "check"]
        fitted = pf.families.get("collectives" if fam in COLLECTIVE_OPS else str(fam))
        entry: dict[str, Any] = {
            "n_fit": int((rows["split"] == "fit").sum()), "n_check": len(check),
            "fit_shape_families": _family_names(rows, rows["split"], "fit"),
            "check_shape_families": _family_names(rows, rows["split"], "check"),
            "check": F.error_stats(np.abs(check["error"])),
            "profile_check": F.error_stats(np.abs(check["profile_error"])),
        }
        if fitted is not None:
            entry.update({"form": fitted.chosen.form, "params": fitted.chosen.params,
                          "candidates": [{"form": c.form, "params": c.params, "fit": c.fit_error,
                                          "check": c.check_error} for c in fitted.candidates]})
            if fitted.note:
                entry["note"] = fitted.note
        elif fam == ELEMENTWISE:
            entry["note"] = "not fitted: predicted with the memory_bandwidth_efficiency and kernel_launch_s fit"
        report["families"][str(fam)] = entry
        mape[str(fam)] = entry["check"]["mape"]
        profile_mape[str(fam)] = entry["profile_check"]["mape"]
    check_all = df[df["split"] == "check"]
    mape["overall"] = F.error_stats(np.abs(check_all["error"]))["mape"]
    profile_mape["overall"] = F.error_stats(np.abs(check_all["profile_error"]))["mape"]
    report["mape"] = mape
    report["profile_mape"] = profile_mape
    report["overall"] = F.error_stats(np.abs(check_all["error"]))
    report["notes"] = pf.notes + ([f"skipped {int(no_peak.sum())} rows of dtype {', '.join(skipped)}: "
                                   f"the profile has no peak for it"] if skipped else [])
    return report, df, pf


def plot(df: pd.DataFrame, path: str | Path, title: str) -> Path:
    """Predicted vs measured time per kernel family (log-log; hollow = fit rows, filled = held out)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(6.4, 5.6), dpi=110)
    lo = float(min(df["time_s"].min(), df["predicted_s"].min()))
    hi = float(max(df["time_s"].max(), df["predicted_s"].max()))
    xs = np.array([lo / 1.5, hi * 1.5])
    ax.plot(xs, xs, color="black", lw=0.8)
    ax.fill_between(xs, xs / 1.2, xs * 1.2, color="grey", alpha=0.15, label="±20 %")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (fam, rows) in enumerate(df.groupby("family", sort=False)):
        c = colors[i % len(colors)]
        fit_rows, check_rows = rows[rows["split"] == "fit"], rows[rows["split"] == "check"]
        ax.scatter(fit_rows["time_s"], fit_rows["predicted_s"], s=18, facecolors="none", edgecolors=c, lw=0.8)
        med = np.median(np.abs(check_rows["error"])) if len(check_rows) else float("nan")
        ax.scatter(check_rows["time_s"], check_rows["predicted_s"], s=18, color=c,
                   label=f"{fam} (held-out median {med:.0%})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("measured time (s)")
    ax.set_ylabel("predicted time (s)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def format_report(report: dict[str, Any]) -> str:
    """Human-readable tables: per family, the chosen form's held-out error and every candidate's."""
    lines = [f"profile {report['profile']}  stat {report['stat']}  files: {', '.join(report['files'])}",
             f"{'family':<14}{'n fit':>6}{'n check':>8}{'form':>12}{'median':>8}{'p90':>8}{'max':>8}{'MAPE':>8}"
             f"{'as-is MAPE':>12}"]
    for fam, e in report["families"].items():
        c, p = e["check"], e["profile_check"]
        lines.append(f"{fam:<14}{e['n_fit']:>6}{e['n_check']:>8}{e.get('form', '-'):>12}{c['median']:>8.1%}"
                     f"{c['p90']:>8.1%}{c['max']:>8.1%}{c['mape']:>8.1%}{p['mape']:>12.1%}")
    o = report["overall"]
    lines.append(f"{'overall':<14}{'':>6}{o['n']:>8}{'':>12}{o['median']:>8.1%}{o['p90']:>8.1%}{o['max']:>8.1%}"
                 f"{o['mape']:>8.1%}{report['profile_mape']['overall']:>12.1%}")
    for fam, e in report["families"].items():
        if len(e.get("candidates", [])) > 1:
            lines.append(f"{fam} candidate forms (held-out median / p90 / max):")
            for cand in e["candidates"]:
                ch = cand["check"]
                params = ", ".join(f"{k}={_short(v)}" for k, v in cand["params"].items())
                lines.append(f"  {cand['form']:<11} {ch['median']:6.1%} {ch['p90']:6.1%} {ch['max']:6.1%}   {params}")
        if e.get("note"):
            lines.append(f"{fam}: {e['note']}")
    lines += [f"note: {n}" for n in report.get("notes", [])]
    return "\n".join(lines)


def _short(v: Any) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(f"({a:.3g} s, {b:.3g})" for a, b in v) + "]"
    return f"{v:.4g}"
