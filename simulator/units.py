"""The only home of unit conversion factors and of humanised display strings."""

from __future__ import annotations

import math
import numbers

GB = 1e9
TB = 1e12
GIB = 2.0**30
TFLOP = 1e12
TRILLION = 1e12  # counts (tokens) quoted in trillions
PFLOP = 1e15
SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = 86400.0
J_PER_KWH = 3.6e6


def _scaled(value: float, unit: str, steps: list[tuple[float, str]], digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    for factor, prefix in steps:
        if abs(value) >= factor:
            return f"{value / factor:.{digits}g} {prefix}{unit}"
    return f"{value:.{digits}g} {unit}"


_SI = [(1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]


_IEC = [(2.0**60, "Ei"), (2.0**50, "Pi"), (2.0**40, "Ti"), (2.0**30, "Gi"), (2.0**20, "Mi"), (2.0**10, "Ki")]


def human_bytes(value_bytes: float) -> str:
    """Binary bytes, the unit device memory is sized in (and the app's charts use): 80 * 2**30 -> '80 GiB'."""
    return _scaled(value_bytes, "B", _IEC)


def human_rate(value_per_s: float, unit: str = "B/s") -> str:
    """Decimal rate: 3.35e12 -> '3.35 TB/s'."""
    return _scaled(value_per_s, unit, _SI)


def human_flops(value_flop_per_s: float) -> str:
    return _scaled(value_flop_per_s, "FLOP/s", _SI)


def human_duration(value_s: float) -> str:
    """Seconds to the largest sensible unit: 2.5e6 -> '28.9 days'."""
    if value_s is None or (isinstance(value_s, float) and math.isnan(value_s)):
        return "n/a"
    for factor, name in [(SECONDS_PER_DAY * 365.25, "years"), (SECONDS_PER_DAY, "days"),
                         (SECONDS_PER_HOUR, "h"), (60.0, "min"), (1.0, "s"), (1e-3, "ms"),
                         (1e-6, "µs")]:
        if abs(value_s) >= factor:
            text = f"{value_s / factor:.3g}"
            if name in ("years", "days") and text == "1":
                name = name[:-1]  # "1 day", not "1 days"
            return f"{text} {name}"
    return f"{value_s * 1e9:.3g} ns"


def human_usd(value_usd: float) -> str:
    if value_usd is None or (isinstance(value_usd, float) and math.isnan(value_usd)):
        return "n/a"
    for factor, suffix in [(1e9, "B"), (1e6, "M"), (1e3, "k")]:
        if abs(value_usd) >= factor:
            return f"${value_usd / factor:.3g}{suffix}"
    return f"${value_usd:.2f}"


def human_count(value: float) -> str:
    """Compact count: 2_901_000 -> '2.9M', 0.0123 -> '0.0123'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    for factor, suffix in [(1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")]:
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def human_energy_kwh(value_kwh: float) -> str:
    """kWh to the largest sensible unit: 3.05e6 -> '3.05 GWh'."""
    return _scaled(value_kwh * 1e3, "Wh", _SI)


def human_mass_kg(value_kg: float) -> str:
    """kg to t/kt: 1.467e6 -> '1.47 kt'."""
    if value_kg is None or (isinstance(value_kg, float) and math.isnan(value_kg)):
        return "n/a"
    if abs(value_kg) >= 1e6:
        return f"{value_kg / 1e6:.3g} kt"
    if abs(value_kg) >= 1e3:
        return f"{value_kg / 1e3:.3g} t"
    return f"{value_kg:.3g} kg"


def json_safe(obj):
    """A copy of `obj` with every non-finite float (NaN, inf) as None and numpy numbers as Python numbers, so JSON
    output stays valid JSON."""
    if type(obj).__module__ == "numpy" and hasattr(obj, "item") and not hasattr(obj, "__len__"):
        obj = obj.item()  # a numpy scalar (np.bool_, np.float32, ...) as its Python value
    if isinstance(obj, bool):
        return obj
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def dumps_json(obj, **kw) -> str:
    """json.dumps for CLI output: indented, non-finite numbers as null (json_safe)."""
    import json

    return json.dumps(json_safe(obj), indent=2, allow_nan=False, **kw)
