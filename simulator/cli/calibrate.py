"""`simulator calibrate {run,fit,validate}` and `simulator kernel`, over the public interface of simulator.calibrate.

Nothing heavy is imported at module level (the facade and simulator.calibrate load on first use); `calibrate run`
then needs numpy (and torch for --backend torch), while fit/validate/kernel load pandas, scipy and the profile catalog.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
from pathlib import Path
from typing import Any

import simulator as sim
from simulator import calibrate as cal
from simulator import units
from simulator.cli.common import (
    degree,
    error_fraction,
    gpus,
    kernel_bytes,
    kernel_dim,
    min_time_s,
    rounds,
    threads,
    user_path,
)
from simulator.vocab import KERNEL_BACKENDS, KERNEL_DTYPES, KERNEL_OPS, LINK_SCOPES, TIMING_STATS

DEFAULT_DIR = Path("hardware_profiles") / "measurements"


def register(sub: Any) -> None:
    """Add the `calibrate` and `kernel` subcommands to the `simulator` parser."""
    calp = sub.add_parser("calibrate", help="kernel microbenchmarks: measure, fit and validate efficiency curves")
    csub = calp.add_subparsers(dest="calibrate_command", required=True, parser_class=type(calp))

    r = csub.add_parser("run", help="time kernels on this machine and write a measurement CSV")
    r.add_argument("--backend", default="numpy", choices=KERNEL_BACKENDS)
    r.add_argument("--suite", default="quick", choices=["quick", "full"])
    r.add_argument("--out", type=user_path("a file name"), help="CSV to write (default hardware_profiles/measurements/<profile|backend>-<date>.csv)")
    r.add_argument("--profile", help="profile id the file is for (names the default output file)")
    r.add_argument("--families", help="comma-separated kernel families to run (default: all in the suite)")
    r.add_argument("--device", default="cuda", choices=["cuda", "cpu"],
                   help="torch backend device (cpu only to test the harness without a GPU)")
    r.add_argument("--world-size", type=gpus, help="ranks for collectives (torch; default: all visible GPUs)")
    r.add_argument("--rounds", type=rounds, default=4, help="interleaved passes over the suite (default 4)")
    r.add_argument("--min-time-s", type=min_time_s, default=0.1, help="timed kernel seconds per case (default 0.1)")
    r.add_argument("--threads", type=threads, help="BLAS/OpenMP threads for the numpy backend (default: the library's; "
                                               "1 is far steadier on a shared machine)")
    r.add_argument("--json", action="store_true", help="print a JSON summary instead of progress")
    r.set_defaults(func=cmd_run)

    for name, helptext in (("fit", "fit the profile's curves and write them into the profile file"),
                           ("validate", "fit on half the shapes, report held-out error per kernel family")):
        p = csub.add_parser(name, help=helptext)
        p.add_argument("--profile", required=True, type=user_path("a hardware id or path"), help="hardware id or path to a profile YAML")
        p.add_argument("--measurements", nargs="+", required=True, type=user_path("a CSV file"), help="measurement CSV file(s)")
        p.add_argument("--stat", default="time_s", choices=TIMING_STATS,
                       help="timing statistic to fit (default the median, time_s)")
        p.add_argument("--scope", default="intra", choices=LINK_SCOPES, help="link the collectives ran on")
        p.add_argument("--plot", type=user_path("a file name"), help="write a predicted-vs-measured PNG here")
        p.add_argument("--allow-other-device", action="store_true", help="skip the device-matches-profile check")
        p.add_argument("--json", action="store_true")
        if name == "fit":
            p.add_argument("--dry-run", action="store_true", help="print the fit, do not write the profile")
            p.set_defaults(func=cmd_fit)
        else:
            p.add_argument("--max-median", type=error_fraction, help="exit 1 if a fitted family's held-out median error exceeds this")
            p.add_argument("--max-p90", type=error_fraction, help="exit 1 if a fitted family's held-out p90 error exceeds this")
            p.set_defaults(func=cmd_validate)

    k = sub.add_parser("kernel", help="predict one kernel's time on a profile")
    k.add_argument("--hardware", required=True, type=user_path("a hardware id or path"), help="hardware id or path to a profile YAML")
    k.add_argument("--op", required=True, choices=KERNEL_OPS)
    for name in ("m", "n", "k", "seq-len", "heads", "head-dim"):
        k.add_argument(f"--{name}", type=kernel_dim, default=0)
    k.add_argument("--batch", type=degree, default=1)
    k.add_argument("--dtype", default="bf16", choices=KERNEL_DTYPES, help="operand precision (default bf16)")
    k.add_argument("--causal", action="store_true")
    k.add_argument("--bytes", type=kernel_bytes, default=0.0, help="bytes moved (copy) or buffer per rank (collectives)")
    k.add_argument("--gpus", type=gpus, default=8, help="ranks in the collective (default 8)")
    k.add_argument("--scope", choices=LINK_SCOPES,
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
            return subprocess.call([sys.executable, "-m", "simulator", *_argv_from(a)], env=env)
    backend = cal.make_backend(a.backend, device=a.device)  # BackendUnavailable: one line, exit 2
    if a.world_size is not None and hasattr(backend, "world_size"):
        backend.world_size = a.world_size
    families = set(a.families.split(",")) if a.families else None
    date = _dt.date.today().isoformat()
    out = Path(a.out) if a.out else DEFAULT_DIR / f"{a.profile or a.backend}-{date}.csv"
    timing = cal.Timing(rounds=a.rounds, min_time_s=a.min_time_s)

    def progress(i: int, total: int, case: Any) -> None:
        if not a.json and sys.stderr.isatty():
            sys.stderr.write(f"\r[{i + 1}/{total}] {case.family:<11} {case.shape_family:<16}")
            sys.stderr.flush()

    env, rows = cal.run_suite(backend, a.suite, timing, families, progress)
    if a.profile:
        env["profile"] = a.profile
    cal.write_csv(out, env, rows)
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
    return sim.load_hardware(a.profile), cal.read_many(a.measurements)


def cmd_validate(a: argparse.Namespace) -> int:
    hw, m = _load(a)
    report, df, _ = cal.validate_measurements(m, hw, a.stat, a.scope, a.allow_other_device)
    if a.plot:
        report["plot"] = str(cal.plot_validation(df, a.plot, f"{hw.id}: held-out prediction ({a.stat})"))
    print(units.dumps_json(report, default=str) if a.json else cal.format_report(report))
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
    hw, m = _load(a)
    report, df, pf = cal.validate_measurements(m, hw, a.stat, a.scope, a.allow_other_device)
    if a.plot:
        report["plot"] = str(cal.plot_validation(df, a.plot, f"{hw.id}: held-out prediction ({a.stat})"))
    if not a.dry_run:
        report["written"] = cal.write_fit(hw, report, pf, a.measurements, a.stat, a.scope)
    print(units.dumps_json(report, default=str) if a.json else cal.format_report(report)
          + (f"\nwrote {report['written']}" if report.get("written") else "\n(dry run: profile not written)"))
    return 0


# ---------------------------------------------------------------- kernel
def cmd_kernel(a: argparse.Namespace) -> int:
    hw = sim.load_hardware(a.hardware)
    rec = cal.predict_kernel(hw, a.op, m=a.m, n=a.n, k=a.k, dtype=a.dtype, batch=a.batch, seq_len=a.seq_len,
                         heads=a.heads, head_dim=a.head_dim, causal=a.causal, bytes_=a.bytes, gpus=a.gpus,
                         scope=a.scope)
    if a.json:
        print(units.dumps_json(rec))
        return 0
    rate = (units.human_flops(rec["achieved_flop_per_s"]) if "achieved_flop_per_s" in rec
            else units.human_rate(rec["achieved_bytes_per_s"]))
    link = {"intra": "scale-up", "inter": "scale-out"}
    where = f" ({rec['gpus']:,} ranks, {link[rec['scope']]} link)" if "scope" in rec else ""
    print(f"{rec['op']} on {rec['hardware']}{where}: {units.human_duration(rec['time_s'])}, {rate} achieved, "
          f"efficiency {rec['efficiency']:.1%}, {rec['bound']}-bound")
    return 0
