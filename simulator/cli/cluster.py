"""`simulator cluster`: simulate a cluster scenario and print the summary (a thin shell over simulate_cluster)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import simulator as sim
from simulator import units
from simulator.cli.common import check_output_path, print_rows, seconds, seed, user_path, write_frame
from simulator.vocab import HOURLY_OPTIONS, POLICY_NAMES

# The CLI contract of `simulator cluster --json`: these keys come first, in this order.
CONTRACT_KEYS = ("utilization", "goodput", "queue_wait_mean_s", "queue_wait_p95_s", "jobs_completed", "jobs_failed",
                 "interruptions", "cost_usd", "energy_kwh", "sim_events")


def register(subparsers: Any) -> None:
    """Add the `cluster` subcommand."""
    p = subparsers.add_parser("cluster", help="simulate a GPU cluster: scheduling, failures, checkpoints, cost")
    p.add_argument("--scenario", required=True, type=user_path("a scenario id or path"),
                   help="cluster scenario id (workloads/scenarios) or path to a scenario YAML")
    p.add_argument("--policy", choices=POLICY_NAMES, help="scheduling policy (default: the scenario's)")
    p.add_argument("--seed", type=seed, default=0, help="random seed (default 0); same seed, same result")
    p.add_argument("--until", type=seconds, help="stop after this many simulated seconds "
                                                  "(default: the scenario's horizon_s, else when every job ends)")
    p.add_argument("--records", type=user_path("a file name"), help="write one row per job to this file (.csv or .parquet)")
    p.add_argument("--timeseries", type=user_path("a file name"), help="write allocated GPUs, queue length etc. over time (.csv or .parquet)")
    p.add_argument("--progress", action="store_true", help="show a progress bar on stderr")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_cluster)


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


def print_cluster(s: dict[str, Any]) -> None:
    """The table of a cluster summary (`simulator cluster`, and `simulator run` on a cluster scenario)."""
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
    print_rows(rows)
    for pid, p in s["pools"].items():
        line = (f"  pool {pid}: {p['gpus']:,} x {p['hardware']} ({p['purchase']}), utilization "
                f"{_fmt(p['utilization'], 'pct')}, {p['node_failures']:,} node failures, {_fmt(p['cost_usd'], 'usd')}")
        rvb = p.get("rent_vs_buy")
        if rvb and rvb["rent_option"] in HOURLY_OPTIONS:  # hourly: renting pays for busy GPU-hours only
            line += (f"; owning breaks even with elastic {rvb['rent_option']} renting (busy GPU-hours only) at "
                     f"{_fmt(rvb['break_even_utilization'], 'pct')} utilization -> {rvb['cheaper']} at this load")
        elif rvb:  # committed: every hour is billed either way
            line += f"; owning vs {rvb['rent_option']} for every hour -> {rvb['cheaper']}"
        print(line)
    for w in s.get("warnings") or []:
        print(f"  warning: {w}")


def cmd_cluster(a: argparse.Namespace) -> int:
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
        res = sim.simulate_cluster(a.scenario, policy=a.policy, seed=a.seed, until_s=a.until, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    if a.records:
        write_frame(res.jobs, a.records, "--records")
    if a.timeseries:
        write_frame(res.timeseries(), a.timeseries, "--timeseries")
    summary = ordered_summary(res.summary)
    if a.json:
        print(units.dumps_json(summary))
    else:
        print_cluster(summary)
    return 0
