"""Compare training predictions with published measurements (simulator/validation/data/training_reference.csv).

Every published metric is converted to a step time with the FLOP convention its source used, so
the comparison is formula-free: error = predicted throughput / measured throughput - 1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from simulator.catalog import load_hardware, model_from_dict
from simulator.core.plans import PlanGrid
from simulator.core.training import FRAMEWORKS, Framework, TrainingOptions, evaluate
from simulator.errors import DataFileError
from simulator.units import TFLOP
from simulator.validation import DATA_DIR
from simulator.vocab import PRECISIONS, RECOMPUTE

REFERENCE_CSV = DATA_DIR / "training_reference.csv"
# llm-foundry's H100 BF16 table: not in the shared reference set, never fitted on (but looked at: see
# simulator/validation/data/README.md), kept to track the model's H100 bias.
HOLDOUT_H100_CSV = DATA_DIR / "training_holdout_h100.csv"


def megatron_hfu_flop_per_step(b: float, s: float, layers: float, h: float, vocab: float) -> float:
    """Narayanan et al. 2021 eq. (3): 96*B*s*l*h^2*(1 + s/(6h) + V/(16*l*h)), counts full recompute."""
    return 96.0 * b * s * layers * h * h * (1.0 + s / (6.0 * h) + vocab / (16.0 * layers * h))


def megatron_mfu_flop_per_step(b: float, s: float, layers: float, h: float, vocab: float) -> float:
    """Korthikanti et al. 2022 sec. 6: 72*B*s*l*h^2*(1 + s/(6h) + V/(12*l*h)), no recompute."""
    return 72.0 * b * s * layers * h * h * (1.0 + s / (6.0 * h) + vocab / (12.0 * layers * h))


def measured_step_time_s(row: pd.Series, peak_flop_per_s: float) -> float:
    """The step time a published row implies, using the row's own FLOP convention."""
    b, s, n = float(row.global_batch), float(row.seq_len), float(row.n_gpus)
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


def _fused(row: pd.Series) -> bool:
    """Megatron-LM and NeMo use fused elementwise kernels; llm-foundry's MPT runs eager PyTorch ops."""
    return "llm-foundry" not in str(row.source)


def _framework(row: pd.Series) -> str:
    """Narayanan et al. 2021 ran their ZeRO-3 baseline with DeepSpeed (Table 2); every other row runs
    Megatron-LM, NeMo or PyTorch FSDP, whose collectives the standard model describes."""
    return "deepspeed-zero3-2021" if int(row.zero) == 3 and "narayanan" in str(row.source).lower() else "standard"


FIT_ROWS = frozenset(r for fw in FRAMEWORKS.values() for r in fw.fitted_on)


def predict_row(row: pd.Series, framework: str | Framework | None = None) -> dict[str, float]:
    """Evaluate one published configuration; returns predicted and measured step times."""
    hw = load_hardware(row.hardware)
    model = _model_for(row)
    grid = PlanGrid.from_columns(
        tp=[int(row.tp)], pp=[int(row.pp)], dp=[int(row.dp)], cp=[int(row.cp)], ep=[int(row.ep)],
        micro_batch=[int(row.micro_batch)], zero=[int(row.zero)], recompute=[RECOMPUTE.index(row.recompute)],
        vpp=[int(row.vpp)], precision=[PRECISIONS.index(row.precision)],
        sequence_parallel=[int(str(row.sequence_parallel).lower() == "true")],
    )
    options = TrainingOptions(seq_len=int(row.seq_len), global_batch=int(row.global_batch),
                              attention_kernel=row.attention_kernel, dropout=_uses_dropout(row),
                              fused_kernels=_fused(row), tp_comm_overlap=bool(row.tp_comm_overlap),
                              grad_reduce_fp32=bool(row.grad_reduce_fp32),
                              framework=_framework(row) if framework is None else framework)
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
    }


def validate(path: Path | str = REFERENCE_CSV) -> pd.DataFrame:
    """One row per published measurement: configuration, measured, predicted and error."""
    ref = pd.read_csv(path)
    rows = []
    for _, row in ref.iterrows():
        out = predict_row(row)
        rows.append({"row_id": row.row_id, "hardware": row.hardware, "n_gpus": int(row.n_gpus),
                     "metric": row.metric, "value": row.value, **out,
                     "split": "fit" if row.row_id in FIT_ROWS else "check"})
    df = pd.DataFrame(rows)
    df["abs_error"] = df["error"].abs()
    df["family"] = df["row_id"].str.extract(r"^([a-z0-9]+-[a-z0-9]+)")[0]
    return df


def fit_framework(name: str, rows: tuple[str, ...] | None = None,
                  path: Path | str = REFERENCE_CSV) -> tuple[float, float]:
    """Least-squares fit of a framework's two ZeRO-3 terms on `rows` (default: its `fitted_on` rows).
    Without overlap the step is linear in s-per-byte and in s-per-rank-layer, so three evaluations of each
    row give the base and the two slopes. Returns (zero3_bytes_per_s, zero3_rank_layer_s); DataFileError
    when the rows cannot give two positive terms."""
    fw = FRAMEWORKS[name]
    rows = fw.fitted_on if rows is None else tuple(rows)
    if fw.zero3_overlap or len(rows) < 2:
        raise DataFileError(f"framework {name!r}: the fit needs zero3_overlap False and at least two rows")
    ref = pd.read_csv(path)
    huge_bytes_per_s = 1e30
    a, y = [], []
    for row_id in rows:
        row = ref[ref.row_id == row_id].iloc[0]

        def step_s(bytes_per_s: float, rank_layer_s: float, row: pd.Series = row) -> float:
            fw_try = Framework(name, zero3_overlap=False, zero3_bytes_per_s=bytes_per_s, zero3_rank_layer_s=rank_layer_s)
            return predict_row(row, fw_try)["predicted_step_s"]

        base_s = step_s(huge_bytes_per_s, 0.0)
        a.append([step_s(1.0, 0.0) - base_s, step_s(huge_bytes_per_s, 1.0) - base_s])
        y.append(predict_row(row)["measured_step_s"] - base_s)
    (s_per_byte, rank_layer_s), *_ = np.linalg.lstsq(np.array(a), np.array(y), rcond=None)
    if not (s_per_byte > 0 and rank_layer_s > 0):
        raise DataFileError(f"framework {name!r}: rows {', '.join(rows)} give non-positive terms "
                            f"({s_per_byte:.3g} s/byte, {rank_layer_s:.3g} s per rank-layer); fit on other rows")
    return 1.0 / float(s_per_byte), float(rank_layer_s)


def framework_leave_one_out(name: str, path: Path | str = REFERENCE_CSV) -> pd.DataFrame:
    """For each row the framework applies to: fit on all the others, predict it. Independent of which
    rows were chosen to fit the shipped terms; one row per held-out row with its error."""
    ref = pd.read_csv(path)
    ids = tuple(r.row_id for _, r in ref.iterrows() if _framework(r) == name)
    out = []
    for held in ids:
        bytes_per_s, rank_layer_s = fit_framework(name, tuple(r for r in ids if r != held), path)
        fw_fit = Framework(name, zero3_overlap=False, zero3_bytes_per_s=bytes_per_s, zero3_rank_layer_s=rank_layer_s)
        res = predict_row(ref[ref.row_id == held].iloc[0], fw_fit)
        out.append({"row_id": held, "error": res["error"]})
    return pd.DataFrame(out)


def summary(df: pd.DataFrame) -> dict[str, float]:
    return {"rows": int(len(df)), "median_abs_error": float(np.median(df.abs_error)),
            "mean_abs_error": float(df.abs_error.mean()), "max_abs_error": float(df.abs_error.max()),
            "p90_abs_error": float(df.abs_error.quantile(0.9)), "mean_signed_error": float(df.error.mean())}


def family_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per source family: rows, median |error|, mean signed error (positive: the model is optimistic), max |error|."""
    return df.groupby("family").agg(rows=("error", "size"), median_abs_error=("abs_error", "median"),
                                    mean_signed_error=("error", "mean"), max_abs_error=("abs_error", "max"))
