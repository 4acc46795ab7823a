"""Price books, energy and carbon: the cost formulas every result applies (pure; price books are loaded by
simulator.catalog.prices)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from simulator.core.hardware import Accelerator
from simulator.errors import DataFileError, SimulatorError
from simulator.results import frame
from simulator.units import J_PER_KWH, SECONDS_PER_DAY, SECONDS_PER_HOUR
from simulator.vocab import COST_OPTIONS, HOURLY_OPTIONS, PURCHASE_OPTIONS

HOURS_PER_YEAR = 365.25 * SECONDS_PER_DAY / SECONDS_PER_HOUR


@dataclass(frozen=True, slots=True)
class OwnedCost:
    """Purchase-side figures for one accelerator (see catalog.schema.OwnedGpuCost for the meaning of each)."""

    purchase_usd_per_gpu: float
    server_overhead_ratio: float
    network_share_of_capex: float
    storage_usd_per_gpu: float
    amortisation_years: float
    facility_ops_usd_per_gpu_year: float


@dataclass(frozen=True, slots=True)
class PriceBook:
    id: str
    name: str
    price_date: str
    electricity_usd_per_kwh: float
    pue: float
    grid_kg_co2e_per_kwh: float
    usd_per_gpu_hour: dict[str, dict[str, float]]
    owned: dict[str, OwnedCost] = field(default_factory=dict)

    def gpu_hour_usd(self, hardware_id: str, option: str = "on_demand") -> float:
        """USD per GPU-hour, NaN when the book has no price for this hardware and option."""
        value = self.usd_per_gpu_hour.get(hardware_id, {}).get(option)
        return float("nan") if value is None else float(value)

    def owned_cost(self, hardware_id: str) -> OwnedCost | None:
        """Purchase figures for an accelerator, None when the book has none."""
        return self.owned.get(hardware_id)


def energy_kwh(energy_j: float) -> float:
    return energy_j / J_PER_KWH


def carbon_kg(energy_kwh_value: float, book: PriceBook) -> float:
    """Operational emissions: facility energy x grid carbon intensity (location-based)."""
    return energy_kwh_value * book.grid_kg_co2e_per_kwh


def usd_per_million_tokens(usd_per_hour, tokens_per_s):
    """Cost of a million tokens for a fleet billed `usd_per_hour` that sustains `tokens_per_s` (broadcasts)."""
    return usd_per_hour / (tokens_per_s * SECONDS_PER_HOUR) * 1e6


def training_energy_j(time_s, gpus, tdp_w: float, average_utilization_of_tdp: float,
                      server_to_gpu_power_ratio: float, pue: float):
    """Facility energy: GPUs x TDP x average utilisation x server/GPU power ratio x PUE x time
    (Epoch AI, Cottier et al. 2024 arXiv 2405.21015, energy cost section). Broadcasts over arrays."""
    return time_s * gpus * tdp_w * average_utilization_of_tdp * server_to_gpu_power_ratio * pue


# ---------------------------------------------------------------- owned clusters and rent vs buy
def busy_gpu_facility_power_w(tdp_w: float, average_utilization_of_tdp: float, server_to_gpu_power_ratio: float,
                              pue: float) -> float:
    """Facility power drawn per busy GPU (W): the one-GPU, one-second case of training_energy_j (Epoch AI)."""
    return float(training_energy_j(1.0, 1, tdp_w, average_utilization_of_tdp, server_to_gpu_power_ratio, pue))


def owned_capex_usd_per_gpu(owned: OwnedCost) -> float:
    """All-in capital cost per GPU: purchase x server overhead / (1 - interconnect share) + storage
    (Epoch AI TCO structure, Cottier et al. 2024 arXiv 2405.21015: server 1.64x chip, interconnect 19 % of cluster)."""
    return owned.purchase_usd_per_gpu * owned.server_overhead_ratio / (1.0 - owned.network_share_of_capex) \
        + owned.storage_usd_per_gpu


def owned_fixed_usd_per_gpu_hour(owned: OwnedCost) -> float:
    """Straight-line amortised capex plus facility/operations, per installed GPU-hour (paid whether used or not)."""
    return (owned_capex_usd_per_gpu(owned) / owned.amortisation_years + owned.facility_ops_usd_per_gpu_year) \
        / HOURS_PER_YEAR


def energy_usd_per_busy_gpu_hour(tdp_w: float, average_utilization_of_tdp: float, server_to_gpu_power_ratio: float,
                                 book: PriceBook) -> float:
    """Electricity bill of one busy GPU-hour: facility power x 1 h x the book's $/kWh."""
    power_w = busy_gpu_facility_power_w(tdp_w, average_utilization_of_tdp, server_to_gpu_power_ratio, book.pue)
    return energy_kwh(power_w * SECONDS_PER_HOUR) * book.electricity_usd_per_kwh


def busy_gpu_hour_usd(book: PriceBook, hw: Accelerator, option: str = "on_demand") -> float:
    """USD for one GPU-hour of work: the book's rental price, or for 'owned' the amortised capex and facility share
    plus the electricity of a busy hour (owned_fixed_usd_per_gpu_hour + energy_usd_per_busy_gpu_hour, Epoch AI
    TCO structure) - the cost of a run on hardware already owned, idle time not charged. NaN without a figure."""
    if option not in COST_OPTIONS:
        raise SimulatorError(f"purchase option {option!r} is not one of {', '.join(COST_OPTIONS)}")
    if option != "owned":
        return book.gpu_hour_usd(hw.id, option)
    owned = book.owned_cost(hw.id)
    if owned is None:
        return float("nan")
    return owned_fixed_usd_per_gpu_hour(owned) + energy_usd_per_busy_gpu_hour(
        hw.tdp_w, hw.average_utilization_of_tdp, hw.server_to_gpu_power_ratio, book)


def break_even_utilization(fixed_usd_per_gpu_hour: float, energy_usd_per_busy_gpu_hour: float,
                           rent_usd_per_gpu_hour: float) -> float:
    """Share of hours a GPU must be busy for owning to cost less than renting by the hour:
    fixed + u x energy = u x rent  =>  u* = fixed / (rent - energy); inf when rent <= energy."""
    margin = rent_usd_per_gpu_hour - energy_usd_per_busy_gpu_hour
    return math.inf if margin <= 0 else fixed_usd_per_gpu_hour / margin


@dataclass(frozen=True, slots=True)
class RentVsBuy:
    """Cost of the same GPU-hours rented or owned over a period; `to_dict()` for JSON."""

    hardware_id: str
    gpus: int
    years: float
    utilization: float
    rent_book: str
    rent_option: str
    rent_usd_per_gpu_hour: float
    owned_capex_usd_per_gpu: float
    owned_fixed_usd_per_gpu_hour: float
    energy_usd_per_busy_gpu_hour: float
    rented_total_usd: float
    owned_total_usd: float
    break_even_utilization: float
    cheaper: str
    kind: ClassVar[str] = "rent_vs_buy"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    to_record = to_dict  # flat already: the record is the dict

    def to_frame(self) -> Any:
        """The comparison as one row."""
        return frame([self.to_dict()])


def rent_vs_buy(hw: Accelerator, gpus: int, *, own: PriceBook, rent: PriceBook, option: str = "on_demand",
                utilization: float = 1.0, years: float | None = None, rent_is_fallback: bool = False) -> RentVsBuy:
    """Compare renting with owning `gpus` accelerators for `years` (default: the amortisation period) at a
    utilisation (share of hours busy). Hourly options (on_demand, spot) bill only busy hours; committed options
    (reserved_1y/3y) bill every hour. Owned: amortised capex + facility/ops every hour, electricity when busy.
    Costs scale linearly with cluster size (per-GPU shares of network and storage). `rent_is_fallback`: the rent
    book stands in for an owned book without rental prices (the message then says so)."""
    if option not in PURCHASE_OPTIONS:
        raise SimulatorError(f"rent option {option!r} is not one of {', '.join(PURCHASE_OPTIONS)}")
    if not 0.0 <= utilization <= 1.0:
        raise SimulatorError(f"utilization must be within [0, 1], got {utilization!r}")
    if gpus <= 0:
        raise SimulatorError(f"gpus must be a positive integer, got {gpus!r}")
    if years is not None and not (years > 0 and math.isfinite(years)):
        raise SimulatorError(f"years must be a positive number (or None for the amortisation period), got {years!r}")
    owned = own.owned_cost(hw.id)
    if owned is None:
        have = ", ".join(sorted(own.owned)) or "none"
        raise DataFileError(f"price book {own.id!r} has no 'owned' entry for {hw.id!r} (it has: {have}); "
                            "add one under 'owned:' or pick another book")
    price = rent.gpu_hour_usd(hw.id, option)
    if math.isnan(price):
        via = f" ({own.id!r} has no rental prices, so renting is priced from the default book)" if rent_is_fallback else ""
        raise DataFileError(f"price book {rent.id!r} has no {option} price for {hw.id!r}{via}; pass a rent book "
                            "that has one, or another option")
    period_years = owned.amortisation_years if years is None else float(years)
    hours = period_years * HOURS_PER_YEAR * gpus
    fixed = owned_fixed_usd_per_gpu_hour(owned)
    energy = energy_usd_per_busy_gpu_hour(hw.tdp_w, hw.average_utilization_of_tdp, hw.server_to_gpu_power_ratio, own)
    billed_share = utilization if option in HOURLY_OPTIONS else 1.0
    rented = price * hours * billed_share
    owned_total = (fixed + utilization * energy) * hours
    be = break_even_utilization(fixed, energy, price) if option in HOURLY_OPTIONS else float("nan")
    return RentVsBuy(hw.id, int(gpus), period_years, float(utilization), rent.id, option, price,
                     owned_capex_usd_per_gpu(owned), fixed, energy, rented, owned_total, be,
                     "own" if owned_total < rented else "rent")
