"""The Training page's settings: widget keys, defaults and allowed values (ui.workspace), and how a training
scenario file's fields map onto them."""

from __future__ import annotations

import simulator as sim
from simulator import limits, units, vocab
from simulator.ui.common import CUSTOM_BOOK, catalog
from simulator.ui.workspace import Setting, shipped_only

DEFAULT_HW = ["h100-sxm-80gb", "h200-sxm-141gb", "a100-sxm-80gb"]
GPU_CHOICES = [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768]

SEQ_CHOICES = [1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072]
AS_STACK = "as the stack does"
DROPOUT = {"as the model file says": None, "on (stores masks)": True, "off": False}


def _recipes() -> list[str]:
    return sorted({r for sid in sim.stack_ids() for r in sim.stack_file(sid).fp8_recipes})


SETTINGS = [
    Setting("train-id", "llama3.1-70b", lambda: catalog()["models"]),
    Setting("tr-hw", list(DEFAULT_HW), lambda: catalog()["hardware"]),
    Setting("tr-gpus", [256, 512, 1024, 2048], lambda: GPU_CHOICES),
    Setting("tr-tokens", 15.0, low=0.001, high=1e4),
    Setting("tr-batch", 1024, low=1, high=limits.MAX_BATCH),  # what --global-batch takes
    Setting("tr-seq", 8192, lambda: SEQ_CHOICES),
    Setting("tr-stack", vocab.DEFAULT_STACK, sim.stack_ids),
    Setting("tr-compile", False),
    Setting("tr-fp8", "", lambda: ["", *_recipes()]),
    Setting("tr-prec", ["bf16"], lambda: vocab.PRECISIONS),
    Setting("tr-book", vocab.DEFAULT_PRICE_BOOK, lambda: [*catalog()["prices"], CUSTOM_BOOK]),
    Setting("tr-purchase", "on_demand", lambda: vocab.COST_OPTIONS),
    Setting("tr-objective", "time", lambda: vocab.OBJECTIVES),
    Setting("tr-deadline", 0.0, low=0, high=1e5),
    Setting("tr-budget", 0.0, low=0, high=1e6),
    Setting("tr-attn", AS_STACK, lambda: [AS_STACK, *vocab.ATTENTION_KERNELS]),
    Setting("tr-tpov", AS_STACK, lambda: [AS_STACK, "on", "off"]),
    Setting("tr-dropout", "as the model file says", lambda: list(DROPOUT)),
    Setting("tr-uneven", True),
]
LABELS = {"train-id": "model", "tr-hw": "hardware", "tr-gpus": "GPU counts", "tr-tokens": "tokens (T)",
          "tr-batch": "global batch", "tr-seq": "sequence length", "tr-stack": "stack", "tr-compile": "torch.compile",
          "tr-fp8": "fp8 recipe", "tr-prec": "precisions", "tr-book": "price book", "tr-purchase": "purchase",
          "tr-objective": "rank by", "tr-deadline": "deadline (days)", "tr-budget": "budget ($M)",
          "tr-attn": "attention kernel", "tr-tpov": "TP overlap", "tr-dropout": "dropout", "tr-uneven": "uneven stages"}


def scenario_settings(f: dict) -> tuple[dict, list[str]]:
    """A training scenario file's fields as this page's settings, and what the page cannot take from it."""
    skipped: list[str] = []
    out: dict = {"train-id": shipped_only("model", f.get("model"), catalog()["models"], skipped),
                 "tr-hw": [shipped_only("hardware", f.get("hardware"), catalog()["hardware"], skipped)],
                 "tr-gpus": [f.get("gpus")], "tr-batch": f.get("global_batch"), "tr-seq": f.get("seq_len"),
                 "tr-stack": shipped_only("stack", f.get("stack") or vocab.DEFAULT_STACK, sim.stack_ids(), skipped),
                 "tr-book": shipped_only("price_book", f.get("price_book") or vocab.DEFAULT_PRICE_BOOK,
                                         catalog()["prices"], skipped),
                 "tr-purchase": f.get("purchase", "on_demand"), "tr-objective": f.get("objective", "time"),
                 "tr-prec": f.get("precisions", ["bf16"])}
    if f.get("train_tokens") is not None:
        out["tr-tokens"] = f["train_tokens"] / units.TRILLION if isinstance(f["train_tokens"], (int, float)) \
            else f["train_tokens"]
    o = f.get("options") or {}
    out["tr-attn"] = o.get("attention_kernel") or AS_STACK
    out["tr-tpov"] = {None: AS_STACK, True: "on", False: "off"}.get(o.get("tp_comm_overlap"), o.get("tp_comm_overlap"))
    out["tr-dropout"] = {v: k for k, v in DROPOUT.items()}.get(o.get("dropout"), o.get("dropout"))
    out["tr-uneven"] = True if o.get("uneven_pp") is None else o.get("uneven_pp")
    out["tr-compile"] = bool(o.get("compile"))
    out["tr-fp8"] = o.get("fp8_recipe") or ""
    if f.get("plan"):
        skipped.append("plan: the page searches every plan for each hardware and GPU count (the file's fixed plan "
                       "is what `simulator run` estimates); pick it under 'Inspect a configuration'")
    return {k: v for k, v in out.items() if v is not None and v != [None]}, skipped
