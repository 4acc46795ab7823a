"""A validated fit (calibrate.validate) turned into profile fields and written into the profile file
(calibrate.profile_io), each fitted family recording the files, statistic and held-out error it came from."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

from simulator.calibrate import fit as F
from simulator.calibrate.profile_io import current_efficiency, write_profile
from simulator.catalog import ROOT
from simulator.core.hardware import Accelerator
from simulator.errors import SimulatorError
from simulator.vocab import COLLECTIVE_OPS


def _rel(path: str) -> str:
    """A measurement file's path as the profile records it: relative to the repository when inside it."""
    p = Path(path).resolve()
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return str(p)


def _pct(e: dict[str, float]) -> str:
    return f"median {e['median']:.1%}, p90 {e['p90']:.1%}, max {e['max']:.1%} (n={e['n']})"


def _gemm(eff: dict[str, Any], fam: F.FamilyFit, rep: dict[str, Any], where: str, date: str) -> set[str]:
    """The GEMM curve's fitted parameters and their provenance; returns the keys that change."""
    changed: set[str] = set()
    g = dict(eff["gemm"])
    for key in ("compute_efficiency", "memory_efficiency", "p", "launch_s", "fp8_compute_efficiency"):
        if key in fam.chosen.params:
            g[key] = round(fam.chosen.params[key], 4 if key != "launch_s" else 9)
            changed.add(key)
    g["gemv_memory_efficiency"] = (round(fam.chosen.params["gemv_memory_efficiency"], 4)
                                   if "gemv_memory_efficiency" in fam.chosen.params else None)
    changed.add("gemv_memory_efficiency")
    cands = "; ".join(f"{c.form} {c.check_error['median']:.1%}/{c.check_error['p90']:.1%}" for c in fam.candidates)
    g["fitted_on"] = [
        f"{fam.chosen.form} form fitted {date} on {where}, shape families "
        f"{', '.join(rep['fit_shape_families'])}; held out {', '.join(rep['check_shape_families'])}: "
        f"{_pct(rep['check'])}. Candidates (held-out median/p90): {cands}. Chosen: the simplest form within 1 pp of "
        f"the best held-out median + p90/2"]
    eff["gemm"] = g
    return changed


def _streams(eff: dict[str, Any], pf: F.ProfileFit, fams: dict[str, Any], rel: list[str], stat: str,
             date: str) -> tuple[set[str], list[str]]:
    """Memory-bound kernels and flash attention: their fitted values and provenance notes."""
    changed: set[str] = set()
    notes = []
    if "memory" in pf.families:
        p = pf.families["memory"].chosen.params
        eff["memory_bandwidth_efficiency"] = round(p["memory_bandwidth_efficiency"], 4)
        eff["kernel_launch_s"] = round(p["kernel_launch_s"], 9)
        changed |= {"memory_bandwidth_efficiency", "kernel_launch_s"}
        notes.append(f"memory_bandwidth_efficiency and kernel_launch_s: roofline.stream_time_s fitted {date} on "
                     f"{', '.join(fams['memory']['fit_shape_families'])} kernels of {', '.join(rel)} ({stat}); held out "
                     f"{', '.join(fams['memory']['check_shape_families'])}: {_pct(fams['memory']['check'])}")
    if "attention" in pf.families:
        p = pf.families["attention"].chosen.params
        eff["flash_attention_efficiency"] = round(p["flash_attention_efficiency"], 4)
        changed.add("flash_attention_efficiency")
        notes.append(f"flash_attention_efficiency: roofline.flash_attention_time_s fitted {date} on attention "
                     f"({', '.join(fams['attention']['fit_shape_families'])}) of {', '.join(rel)}; held out "
                     f"{', '.join(fams['attention']['check_shape_families'])}: {_pct(fams['attention']['check'])}")
    return changed, notes


def _collectives(coll: F.FamilyFit, fams: dict[str, Any], where: str, date: str, scope: str) -> dict[str, Any]:
    """The link the collectives ran on: comm.py times collectives with the link's single (latency_s, bus_efficiency)
    pair, so it gets the best one-regime fit; the regime table beside it is for code that takes the minimum."""
    regimes = coll.chosen.params["regimes"]
    single = next((c for c in coll.candidates if c.form == "1-regime"), coll.chosen)
    lat, best = max(single.params["regimes"], key=lambda r: r[1])
    errs = "; ".join(f"{f} {_pct(fams[f]['check'])}" for f in fams if f in COLLECTIVE_OPS)
    return {"intra_node" if scope == "intra" else "scale_out": {
        "latency_s": lat, "bus_efficiency": best, "regimes": regimes,
        "fitted_on": [f"{coll.chosen.form} min-over-regimes fitted {date} on {where}, alternate message sizes held "
                      f"out: {errs}"]}}


def write_fit(hw: Accelerator, report: dict[str, Any], pf: F.ProfileFit, files: list[str], stat: str,
              scope: str) -> str:
    """Write the fitted families into the profile file; returns its path."""
    if not hw.path:
        raise SimulatorError("the profile has no file to write to")
    eff = current_efficiency(hw.path)
    rel = [_rel(f) for f in files]
    date = _dt.date.today().isoformat()
    fams = report["families"]
    where = f"{', '.join(rel)} ({stat})"
    changed = _gemm(eff, pf.families["gemm"], fams["gemm"], where, date) if "gemm" in pf.families else set()
    more, notes = _streams(eff, pf, fams, rel, stat, date)
    changed |= more
    if notes:
        eff["fitted_on"] = notes + [s for s in eff["fitted_on"] if not s.startswith(
            ("memory_bandwidth_efficiency and kernel_launch_s:", "flash_attention_efficiency:"))
            and not s.startswith("Not fitted")]
        eff["measurements"] = sorted(set((eff.get("measurements") or []) + rel))
    links = None
    if "collectives" in pf.families:
        links = _collectives(pf.families["collectives"], fams, where, date, scope)
        eff["measurements"] = sorted(set((eff.get("measurements") or []) + rel))
    write_profile(hw.path, eff, changed, links)
    return hw.path
