"""Error bands: how far published runs of a prediction's family fell from the model's predictions, read from
workloads/stacks/error_bands.csv (written by `simulator.validation.bands.write_bands` from the shipped validation
data, leave-one-source-out). A training family is stack x hardware generation x scale; an inference family is serving
engine x hardware generation x architecture (dense or mixture-of-experts: the MoE rows read optimistic where the
dense ones of the same engine and GPU do not, so pooling them would give an MoE estimate a band centred too low)."""

from __future__ import annotations

import csv
from functools import lru_cache
from typing import Any

from simulator.catalog.engines import split_engine_ref
from simulator.catalog.paths import STACKS_DIR
from simulator.core.model import TransformerSpec

BANDS_CSV = STACKS_DIR / "error_bands.csv"
# hardware generation of each profile id prefix (longest prefix wins); unknown ids form their own generation
GENERATIONS = {"a100": "ampere", "h100": "hopper", "h200": "hopper", "h800": "hopper", "b200": "blackwell",
               "gb200": "blackwell", "l40s": "ada", "mi300x": "cdna3", "tpu-v5": "tpu-v5", "gaudi3": "gaudi3"}
LARGE_GPUS = 64  # scale: up to 64 GPUs (a few nodes) or more
MIN_ROWS = 5  # fewer rows (or one source) and a family borrows a wider group's band, marked calibrated: false
QUANTILES = (0.1, 0.9)  # the band: 10th to 90th percentile of signed residuals
GAP_KIND = "inference-gap"  # rows of error_bands.csv for the configurations in INFERENCE_GAPS

# Inference configurations the model does not cost yet, with why (simulator validate inference lists them). Their
# published rows count in every accuracy figure, but set no family's band: an estimate of such a configuration gets
# the band of those rows (kind GAP_KIND), marked not calibrated, with the reason.
INFERENCE_GAPS = {
    "qwen3-30b-a3b": "128 narrow experts (768 wide, top-8) at TensorRT-LLM max load read optimistic: the executor's "
                     "per-request host work at up to 4,096 sequences is costed (an engine PR's measurement on a Grace "
                     "host, taken for every host: the GB200 rows read more optimistic than the B200 ones, so the "
                     "hosts likely differ and that is not separated); the fused-MoE layer is fitted on published kernel "
                     "timings, and on vLLM's tuned Triton kernel of this expert shape on L40S (fp8, to 8,192 tokens) the "
                     "model is 16-30% slow from 1,024 tokens up, so a slow kernel of this shape at prefill "
                     "sizes is unlikely on Triton; TensorRT-LLM's own nvfp4 module of this shape on B200 is about 1.9x "
                     "slower than those figures (aiconfigurator's kernel database), which the engine profile carries "
                     "(kernels.moe_compute_slowdown), and the rows still read optimistic, the prompt-heavy ones furthest "
                     "(2,048/128 on B200: +34%)",
    "attention-dp": "attention data parallelism with expert parallelism (developer-guide DEPn tables, DeepSeek blog): "
                    "the engines' batch limits hold per attention group as TensorRT-LLM's PyTorch executor applies "
                    "them, and the busiest group's prompts set each iteration's pace (dealt round-robin, TensorRT-LLM "
                    "tech blog 10), which brings DeepSeek-R1 on Blackwell close at 1k/1k, but most rows read "
                    "optimistic (Qwen3-235B and gpt-oss most, at 1k/1k): at fixed lengths the prompts come in "
                    "waves that the dealing spreads evenly, so the imbalance costs these rows little (the blog "
                    "measured a 1.54x loss on its mixed-length set), and what else holds them back is not found",
    "qwen3-235b-a22b": "without attention data parallelism on TensorRT-LLM (the perf-overview's TP8 runs): its "
                       "benchmark command passes trtllm-bench --ep but the tables state no size, so the experts are "
                       "costed TP-sharded, TensorRT-LLM's default (192 wide per GPU at TP8, which TensorRT-LLM's own "
                       "nvfp4 and fp8-block modules run slowly: aiconfigurator's timings, costed since stop 32); the "
                       "rows read pessimistic, the more so with those timings, which points to expert parallelism "
                       "the tables do not state",
    "gpt-oss-120b": "MXFP4 weights that trtllm-bench's batch heuristic (tuning.py) has no byte size for: as 16-bit "
                    "they leave one GPU a batch of 64 where the published runs clearly ran more (-82% at 1k/1k on one "
                    "GPU; the limits they used are not stated), and attention sinks are not costed (the 128-token "
                    "sliding windows are modelled)",
    "trtllm-0.9-gqa": "grouped-query models on TensorRT-LLM 0.9: that release decodes them with its XQA kernel only "
                      "when TRTLLM_ENABLE_XQA=1 is set (experimental, off by default: its perf-overview set it for "
                      "Llama-2-70B and Falcon-180B, not Mistral 7B) and with its generic masked-attention kernel "
                      "otherwise; which kernel ran and how fast the generic one reads a shared KV head are not "
                      "modelled (Hopper FP8 runs of Mistral 7B and Falcon-180B with 2,048 output tokens went 1.4-2.1x "
                      "slower than predicted, Llama-2-70B within 10%)",
}
# the engine id (family@version) whose grouped-query decode is the trtllm-0.9-gqa gap
GQA_GAP_ENGINE = "trtllm@0.9"


def _architecture(m: TransformerSpec) -> tuple:
    """What makes two model specs the same network whatever their id or name: shapes, experts, attention."""
    return (m.n_layers, m.d_model, m.n_heads, m.n_kv_heads, m.d_ff, m.vocab_size, m.head_dim, m.activation, m.moe,
            m.mla, m.window_tokens, m.window_layers)


@lru_cache(maxsize=1)
def _gap_architectures() -> dict[tuple, str]:
    """The architectures of the INFERENCE_GAPS keys that are shipped model ids (loaded once)."""
    specs = {key: _spec(key) for key in INFERENCE_GAPS}
    return {_architecture(spec): key for key, spec in specs.items() if spec is not None}


def _spec(model: str | TransformerSpec) -> TransformerSpec | None:
    """A model spec from a spec or a shipped id or model file (None for a reference that does not load)."""
    if isinstance(model, TransformerSpec):
        return model
    from simulator.catalog.models import load_model
    from simulator.errors import SimulatorError

    try:
        return load_model(model)
    except SimulatorError:
        return None


def inference_gap(model: str | TransformerSpec, dp_attention: int = 1, engine: str = "") -> str | None:
    """The INFERENCE_GAPS key a model and deployment fall under (attention data parallelism first; then a gap model by
    its architecture, so its Hugging Face config under another name is one too; then grouped-query decode on the
    engine of the trtllm-0.9-gqa gap), or None."""
    if dp_attention > 1:
        return "attention-dp"
    spec = _spec(model)
    if spec is None:
        return None
    gap = _gap_architectures().get(_architecture(spec))
    if gap is not None:
        return gap
    return "trtllm-0.9-gqa" if engine == GQA_GAP_ENGINE and spec.grouped_kv else None


def generation(hardware_id: str) -> str:
    """The hardware generation a profile id belongs to (its own id when unknown)."""
    best = max((p for p in GENERATIONS if hardware_id.startswith(p)), key=len, default=None)
    return GENERATIONS[best] if best else hardware_id


def band_family(group: str, hardware_id: str, gpus: int) -> str:
    """The training family key: stack | generation | scale."""
    return f"{group}|{generation(hardware_id)}|{'large' if gpus > LARGE_GPUS else 'small'}"


def architecture_slot(moe: bool) -> str:
    """The third part of an inference family key: 'moe' for a mixture-of-experts model, else 'dense'."""
    return "moe" if moe else "dense"


def inference_family(engine: str, hardware_id: str, moe: bool) -> str:
    """The inference family key: engine | generation | architecture (architecture_slot)."""
    return f"{engine}|{generation(hardware_id)}|{architecture_slot(moe)}"


def band_keys(kind: str, group: str, hardware_id: str, gpus: int, moe: bool = False) -> list[str]:
    """The family keys a prediction's band is looked up under, in order: its own family, then (inference) its engine
    family's runs of the same architecture, its engine family's runs, and every run. An engine version (trtllm@0.17)
    falls back to its family (trtllm). No 'every engine's runs of one architecture' step: the engines without runs of
    their own are judged better by every run (held-out coverage 80% with it left out, 87% with it in)."""
    family = split_engine_ref(group)[0]
    if kind != "inference":
        return [band_family(group, hardware_id, gpus), f"{family}|*|*", "*|*|*"]
    slot = architecture_slot(moe)
    return [inference_family(group, hardware_id, moe), f"{family}|*|{slot}", f"{family}|*|*", "*|*|*"]


@lru_cache(maxsize=4)
def _table(mtime: float) -> dict[tuple[str, str], dict[str, str]]:
    """The bands file keyed by (kind, family) (csv, not pandas: `simulator train` stays quick to start)."""
    with open(BANDS_CSV, newline="") as f:
        return {(r["kind"], r["family"]): r for r in csv.DictReader(f)}


ARCHITECTURE_WORDS = {"moe": "mixture-of-experts models", "dense": "dense models"}


def family_label(key: str, kind: str = "training") -> str:
    """A family key in words: 'torchtitan on hopper, more than 64 GPUs', 'torchtitan (all hardware)', 'all stacks';
    an inference one 'trtllm on hopper (mixture-of-experts models)', 'every stack or engine (dense models)'."""
    if key in INFERENCE_GAPS:
        return f"the {key} configurations the model does not cost yet"
    group, gen, slot = (key.split("|") + ["*", "*"])[:3]
    arch = ARCHITECTURE_WORDS.get(slot)
    if group == "*":
        return "every stack or engine" + (f" ({arch})" if arch else "")
    if gen == "*":
        whole = "all hardware and models" if kind == "inference" else "all hardware and scales"
        return f"{group} ({f'all hardware, {arch}' if arch else whole})"
    return f"{group} on {gen}" + (f" ({arch})" if arch else
                                  f", {'more than' if slot == 'large' else 'up to'} {LARGE_GPUS} GPUs")


def _describe(table: dict[tuple[str, str], dict[str, str]], kind: str, key: str) -> str:
    """What the file holds for a family: 'no published runs' or 'N published runs from M sources'."""
    r = table.get((kind, key))
    if r is None:
        return "no published runs"
    return f"{r['rows']} published run{'s' if int(r['rows']) != 1 else ''} from {r['sources']} source" + (
        "s" if int(r["sources"]) != 1 else "")


def band_is_usable(rows: int, sources: int) -> bool:
    """A family or stack gets its own band from MIN_ROWS runs of at least two source documents."""
    return rows >= MIN_ROWS and sources >= 2


def _usable(r: dict[str, str] | None, wide: bool) -> bool:
    """band_is_usable; the all-runs band needs only MIN_ROWS runs."""
    return r is not None and (band_is_usable(int(r["rows"]), int(r["sources"])) or
                              (wide and int(r["rows"]) >= MIN_ROWS))


def _fallback_words(table: dict[tuple[str, str], dict[str, str]], kind: str, own: str, key: str, family: str) -> str:
    """Why a prediction of `own` family (engine or stack `family`) gets the band of `key`: '' when it is its own."""
    if key == own:
        return ""
    why = f"{family_label(own, kind)} has {_describe(table, kind, own)}; a band needs {MIN_ROWS} from two sources, so this is "
    group, _, slot = key.split("|")
    arch = f" of {ARCHITECTURE_WORDS[slot]}" if slot in ARCHITECTURE_WORDS else ""
    if group != "*":
        return why + f"the band of every {group} run{arch}"
    return why + f"the band of every published {kind} run{arch} ({family}: {_describe(table, kind, f'{family}|*|*')})"


def error_band(kind: str, group: str, hardware_id: str, gpus: int, moe: bool = False) -> dict[str, Any]:
    """The band for one prediction: signed relative time error quantiles `low`/`high` (measured / predicted - 1)
    of the runs in `family` (the group actually used, the first usable of band_keys), `rows` of them, `for` the
    prediction's own family, `calibrated` (the band is its own family's) and, when not, the reason. `moe`: an
    inference estimate of a mixture-of-experts model. For an inference estimate use inference_band, which also knows
    the configurations the model does not cost yet (INFERENCE_GAPS)."""
    keys = band_keys(kind, group, hardware_id, gpus, moe)
    own = keys[0]
    if not BANDS_CSV.is_file():
        return {"family": own, "for": own, "low": None, "high": None, "rows": 0, "calibrated": False,
                "reason": f"no error bands file ({BANDS_CSV.name}); run make fit-stacks"}
    table = _table(BANDS_CSV.stat().st_mtime)
    for key in keys:
        r = table.get((kind, key))
        if not _usable(r, key == "*|*|*"):
            continue
        assert r is not None
        why = _fallback_words(table, kind, own, key, split_engine_ref(group)[0])
        return {"family": key, "for": own, "low": float(r["low"]), "high": float(r["high"]), "rows": int(r["rows"]),
                "calibrated": not why, "reason": why}
    return {"family": own, "for": own, "low": None, "high": None, "rows": 0, "calibrated": False,
            "reason": f"no published {kind} runs to set a band"}


def inference_band(engine: str, hardware_id: str, gpus: int, model: str | TransformerSpec,
                   dp_attention: int = 1) -> dict[str, Any]:
    """error_band for an inference or serving estimate of `model` (a spec, or a shipped id or model file); a
    configuration in INFERENCE_GAPS gets the band of its own published rows (not calibrated, with the reason), or,
    where the file has none, the engine's band with the reason."""
    gap = inference_gap(model, dp_attention, engine)
    spec = _spec(model)
    band = error_band("inference", engine, hardware_id, gpus, moe=spec is not None and spec.moe is not None)
    if gap is None:
        return band
    why = f"{gap} is a known gap: {INFERENCE_GAPS[gap]}"
    r = _table(BANDS_CSV.stat().st_mtime).get((GAP_KIND, gap)) if BANDS_CSV.is_file() else None
    if r is None or int(r["rows"]) < MIN_ROWS:
        return {**band, "calibrated": False, "reason": why + (f"; {band['reason']}" if band["reason"] else "")}
    return {"family": gap, "for": band["for"], "low": float(r["low"]), "high": float(r["high"]),
            "rows": int(r["rows"]), "calibrated": False, "reason": why}


def band_range(band: dict[str, Any] | None, value: float | None,
               rate: bool = False) -> list[float] | None:
    """[low, high] of a time (or, with `rate`, a throughput) where published runs of the band's family landed:
    time x (1 + low) to time x (1 + high), a rate divided the other way round; None without a band or a value."""
    if not isinstance(band, dict) or band.get("low") is None or value is None or value != value:
        return None
    lo, hi = 1.0 + band["low"], 1.0 + band["high"]
    return [value / hi, value / lo] if rate else [value * lo, value * hi]


def band_words(band: dict[str, Any] | None) -> str:
    """An error band in words: 'published runs of X ran 4% faster to 8% slower than predicted (10th-90th percentile
    of N)', with the reason when it is not the prediction's own family's."""
    if not isinstance(band, dict) or band.get("low") is None:
        return f"no error band{': ' + band['reason'] if isinstance(band, dict) else ''}"

    def side(e: float) -> str:
        return f"{abs(e):.0%} {'slower' if e > 0 else 'faster'}" if round(abs(e), 2) else "as fast"

    kind = "inference" if str(band.get("for", "")).split("|")[-1] in ARCHITECTURE_WORDS else "training"
    text = (f"published runs of {family_label(band['family'], kind)} ran {side(band['low'])} to {side(band['high'])} than "
            f"predicted (10th-90th percentile of {band['rows']})")
    return text + ("" if band["calibrated"] else f"; not calibrated: {band['reason']}")
