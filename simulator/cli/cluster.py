"""`simulator cluster`: simulate a cluster scenario and print the summary (a thin shell over simulate_cluster)."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from simulator import units
from simulator.errors import SimulatorError

# The CLI contract of `simulator cluster --json`: these keys come first, in this order.
CONTRACT_KEYS = ("utilization", "goodput", "queue_wait_mean_s", "queue_wait_p95_s", "jobs_completed", "jobs_failed",
                 "interruptions", "cost_usd", "energy_kwh", "sim_events")
POLICY_CHOICES = ("fifo", "sjf", "priority", "easy")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds as a number, got {text!r}") from None
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer seed, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer seed, got {text!r}")
    return value


def register(subparsers: Any) -> None:
    """Add the `cluster` subcommand."""
    p = subparsers.add_parser("cluster", help="simulate a GPU cluster: scheduling, failures, checkpoints, cost")
    p.add_argument("--scenario", required=True,
                   help="cluster scenario id (workloads/scenarios) or path to a scenario YAML")
    p.add_argument("--policy", choices=POLICY_CHOICES, help="scheduling policy (default: the scenario's)")
    p.add_argument("--seed", type=_seed, default=0, help="random seed (default 0); same seed, same result")
    p.add_argument("--until", type=_seconds, help="stop after this many simulated seconds "
                                                  "(default: the scenario's horizon_s, else when every job ends)")
    p.add_argument("--records", help="write one row per job to this file (.csv or .parquet)")
    p.add_argument("--timeseries", help="write allocated GPUs, queue length etc. over time (.csv or .parquet)")
    p.add_argument("--progress", action="store_true", help="show a progress bar on stderr")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_cluster)


def _write_frame(frame: Any, target: str, what: str) -> None:
    path = Path(target)
    try:
        if path.suffix == ".parquet":
            frame.to_parquet(path, index=False)
        elif path.suffix in (".csv", ""):
            frame.to_csv(path, index=False)
        else:
            raise SimulatorError(f"--{what} {target!r}: use a .csv or .parquet file name")
    except OSError as exc:
        raise SimulatorError(f"--{what} {target!r}: cannot write ({exc.strerror})") from None
    except ImportError as exc:
        raise SimulatorError(f"--{what} {target!r}: parquet needs pyarrow ({exc}); use .csv instead") from None


def ordered_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary with the CLI contract keys first."""
    out = {k: summary[k] for k in CONTRACT_KEYS}
    out.update((k, v) for k, v in summary.items() if k not in out)
    return out


def _fmt(value: Any, kind: str = "") -> str:
    if value is None:
        return "n/a"
    if kind == "s":
        return "0 s" if value == 0 else units.human_duration(value)
    if kind == "usd":
        return units.human_usd(value)
    if kind == "pct":
        return f"{value:.1%}"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.4g}"


def _print_text(s: dict[str, Any]) -> None:
    print(f"{s['scenario']}: {s['installed_gpus']:,} GPUs, policy {s['policy']}, seed {s['seed']}, "
          f"simulated {_fmt(s['end_s'], 's')} (window from {_fmt(s['window_start_s'], 's')})")
    rows = [("utilization (allocated)", _fmt(s["utilization"], "pct")),
            ("utilization (productive)", _fmt(s["utilization_productive"], "pct")),
            ("goodput", _fmt(s["goodput"], "pct")),
            ("effective training time", _fmt(s["effective_training_time_ratio"], "pct")),
            ("queue wait mean / p50 / p95", " / ".join(_fmt(s[k], "s") for k in
                                                       ("queue_wait_mean_s", "queue_wait_p50_s", "queue_wait_p95_s"))),
            ("JCT mean / p95", f"{_fmt(s['jct_mean_s'], 's')} / {_fmt(s['jct_p95_s'], 's')}"),
            ("jobs completed / failed / running / queued",
             f"{s['jobs_completed']:,} / {s['jobs_failed']:,} / {s['jobs_running_at_end']:,} / "
             f"{s['jobs_queued_at_end']:,}"),
            ("interruptions (unplanned + planned)",
             f"{s['interruptions']:,} ({s['interruptions_unplanned']:,} + {s['interruptions_planned']:,}); "
             f"preemptions {s['preemptions']:,}"),
            ("GPU-hours lost / restart / checkpoint",
             f"{s['gpu_hours_lost']:,.0f} / {s['gpu_hours_restart']:,.0f} / {s['gpu_hours_checkpoint']:,.0f}"),
            ("offered load", f"{_fmt(s['offered_load'])}{'  OVERLOADED' if s['overloaded'] else ''}"),
            ("cost (idle share)", f"{_fmt(s['cost_usd'], 'usd')} ({_fmt(s['cost_idle_usd'], 'usd')} idle)"),
            ("energy / CO2e", f"{s['energy_kwh'] / 1000:,.1f} MWh / {s['co2e_kg'] / 1000:,.1f} t"),
            ("simulation events", f"{s['sim_events']:,}")]
    if s["serving_gpu_hours"]:
        rows.append(("serving GPU-hours (shortfall)",
                     f"{s['serving_gpu_hours']:,.0f} ({s['serving_shortfall_gpu_hours']:,.0f})"))
    width = max(len(r[0]) for r in rows)
    for name, text in rows:
        print(f"  {name:<{width}}  {text}")
    for pid, p in s["pools"].items():
        line = (f"  pool {pid}: {p['gpus']:,} x {p['hardware']} ({p['purchase']}), utilization "
                f"{_fmt(p['utilization'], 'pct')}, {p['node_failures']:,} node failures, {_fmt(p['cost_usd'], 'usd')}")
        rvb = p.get("rent_vs_buy")
        if rvb and rvb["rent_option"] in ("on_demand", "spot"):  # hourly: renting pays for busy GPU-hours only
            line += (f"; owning breaks even with elastic {rvb['rent_option']} renting (busy GPU-hours only) at "
                     f"{_fmt(rvb['break_even_utilization'], 'pct')} utilization -> {rvb['cheaper']} at this load")
        elif rvb:  # committed: every hour is billed either way
            line += f"; owning vs {rvb['rent_option']} for every hour -> {rvb['cheaper']}"
        print(line)
    warnings = s.get("warnings") or []
    if isinstance(warnings, str):  # the flat form `simulator run` and sweeps carry
        warnings = [w for w in warnings.split("; ") if w]
    for w in warnings:
        print(f"  warning: {w}")


def check_output_path(target: str | None, flag: str) -> None:
    """Fail before a long run, not after it, when an output file cannot be written."""
    if target is None:
        return
    folder = Path(target).expanduser().resolve().parent
    if not folder.is_dir():
        raise SimulatorError(f"{flag} {target!r}: cannot write: the folder {folder} does not exist; create it or choose "
                             "another path")


def cmd_cluster(a: argparse.Namespace) -> int:
    from simulator.cluster.engine import simulate_cluster

    check_output_path(a.records, "--records")
    check_output_path(a.timeseries, "--timeseries")
    bar = None
    progress = None
    if a.progress:
        from tqdm import tqdm

        bar = tqdm(total=1000, file=sys.stderr, desc="cluster", mininterval=0.5,
                   bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}")

        def progress(fraction: float) -> None:
            bar.update(max(int(fraction * 1000) - bar.n, 0))
    try:
        res = simulate_cluster(a.scenario, policy=a.policy, seed=a.seed, until_s=a.until, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    if a.records:
        _write_frame(res.jobs, a.records, "records")
    if a.timeseries:
        _write_frame(res.timeseries(), a.timeseries, "timeseries")
    summary = ordered_summary(res.summary)
    if a.json:
        print(units.dumps_json(summary))
    else:
        _print_text(summary)
    return 0
