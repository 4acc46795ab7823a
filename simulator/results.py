"""Result records: a dict with attribute access, `to_dict()` for JSON and tab completion in Jupyter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RecordResult:
    """One result as a flat record; fields read as attributes (`r.mfu`) or via `to_dict()`."""

    record: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.record[name]
        except KeyError:
            raise AttributeError(name) from None

    def __dir__(self) -> list[str]:  # tab completion in Jupyter lists the result fields
        return sorted(set(super().__dir__()) | set(self.record))

    def to_dict(self) -> dict[str, Any]:
        return dict(self.record)
