"""Fused mixture-of-experts layers vs published kernel timings (simulator/validation/data/moe_kernel_reference.csv).

Each row is one published timing of a whole fused-MoE expert layer (top-k routing, sort, two grouped GEMMs, the
gated activation and the top-k combine) at T tokens on one GPU: vLLM's benchmark_moe.py and SGLang's tuning script
(Triton kernels), FlashInfer's bench_moe_deepseek.py (TensorRT-LLM-gen and CuTe-DSL NVFP4 kernels). It is predicted
with the core's own terms, kernels.routed_experts_s (the GEMM curve with the fused-MoE memory scale, plus the layer's
fixed time) and kernels.expert_elementwise_s (the activation, gather and combine bytes), on the row's shipped
hardware profile.

The two fused-MoE figures (hardware_profiles/kernels/fused_moe.yaml) are fitted here by least squares in log time
over the rows with use = fit, and checked leave-one-source-out: each source is predicted by a fit on the others.
`python -m simulator.validation.moe_kernels` prints both; the fit is copied into the YAML by hand (never read at
run time).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from simulator.catalog import load_hardware, model_from_dict
from simulator.core.inference import ENGINES, Deployment
from simulator.core.inference.kernels import device_constants, expert_elementwise_s, routed_experts_s
from simulator.validation import DATA_DIR

REFERENCE = DATA_DIR / "moe_kernel_reference.csv"
START = (0.9, 2.0e-5)  # least-squares start: (memory scale, layer overhead s)


def load_reference(path: Path = REFERENCE, used_only: bool = True) -> pd.DataFrame:
    """The reference rows (those with use = fit unless used_only is False)."""
    df = pd.read_csv(path, keep_default_na=False)
    return df[df["use"] == "fit"].reset_index(drop=True) if used_only else df


def _spec(row):
    """A one-layer model with the row's expert shape (d_ff_shard: the intermediate size one GPU holds)."""
    h = int(row.d_model)
    return model_from_dict({
        "id": "moe-kernel", "name": row.row_id, "n_layers": 1, "d_model": h, "n_heads": max(1, h // 128),
        "n_kv_heads": 1, "d_ff": int(row.d_ff_shard), "vocab_size": 32000, "activation": "swiglu",
        "tied_embeddings": False, "attention": {"kind": "gqa", "head_dim": 128},
        "moe": {"n_experts": int(row.n_experts), "top_k": int(row.top_k), "d_ff_expert": int(row.d_ff_shard)},
        "sources": [{"title": "simulator/validation/data/moe_kernel_reference.csv", "where": row.source[:80],
                     "date": "2025"}]})


def predict(df: pd.DataFrame, memory_scale: float | None = None, overhead_s: float | None = None) -> np.ndarray:
    """Predicted layer time (s) per row; the figures default to each row's shipped profile's."""
    out = np.empty(len(df))
    for i, row in enumerate(df.itertuples(index=False)):
        hw = load_hardware(row.hardware)
        hw = replace(hw, moe_memory_scale=hw.moe_memory_scale if memory_scale is None else memory_scale,
                     moe_layer_overhead_s=hw.moe_layer_overhead_s if overhead_s is None else overhead_s)
        kv = "bf16" if row.precision in ("bf16", "fp16") else "fp8"
        dep = Deployment(tp=1, pp=1, precision=row.precision, kv_precision=kv, engine="ideal",
                         engine_profile=ENGINES["ideal"])
        model, tokens = _spec(row), float(row.tokens)
        out[i] = float(routed_experts_s(model, dep, device_constants(hw, dep), tokens)
                       + expert_elementwise_s(model, hw, dep, tokens))
    return out


def fit(df: pd.DataFrame) -> tuple[float, float]:
    """(memory scale, layer overhead s) minimising the squared log error over the rows."""
    from scipy.optimize import least_squares

    measured = df["time_us"].to_numpy(float) * 1e-6
    res = least_squares(lambda p: np.log(predict(df, p[0], p[1] * 1e-6) / measured), [START[0], START[1] * 1e6],
                        bounds=([0.3, 0.0], [1.5, 200.0]))
    return float(res.x[0]), float(res.x[1]) * 1e-6


def leave_one_source_out(df: pd.DataFrame | None = None) -> pd.DataFrame:
    """One line per source: the fit on the other sources, and the error on this one's rows with that fit and with
    the shipped profiles (signed error = predicted / measured - 1)."""
    df = load_reference() if df is None else df
    lines = []
    for src, rows in df.groupby("source_id", sort=True):
        scale, t0 = fit(df[df["source_id"] != src])
        measured = rows["time_us"].to_numpy(float) * 1e-6
        held = predict(rows, scale, t0) / measured - 1.0
        plain = predict(rows, 1.0, 0.0) / measured - 1.0
        lines.append({"source_id": src, "hardware": ", ".join(sorted(set(rows["hardware"]))),
                      "kernel": ", ".join(sorted(set(rows["kernel"]))), "rows": len(rows), "memory_scale": scale,
                      "overhead_us": t0 * 1e6, "median_abs_error": float(np.median(np.abs(held))),
                      "signed_median": float(np.median(held)), "plain_median_abs_error": float(np.median(np.abs(plain))),
                      "plain_signed_median": float(np.median(plain))})
    return pd.DataFrame(lines)


def summary(table: pd.DataFrame, df: pd.DataFrame | None = None) -> dict[str, float]:
    """Held-out errors over every row (each row predicted by the fit that left its source out), and the same with
    the plain GEMM curve (no fused-MoE terms)."""
    df = load_reference() if df is None else df
    held, plain = [], []
    for line in table.itertuples(index=False):
        rows = df[df["source_id"] == line.source_id]
        measured = rows["time_us"].to_numpy(float) * 1e-6
        held += list(predict(rows, line.memory_scale, line.overhead_us * 1e-6) / measured - 1.0)
        plain += list(predict(rows, 1.0, 0.0) / measured - 1.0)
    h, p = np.asarray(held), np.asarray(plain)
    return {"rows": float(len(h)), "sources": float(len(table)), "median_abs_error": float(np.median(np.abs(h))),
            "signed_median": float(np.median(h)), "plain_median_abs_error": float(np.median(np.abs(p))),
            "plain_signed_median": float(np.median(p))}


def main() -> None:
    df = load_reference()
    scale, t0 = fit(df)
    print(f"fit over {len(df)} rows of {df['source_id'].nunique()} sources: memory_scale {scale:.3f}, "
          f"layer_overhead_s {t0:.3g}")
    table = leave_one_source_out(df)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round(3).to_string(index=False))
    s = summary(table, df)
    print(f"leave-one-source-out: median |error| {s['median_abs_error']:.1%}, signed {s['signed_median']:+.1%} over "
          f"{int(s['rows'])} rows (GEMM curve alone: {s['plain_median_abs_error']:.1%}, "
          f"{s['plain_signed_median']:+.1%})")


if __name__ == "__main__":
    main()
