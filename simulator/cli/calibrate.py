"""`simulator calibrate {run,fit,validate}` and `simulator kernel` (registered through cli.EXTENSIONS).

Only the standard library is imported at module level; `calibrate run` then needs numpy (and torch
for --backend torch), while fit/validate/kernel load pandas, scipy and the profile catalog.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
from pathlib import Path
from typing import Any

from simulator import units

EXIT_USAGE = 2
DEFAULT_DIR = Path("hardware_profiles") / "measurements"


def register(sub: Any) -> None:
    """Add the `calibrate` and `kernel` subcommands to the `simulator` parser."""
    cal = sub.add_parser("calibrate", help="kernel microbenchmarks: measure, fit and validate efficiency curves")
    csub = cal.add_subparsers(dest="calibrate_command", required=True, parser_class=type(cal))

    r = csub.add_parser("run", help="time kernels on this machine and write a measurement CSV")
    r.add_argument("--backend", default="numpy", choices=["numpy", "torch", "cupy"])
    r.add_argument("--suite", default="quick", choices=["quick", "full"])
    r.add_argument("--out", help="CSV to write (default hardware_profiles/measurements/<profile|backend>-<date>.csv)")
    r.add_argument("--profile", help="profile id the file is for (names the default output file)")
    r.add_argument("--families", help="comma-separated kernel families to run (default: all in the suite)")
    r.add_argument("--device", default="cuda", choices=["cuda", "cpu"],
                   help="torch backend device (cpu only to test the harness without a GPU)")
    r.add_argument("--world-size", type=int, help="ranks for collectives (torch; default: all visible GPUs)")
    r.add_argument("--rounds", type=int, default=4, help="interleaved passes over the suite (default 4)")
    r.add_argument("--min-time-s", type=float, default=0.1, help="timed kernel seconds per case (default 0.1)")
    r.add_argument("--threads", type=int, help="BLAS/OpenMP threads for the numpy backend (default: the library's; "
                                               "1 is far steadier on a shared machine)")
    r.add_argument("--json", action="store_true", help="print a JSON summary instead of progress")
    r.set_defaults(func=cmd_run)

    for name, helptext in (("fit", "fit the profile's curves and write them into the profile file"),
                           ("validate", "fit on half the shapes, report held-out error per kernel family")):
        p = csub.add_parser(name, help=helptext)
        p.add_argument("--profile", required=True, help="hardware id or path to a profile YAML")
        p.add_argument("--measurements", nargs="+", required=True, help="measurement CSV file(s)")
        p.add_argument("--stat", default="time_s",
                       choices=["time_s", "time_s_best_round", "time_s_min", "time_s_p25"],
                       help="timing statistic to fit (default the median, time_s)")
        p.add_argument("--scope", default="intra", choices=["intra", "inter"], help="link the collectives ran on")
        p.add_argument("--plot", help="write a predicted-vs-measured PNG here")
        p.add_argument("--allow-other-device", action="store_true", help="skip the device-matches-profile check")
        p.add_argument("--json", action="store_true")
        if name == "fit":
            p.add_argument("--dry-run", action="store_true", help="print the fit, do not write the profile")
            p.set_defaults(func=cmd_fit)
        else:
            p.add_argument("--max-median", type=float, help="exit 1 if a fitted family's held-out median error exceeds this")
            p.add_argument("--max-p90", type=float, help="exit 1 if a fitted family's held-out p90 error exceeds this")
            p.set_defaults(func=cmd_validate)

    k = sub.add_parser("kernel", help="predict one kernel's time on a profile")
    k.add_argument("--hardware", required=True, help="hardware id or path to a profile YAML")
    k.add_argument("--op", required=True, choices=["gemm", "attention", "copy", "allreduce", "allgather",
                                                   "reducescatter", "alltoall", "sendrecv"])
    for name in ("m", "n", "k", "seq-len", "heads", "head-dim"):
        k.add_argument(f"--{name}", type=int, default=0)
    k.add_argument("--batch", type=int, default=1)
    k.add_argument("--dtype", default="bf16", choices=["fp32", "tf32", "bf16", "fp16", "fp8"])
    k.add_argument("--causal", action="store_true")
    k.add_argument("--bytes", type=float, default=0.0, help="bytes moved (copy) or buffer per rank (collectives)")
    k.add_argument("--gpus", type=int, default=8, help="ranks in the collective (default 8)")
    k.add_argument("--scope", choices=["intra", "inter"],
                   help="link: intra (NVLink-class, inside one scale-up domain) or inter (scale-out network); "
                        "default: intra when --gpus fit in one domain, else inter")
    k.add_argument("--json", action="store_true")
    k.set_defaults(func=cmd_kernel)


# ---------------------------------------------------------------- run
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def cmd_run(a: argparse.Namespace) -> int:
    if a.threads is not None:
        import os

        if any(os.environ.get(v) != str(a.threads) for v in THREAD_VARS):
            # BLAS reads its thread count once, at load: run again in a fresh process with it set
            import subprocess

            env = {**os.environ, **{v: str(a.threads) for v in THREAD_VARS}}
            return subprocess.call([sys.executable, "-m", "simulator.calibrate", *_argv_from(a)], env=env)
    from simulator.calibrate.harness import BackendUnavailable, Timing, make_backend, run_suite, write_csv

    try:
        backend = make_backend(a.backend, device=a.device)
    except BackendUnavailable as exc:
        sys.stderr.write(f"simulator: error: {exc}\n")
        return EXIT_USAGE
    if a.world_size is not None and hasattr(backend, "world_size"):
        backend.world_size = a.world_size
    families = set(a.families.split(",")) if a.families else None
    date = _dt.date.today().isoformat()
    out = Path(a.out) if a.out else DEFAULT_DIR / f"{a.profile or a.backend}-{date}.csv"
    timing = Timing(rounds=a.rounds, min_time_s=a.min_time_s)

    def progress(i: int, total: int, case: Any) -> None:
        if not a.json and sys.stderr.isatty():
            sys.stderr.write(f"\r[{i + 1}/{total}] {case.family:<11} {case.shape_family:<16}")
            sys.stderr.flush()

    env, rows = run_suite(backend, a.suite, timing, families, progress)
    if a.profile:
        env["profile"] = a.profile
    write_csv(out, env, rows)
    if not a.json and sys.stderr.isatty():
        sys.stderr.write("\n")
    summary = {"out": str(out), "rows": len(rows), "backend": env["backend"], "device": env.get("device"),
               "suite": env["suite"], "wall_s": float(env["suite_wall_s"])}
    print(json.dumps(summary) if a.json else f"wrote {len(rows)} rows to {out} ({env['suite_wall_s']} s on {env.get('device')})")
    return 0


def _argv_from(a: argparse.Namespace) -> list[str]:
    """The `calibrate run` arguments of a parsed namespace (to re-run in a child process)."""
    argv = ["calibrate", "run", "--backend", a.backend, "--suite", a.suite, "--device", a.device,
            "--rounds", str(a.rounds), "--min-time-s", str(a.min_time_s), "--threads", str(a.threads)]
    for flag, value in (("--out", a.out), ("--profile", a.profile), ("--families", a.families),
                        ("--world-size", a.world_size)):
        if value is not None:
            argv += [flag, str(value)]
    return argv + (["--json"] if a.json else [])


# ---------------------------------------------------------------- fit / validate
def _load(a: argparse.Namespace) -> tuple[Any, Any]:
    from simulator.calibrate.measurements import read_many
    from simulator.catalog import load_hardware

    return load_hardware(a.profile), read_many(a.measurements)


def cmd_validate(a: argparse.Namespace) -> int:
    from simulator.calibrate.validate import format_report, plot, validate

    hw, m = _load(a)
    report, df, _ = validate(m, hw, a.stat, a.scope, a.allow_other_device)
    if a.plot:
        report["plot"] = str(plot(df, a.plot, f"{hw.id}: held-out prediction ({a.stat})"))
    print(units.dumps_json(report, default=_jsonable) if a.json else format_report(report))
    failed = []
    for fam, e in report["families"].items():
        if "form" not in e:
            continue
        if a.max_median is not None and e["check"]["median"] > a.max_median:
            failed.append(f"{fam} median {e['check']['median']:.1%} > {a.max_median:.1%}")
        if a.max_p90 is not None and e["check"]["p90"] > a.max_p90:
            failed.append(f"{fam} p90 {e['check']['p90']:.1%} > {a.max_p90:.1%}")
    if failed:
        sys.stderr.write("simulator: held-out error above bound: " + "; ".join(failed) + "\n")
        return 1
    return 0


def cmd_fit(a: argparse.Namespace) -> int:
    from simulator.calibrate.validate import format_report, plot, validate

    hw, m = _load(a)
    report, df, pf = validate(m, hw, a.stat, a.scope, a.allow_other_device)
    if a.plot:
        report["plot"] = str(plot(df, a.plot, f"{hw.id}: held-out prediction ({a.stat})"))
    if not a.dry_run:
        report["written"] = write_fit(hw, report, pf, a.measurements, a.stat, a.scope)
    print(units.dumps_json(report, default=_jsonable) if a.json else format_report(report)
          + (f"\nwrote {report['written']}" if report.get("written") else "\n(dry run: profile not written)"))
    return 0


def _rel(path: str) -> str:
    from simulator.catalog import ROOT

    p = Path(path).resolve()
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return str(p)


def _pct(e: dict[str, float]) -> str:
    return f"median {e['median']:.1%}, p90 {e['p90']:.1%}, max {e['max']:.1%} (n={e['n']})"


def write_fit(hw: Any, report: dict[str, Any], pf: Any, files: list[str], stat: str, scope: str) -> str:
    """Write the fitted families into the profile file; returns its path."""
    from simulator.calibrate.profile_io import current_efficiency, write_profile

    if not hw.path:
        raise SystemExit("simulator: error: the profile has no file to write to")
    eff = current_efficiency(hw.path)
    changed: set[str] = set()
    rel = [_rel(f) for f in files]
    date = _dt.date.today().isoformat()
    fams = report["families"]
    notes = []
    if "gemm" in pf.families:
        fam = pf.families["gemm"]
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
            f"{fam.chosen.form} form fitted {date} on {', '.join(rel)} ({stat}), shape families "
            f"{', '.join(fams['gemm']['fit_shape_families'])}; held out {', '.join(fams['gemm']['check_shape_families'])}: "
            f"{_pct(fams['gemm']['check'])}. Candidates (held-out median/p90): {cands}. Chosen: the simplest form within 1 pp of the best held-out "
            f"median + p90/2"]
        eff["gemm"] = g
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
    if notes:
        eff["fitted_on"] = notes + [s for s in eff["fitted_on"] if not s.startswith(
            ("memory_bandwidth_efficiency and kernel_launch_s:", "flash_attention_efficiency:"))
            and not s.startswith("Not fitted")]
        eff["measurements"] = sorted(set((eff.get("measurements") or []) + rel))
    links = None
    if "collectives" in pf.families:
        coll = pf.families["collectives"]
        regimes = coll.chosen.params["regimes"]
        # comm.py times collectives with the link's single (latency_s, bus_efficiency) pair: give it the best
        # one-regime fit; the regime table beside it is for code that takes the minimum over regimes
        single = next((c for c in coll.candidates if c.form == "1-regime"), coll.chosen)
        lat, best = max(single.params["regimes"], key=lambda r: r[1])
        fam_names = [f for f in fams if f in ("allreduce", "allgather", "reducescatter", "alltoall", "sendrecv")]
        errs = "; ".join(f"{f} {_pct(fams[f]['check'])}" for f in fam_names)
        links = {"intra_node" if scope == "intra" else "scale_out": {
            "latency_s": lat, "bus_efficiency": best, "regimes": regimes,
            "fitted_on": [f"{pf.families['collectives'].chosen.form} min-over-regimes fitted {date} on "
                          f"{', '.join(rel)} ({stat}), alternate message sizes held out: {errs}"]}}
        eff["measurements"] = sorted(set((eff.get("measurements") or []) + rel))
    write_profile(hw.path, eff, changed, links)
    return hw.path


def _jsonable(v: Any) -> Any:
    import numpy as np

    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, tuple):
        return list(v)
    return str(v)


# ---------------------------------------------------------------- kernel
def cmd_kernel(a: argparse.Namespace) -> int:
    from simulator.calibrate.kernel import predict_kernel
    from simulator.catalog import load_hardware
    from simulator.units import human_duration, human_flops, human_rate

    hw = load_hardware(a.hardware)
    rec = predict_kernel(hw, a.op, m=a.m, n=a.n, k=a.k, dtype=a.dtype, batch=a.batch, seq_len=a.seq_len,
                         heads=a.heads, head_dim=a.head_dim, causal=a.causal, bytes_=a.bytes, gpus=a.gpus,
                         scope=a.scope)
    if a.json:
        print(units.dumps_json(rec))
        return 0
    rate = (human_flops(rec["achieved_flop_per_s"]) if "achieved_flop_per_s" in rec
            else human_rate(rec["achieved_bytes_per_s"]))
    link = {"intra": "scale-up", "inter": "scale-out"}
    where = f" ({rec['gpus']:,} ranks, {link[rec['scope']]} link)" if "scope" in rec else ""
    print(f"{rec['op']} on {rec['hardware']}{where}: {human_duration(rec['time_s'])}, {rate} achieved, "
          f"efficiency {rec['efficiency']:.1%}, {rec['bound']}-bound")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m simulator.calibrate ...``): the same subcommands as `simulator`."""
    from simulator.cli import _Parser, run_parser

    parser = _Parser(prog="simulator", description="kernel calibration")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    register(sub)
    return run_parser(parser, argv)
