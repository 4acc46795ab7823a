"""Price books: dated USD per GPU-hour, electricity, PUE and carbon intensity (schema.PriceBook) to frozen
core.cost.PriceBook objects."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from simulator.catalog.paths import PRICES_DIR, resolve, shipped_ids
from simulator.catalog.schema import PriceBookFile
from simulator.catalog.yamlio import read_yaml, validate_file
from simulator.core.cost import OwnedCost, PriceBook
from simulator.vocab import DEFAULT_PRICE_BOOK


def price_book_ids() -> list[str]:
    """Ids of the shipped price books."""
    return shipped_ids(PRICES_DIR)


@lru_cache(maxsize=32)
def _load_cached(path_str: str, mtime: float) -> PriceBook:
    path = Path(path_str)
    f = validate_file(PriceBookFile, read_yaml(path), path)
    prices = {hw: {k: v for k, v in p.model_dump().items() if v is not None} for hw, p in f.usd_per_gpu_hour.items()}
    owned = {hw: OwnedCost(**o.model_dump()) for hw, o in f.owned.items()}
    return PriceBook(f.id, f.name, f.price_date, f.electricity_usd_per_kwh, f.pue, f.grid_kg_co2e_per_kwh, prices,
                     owned)


def load_price_book(ref: str | Path | PriceBook | None = None) -> PriceBook:
    """A price book by shipped id or path (None: the default book, DEFAULT_PRICE_BOOK)."""
    if isinstance(ref, PriceBook):
        return ref
    path = resolve(DEFAULT_PRICE_BOOK if ref is None else ref, PRICES_DIR, "price book")
    return _load_cached(str(path), path.stat().st_mtime)
