"""Fused mixture-of-experts layers vs published kernel timings (simulator/validation/data/moe_kernel_reference.csv).

Each row is one published timing of a whole fused-MoE expert layer (top-k routing, sort, two grouped GEMMs, the
gated activation and the top-k combine) at T tokens on one GPU: vLLM's benchmark_moe.py and SGLang's tuning script
(Triton kernels), FlashInfer's bench_moe_deepseek.py (TensorRT-LLM-gen and CuTe-DSL NVFP4 kernels). It is predicted
with the core's own terms, kernels.routed_experts_s (the GEMM curve with the fused-MoE memory scale, plus the layer's
fixed time) and kernels.expert_elementwise_s (the activation, gather and combine bytes), on the row's shipped
hardware profile.

The two fused-MoE figures (hardware_profiles/kernels/fused_moe.yaml) are fitted here by least squares in log time
over the rows with use = fit (CUDA-graph timings), and checked two ways: leave-one-group-out (each kernel family on
one GPU, `group`, is predicted by a fit on the other groups) and on the rows with use = check (sources that do not
state their timing harness: predicted by the fit, never in it). `python -m simulator.validation.moe_kernels` prints
both; the fit is copied into the YAML by hand (never read at run time).
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
BOUNDS = ((0.2, 0.0), (1.5, 2.0e-4))  # the schema's range for the scale (FusedMoeFile); up to 200 us


def load_reference(path: Path = REFERENCE, use: str | None = "fit") -> pd.DataFrame:
    """The reference rows whose `use` is the one given (every row with None)."""
    df = pd.read_csv(path, keep_default_na=False)
    return df if use is None else df[df["use"] == use].reset_index(drop=True)


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
                        bounds=([BOUNDS[0][0], BOUNDS[0][1] * 1e6], [BOUNDS[1][0], BOUNDS[1][1] * 1e6]))
    return float(res.x[0]), float(res.x[1]) * 1e-6


def _errors(rows: pd.DataFrame, scale: float, overhead_s: float) -> np.ndarray:
    """Signed errors (predicted / measured - 1) of rows under the given figures."""
    return predict(rows, scale, overhead_s) / (rows["time_us"].to_numpy(float) * 1e-6) - 1.0


def leave_one_group_out(df: pd.DataFrame | None = None) -> pd.DataFrame:
    """One line per group (a kernel family on one GPU): the fit on the other groups' rows, and the error on this
    group's rows with that fit and with the plain GEMM curve (no fused-MoE terms)."""
    df = load_reference() if df is None else df
    lines = []
    for group, rows in df.groupby("group", sort=True):
        scale, t0 = fit(df[df["group"] != group])
        held, plain = _errors(rows, scale, t0), _errors(rows, 1.0, 0.0)
        lines.append({"group": group, "sources": ", ".join(sorted(set(rows["source_id"]))), "rows": len(rows),
                      "memory_scale": scale, "overhead_us": t0 * 1e6, "median_abs_error": float(np.median(np.abs(held))),
                      "signed_median": float(np.median(held)), "plain_median_abs_error": float(np.median(np.abs(plain))),
                      "plain_signed_median": float(np.median(plain))})
    return pd.DataFrame(lines)


def check_rows(scale: float, overhead_s: float) -> pd.DataFrame:
    """The rows with use = check (no stated timing harness), per source: errors with the given figures and plain."""
    df = load_reference(use="check")
    lines = []
    for src, rows in df.groupby("source_id", sort=True):
        e, plain = _errors(rows, scale, overhead_s), _errors(rows, 1.0, 0.0)
        lines.append({"source_id": src, "hardware": rows["hardware"].iloc[0], "rows": len(rows),
                      "median_abs_error": float(np.median(np.abs(e))), "signed_median": float(np.median(e)),
                      "plain_median_abs_error": float(np.median(np.abs(plain))),
                      "plain_signed_median": float(np.median(plain))})
    return pd.DataFrame(lines)


def summary(table: pd.DataFrame, df: pd.DataFrame | None = None) -> dict[str, float]:
    """Held-out errors over every fit row (each predicted by the fit that left its group out), and the same with the
    plain GEMM curve (no fused-MoE terms)."""
    df = load_reference() if df is None else df
    held, plain = [], []
    for line in table.itertuples(index=False):
        rows = df[df["group"] == line.group]
        held += list(_errors(rows, line.memory_scale, line.overhead_us * 1e-6))
        plain += list(_errors(rows, 1.0, 0.0))
    h, p = np.asarray(held), np.asarray(plain)
    return {"rows": float(len(h)), "groups": float(len(table)), "median_abs_error": float(np.median(np.abs(h))),
            "signed_median": float(np.median(h)), "plain_median_abs_error": float(np.median(np.abs(p))),
            "plain_signed_median": float(np.median(p))}


def main() -> None:
    df = load_reference()
    scale, t0 = fit(df)
    print(f"fit over {len(df)} rows of {df['source_id'].nunique()} sources: memory_scale {scale:.3f}, "
          f"layer_overhead_s {t0:.3g}")
    table = leave_one_group_out(df)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round(3).to_string(index=False))
        print(check_rows(scale, t0).round(3).to_string(index=False))
    print(headline())


def headline() -> str:
    """One line: the held-out error of the fit rows (leave one group out) and of the check rows (the shipped
    figures), each beside the plain GEMM curve's."""
    from simulator.catalog import load_hardware

    hw = load_hardware("h100-sxm-80gb")  # every profile takes the same fused-MoE figures
    s = summary(leave_one_group_out())
    checks = load_reference(use="check")
    chk, plain = _errors(checks, hw.moe_memory_scale, hw.moe_layer_overhead_s), _errors(checks, 1.0, 0.0)
    return (f"leave-one-group-out median |error| {s['median_abs_error']:.1%}, signed {s['signed_median']:+.1%} over "
            f"{int(s['rows'])} rows of {int(s['groups'])} kernel-GPU groups (GEMM curve alone: "
            f"{s['plain_median_abs_error']:.1%}, {s['plain_signed_median']:+.1%}); {len(chk)} check rows without a "
            f"stated harness: {np.median(np.abs(chk)):.1%}, {np.median(chk):+.1%} (alone: {np.median(np.abs(plain)):.1%}, "
            f"{np.median(plain):+.1%})")


if __name__ == "__main__":
    main()
