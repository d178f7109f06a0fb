"""Mergeable summaries: what each server process writes to the registry so that any process can
report on the traffic of all of them.

Each summary is kept as its sufficient statistics, never as a ratio: merging two summaries gives
exactly the summary of the two streams of observations taken together (``merge(a, b)`` equals
the summary of ``a``'s traffic followed by ``b``'s). ``to_json``/``from_json`` carry them through
the registry as plain JSON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LatencySketch", "Moments"]

_RELATIVE_ACCURACY = 0.01
_GAMMA = (1 + _RELATIVE_ACCURACY) / (1 - _RELATIVE_ACCURACY)
_LOG_GAMMA = math.log(_GAMMA)
_SMALLEST = 1e-9
"""Seconds; anything at or below it counts as zero."""


@dataclass
class LatencySketch:
    """Quantiles of non-negative values within 1 % relative error, in log-spaced buckets
    (the DDSketch construction: Masson, Rim & Lee 2019). Merging adds bucket counts."""

    zero: int = 0
    buckets: dict[int, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return self.zero + sum(self.buckets.values())

    def add(self, value: float) -> None:
        if not math.isfinite(value):
            return
        if value <= _SMALLEST:
            self.zero += 1
            return
        index = math.ceil(math.log(value) / _LOG_GAMMA)
        self.buckets[index] = self.buckets.get(index, 0) + 1

    def quantile(self, q: float) -> float | None:
        """The value at quantile ``q`` (0..1), within 1 % of the exact one; None when empty."""
        total = self.count
        if total == 0:
            return None
        rank = q * (total - 1)
        seen = self.zero
        if rank < seen:
            return 0.0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if rank < seen:
                return _representative(index)
        return _representative(max(self.buckets))

    def values(self) -> list[float]:
        """Every value counted, each as its bucket's representative (within 1 % of it), in order."""
        values = [0.0] * self.zero
        for index in sorted(self.buckets):
            values += [_representative(index)] * self.buckets[index]
        return values

    def merge(self, other: LatencySketch) -> LatencySketch:
        buckets = dict(self.buckets)
        for index, n in list(other.buckets.items()):
            buckets[index] = buckets.get(index, 0) + n
        return LatencySketch(self.zero + other.zero, buckets)

    def to_json(self) -> dict[str, Any]:
        return {"zero": self.zero, "buckets": {str(i): n for i, n in list(self.buckets.items())}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LatencySketch:
        return cls(int(data["zero"]), {int(i): int(n) for i, n in data["buckets"].items()})


def _representative(index: int) -> float:
    """The value a bucket stands for: within 1 % of every value in it."""
    return 2.0 * _GAMMA**index / (_GAMMA + 1.0)


@dataclass
class Moments:
    """Count, mean and sum of squared deviations of one series (Welford; merged with Chan et al.'s
    pairwise formula, exact up to rounding)."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, value: float) -> None:
        self.n += 1
        delta = value - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (value - self.mean)

    def std(self) -> float | None:
        """The sample standard deviation; None below two values."""
        return math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else None

    def merge(self, other: Moments) -> Moments:
        n = self.n + other.n
        if n == 0:
            return Moments()
        delta = other.mean - self.mean
        mean = self.mean + delta * other.n / n
        return Moments(n, mean, self.m2 + other.m2 + delta * delta * self.n * other.n / n)

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "mean": self.mean, "m2": self.m2}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Moments:
        return cls(int(data["n"]), float(data["mean"]), float(data["m2"]))
