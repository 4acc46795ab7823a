"""Error bands: how far published runs of a prediction's family fell from the model's predictions, read from
workloads/stacks/error_bands.csv (written by `simulator.validation.bands.write_bands` from the shipped validation
data, leave-one-source-out). A family is stack (or serving engine) x hardware generation x scale."""

from __future__ import annotations

import csv
from functools import lru_cache
from typing import Any

from simulator.catalog.paths import STACKS_DIR

BANDS_CSV = STACKS_DIR / "error_bands.csv"
# hardware generation of each profile id prefix (longest prefix wins); unknown ids form their own generation
GENERATIONS = {"a100": "ampere", "h100": "hopper", "h200": "hopper", "h800": "hopper", "b200": "blackwell",
               "gb200": "blackwell", "l40s": "ada", "mi300x": "cdna3", "tpu-v5": "tpu-v5", "gaudi3": "gaudi3"}
LARGE_GPUS = 64  # scale: up to 64 GPUs (a few nodes) or more
MIN_ROWS = 5  # fewer rows (or one source) and a family borrows a wider group's band, marked calibrated: false
QUANTILES = (0.1, 0.9)  # the band: 10th to 90th percentile of signed residuals


def generation(hardware_id: str) -> str:
    """The hardware generation a profile id belongs to (its own id when unknown)."""
    best = max((p for p in GENERATIONS if hardware_id.startswith(p)), key=len, default=None)
    return GENERATIONS[best] if best else hardware_id


def band_family(group: str, hardware_id: str, gpus: int) -> str:
    """The family key: stack or engine | generation | scale."""
    return f"{group}|{generation(hardware_id)}|{'large' if gpus > LARGE_GPUS else 'small'}"


@lru_cache(maxsize=4)
def _table(mtime: float) -> dict[tuple[str, str], dict[str, str]]:
    """The bands file keyed by (kind, family) (csv, not pandas: `simulator train` stays quick to start)."""
    with open(BANDS_CSV, newline="") as f:
        return {(r["kind"], r["family"]): r for r in csv.DictReader(f)}


def error_band(kind: str, group: str, hardware_id: str, gpus: int) -> dict[str, Any]:
    """The band for one prediction: signed relative error quantiles `low`/`high` (measured / predicted - 1), the
    family, its rows, `calibrated` and, when not, the reason. `kind` is training or inference."""
    family = band_family(group, hardware_id, gpus)
    if not BANDS_CSV.is_file():
        return {"family": family, "low": None, "high": None, "rows": 0, "calibrated": False,
                "reason": f"no error bands file ({BANDS_CSV.name}); run make validate"}
    table = _table(BANDS_CSV.stat().st_mtime)
    for key, why in ((family, ""), (f"{group}|*|*", f"family {family} has fewer than {MIN_ROWS} published rows "
                                                     f"from two sources; band of all {group} rows"),
                     ("*|*|*", f"{group} has fewer than {MIN_ROWS} published rows; band of all {kind} rows")):
        if (kind, key) in table:
            r = table[(kind, key)]
            if int(r["rows"]) >= MIN_ROWS and (key.startswith("*") or int(r["sources"]) >= 2):
                return {"family": family, "low": float(r["low"]), "high": float(r["high"]), "rows": int(r["rows"]),
                        "calibrated": not why, "reason": why}
    return {"family": family, "low": None, "high": None, "rows": 0, "calibrated": False,
            "reason": f"no published {kind} rows to set a band"}
