"""Price books (dated, sourced), owned-cluster costs and rent vs buy, against hand calculations."""

from __future__ import annotations

import math

import pytest

import simulator as sim
from simulator import catalog
from simulator.catalog import hardware_ids
from simulator.core import cost
from simulator.errors import DataFileError, SimulatorError
from simulator.vocab import DEFAULT_PRICE_BOOK

BOOK_YAML = """schema_version: 1
kind: price_book
id: t
name: test book
price_date: "2025-03"
sources: [{title: t, where: w, date: "2025"}]
electricity_usd_per_kwh: 0.08
pue: 1.25
grid_kg_co2e_per_kwh: 0.4
usd_per_gpu_hour: {h100-sxm-80gb: {on_demand: 3.0, reserved_1y: 2.0}}
owned:
  h100-sxm-80gb: {purchase_usd_per_gpu: 33750, network_share_of_capex: 0.19, amortisation_years: 3.105}
"""


def test_shipped_books_are_valid_dated_and_sourced():
    ids = catalog.price_book_ids()
    assert {"hyperscaler-2025-03", "neocloud-2025-03", "owned-colo-2025-03", "aws-capacity-blocks-2024-12"} <= set(ids)
    hw = set(hardware_ids())
    for i in ids:
        b = catalog.load_price_book(i)
        assert b.price_date[:4].isdigit()
        assert set(b.usd_per_gpu_hour) <= hw and set(b.owned) <= hw
    assert catalog.load_price_book("hyperscaler-2025-03").gpu_hour_usd("h100-sxm-80gb") == 11.06


def test_epoch_worked_example_owned_h100_hour():
    # cluster_cost_reliability.md 5.3: $33,750 x 0.322 / 8,766 h = $1.24/h; / 0.81 for interconnect = $1.53/h
    owned = catalog.load_price_book("owned-colo-2025-03").owned_cost("h100-sxm-80gb")
    assert owned is not None
    assert 33750 / owned.amortisation_years / cost.HOURS_PER_YEAR == pytest.approx(1.24, abs=0.01)
    assert cost.owned_fixed_usd_per_gpu_hour(owned) == pytest.approx(1.53, abs=0.01)
    assert cost.owned_capex_usd_per_gpu(owned) == pytest.approx(33750 / 0.81)
    # energy: 0.7 kW x 1.82 x 0.75 x 1.25 x $0.08 = $0.096/h (the reference rounds to $0.10)
    book = catalog.load_price_book("owned-colo-2025-03")
    e = cost.energy_usd_per_busy_gpu_hour(700, 0.75, 1.82, book)
    assert e == pytest.approx(0.7 * 1.82 * 0.75 * 1.25 * 0.0826)
    assert cost.owned_fixed_usd_per_gpu_hour(owned) + e == pytest.approx(1.63, abs=0.01)


def test_busy_power_is_training_energy_per_second():
    assert cost.busy_gpu_facility_power_w(700, 0.75, 1.82, 1.1) == pytest.approx(700 * 0.75 * 1.82 * 1.1)
    assert cost.training_energy_j(3600.0, 8, 700, 0.75, 1.82, 1.1) == pytest.approx(
        3600 * 8 * cost.busy_gpu_facility_power_w(700, 0.75, 1.82, 1.1))


def test_break_even_utilization_hand_values():
    assert cost.break_even_utilization(1.5, 0.1, 3.1) == pytest.approx(0.5)  # 1.5 / (3.1 - 0.1)
    assert math.isinf(cost.break_even_utilization(1.5, 0.1, 0.1))
    assert cost.break_even_utilization(1.5, 0.1, 1.6) == pytest.approx(1.0)


def test_rent_vs_buy_totals(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(BOOK_YAML)
    r = sim.rent_vs_buy("h100-sxm-80gb", 1000, owned_book=path, option="on_demand", utilization=0.5, years=1.0)
    hours = cost.HOURS_PER_YEAR * 1000
    fixed = 33750 / 0.81 / 3.105 / cost.HOURS_PER_YEAR
    energy = 0.7 * 1.82 * 0.75 * 1.25 * 0.08
    assert r.rented_total_usd == pytest.approx(3.0 * hours * 0.5)  # on-demand bills busy hours only
    assert r.owned_total_usd == pytest.approx((fixed + 0.5 * energy) * hours)
    assert r.break_even_utilization == pytest.approx(fixed / (3.0 - energy))
    assert r.cheaper == ("own" if r.owned_total_usd < r.rented_total_usd else "rent")
    committed = sim.rent_vs_buy("h100-sxm-80gb", 1000, owned_book=path, option="reserved_1y", utilization=0.5,
                                 years=1.0)
    assert committed.rented_total_usd == pytest.approx(2.0 * hours)  # committed: every hour billed
    assert math.isnan(committed.break_even_utilization)
    assert r.to_dict()["gpus"] == 1000


def test_rent_vs_buy_with_a_purchase_only_book_rents_at_the_default_book(tmp_path):
    r = sim.rent_vs_buy("h100-sxm-80gb", 8, owned_book="owned-colo-2025-03")
    assert r.rent_book == DEFAULT_PRICE_BOOK
    assert r.rent_usd_per_gpu_hour == catalog.load_price_book(DEFAULT_PRICE_BOOK).gpu_hour_usd("h100-sxm-80gb")
    # an owned GPU the default book does not rent (h800: China-only, unpriced there) says where renting is priced
    book = (catalog.PRICES_DIR / "owned-colo-2025-03.yaml").read_text().replace(
        "owned:\n", "owned:\n  h800-sxm-80gb: {purchase_usd_per_gpu: 33750, network_share_of_capex: 0.19, "
        "amortisation_years: 3.105}\n", 1).replace("id: owned-colo-2025-03", "id: owned-h800")
    (tmp_path / "owned-h800.yaml").write_text(book)
    with pytest.raises(DataFileError, match="has no rental prices, so renting is priced from the default book"):
        sim.rent_vs_buy("h800-sxm-80gb", 8, owned_book=tmp_path / "owned-h800.yaml")


def test_owned_busy_gpu_hour_is_amortised_capex_facility_and_electricity(tmp_path):
    from simulator.catalog import load_hardware

    path = tmp_path / "t.yaml"
    path.write_text(BOOK_YAML)
    book, hw = catalog.load_price_book(path), load_hardware("h100-sxm-80gb")
    fixed = 33750 / 0.81 / 3.105 / cost.HOURS_PER_YEAR  # defaults: 1.0 server overhead, no storage or facility ops
    energy = 0.7 * hw.average_utilization_of_tdp * hw.server_to_gpu_power_ratio * 1.25 * 0.08
    assert cost.busy_gpu_hour_usd(book, hw, "owned") == pytest.approx(fixed + energy)
    assert cost.busy_gpu_hour_usd(book, hw, "on_demand") == 3.0
    assert math.isnan(cost.busy_gpu_hour_usd(book, load_hardware("a100-sxm-80gb"), "owned"))
    with pytest.raises(SimulatorError, match="purchase option 'owend' is not one of"):
        cost.busy_gpu_hour_usd(book, hw, "owend")


def test_rent_vs_buy_errors(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(BOOK_YAML)
    with pytest.raises(DataFileError, match="no 'owned' entry for 'a100-sxm-80gb'"):
        sim.rent_vs_buy("a100-sxm-80gb", 8, owned_book=path)
    with pytest.raises(DataFileError, match="no spot price"):
        sim.rent_vs_buy("h100-sxm-80gb", 8, owned_book=path, option="spot")
    for years in (-1.0, 0.0):
        with pytest.raises(SimulatorError, match="years must be a positive number"):
            sim.rent_vs_buy("h100-sxm-80gb", 8, owned_book=path, years=years)
    with pytest.raises(SimulatorError, match="utilization"):
        sim.rent_vs_buy("h100-sxm-80gb", 8, owned_book=path, utilization=1.5)


@pytest.mark.parametrize("edit, needle", [
    (lambda t: t.replace('price_date: "2025-03"\n', ""), "price_date"),
    (lambda t: t.replace('price_date: "2025-03"', 'price_date: "March 2025"'), "price_date"),
    (lambda t: t.replace("sources: [{title: t, where: w, date: \"2025\"}]\n", ""), "sources"),
    (lambda t: t.replace("sources: [{title: t, where: w, date: \"2025\"}]", "sources: []"), "sources"),
    (lambda t: t.replace("amortisation_years: 3.105", "amortisation_years: -1"), "amortisation_years"),
    (lambda t: t.replace("purchase_usd_per_gpu: 33750", "purchase_usd_per_gpu: 33750, colour: red"), "colour"),
])
def test_bad_price_books_name_the_field(tmp_path, edit, needle):
    path = tmp_path / "bad.yaml"
    path.write_text(edit(BOOK_YAML))
    with pytest.raises(DataFileError, match=needle):
        catalog.load_price_book(path)


def test_effective_cost_table_prices_owned_hardware():
    from simulator.catalog.reports import effective_cost_table

    t = effective_cost_table("owned-colo-2025-03")
    assert set(t["purchase"]) == {"owned"} and "h100-sxm-80gb" in set(t["hardware"])
    assert (t["usd_per_effective_pflop_hour"] > 0).all()
