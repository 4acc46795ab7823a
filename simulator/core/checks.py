"""Argument checks the core's entry points share: one wording for every positive size, rate or count."""

from __future__ import annotations

import math
import numbers
from typing import Any

from simulator.errors import PlanError


def check_positive(name: str, value: Any, allow_none: bool = False, whole: bool = False) -> None:
    """A clear PlanError unless `value` is a positive finite number (a whole number when `whole`); names the flag."""
    if value is None and allow_none:
        return
    flag = f"--{name.replace('_', '-')}"
    what = "a positive whole number" if whole else "a positive number"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise PlanError(f"{flag} must be {what}, got {value!r} ({type(value).__name__})")
    number = float(value)
    if not (number > 0 and math.isfinite(number)):  # NaN and inf too
        raise PlanError(f"{flag} must be {what}, got {value!r}")
    if whole and number != int(number):
        raise PlanError(f"{flag} must be a whole number, got {value!r}")
