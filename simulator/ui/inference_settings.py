"""The Inference page's settings: widget keys, defaults and allowed values (ui.workspace), how an inference or
serving scenario file's fields map onto them, and the speculative-decoding and prefix-caching inputs."""

from __future__ import annotations

from typing import Any

import streamlit as st

import simulator as sim
from simulator import limits, vocab
from simulator.ui.common import CUSTOM_BOOK, catalog
from simulator.ui.workspace import Setting, shipped_only

DEFAULT_MODEL = "llama3.1-70b"
DEFAULT_HW = "h100-sxm-80gb"
TP_CHOICES = [1, 2, 4, 8, 16]
LENGTH_DISTS = [d for d in vocab.LENGTH_DISTS if d != "empirical"]  # empirical needs a file: upload a trace

MAX_TOKENS = limits.MAX_TOKENS  # per request, the bound the CLI and files have (simulator.limits)
SPEC_MODES = ["off", "MTP/EAGLE heads", "draft model"]
DEFAULT_DRAFT = "llama3.2-3b-instruct"  # the Llama 3 tokenizer, as the default model
MIN_ACCEPTANCE = 1e-3  # the widget's floor for an acceptance rate in (0, 1] (simulator.limits: above 0)
SETTINGS = [
    Setting("inf-id", DEFAULT_MODEL, lambda: catalog()["models"]),
    Setting("inf-hw", DEFAULT_HW, lambda: catalog()["hardware"]),
    Setting("inf-prec", vocab.QUANTIZATION_NAMES[0], lambda: vocab.QUANTIZATION_NAMES),
    Setting("inf-tp", 4, lambda: TP_CHOICES),
    Setting("inf-ep", 1, lambda: TP_CHOICES),
    Setting("inf-dpa", 1, lambda: TP_CHOICES),
    Setting("inf-kv", vocab.KV_PRECISIONS[0], lambda: vocab.KV_PRECISIONS),
    Setting("inf-engine", "vllm", lambda: vocab.ENGINE_NAMES),
    Setting("inf-in", 1024, low=1, high=MAX_TOKENS),
    Setting("inf-out", 256, low=1, high=MAX_TOKENS),
    Setting("inf-batch", 32, low=1, high=100_000),
    Setting("inf-rate", 5.0, low=-1e6, high=1e6),  # a non-positive rate is explained on the page
    Setting("inf-slo-ttft", 2.0, low=-1e6, high=86_400),
    Setting("inf-slo-tpot", 100.0, low=-1e6, high=86_400_000),
    Setting("inf-book", vocab.DEFAULT_PRICE_BOOK, lambda: [*catalog()["prices"], CUSTOM_BOOK]),
    Setting("inf-purchase", "on_demand", lambda: vocab.COST_OPTIONS),
    Setting("inf-n", 300, low=10, high=100_000),
    Setting("inf-arrival", vocab.OPEN_LOOP_ARRIVALS[0], lambda: vocab.OPEN_LOOP_ARRIVALS),
    Setting("inf-dist", LENGTH_DISTS[0], lambda: LENGTH_DISTS),
    Setting("inf-replicas", 1, low=1, high=256),
    Setting("inf-router", "least_outstanding", lambda: vocab.ROUTER_NAMES),
    Setting("inf-seed", 0, low=0, high=2**31 - 1),
    Setting("inf-spec", SPEC_MODES[0], lambda: SPEC_MODES),
    Setting("inf-spec-k", 3, low=1, high=limits.MAX_SPECULATIVE_TOKENS),
    Setting("inf-spec-a", 0.7, low=MIN_ACCEPTANCE, high=1.0),
    Setting("inf-draft", DEFAULT_DRAFT, lambda: catalog()["models"]),
    Setting("inf-draft-layers", 1.0, low=0.01, high=limits.MAX_DRAFT_LAYERS),
    Setting("inf-prefix", 0.0, low=0.0, high=1.0),
]
LABELS = {"inf-id": "model", "inf-hw": "hardware", "inf-prec": "precision", "inf-tp": "tensor parallel",
          "inf-ep": "expert parallel", "inf-dpa": "attention data parallel",
          "inf-kv": "KV cache", "inf-engine": "engine", "inf-in": "input tokens", "inf-out": "output tokens",
          "inf-batch": "static batch", "inf-rate": "request rate (req/s)", "inf-slo-ttft": "p99 TTFT SLO (s)",
          "inf-slo-tpot": "p99 TPOT SLO (ms)", "inf-book": "price book", "inf-purchase": "purchase",
          "inf-n": "simulated requests", "inf-arrival": "arrivals", "inf-dist": "lengths", "inf-replicas": "replicas",
          "inf-router": "router", "inf-seed": "seed", "inf-spec": "speculative decoding",
          "inf-spec-k": "drafted tokens k", "inf-spec-a": "acceptance rate", "inf-draft": "draft model",
          "inf-draft-layers": "draft layers", "inf-prefix": "prefix-cache hit rate"}
KINDS = {"inference": "a static batch", "serving": "a serving run"}


def scenario_settings(f: dict) -> tuple[dict, list[str]]:
    """An inference or serving scenario file's fields as this page's settings, and what the page cannot take."""
    skipped: list[str] = []
    dep = f.get("deployment") or {}
    out = {"inf-id": shipped_only("model", f.get("model"), catalog()["models"], skipped),
           "inf-hw": shipped_only("hardware", f.get("hardware"), catalog()["hardware"], skipped),
           "inf-tp": dep.get("tp", 1), "inf-ep": dep.get("ep", 1), "inf-dpa": dep.get("dp_attention", 1),
           "inf-prec": dep.get("precision", "bf16"),
           "inf-kv": dep.get("kv_precision", "bf16"), "inf-engine": dep.get("engine", "vllm"),
           "inf-in": f.get("input_len", 1024), "inf-out": f.get("output_len", 256)}
    for field in ("pp", "max_seqs", "max_batched_tokens"):
        if dep.get(field) not in (None, 1):
            skipped.append(f"deployment.{field} = {dep[field]!r}: the page sets tensor, expert and attention data "
                           f"parallelism only; `simulator run` keeps it")
    out.update(_feature_settings(f, dep, skipped))
    if f.get("kind") == "inference":
        out["inf-batch"] = f.get("batch", 1)
    else:
        out.update({"inf-replicas": f.get("replicas", 1), "inf-router": f.get("router", "least_outstanding"),
                    "inf-rate": f.get("rate_per_s", 1.0), "inf-arrival": f.get("arrival", "poisson"),
                    "inf-n": f.get("requests", 1000), "inf-dist": f.get("length_dist", "fixed"),
                    "inf-slo-ttft": f.get("slo_ttft_s", 2.0), "inf-seed": f.get("seed", 0)})
        tpot = f.get("slo_tpot_s", 0.1)
        out["inf-slo-tpot"] = tpot * 1e3 if isinstance(tpot, (int, float)) and not isinstance(tpot, bool) else tpot
    return {k: v for k, v in out.items() if v is not None}, skipped


def _feature_settings(f: dict, dep: dict, skipped: list[str]) -> dict:
    """A scenario's speculative decoding and prefix caching as this page's settings."""
    spec = dep.get("speculative") or {}
    out: dict = {"inf-prefix": f.get("prefix_hit_rate", 0.0), "inf-spec": SPEC_MODES[0]}
    if spec:
        out.update({"inf-spec": SPEC_MODES[2] if spec.get("draft_model") else SPEC_MODES[1],
                    "inf-spec-k": spec.get("num_speculative_tokens"), "inf-spec-a": spec.get("acceptance_rate"),
                    "inf-draft-layers": spec.get("draft_layers", 1.0)})
        if spec.get("draft_model"):
            out["inf-draft"] = shipped_only("draft model", spec["draft_model"], catalog()["models"], skipped)
        if spec.get("draft_tp") is not None:
            skipped.append(f"deployment.speculative.draft_tp = {spec['draft_tp']!r}: the page runs the draft with the "
                           "target's tp; `simulator run` keeps it")
    if f.get("prefix_tokens"):
        skipped.append(f"prefix_tokens = {f['prefix_tokens']!r}: the page sets a hit rate; `simulator run` keeps it")
    return out


def feature_inputs() -> dict[str, Any]:
    """Speculative decoding and prefix caching (sidebar widgets, bounded by simulator.limits as the CLI and scenario
    files are): {"speculative": a SpeculativeDecoding or None, "prefix_hit_rate": a share in [0, 1]}."""
    with st.expander("Speculative decoding and prefix caching"):
        mode = st.selectbox("Speculative decoding", SPEC_MODES, key="inf-spec",
                            help="A draft proposes k tokens per step and the target verifies them in one pass: a "
                                 "separate draft model (same tokenizer) or MTP/EAGLE heads on the target")
        c1, c2 = st.columns(2)
        k = c1.number_input("Drafted tokens k", min_value=1, max_value=limits.MAX_SPECULATIVE_TOKENS, step=1,
                            key="inf-spec-k", disabled=mode == SPEC_MODES[0])
        a = c2.number_input("Acceptance rate", min_value=MIN_ACCEPTANCE, max_value=1.0, step=0.05, key="inf-spec-a",
                            disabled=mode == SPEC_MODES[0],
                            help="Probability each drafted token is accepted (yours: it depends on the draft, the task "
                                 "and the sampling); tokens per step (1 - a^(k+1)) / (1 - a), Leviathan et al. 2023")
        draft = st.selectbox("Draft model", catalog()["models"], key="inf-draft", disabled=mode != SPEC_MODES[2])
        layers = st.number_input("Draft layers (MTP/EAGLE)", min_value=0.01, max_value=limits.MAX_DRAFT_LAYERS,
                                 step=0.5, key="inf-draft-layers", disabled=mode != SPEC_MODES[1],
                                 help="Layers of the target's shape per draft step, each with the LM head (EAGLE: 1)")
        prefix = st.number_input("Prefix-cache hit rate", min_value=0.0, max_value=1.0, step=0.1, key="inf-prefix",
                                 help="Share of each prompt served from the prefix cache: attention reads it, the "
                                      "linear layers skip it, and its KV blocks are held once")
    spec = None
    if mode != SPEC_MODES[0]:
        spec = sim.SpeculativeDecoding(int(k), float(a), draft_model=draft if mode == SPEC_MODES[2] else None,
                                       draft_layers=float(layers) if mode == SPEC_MODES[1] else 1.0)
    return {"speculative": spec, "prefix_hit_rate": float(prefix)}


def feature_captions(rec: dict, dep: Any) -> list[str]:
    """Where the speculative-decoding and prefix-caching figures of an estimate come from (none when they are off)."""
    out = [f"Speculative decoding: {dep.speculative.describe()}"] if dep.speculative is not None else []
    pc = rec.get("prefix_cache")
    if pc:
        out.append(f"Prefix cache: {pc['cached_tokens_per_request']:,} of {pc['prompt_tokens']:,} prompt tokens cached "
                   f"per request (hit rate {pc['hit_rate']:g}, {pc['source']}); {pc['shared_blocks']:,} shared KV "
                   "blocks held once")
    return out


def speculative_fields(spec: Any) -> dict | None:
    """A SpeculativeDecoding as a scenario file's deployment.speculative (None: off)."""
    if spec is None:
        return None
    out = {"num_speculative_tokens": spec.k, "acceptance_rate": float(spec.acceptance_rate),
           "draft_model": spec.draft_id or None, "draft_tp": spec.draft_tp,
           "draft_layers": float(spec.draft_layers), "acceptance_source": spec.acceptance_source}
    return {k: v for k, v in out.items() if v is not None}
