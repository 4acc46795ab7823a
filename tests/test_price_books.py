"""Price books: the default book prices every shipped datacenter accelerator, every price is a positive finite number,
and every book says where its numbers come from and when they were read.

The schema (catalog.schema.PriceBookFile) already refuses zero, negative and boolean prices and a book without
sources; it does not refuse an infinite price (YAML `.inf` passes PositiveFloat), an undated source text, a price for
an accelerator id that does not exist, or a shipped accelerator the default book cannot cost. These tests do.
"""

from __future__ import annotations

import math
import re

import pytest

from simulator import hardware_ids, load_price_book
from simulator.catalog.paths import PRICES_DIR
from simulator.catalog.prices import price_book_ids
from simulator.catalog.schema import PriceBookFile
from simulator.catalog.yamlio import read_yaml, validate_file
from simulator.vocab import DEFAULT_PRICE_BOOK

# Shipped profiles the default book may leave unpriced, each with the reason. Keep this short: a profile leaves the
# list as soon as a sourced price for it is added (test_exclusions_are_still_needed fails until it is removed here).
NOT_IN_DEFAULT_BOOK = {
    "host-cpu": "the 2-vCPU VM this project is measured on, not a datacenter accelerator rented by the GPU-hour",
    "h800-sxm-80gb": "export-control variant of the H100 sold for China; AWS, GCP, Azure and Oracle do not list it",
    "gaudi3": "no AWS, GCP, Azure or Oracle per-hour list price exists to cite (IBM Cloud was its launch cloud)",
    "tpu-v5p": "GCP lists it, but no dated per-chip-hour list price with a citable source was found yet (issue 17)",
}

_YEAR = re.compile(r"(19|20)\d\d")


def _book_file(book_id: str) -> PriceBookFile:
    path = PRICES_DIR / f"{book_id}.yaml"
    return validate_file(PriceBookFile, read_yaml(path), path)


def test_default_book_is_shipped():
    assert DEFAULT_PRICE_BOOK in price_book_ids()


@pytest.mark.parametrize("hw_id", [h for h in hardware_ids() if h not in NOT_IN_DEFAULT_BOOK])
def test_default_book_prices_every_shipped_accelerator(hw_id):
    """Without a price a training or serving estimate on this accelerator silently has no cost."""
    price = load_price_book().gpu_hour_usd(hw_id, "on_demand")
    assert math.isfinite(price) and price > 0, (
        f"{DEFAULT_PRICE_BOOK} has no on-demand $/GPU-hour for shipped profile {hw_id!r}: add a sourced price to "
        f"workloads/prices/{DEFAULT_PRICE_BOOK}.yaml, or list it in NOT_IN_DEFAULT_BOOK with the reason")


@pytest.mark.parametrize("hw_id", sorted(NOT_IN_DEFAULT_BOOK))
def test_exclusions_are_still_needed(hw_id):
    """Every exclusion names a shipped profile that still has no price, so the list cannot go stale."""
    assert hw_id in hardware_ids(), f"{hw_id!r} is no longer a shipped profile: drop it from NOT_IN_DEFAULT_BOOK"
    assert hw_id not in load_price_book().usd_per_gpu_hour, (
        f"{DEFAULT_PRICE_BOOK} now prices {hw_id!r}: drop it from NOT_IN_DEFAULT_BOOK")


@pytest.mark.parametrize("book_id", price_book_ids())
def test_every_price_is_positive_and_finite(book_id):
    book = load_price_book(book_id)
    assert book.usd_per_gpu_hour or book.owned
    for hw_id, options in book.usd_per_gpu_hour.items():
        assert options, f"{book_id}: {hw_id} has an entry with no price in it"
        for option, usd in options.items():
            assert math.isfinite(usd) and usd > 0, f"{book_id}: {hw_id} {option} = {usd!r}"
    for hw_id, owned in book.owned.items():
        for name in ("purchase_usd_per_gpu", "server_overhead_ratio", "amortisation_years"):
            value = getattr(owned, name)
            assert math.isfinite(value) and value > 0, f"{book_id}: owned {hw_id} {name} = {value!r}"
        for name in ("network_share_of_capex", "storage_usd_per_gpu", "facility_ops_usd_per_gpu_year"):
            value = getattr(owned, name)
            assert math.isfinite(value) and value >= 0, f"{book_id}: owned {hw_id} {name} = {value!r}"
    for name in ("electricity_usd_per_kwh", "pue", "grid_kg_co2e_per_kwh"):
        value = getattr(book, name)
        assert math.isfinite(value) and value > 0, f"{book_id}: {name} = {value!r}"


@pytest.mark.parametrize("book_id", price_book_ids())
def test_prices_name_shipped_accelerators(book_id):
    """A typo in a hardware id would leave the price unused and the accelerator unpriced."""
    book = load_price_book(book_id)
    unknown = (set(book.usd_per_gpu_hour) | set(book.owned)) - set(hardware_ids())
    assert not unknown, f"{book_id} prices ids with no hardware profile: {sorted(unknown)}"


@pytest.mark.parametrize("book_id", price_book_ids())
def test_every_book_has_dated_sources(book_id):
    f = _book_file(book_id)
    assert re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", f.price_date)
    assert f.sources, f"{book_id} names no sources"
    for src in f.sources:
        assert src.title.strip() and src.where.strip(), f"{book_id}: a source without a title or a place: {src}"
        assert _YEAR.search(src.date), f"{book_id}: source {src.title[:60]!r} has no year in its date {src.date!r}"
