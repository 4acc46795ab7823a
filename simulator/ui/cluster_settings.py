"""The Cluster page's settings (ui.workspace): which scenario, the seed, and per scenario the policy, horizon,
failure and checkpoint settings (their defaults are that scenario file's values); how a cluster run file's fields
map onto them; and which references an uploaded scenario definition may hold (shipped ids only)."""

from __future__ import annotations

from typing import Any

import yaml

import simulator as sim
from simulator import units, vocab
from simulator.ui.common import catalog
from simulator.ui.workspace import Setting, foreign_references

DEFAULT_SCENARIO = "mixed-fleet-serving"
SOURCES = ["Shipped", "Loaded file"]
DAY = units.SECONDS_PER_DAY
HOUR = 3600.0
STATIC = [Setting("cl-src", "Shipped", lambda: SOURCES, param="source"),
          Setting("cl-id", DEFAULT_SCENARIO, sim.cluster_scenario_ids, param="scenario"),
          Setting("cl-seed", 0, low=0, high=2**31 - 1, param="seed")]
# dotted override (as `simulator run` files write them) -> (widget key prefix, URL name, seconds per widget unit)
OVERRIDES = {"failures.enabled": ("cl-fail", "failures", None),
             "failures.failures_per_1000_node_days": ("cl-rate", "failure_rate", None),
             "failures.planned_per_1000_node_days": ("cl-planned", "maintenance_rate", None),
             "failures.repair_time_s": ("cl-repair", "repair_h", HOUR),
             "checkpoint.write_time_s": ("cl-write", "checkpoint_write_s", None),
             "checkpoint.restart_time_s": ("cl-restart", "restart_s", None),
             "checkpoint.interval": ("cl-int", "checkpoint_interval", None),
             "checkpoint.interval_s": ("cl-fixed", "checkpoint_fixed_h", HOUR)}
DYNAMIC_NAMES = ["policy", "horizon_d", *(name for _, name, _ in OVERRIDES.values())]
LABELS = {"cl-src": "scenario source", "cl-id": "scenario", "cl-seed": "seed", "policy": "policy",
          "horizon_d": "horizon (days)", "failures": "failures on", "failure_rate": "failures / 1000 node-days",
          "maintenance_rate": "maintenance / 1000 node-days", "repair_h": "repair (h)",
          "checkpoint_write_s": "checkpoint write (s)", "restart_s": "restart (s)",
          "checkpoint_interval": "checkpoint rule", "checkpoint_fixed_h": "fixed interval (h)"}


def scenario_settings(f: Any, k: str) -> list[Setting]:
    """The settings of one scenario file `f` (a ClusterScenarioFile) under widget key suffix `k`."""
    fl, ck = f.failures, f.checkpoint
    return [Setting(f"cl-policy-{k}", f.policy, lambda: vocab.POLICY_NAMES, param="policy"),
            Setting(f"cl-horizon-{k}", (f.horizon_s or 0.0) / DAY, low=0, high=36_500, param="horizon_d"),
            Setting(f"cl-fail-{k}", bool(fl.enabled), param="failures"),
            Setting(f"cl-rate-{k}", float(fl.failures_per_1000_node_days), low=0, high=1e4, param="failure_rate"),
            Setting(f"cl-planned-{k}", float(fl.planned_per_1000_node_days), low=0, high=1e4,
                    param="maintenance_rate"),
            Setting(f"cl-repair-{k}", fl.repair_time_s / HOUR, low=0.01, high=1e4, param="repair_h"),
            Setting(f"cl-write-{k}", float(ck.write_time_s), low=0, high=1e6, param="checkpoint_write_s"),
            Setting(f"cl-restart-{k}", float(ck.restart_time_s), low=0, high=1e6, param="restart_s"),
            Setting(f"cl-int-{k}", ck.interval, lambda: vocab.CHECKPOINT_INTERVALS, param="checkpoint_interval"),
            Setting(f"cl-fixed-{k}", (ck.interval_s or 0.0) / HOUR, low=0, high=1e4, param="checkpoint_fixed_h")]


def shipped_file(scenario_id: str) -> Any:
    """A shipped scenario's validated file (ClusterScenarioFile)."""
    return sim.ClusterScenarioFile.model_validate(sim.cluster_scenario_data(scenario_id))


def reference_ids() -> dict[str, list[str]]:
    """What each reference field inside an uploaded scenario may name: shipped ids only."""
    hardware, models, prices = catalog()["hardware"], catalog()["models"], catalog()["prices"]
    return {"hardware": hardware, "model": models, "price_book": prices, "owned_price_book": prices,
            "stack": sim.stack_ids(), "profile": sim.failure_profile_ids(), "scenario": sim.cluster_scenario_ids()}


def loaded_settings(raw: dict) -> list[Setting]:
    """The settings a loaded file can set: the static ones, and a shipped run file's scenario's own."""
    sid = raw.get("scenario")
    if raw.get("kind") == "cluster" and isinstance(sid, str) and sid in sim.cluster_scenario_ids():
        return [*STATIC, *scenario_settings(shipped_file(sid), sid)]
    return STATIC


def run_file_settings(raw: dict) -> tuple[dict, list[str]]:
    """A cluster run file (kind: cluster, as the page exports) or a scenario definition (kind: cluster_scenario) as
    the page's settings; a definition is kept in the session as the loaded file (its references checked first)."""
    import streamlit as st

    if raw.get("kind") == "cluster_scenario":
        bad = foreign_references(raw, reference_ids())
        if bad:
            return {}, [f"not loaded: {b}" for b in bad[:10]]
        st.session_state["cl-loaded"] = yaml.safe_dump(raw, sort_keys=False)
        return {"cl-src": "Loaded file"}, []
    skipped: list[str] = []
    sid = raw.get("scenario")
    if not isinstance(sid, str) or sid not in sim.cluster_scenario_ids():
        return {}, [f"scenario: {str(sid)[:60]!r} is not a shipped scenario id: load the scenario definition itself "
                    "(kind: cluster_scenario), then set the run's settings on the page"]
    out: dict[str, Any] = {"cl-src": "Shipped", "cl-id": sid, "cl-seed": raw.get("seed", 0)}
    if raw.get("policy") is not None:
        out[f"cl-policy-{sid}"] = raw["policy"]
    if raw.get("until_s") is not None:
        out[f"cl-horizon-{sid}"] = raw["until_s"] / DAY if isinstance(raw["until_s"], (int, float)) else raw["until_s"]
    for key, value in (raw.get("overrides") or {}).items():
        if key in ("trace", "jobs", "generators"):
            continue  # the trace replay: said below
        if key == "horizon_s" and value is None:
            out[f"cl-horizon-{sid}"] = 0.0
        elif key in OVERRIDES:
            prefix, _, unit = OVERRIDES[key]
            if value is None:  # checkpoint.interval_s: None = use the rule
                value = 0.0
            out[f"{prefix}-{sid}"] = value / unit if unit and isinstance(value, (int, float)) else value
        else:
            skipped.append(f"overrides.{key}: the page has no setting for it (`simulator run` keeps it)")
    if raw.get("overrides", {}).get("trace") or raw.get("overrides", {}).get("jobs") == []:
        skipped.append("the trace this run replays is not loaded: upload it under 'Replace the jobs with a trace CSV'")
    return out, skipped
