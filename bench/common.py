"""Helpers shared by both sides of the benchmark: summary statistics and the per-side result record."""

from __future__ import annotations

import math
import statistics
from typing import Any

__all__ = ["p95", "median", "mean", "per_op", "summary"]


def p95(values: list[float]) -> float:
    """The 95th percentile (nearest rank); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def median(values: list[float]) -> float:
    """The median; NaN for no values."""
    return statistics.median(values) if values else float("nan")


def mean(values: list[float]) -> float:
    """The mean; NaN for no values."""
    return statistics.fmean(values) if values else float("nan")


def per_op(before: dict[str, int], after: dict[str, int], ops: int) -> dict[str, float]:
    """Counter deltas divided by the number of operations."""
    names = sorted(set(before) | set(after))
    return {k: (after.get(k, 0) - before.get(k, 0)) / ops for k in names if ops}


def summary(
    n: int,
    *,
    join_seconds: list[float],
    join_datagrams: list[int],
    put_seconds: list[float],
    put_datagrams: list[int],
    get_seconds: list[float],
    get_datagrams: list[int],
    get_success: int,
    puts: int,
    set_failures: int,
) -> dict[str, Any]:
    """The figures both sides report, from the per-operation measurements."""
    return {
        "n": n,
        "join_seconds_mean": mean(join_seconds),
        "put_median": median(put_seconds),
        "put_p95": p95(put_seconds),
        "get_median": median(get_seconds),
        "get_p95": p95(get_seconds),
        "get_success": get_success,
        "gets": len(get_seconds),
        "puts": puts,
        "set_failures": set_failures,
        "datagrams_per_put": mean(put_datagrams),
        "datagrams_per_get": mean(get_datagrams),
        "datagrams_per_join": mean(join_datagrams),
        "get_local_hits": sum(1 for d in get_datagrams if d == 0),
    }
