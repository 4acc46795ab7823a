"""Routers: which replica an arriving request joins (pure functions of the replicas' queue lengths)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def route_round_robin(outstanding: np.ndarray, waiting: np.ndarray, counter: int, rng: np.random.Generator) -> int:
    """Replicas in turn (Vidur 'round_robin')."""
    return counter % len(outstanding)


def _first_least_in_turn(key: np.ndarray, counter: int) -> int:
    """The replica with the least key, ties broken in turn: the first least one from replica counter mod n on."""
    start = counter % len(key)
    return (start + int(np.concatenate((key[start:], key[:start])).argmin())) % len(key)


def route_least_outstanding(outstanding: np.ndarray, waiting: np.ndarray, counter: int, rng: np.random.Generator) -> int:
    """Fewest requests queued or running (Vidur 'lor'); ties broken in turn."""
    return _first_least_in_turn(outstanding, counter)


def route_jsq(outstanding: np.ndarray, waiting: np.ndarray, counter: int, rng: np.random.Generator) -> int:
    """Join the shortest waiting queue (Winston 1977), ties by fewest outstanding, then in turn."""
    return _first_least_in_turn(waiting * (outstanding.max() + 1) + outstanding, counter)


def route_random(outstanding: np.ndarray, waiting: np.ndarray, counter: int, rng: np.random.Generator) -> int:
    return int(rng.integers(len(outstanding)))


ROUTERS: dict[str, Callable[[np.ndarray, np.ndarray, int, np.random.Generator], int]] = {
    "round_robin": route_round_robin, "least_outstanding": route_least_outstanding, "jsq": route_jsq,
    "random": route_random,
}
