"""Typed result records. Every result says what it is (`kind`), gives its JSON contract (`to_dict()`), its record as
one row (`to_record()`: what `run_scenario` returns and sweeps store, lists left out, nested parts as mappings) and a
pandas table (`to_frame()`, nested parts as dotted columns). The CLI and the app choose how to show a result by its
kind."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar


def flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys (breakdown.compute); everything else as it is."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):  # records nest plain dicts (a Mapping ABC check costs 5x more per field)
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def frame(rows: list[dict[str, Any]]) -> Any:
    """Rows as a pandas DataFrame (pandas is imported only when a table is asked for)."""
    import pandas as pd

    return pd.DataFrame(rows)


@dataclass(frozen=True)
class RecordResult:
    """A result that is one record: fields read as attributes (`r.mfu`), `to_dict()` is its JSON contract."""

    record: Mapping[str, Any]
    kind: ClassVar[str] = "record"

    def __getattr__(self, name: str) -> Any:
        try:
            return self.record[name]
        except KeyError:
            raise AttributeError(name) from None

    def __dir__(self) -> list[str]:  # tab completion in Jupyter lists the result fields
        return sorted(set(super().__dir__()) | set(self.record))

    def to_dict(self) -> dict[str, Any]:
        return dict(self.record)

    def to_record(self) -> dict[str, Any]:
        return dict(self.record)

    def to_frame(self) -> Any:
        """One row, nested parts as dotted columns."""
        return frame([flatten(self.to_record())])
