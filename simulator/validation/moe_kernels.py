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

The rows with use = engine time an engine's own fused-MoE module (TensorRT-LLM's, from aiconfigurator's kernel
database). They never fit the two figures: the 16-bit and per-tensor fp8 ones check them on a second kernel family;
the block-scaled ones (fp8 block scales, nvfp4) fit the engine's own terms, a compute slowdown of its grouped GEMMs
and an extra time per layer (engine_terms; EngineProfile.moe_compute_slowdown in workloads/engines/<engine>.yaml),
checked with each GPU's rows predicted by the terms fitted on the other GPUs' (engine_errors).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from simulator import limits
from simulator.catalog import load_hardware, model_from_dict
from simulator.catalog.schema import MOE_MEMORY_SCALE_RANGE
from simulator.core.inference import ENGINES, Deployment
from simulator.core.inference.kernels import device_constants, expert_elementwise_s, routed_experts_s
from simulator.validation import DATA_DIR

REFERENCE = DATA_DIR / "moe_kernel_reference.csv"
START = (0.9, 2.0e-5)  # least-squares start: (memory scale, layer overhead s)
# the schema's range for the scale (FusedMoeFile), and up to 200 us per layer
BOUNDS = ((MOE_MEMORY_SCALE_RANGE[0], 0.0), (MOE_MEMORY_SCALE_RANGE[1], 2.0e-4))


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


def _inputs(df: pd.DataFrame, memory_scale: float, overhead_s: float) -> list:
    """Per row: (one-layer model, its shipped profile with the fused-MoE figures given, an ideal-engine deployment at
    the row's precision, tokens)."""
    out = []
    for row in df.itertuples(index=False):
        hw = replace(load_hardware(row.hardware), moe_memory_scale=memory_scale, moe_layer_overhead_s=overhead_s)
        dep = Deployment(tp=1, pp=1, precision=row.precision, engine="ideal", engine_profile=ENGINES["ideal"])
        out.append((_spec(row), hw, dep, float(row.tokens)))
    return out


def _times(inputs: list, engine_terms: tuple[float, float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the routed experts' time (s; GEMMs and the layer's fixed time) and the expert elementwise time (s),
    on the ideal engine or, with engine_terms (slowdown at 1,024 wide, width exponent, extra layer s), on one whose
    fused MoE for the row's precision has them (EngineProfile.moe_compute_slowdown)."""
    routed, elementwise = np.empty(len(inputs)), np.empty(len(inputs))
    for i, (model, hw, dep, tokens) in enumerate(inputs):
        if engine_terms is not None:
            prof = replace(dep.profile, moe_compute_slowdown=((dep.precision, *engine_terms),))
            dep = replace(dep, engine_profile=prof)
        routed[i] = float(routed_experts_s(model, dep, device_constants(hw, dep), tokens))
        elementwise[i] = float(expert_elementwise_s(model, hw, dep, tokens))
    return routed, elementwise


def _parts(df: pd.DataFrame, memory_scale: float, overhead_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Per row on its shipped profile, with the fused-MoE figures given: the routed experts' time (s) and the expert
    elementwise time (s)."""
    return _times(_inputs(df, memory_scale, overhead_s))


def predict(df: pd.DataFrame, memory_scale: float, overhead_s: float) -> np.ndarray:
    """Predicted layer time (s) per row on its shipped profile, with the fused-MoE figures given."""
    routed, elementwise = _parts(df, memory_scale, overhead_s)
    return routed + elementwise


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


def held_out_errors(df: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per fit row: its group's fit on the other groups (memory_scale, overhead_us) and the signed errors
    (predicted / measured - 1) with that fit (held) and with the plain GEMM curve (plain)."""
    df = load_reference() if df is None else df
    parts = []
    for group, rows in df.groupby("group", sort=True):
        scale, t0 = fit(df[df["group"] != group])
        parts.append(rows.assign(memory_scale=scale, overhead_us=t0 * 1e6, held=_errors(rows, scale, t0),
                                 plain=_errors(rows, 1.0, 0.0)))
    return pd.concat(parts, ignore_index=True)


def _medians(rows: pd.DataFrame) -> dict[str, float]:
    """Median |error| and signed median of the held and plain errors of some rows."""
    return {"median_abs_error": float(rows["held"].abs().median()), "signed_median": float(rows["held"].median()),
            "plain_median_abs_error": float(rows["plain"].abs().median()),
            "plain_signed_median": float(rows["plain"].median())}


def leave_one_group_out(errors: pd.DataFrame | None = None) -> pd.DataFrame:
    """One line per group (a kernel family on one GPU): its fit on the other groups and its rows' errors."""
    errors = held_out_errors() if errors is None else errors
    return pd.DataFrame([{"group": g, "sources": ", ".join(sorted(set(r["source_id"]))), "rows": len(r),
                          "memory_scale": r["memory_scale"].iloc[0], "overhead_us": r["overhead_us"].iloc[0],
                          **_medians(r)} for g, r in errors.groupby("group", sort=True)])


def summary(errors: pd.DataFrame | None = None) -> dict[str, float]:
    """Over every fit row, each predicted by the fit that left its group out: rows, groups and the medians."""
    errors = held_out_errors() if errors is None else errors
    return {"rows": float(len(errors)), "groups": float(errors["group"].nunique()), **_medians(errors)}


def check_rows(scale: float, overhead_s: float) -> pd.DataFrame:
    """The rows with use = check (no stated timing harness), per source: errors with the given figures and plain."""
    df = load_reference(use="check")
    df = df.assign(held=_errors(df, scale, overhead_s), plain=_errors(df, 1.0, 0.0))
    return pd.DataFrame([{"source_id": src, "hardware": r["hardware"].iloc[0], "rows": len(r), **_medians(r)}
                         for src, r in df.groupby("source_id", sort=True)])


def engine_terms(df: pd.DataFrame, scale: float, overhead_s: float) -> tuple[float, float, float]:
    """An engine's own fused MoE against the figures given, over its rows of one quantization: (compute slowdown at
    1,024 wide, width exponent, extra layer time s) of EngineProfile.moe_compute_slowdown, by least squares in log
    time (the routed experts' grouped GEMMs compute slowdown x (w / 1024)^-exponent slower and the layer pays the
    extra time; w the expert width one GPU holds, d_ff_shard)."""
    from scipy.optimize import least_squares

    inputs, measured = _inputs(df, scale, overhead_s), df["time_us"].to_numpy(float) * 1e-6

    def residual(p):
        return np.log(np.add(*_times(inputs, (p[0], p[1], p[2] * 1e-6))) / measured)

    res = least_squares(residual, [1.5, 0.2, 5.0],  # the schema's ranges (catalog.engines.Kernels), extra time in us
                        bounds=([limits.MIN_ENGINE_MOE_SLOWDOWN, 0.0, 0.0],
                                [limits.MAX_ENGINE_MOE_SLOWDOWN, 1.0, limits.MAX_ENGINE_MOE_EXTRA_S * 1e6]))
    return float(res.x[0]), float(res.x[1]), float(res.x[2]) * 1e-6


def engine_errors(scale: float | None = None, overhead_s: float | None = None, engine: str = "trtllm") -> pd.DataFrame:
    """The rows with use = engine of one engine (group `<engine>/<gpu>`: its own fused-MoE modules; TensorRT-LLM's,
    from aiconfigurator's kernel database) with signed errors: with the figures given (held), with the plain GEMM curve
    (plain) and, for a quantization the engine profile slows (EngineProfile.moe_compute_slowdown), with the terms
    fitted on the engine's other GPUs' rows of it, or on its own GPU's where no other GPU has any (terms, and which in
    terms_from; NaN and "" for the others). The figures default to the shipped ones."""
    if scale is None or overhead_s is None:
        from simulator.catalog.hardware import fused_moe_figures

        scale, overhead_s, _ = fused_moe_figures()
    prof = ENGINES[engine]
    df = load_reference(use="engine")
    df = df[df["group"].str.startswith(f"{engine}/")].reset_index(drop=True)
    df = df.assign(held=_errors(df, scale, overhead_s), plain=_errors(df, 1.0, 0.0), terms=np.nan, terms_from="")
    for quant in {q for q, *_ in prof.moe_compute_slowdown}:
        for group in sorted(set(df.loc[df["precision"] == quant, "group"])):
            mine = (df["precision"] == quant) & (df["group"] == group)
            others = (df["precision"] == quant) & (df["group"] != group)
            terms = engine_terms(df[others] if others.any() else df[mine], scale, overhead_s)
            times = _times(_inputs(df[mine], scale, overhead_s), terms)
            df.loc[mine, "terms"] = np.add(*times) / (df.loc[mine, "time_us"].to_numpy(float) * 1e-6) - 1.0
            df.loc[mine, "terms_from"] = "other GPUs" if others.any() else "own GPU"
    return df


def engine_rows(errors: pd.DataFrame) -> pd.DataFrame:
    """One line per GPU and quantization of engine_errors: median |error| and signed median with the figures alone,
    the plain GEMM curve and (where the engine profile slows that quantization) the engine's fitted terms."""
    lines = []
    for (group, quant), rows in errors.groupby(["group", "precision"], sort=True):
        line = {"group": group, "precision": quant, "kernel": rows["kernel"].iloc[0], "rows": len(rows),
                **_medians(rows)}
        if rows["terms"].notna().all():
            line.update(terms_median_abs_error=float(rows["terms"].abs().median()),
                        terms_signed_median=float(rows["terms"].median()), terms_from=rows["terms_from"].iloc[0])
        lines.append(line)
    return pd.DataFrame(lines)


def engine_headline(errors: pd.DataFrame, engine: str = "TensorRT-LLM") -> str:
    """One line: the engine rows the engine profile does not slow, with the figures alone, and those it slows, with the
    figures alone and with the terms fitted on the other GPUs (or on their own GPU where no other has that
    quantization)."""
    kept, slowed = errors[errors["terms"].isna()], errors[errors["terms"].notna()]
    alone = slowed[slowed["terms_from"] == "own GPU"]
    own = sorted(set(alone["group"] + " " + alone["precision"]))
    return (f"{engine}'s own fused-MoE modules (aiconfigurator's kernel database, {len(errors)} rows): "
            f"{', '.join(sorted(set(kept['precision'])))} with the figures alone {kept['held'].abs().median():.1%}, "
            f"signed {kept['held'].median():+.1%} over {len(kept)}; {', '.join(sorted(set(slowed['precision'])))} "
            f"{slowed['held'].abs().median():.1%}, {slowed['held'].median():+.1%} alone and "
            f"{slowed['terms'].abs().median():.1%}, {slowed['terms'].median():+.1%} with the engine's terms fitted on "
            f"the other GPUs over {len(slowed)}"
            + (f" (on their own GPU where no other has the quantization: {', '.join(own)})" if own else ""))


def headline(errors: pd.DataFrame | None = None) -> str:
    """One line: the held-out error of the fit rows (leave one group out; `errors` from held_out_errors when already
    computed) and of the check rows (the shipped figures), each beside the plain GEMM curve's."""
    from simulator.catalog.hardware import fused_moe_figures

    scale, overhead_s, _ = fused_moe_figures()
    s = summary(errors)
    checks = load_reference(use="check")
    c = _medians(checks.assign(held=_errors(checks, scale, overhead_s), plain=_errors(checks, 1.0, 0.0)))
    return (f"leave-one-group-out median |error| {s['median_abs_error']:.1%}, signed {s['signed_median']:+.1%} over "
            f"{int(s['rows'])} rows of {int(s['groups'])} kernel-GPU groups (GEMM curve alone: "
            f"{s['plain_median_abs_error']:.1%}, {s['plain_signed_median']:+.1%}); {len(checks)} check rows without a "
            f"stated harness: {c['median_abs_error']:.1%}, {c['signed_median']:+.1%} (alone: "
            f"{c['plain_median_abs_error']:.1%}, {c['plain_signed_median']:+.1%})")


def main() -> None:
    df = load_reference()
    scale, t0 = fit(df)
    print(f"fit over {len(df)} rows of {df['source_id'].nunique()} sources: memory_scale {scale:.3f}, "
          f"layer_overhead_s {t0:.3g}")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        errors = held_out_errors(df)
        print(leave_one_group_out(errors).round(3).to_string(index=False))
        print(check_rows(scale, t0).round(3).to_string(index=False))
        rows = load_reference(use="engine")
        for quant in ("fp8-block", "fp4"):
            a, b, extra = engine_terms(rows[rows["precision"] == quant], scale, t0)
            print(f"trtllm moe_compute_slowdown {quant}: [{a:.3f}, {b:.3f}, {extra:.3g}] (all its engine rows)")
        engine = engine_errors(scale, t0)
        print(engine_rows(engine).round(3).to_string(index=False))
    print(headline(errors))
    print(engine_headline(engine))


if __name__ == "__main__":
    main()
