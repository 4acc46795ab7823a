"""Compare training predictions with published measurements (simulator/validation/data/training_reference.csv).

Every published metric is converted to a step time with the FLOP convention its source used, so
the comparison is formula-free: error = predicted throughput / measured throughput - 1.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.catalog import load_hardware, load_stack, model_from_dict, stack_file, stack_ids
from simulator.catalog.bands import band_family
from simulator.core.plans import PlanGrid
from simulator.core.training import Stack, TrainingOptions, evaluate
from simulator.errors import DataFileError
from simulator.units import GIB, TFLOP
from simulator.validation import DATA_DIR
from simulator.vocab import PP_SCHEDULES, PRECISIONS, RECOMPUTE

REFERENCE_CSV = DATA_DIR / "training_reference.csv"
# llm-foundry's H100 BF16 table: not in the shared reference set, never fitted on (but looked at: see
# simulator/validation/data/README.md), kept to track the model's H100 bias.
HOLDOUT_H100_CSV = DATA_DIR / "training_holdout_h100.csv"
MIN_FIT_ROWS = 3  # a stack's two terms are fitted on at least this many rows
MAX_OVERHEAD_SHARE = 0.25  # a fitted fixed step cost above this share of the median step is not identifiable
# ... nor one above a few tenths of a second: the fixed cost of a step (optimizer launches, gradient-norm reduction,
# host sync, logging; the optimizer's memory traffic is modelled apart) is tenths of a second in every stack fitted
MAX_OVERHEAD_S = 0.25
SCALE_RANGE = (0.3, 1.5)  # a compute scale outside it is a fit absorbing something else: not shipped
STACKS_CSV = DATA_DIR / "training_stacks.csv"  # published runs of the other stacks (training_stacks.md)


def megatron_hfu_flop_per_step(b: float, s: float, layers: float, h: float, vocab: float) -> float:
    """Narayanan et al. 2021 eq. (3): 96*B*s*l*h^2*(1 + s/(6h) + V/(16*l*h)), counts full recompute."""
    return 96.0 * b * s * layers * h * h * (1.0 + s / (6.0 * h) + vocab / (16.0 * layers * h))


def megatron_mfu_flop_per_step(b: float, s: float, layers: float, h: float, vocab: float) -> float:
    """Korthikanti et al. 2022 sec. 6: 72*B*s*l*h^2*(1 + s/(6h) + V/(12*l*h)), no recompute."""
    return 72.0 * b * s * layers * h * h * (1.0 + s / (6.0 * h) + vocab / (12.0 * layers * h))


def measured_step_time_s(row: pd.Series, peak_flop_per_s: float) -> float:
    """The step time a published row implies, using the row's own FLOP convention."""
    b, s, n = float(row.global_batch), float(row.seq_len), float(row.n_gpus)
    if row.metric == "peak_memory_gib_per_gpu":  # a memory row: no step time
        return float("nan")
    if row.metric == "step_time_s":
        return float(row.value)
    if row.metric == "tokens_per_s_per_gpu":
        return b * s / (float(row.value) * n)
    convention = {"megatron_hfu": megatron_hfu_flop_per_step, "megatron_mfu": megatron_mfu_flop_per_step}
    flop = convention[row.flop_convention](b, s, float(row.n_layers), float(row.d_model), float(row.vocab_size))
    if row.metric == "achieved_tflops_per_gpu":
        return flop / (float(row.value) * TFLOP * n)
    if row.metric == "mfu":
        return flop / (float(row.value) * peak_flop_per_s * n)
    raise ValueError(f"unknown metric {row.metric!r}")


def _model_for(row: pd.Series):
    return model_from_dict({
        "name": row.row_id, "n_layers": int(row.n_layers), "d_model": int(row.d_model),
        "n_heads": int(row.n_heads), "n_kv_heads": int(row.n_kv_heads), "d_ff": int(row.d_ff),
        "vocab_size": int(row.vocab_size), "activation": "gelu" if row.activation == "relu" else row.activation,
        "tied_embeddings": row.activation != "swiglu",
    }, source=f"{REFERENCE_CSV.name}:{row.row_id}")


def _uses_dropout(row: pd.Series) -> bool:
    """Megatron-LM GPT recipes train with dropout; llm-foundry MPT and NeMo Llama/Nemotron do not."""
    src = str(row.source).lower()
    return ("narayanan" in src or "korthikanti" in src or "megatron-lm readme" in src
            or "megatron-core" in src or "mcore" in str(row.row_id))


def row_stack(row: pd.Series) -> Stack:
    """The stack a row ran (its `stack` column), with torch.compile and the fp8 recipe where the row states them."""
    compile_ = str(row.get("compile", "false")).lower() == "true"
    recipe = row.get("fp8_recipe", "none")
    recipe = None if recipe in ("none", "unknown", None) or (isinstance(recipe, float) and np.isnan(recipe)) else recipe
    return load_stack(row.stack, compile=compile_ or None, fp8_recipe=recipe)


def fit_rows() -> frozenset[str]:
    """Rows some shipped stack's fitted figures came from (its `fitted_on`): left out of the check figures."""
    return frozenset(r for sid in stack_ids() for r in stack_file(sid).fitted_on)


def predict_row(row: pd.Series, **figures: Any) -> dict[str, float]:
    """Evaluate one published configuration under its stack (with its torch.compile and fp8 recipe), some of the
    stack's figures replaced by `figures` (fits try their values this way); returns predicted and measured step
    times, feasibility and the predicted peak memory (allocated and reserved)."""
    hw = load_hardware(row.hardware)
    model = _model_for(row)
    grid = PlanGrid.from_columns(
        tp=[int(row.tp)], pp=[int(row.pp)], dp=[int(row.dp)], cp=[int(row.cp)], ep=[int(row.ep)],
        micro_batch=[int(row.micro_batch)], zero=[int(row.zero)], recompute=[RECOMPUTE.index(row.recompute)],
        vpp=[int(row.vpp)], precision=[PRECISIONS.index(row.precision)],
        sequence_parallel=[int(str(row.sequence_parallel).lower() == "true")], shard=[_shard(row)],
        schedule=[_schedule(row)],
    )
    options = TrainingOptions(seq_len=int(row.seq_len), global_batch=int(row.global_batch),
                              attention_kernel=row.attention_kernel, dropout=_uses_dropout(row),
                              tp_comm_overlap=_flag(row.tp_comm_overlap), grad_reduce_fp32=_flag(row.grad_reduce_fp32),
                              uneven_pp=int(row.n_layers) % (int(row.pp) * int(row.vpp)) != 0,
                              stack=replace(row_stack(row), **figures))
    m = evaluate(model, hw, grid, options)
    peak = hw.peak_flop_per_s.get(row.precision if row.precision != "fp16" else "bf16", hw.peak("bf16"))
    measured = measured_step_time_s(row, peak)
    predicted = float(m["step_time_s"][0])
    return {
        "measured_step_s": measured,
        "predicted_step_s": predicted,
        "error": measured / predicted - 1.0,  # predicted throughput over measured, minus one
        "feasible": bool(m["feasible"][0]),
        "reason": int(m["reason"][0]),
        "mfu_predicted": float(m["mfu"][0]),
        "memory_allocated_gib": float(m["memory_per_gpu_bytes"][0]) / GIB,
        "memory_reserved_gib": float(m["memory_reserved_per_gpu_bytes"][0]) / GIB,
        "compute_s": float(m["compute"][0] + m["recompute"][0] + m["bubble"][0]),
    }


def _schedule(row: pd.Series) -> int:
    """The row's pipeline schedule (training_stacks.csv `pp_schedule`), else interleaved where vpp > 1, else 1F1B."""
    name = row.get("pp_schedule")
    if isinstance(name, str) and name in PP_SCHEDULES and int(row.pp) > 1:
        return PP_SCHEDULES.index(name)
    return PP_SCHEDULES.index("interleaved") if int(row.vpp) > 1 else 0


def _shard(row: pd.Series) -> int:
    """The row's HSDP shard group (training_stacks.csv `fsdp_shard`), 0 where it shards over every dp x cp rank."""
    shard = row.get("fsdp_shard")
    if shard is None or (isinstance(shard, float) and np.isnan(shard)) or int(row.zero) != 3:  # the file: 1 below 3
        return 0
    return int(shard) if int(shard) < int(row.dp) * int(row.cp) else 0


def _flag(value: object) -> bool:
    """A CSV boolean (pandas reads true/false as bool, a str column keeps the text)."""
    return str(value).lower() == "true"


def validate(path: Path | str = REFERENCE_CSV) -> pd.DataFrame:
    """One row per published measurement: configuration, measured, predicted and error."""
    ref = pd.read_csv(path)
    fitted = fit_rows()
    rows = []
    for _, row in ref.iterrows():
        out = predict_row(row)
        rows.append({"row_id": row.row_id, "hardware": row.hardware, "n_gpus": int(row.n_gpus),
                     "metric": row.metric, "value": row.value, **out,
                     "stack": row.stack, "source": row.source,
                     "split": "fit" if row.row_id in fitted else "check"})
    df = pd.DataFrame(rows)
    df["abs_error"] = df["error"].abs()
    df["family"] = df["row_id"].str.extract(r"^([a-z0-9]+-[a-z0-9]+)")[0]
    return df


def fit_zero3_terms(stack_id: str, rows: tuple[str, ...] | None = None,
                    path: Path | str = REFERENCE_CSV) -> tuple[float, float]:
    """Least-squares fit of a stack's two measured ZeRO-3 gather terms on `rows` (default: its `fitted_on` rows).
    Without overlap the step is linear in s-per-byte and in s-per-rank-layer, so three evaluations of each row give
    the base and the two slopes. Returns (zero3_bytes_per_s, zero3_rank_layer_s); DataFileError when the rows cannot
    give two positive terms."""
    st = load_stack(stack_id)
    rows = st.fitted_on if rows is None else tuple(rows)
    if st.fsdp_overlap or len(rows) < 2:
        raise DataFileError(f"stack {stack_id!r}: the fit needs fsdp_overlap false and at least two rows")
    ref = pd.read_csv(path)
    huge_bytes_per_s = 1e30
    a, y = [], []
    for row_id in rows:
        row = ref[ref.row_id == row_id].iloc[0]

        def step_s(bytes_per_s: float, rank_layer_s: float, row: pd.Series = row) -> float:
            return predict_row(row, zero3_bytes_per_s=bytes_per_s, zero3_rank_layer_s=rank_layer_s)["predicted_step_s"]

        base_s = step_s(huge_bytes_per_s, 0.0)
        a.append([step_s(1.0, 0.0) - base_s, step_s(huge_bytes_per_s, 1.0) - base_s])
        y.append(predict_row(row)["measured_step_s"] - base_s)
    (s_per_byte, rank_layer_s), *_ = np.linalg.lstsq(np.array(a), np.array(y), rcond=None)
    if not (s_per_byte > 0 and rank_layer_s > 0):
        raise DataFileError(f"stack {stack_id!r}: rows {', '.join(rows)} give non-positive terms "
                            f"({s_per_byte:.3g} s/byte, {rank_layer_s:.3g} s per rank-layer); fit on other rows")
    return 1.0 / float(s_per_byte), float(rank_layer_s)


def zero3_leave_one_out(stack_id: str, path: Path | str = REFERENCE_CSV) -> pd.DataFrame:
    """For each row of the stack: fit the ZeRO-3 terms on all the others, predict it. Independent of which rows
    were chosen to fit the shipped terms; one row per held-out row with its error."""
    ref = pd.read_csv(path)
    ids = tuple(r.row_id for _, r in ref.iterrows() if r.stack == stack_id)
    out = []
    for held in ids:
        bytes_per_s, rank_layer_s = fit_zero3_terms(stack_id, tuple(r for r in ids if r != held), path)
        res = predict_row(ref[ref.row_id == held].iloc[0], zero3_bytes_per_s=bytes_per_s,
                          zero3_rank_layer_s=rank_layer_s)
        out.append({"row_id": held, "error": res["error"]})
    return pd.DataFrame(out)


def summary(df: pd.DataFrame) -> dict[str, float]:
    return {"rows": int(len(df)), "median_abs_error": float(np.median(df.abs_error)),
            "mean_abs_error": float(df.abs_error.mean()), "max_abs_error": float(df.abs_error.max()),
            "p90_abs_error": float(df.abs_error.quantile(0.9)), "mean_signed_error": float(df.error.mean())}


def source_document(source: str) -> str:
    """The document a row's source names, without its table or section: tables of one document are one source for
    leave-one-source-out (one campaign, one setup)."""
    return re.split(r",? (?:section|Table|table)\b|; | \(", str(source), maxsplit=1)[0].strip()


def all_rows(memory: bool = False) -> pd.DataFrame:
    """Every published training row the project ships (reference, H100 holdout, and the per-stack file), throughput
    rows (or, with `memory`, the peak-memory rows), with `source` reduced to its document (source_document)."""
    frames = [pd.read_csv(p) for p in (REFERENCE_CSV, HOLDOUT_H100_CSV, STACKS_CSV) if Path(p).is_file()]
    df = pd.concat(frames, ignore_index=True)
    df["source"] = df["source"].map(source_document)
    keep = (df.metric == "peak_memory_gib_per_gpu") == memory
    return df[keep].reset_index(drop=True)


def fit_stack_terms(rows: pd.DataFrame) -> tuple[float, float] | None:
    """Least squares for a stack's compute_efficiency_scale and step_overhead_s on `rows` (relative residuals).
    The step is taken as C / scale + R + overhead, with C the compute, recompute and bubble time at scale 1 and R the
    rest (a linear model of the full step model, which then predicts with the fitted values). Returns (scale,
    overhead_s); the overhead is held at 0 when the rows cannot place it above 0. Fewer than MIN_FIT_ROWS rows (or a
    fit that is not positive) give None: the stack keeps its stated figures."""
    if len(rows) < MIN_FIT_ROWS:
        return None
    preds = [predict_row(r, compute_efficiency_scale=1.0, step_overhead_s=0.0) for _, r in rows.iterrows()]
    c = np.array([p["compute_s"] for p in preds])
    rest = np.array([p["predicted_step_s"] for p in preds]) - c
    meas = np.array([p["measured_step_s"] for p in preds])
    a = np.column_stack([c / meas, 1.0 / meas])
    (inv_scale, overhead), *_ = np.linalg.lstsq(a, 1.0 - rest / meas, rcond=None)
    if not 0.0 <= overhead <= min(MAX_OVERHEAD_SHARE * float(np.median(meas)), MAX_OVERHEAD_S):
        # an overhead the rows cannot place (negative, a large share of a step, or beyond a fixed per-step cost:
        # rows of long steps cannot tell a fixed cost from slow compute): the scale alone
        inv_scale = float(np.sum(c / meas * (1.0 - rest / meas)) / np.sum((c / meas) ** 2))
        overhead = 0.0
    if not SCALE_RANGE[0] <= 1.0 / inv_scale <= SCALE_RANGE[1] if inv_scale > 0 else True:
        return None
    return 1.0 / float(inv_scale), float(overhead)


def _sources_of(df: pd.DataFrame, stack_id: str) -> list[str]:
    return sorted(df.loc[df["stack"] == stack_id, "source"].unique())


def fit_all(df: pd.DataFrame | None = None) -> dict[str, tuple[float, float, list[str]]]:
    """Per stack with rows from at least two sources: (compute_efficiency_scale, step_overhead_s, sources) fitted on
    every row of the stack (fit_stack_terms). Stacks with fewer sources keep their stated figures: a fit nothing
    could check is not shipped."""
    df = all_rows() if df is None else df
    out = {}
    for sid in sorted(df["stack"].unique()):
        sources = _sources_of(df, sid)
        if len(sources) >= 2 and stack_file(sid).figures.zero3_bytes_per_s.value is None:
            fit = fit_stack_terms(df[df["stack"] == sid])
            if fit is not None:
                out[sid] = (*fit, sources)
    return out


def leave_one_source_out(df: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every row predicted with its stack's terms fitted on the stack's other sources (stacks fit_all fits), or with
    the shipped stack (the others): the honest error of each row. Columns: row_id, stack, source, hardware, n_gpus,
    measured/predicted step, error, feasible."""
    df = all_rows() if df is None else df
    fitted = fit_all(df)
    df = df[~df.row_id.isin(fit_rows())]  # rows a measured term was fitted on (Stack.fitted_on) are never scored
    out = []
    for sid in sorted(df["stack"].unique()):
        rows = df[df["stack"] == sid]
        for src in _sources_of(df, sid):
            held = rows[rows["source"] == src]
            figures: dict[str, float] = {}
            if sid in fitted:  # the shipped figures saw this source: unfitted, or fitted on the other sources
                fit = fit_stack_terms(rows[rows["source"] != src])
                figures = dict(zip(("compute_efficiency_scale", "step_overhead_s"), fit or (1.0, 0.0), strict=True))
            for _, r in held.iterrows():
                p = predict_row(r, **figures)
                out.append({"row_id": r.row_id, "stack": sid, "source": src, "hardware": r.hardware,
                            "n_gpus": int(r.n_gpus), "measured_step_s": p["measured_step_s"],
                            "predicted_step_s": p["predicted_step_s"], "error": p["error"],
                            "feasible": p["feasible"]})
    res = pd.DataFrame(out)
    res["abs_error"] = res["error"].abs()
    res["family"] = [band_family(s, h, n) for s, h, n in zip(res["stack"], res["hardware"], res["n_gpus"], strict=True)]
    return res


def validate_memory() -> pd.DataFrame:
    """Published peak memory per GPU against the prediction of the same kind (allocator reserve included for
    `reserved` rows, the allocated peak for `allocated` and `unknown` rows). error = predicted / measured - 1."""
    out = []
    for _, r in all_rows(memory=True).iterrows():
        p = predict_row(r)
        pred = p["memory_reserved_gib"] if r.memory_kind == "reserved" else p["memory_allocated_gib"]
        out.append({"row_id": r.row_id, "stack": r["stack"], "source": r.source, "hardware": r.hardware,
                    "kind": r.memory_kind, "measured_gib": float(r.value), "predicted_gib": pred,
                    "error": pred / float(r.value) - 1.0})
    df = pd.DataFrame(out)
    df["abs_error"] = df["error"].abs()
    return df


def rule_of_thumb(df: pd.DataFrame | None = None, mfu: float = 0.5) -> pd.DataFrame:
    """The peer rule of thumb on the same rows: step time = model FLOPs per step / (mfu x the 16-bit dense peak x
    GPUs), one hand-set efficiency for every stack, model, precision and scale. error = measured / predicted - 1."""
    df = all_rows() if df is None else df
    out = []
    for _, r in df[~df.row_id.isin(fit_rows())].iterrows():
        hw = load_hardware(r.hardware)
        row_peak = hw.peak_flop_per_s.get(r.precision if r.precision != "fp16" else "bf16", hw.peak("bf16"))
        flop = _model_for(r).model_flop_per_token(int(r.seq_len)) * float(r.global_batch) * float(r.seq_len)
        predicted = flop / (mfu * hw.peak("bf16") * float(r.n_gpus))
        measured = measured_step_time_s(r, row_peak)
        out.append({"row_id": r.row_id, "stack": r["stack"], "error": measured / predicted - 1.0})
    res = pd.DataFrame(out)
    res["abs_error"] = res["error"].abs()
    return res
