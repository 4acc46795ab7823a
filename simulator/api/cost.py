"""Rent-vs-buy with ids or paths: resolves the hardware and price books, then core.cost.rent_vs_buy."""

from __future__ import annotations

from pathlib import Path

from simulator.catalog import load_hardware, load_price_book
from simulator.core.cost import PriceBook, RentVsBuy
from simulator.core.cost import rent_vs_buy as _compare
from simulator.core.hardware import Accelerator
from simulator.vocab import DEFAULT_PRICE_BOOK


def rent_vs_buy(hardware: str | Path | Accelerator, gpus: int, *, owned_book: str | Path | PriceBook,
                rent_book: str | Path | PriceBook | None = None, option: str = "on_demand", utilization: float = 1.0,
                years: float | None = None) -> RentVsBuy:
    """Compare renting with owning `gpus` accelerators (core.cost.rent_vs_buy). Without `rent_book`, renting is
    priced from the owned book, or from the default book when the owned book has no rental prices."""
    own = load_price_book(owned_book)
    fallback = rent_book is None and not own.usd_per_gpu_hour  # a purchase-only book: rent at the default book
    rent = load_price_book(DEFAULT_PRICE_BOOK) if fallback else (own if rent_book is None else load_price_book(rent_book))
    return _compare(load_hardware(hardware), gpus, own=own, rent=rent, option=option, utilization=utilization,
                    years=years, rent_is_fallback=fallback)
