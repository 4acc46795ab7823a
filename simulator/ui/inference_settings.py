"""The Inference page's settings: widget keys, defaults and allowed values (ui.workspace), and how an inference or
serving scenario file's fields map onto them."""

from __future__ import annotations

from simulator import limits, vocab
from simulator.ui.common import CUSTOM_BOOK, catalog
from simulator.ui.workspace import Setting, shipped_only

DEFAULT_MODEL = "llama3.1-70b"
DEFAULT_HW = "h100-sxm-80gb"
TP_CHOICES = [1, 2, 4, 8, 16]
LENGTH_DISTS = [d for d in vocab.LENGTH_DISTS if d != "empirical"]  # empirical needs a file: upload a trace

MAX_TOKENS = limits.MAX_TOKENS  # per request, the bound the CLI and files have (simulator.limits)
SETTINGS = [
    Setting("inf-id", DEFAULT_MODEL, lambda: catalog()["models"]),
    Setting("inf-hw", DEFAULT_HW, lambda: catalog()["hardware"]),
    Setting("inf-prec", vocab.QUANTIZATION_NAMES[0], lambda: vocab.QUANTIZATION_NAMES),
    Setting("inf-tp", 4, lambda: TP_CHOICES),
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
]
LABELS = {"inf-id": "model", "inf-hw": "hardware", "inf-prec": "precision", "inf-tp": "tensor parallel",
          "inf-kv": "KV cache", "inf-engine": "engine", "inf-in": "input tokens", "inf-out": "output tokens",
          "inf-batch": "static batch", "inf-rate": "request rate (req/s)", "inf-slo-ttft": "p99 TTFT SLO (s)",
          "inf-slo-tpot": "p99 TPOT SLO (ms)", "inf-book": "price book", "inf-purchase": "purchase",
          "inf-n": "simulated requests", "inf-arrival": "arrivals", "inf-dist": "lengths", "inf-replicas": "replicas",
          "inf-router": "router", "inf-seed": "seed"}
KINDS = {"inference": "a static batch", "serving": "a serving run"}


def scenario_settings(f: dict) -> tuple[dict, list[str]]:
    """An inference or serving scenario file's fields as this page's settings, and what the page cannot take."""
    skipped: list[str] = []
    dep = f.get("deployment") or {}
    out = {"inf-id": shipped_only("model", f.get("model"), catalog()["models"], skipped),
           "inf-hw": shipped_only("hardware", f.get("hardware"), catalog()["hardware"], skipped),
           "inf-tp": dep.get("tp", 1), "inf-prec": dep.get("precision", "bf16"),
           "inf-kv": dep.get("kv_precision", "bf16"), "inf-engine": dep.get("engine", "vllm"),
           "inf-in": f.get("input_len", 1024), "inf-out": f.get("output_len", 256)}
    for field in ("pp", "ep", "dp_attention", "max_seqs", "max_batched_tokens"):
        if dep.get(field) not in (None, 1):
            skipped.append(f"deployment.{field} = {dep[field]!r}: the page sets tensor parallelism only; "
                           f"`simulator run` keeps it")
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
