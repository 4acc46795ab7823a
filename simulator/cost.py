"""Price books, energy and carbon (the cost side of every result)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pydantic import ValidationError

from .catalog import ROOT, _resolve, format_validation_error, read_yaml
from .errors import DataFileError
from .units import J_PER_KWH

PRICES_DIR = ROOT / "workloads" / "prices"
DEFAULT_PRICE_BOOK = "hyperscaler-2025-03"
PURCHASE_OPTIONS = ("on_demand", "reserved_1y", "reserved_3y", "spot")


@dataclass(frozen=True, slots=True)
class PriceBook:
    id: str
    name: str
    price_date: str
    electricity_usd_per_kwh: float
    pue: float
    grid_kg_co2e_per_kwh: float
    usd_per_gpu_hour: dict[str, dict[str, float]]

    def gpu_hour_usd(self, hardware_id: str, option: str = "on_demand") -> float:
        """USD per GPU-hour, NaN when the book has no price for this hardware and option."""
        value = self.usd_per_gpu_hour.get(hardware_id, {}).get(option)
        return float("nan") if value is None else float(value)


def price_book_ids() -> list[str]:
    return sorted(p.stem for p in PRICES_DIR.glob("*.yaml"))


@lru_cache(maxsize=32)
def _load(path_str: str, mtime: float) -> PriceBook:
    from .schema import PriceBook as PriceBookFile

    path = Path(path_str)
    try:
        f = PriceBookFile.model_validate(read_yaml(path))
    except ValidationError as exc:
        raise DataFileError(format_validation_error(path, exc)) from None
    prices = {hw: {k: v for k, v in p.model_dump().items() if v is not None} for hw, p in f.usd_per_gpu_hour.items()}
    return PriceBook(f.id, f.name, f.price_date, f.electricity_usd_per_kwh, f.pue, f.grid_kg_co2e_per_kwh, prices)


def load_price_book(ref: str | Path | PriceBook = DEFAULT_PRICE_BOOK) -> PriceBook:
    """A price book by shipped id or path."""
    if isinstance(ref, PriceBook):
        return ref
    path = _resolve(ref, PRICES_DIR, "price book")
    return _load(str(path), path.stat().st_mtime)


def energy_kwh(energy_j: float) -> float:
    return energy_j / J_PER_KWH


def carbon_kg(energy_kwh_value: float, book: PriceBook) -> float:
    """Operational emissions: facility energy x grid carbon intensity (location-based)."""
    return energy_kwh_value * book.grid_kg_co2e_per_kwh


def rental_cost_usd(gpu_hours: float, hardware_id: str, book: PriceBook, option: str = "on_demand") -> float:
    """GPU-hours x the book's price; NaN if the book has no price for the hardware."""
    price = book.gpu_hour_usd(hardware_id, option)
    return gpu_hours * price if not math.isnan(price) else float("nan")


def training_energy_j(time_s, gpus, tdp_w: float, average_utilization_of_tdp: float,
                      server_to_gpu_power_ratio: float, pue: float):
    """Facility energy: GPUs x TDP x average utilisation x server/GPU power ratio x PUE x time
    (Epoch AI, Cottier et al. 2024 arXiv 2405.21015, energy cost section). Broadcasts over arrays."""
    return time_s * gpus * tdp_w * average_utilization_of_tdp * server_to_gpu_power_ratio * pue
