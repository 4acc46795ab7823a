"""Error bands from leave-one-source-out residuals, their coverage, and the fitted stack figures written back.

`write_bands` writes workloads/stacks/error_bands.csv; `write_stack_fits` writes each fitted stack's
compute_efficiency_scale and step_overhead_s into its YAML. `make validate` checks both are current (a test too)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from simulator.catalog import STACKS_DIR, split_engine_ref
from simulator.catalog import bands as catalog_bands
from simulator.catalog.bands import BANDS_CSV, GAP_KIND, QUANTILES, band_is_usable, band_keys
from simulator.validation import inference as inference_validation
from simulator.validation import training as training_validation

TARGET_COVERAGE = 0.8  # the bands are 80% bands: 10th to 90th percentile
# factors tried, least first: below 1 narrows a band whose held-out coverage already exceeds the target (the
# inference bands did once 636 TensorRT-LLM rows from three documents pooled), above 1 widens it
WIDEN_STEPS = np.round(np.arange(0.5, 3.001, 0.01), 2)


def _groups(res: pd.DataFrame, group_col: str) -> list[tuple[str, pd.DataFrame]]:
    """Each family, for inference rows (an `arch` column) each group's rows of one architecture, each group
    (stack/engine) as a whole, and everything: the keys error_band looks up (band_keys)."""
    out = [(fam, d) for fam, d in res.groupby("family")]
    if "arch" in res:
        out += [(f"{g}|*|{a}", d) for (g, a), d in res.groupby([group_col, "arch"])]
    out += [(f"{g}|*|*", d) for g, d in res.groupby(group_col)]
    return out + [("*|*|*", res)]


def band_table(train: pd.DataFrame, every_infer: pd.DataFrame) -> pd.DataFrame:
    """One row per (kind, family key): rows, sources, the band (10th-90th percentile of the signed residuals,
    widened about its middle by the kind's factor `widen`, see widening) and the median; first one row (kind GAP_KIND,
    not widened) per known gap of `every_infer` (all_inference_residuals), the band its estimates get. The families'
    inference bands come from the other rows only (inference_residuals)."""
    rows = []
    infer = every_infer[every_infer["gap"].isna()].drop(columns="gap")
    for key, d in every_infer[every_infer["gap"].notna()].groupby("gap"):
        lo, hi = np.quantile(d["error"], QUANTILES)
        rows.append({"kind": GAP_KIND, "family": key, "rows": len(d), "sources": d["source"].nunique(),
                     "low": round(float(lo), 4), "high": round(float(hi), 4),
                     "median": round(float(np.median(d["error"])), 4), "widen": 1.0})
    for kind, res in (("training", train), ("inference", infer)):
        w = widening(res)
        for key, d in _groups(res, "stack"):
            lo, hi = np.quantile(d["error"], QUANTILES)
            mid, half = (lo + hi) / 2.0, (hi - lo) / 2.0
            rows.append({"kind": kind, "family": key, "rows": len(d), "sources": d["source"].nunique(),
                         "low": round(float(mid - w * half), 4), "high": round(float(mid + w * half), 4),
                         "median": round(float(np.median(d["error"])), 4), "widen": w})
    return pd.DataFrame(rows)


def inference_residuals() -> pd.DataFrame:
    """Check-row residuals of the configurations the model costs (not in catalog.bands.INFERENCE_GAPS), with the
    family columns bands need: the rows the inference bands and their widening come from."""
    every = all_inference_residuals()
    return every[every["gap"].isna()].drop(columns="gap")


def all_inference_residuals() -> pd.DataFrame:
    """Every check row's residual with the family columns and its INFERENCE_GAPS key (`gap`, None for most)."""
    rows = inference_validation.load_rows()
    df = inference_validation.validate(rows)
    df = df.assign(source=rows["source"].map(training_validation.source_document).to_numpy(),
                   hardware=rows["hardware"].to_numpy(),
                   n_gpus=(rows["tp"] * rows["pp"]).to_numpy(),
                   arch=[catalog_bands.architecture_slot(inference_validation.model_for(r).moe is not None)
                         for r in rows.itertuples(index=False)])
    df = df[df["split"] == "check"].copy()
    # time sense, as training: measured time / predicted time - 1 (a throughput's ratio is the other way round)
    rate = df["unit"].astype(str).str.contains("/s")
    df["error"] = np.where(rate, df["predicted"] / df["measured"], df["measured"] / df["predicted"]) - 1.0
    df["family"] = [catalog_bands.inference_family(e, h, a == "moe") for e, h, a in
                    zip(df["engine"], df["hardware"], df["arch"], strict=True)]
    df["stack"] = [split_engine_ref(e)[0] for e in df["engine"]]  # an engine version falls back to its family's rows
    gap = pd.Series([inference_validation.known_gap(r) for r in rows.itertuples(index=False)], index=rows.index)
    return df.assign(gap=gap.loc[df.index])


def _pool(rows: pd.DataFrame, key: str, own: str) -> pd.DataFrame:
    """The rows a band key covers: the own family's, or those of a group (stack/engine family) and architecture."""
    if key == own:
        return rows[rows["family"] == key]
    group, _, arch = key.split("|")
    keep = np.ones(len(rows), dtype=bool)
    if group != "*":
        keep &= (rows["stack"] == group).to_numpy()
    if arch != "*":
        keep &= (rows["arch"] == arch).to_numpy()
    return rows[keep]


def _row_keys(r) -> list[str]:
    """The band keys of one residual row (band_keys): an inference row has an `arch`, a training row a stack."""
    if hasattr(r, "arch"):
        return band_keys("inference", r.engine, r.hardware, int(r.n_gpus), r.arch == "moe")
    return band_keys("training", r.stack, r.hardware, int(r.n_gpus))


def _held_out_bands(res: pd.DataFrame) -> np.ndarray:
    """For every row, the (low, high) band its family gets without the row's own source, falling back through the
    wider groups as error_band does (band_keys; the last, every other row, needs no minimum)."""
    out = []
    for r in res.itertuples(index=False):
        others = res[res["source"] != r.source]
        keys = _row_keys(r)
        pool = others
        for key in keys[:-1]:
            cand = _pool(others, key, keys[0])
            if band_is_usable(len(cand), cand["source"].nunique()):
                pool = cand
                break
        out.append(np.quantile(pool["error"], QUANTILES))
    return np.asarray(out)


def _inside(res: pd.DataFrame, held: np.ndarray, widen: float) -> np.ndarray:
    """Whether each row falls in its held-out band widened by `widen` about the band's middle."""
    mid, half = held.mean(axis=1), (held[:, 1] - held[:, 0]) / 2.0
    e = res["error"].to_numpy()
    return (e >= mid - widen * half) & (e <= mid + widen * half)


def widening(res: pd.DataFrame, held: np.ndarray | None = None, target: float = TARGET_COVERAGE) -> float:
    """The least factor (on WIDEN_STEPS) that makes held-out bands cover `target` of the rows: the quantiles of
    pooled residuals are usually narrower than a new source's spread, which clusters (one setup, one bias), and
    wider where many sources pool."""
    held = _held_out_bands(res) if held is None else held
    return next((float(w) for w in WIDEN_STEPS if _inside(res, held, w).mean() >= target), float(WIDEN_STEPS[-1]))


def coverage(res: pd.DataFrame) -> float:
    """The bands' honest coverage: each row judged by its family's band without its own source, widened by the
    factor fitted on the other sources' rows (nested: no row's source sets the widening that judges it)."""
    held = _held_out_bands(res)
    inside = np.zeros(len(res), dtype=bool)
    for src in res["source"].unique():
        mine = (res["source"] == src).to_numpy()
        w = widening(res[~mine], held[~mine])
        inside[mine] = _inside(res[mine], held[mine], w)
    return float(inside.mean())


def write_bands() -> pd.DataFrame:
    """Recompute the bands from the shipped data and write error_bands.csv; returns the table."""
    table = band_table(training_validation.leave_one_source_out(), all_inference_residuals())
    table.to_csv(BANDS_CSV, index=False)
    return table


def write_stack_fits() -> dict[str, tuple[float, float, list[str]]]:
    """Write each fitted stack's scale and overhead (training_validation.fit_all) into its YAML, with the sources."""
    fits = training_validation.fit_all()
    for sid, (scale, overhead, sources) in fits.items():
        path = STACKS_DIR / f"{sid}.yaml"
        text = path.read_text()
        why = (f"least squares over every row of its {len(sources)} sources in simulator/validation/data "
               f"(simulator.validation.training.fit_all); leave-one-source-out errors in make validate")
        for key, value in (("compute_efficiency_scale", f"{scale:.4g}"), ("step_overhead_s", f"{overhead:.4g}")):
            text = re.sub(rf"  {key}: \{{value: [^,]+, source: \"[^\"]*\"\}}",
                          f'  {key}: {{value: {value}, source: "{why}"}}', text)
        text = re.sub(r"\nfitted_sources:.*(\n  - .*)*", "", text)
        text = text.rstrip("\n") + "\nfitted_sources:\n" + "".join(f"  - {s!r}\n" for s in sources)
        path.write_text(text)
    return fits


if __name__ == "__main__":  # `make fit-stacks`
    for sid, (scale, overhead, sources) in write_stack_fits().items():
        print(f"{sid}: compute_efficiency_scale {scale:.4g}, step_overhead_s {overhead:.4g} ({len(sources)} sources)")
    print(f"{len(write_bands())} bands written to {BANDS_CSV}")
