"""Endpoints: a named routing configuration that clients call like a model.

An endpoint sends each request to one of its routes, chosen by weight (or by a routing key, so a
user stays on one variant), and mirrors a sampled share of its traffic to shadow targets whose
answers are compared with the primary's and never returned. Targets are ``MODEL:VERSION`` or
``MODEL@ALIAS``; an alias is followed wherever it moves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelport.core.errors import InvalidInput
from modelport.core.targets import Target

__all__ = ["EndpointConfig", "RouteSpec", "ShadowSpec", "parse_weighted"]


@dataclass(frozen=True, slots=True)
class RouteSpec:
    target: Target
    weight: int

    def __post_init__(self) -> None:
        if self.target.ref is None:
            raise InvalidInput(
                f"route {self.target}: name a version or an alias, e.g. iris:2 or iris@production"
            )
        if isinstance(self.weight, bool) or not isinstance(self.weight, int) or self.weight < 0:
            raise InvalidInput(
                f"route {self.target}: the weight must be an integer >= 0, got {self.weight!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {"target": str(self.target), "weight": self.weight}


@dataclass(frozen=True, slots=True)
class ShadowSpec:
    target: Target
    percent: float
    """Share of the endpoint's requests mirrored to this target, 0-100."""

    def __post_init__(self) -> None:
        if self.target.ref is None:
            raise InvalidInput(f"shadow {self.target}: name a version or an alias, e.g. iris:3")
        if not 0 <= self.percent <= 100:
            raise InvalidInput(f"shadow {self.target}: percent must be between 0 and 100, got {self.percent}")

    def to_dict(self) -> dict[str, Any]:
        return {"target": str(self.target), "percent": self.percent}


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    routes: tuple[RouteSpec, ...]
    shadows: tuple[ShadowSpec, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.routes:
            raise InvalidInput("an endpoint needs at least one route")
        if sum(route.weight for route in self.routes) <= 0:
            raise InvalidInput("the route weights must add up to more than 0")
        primaries = [str(route.target) for route in self.routes]
        if len(set(primaries)) != len(primaries):
            raise InvalidInput(f"a target appears twice among the routes: {primaries}")
        for shadow in self.shadows:
            if str(shadow.target) in primaries:
                raise InvalidInput(
                    f"{shadow.target} is a route of this endpoint; it cannot also be its shadow"
                )
        shadows = [str(shadow.target) for shadow in self.shadows]
        if len(set(shadows)) != len(shadows):
            raise InvalidInput(f"a target appears twice among the shadows: {shadows}")

    def to_dict(self) -> dict[str, Any]:
        return {"routes": [r.to_dict() for r in self.routes], "shadows": [s.to_dict() for s in self.shadows]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EndpointConfig:
        try:
            routes = tuple(RouteSpec(Target.parse(r["target"]), r["weight"]) for r in data["routes"])
            shadows = tuple(
                ShadowSpec(Target.parse(s["target"]), float(s["percent"])) for s in data.get("shadows", ())
            )
        except (KeyError, TypeError, ValueError):
            raise InvalidInput(
                "an endpoint config is {'routes': [{'target', 'weight'}], 'shadows': [{'target', 'percent'}]}"
            ) from None
        return cls(routes=routes, shadows=shadows)

    def with_weights(self, weights: Sequence[RouteSpec]) -> EndpointConfig:
        """The same shadows with these routes (a weight change, a promotion)."""
        return EndpointConfig(routes=tuple(weights), shadows=self.shadows)


def parse_weighted(text: str, what: str = "route") -> tuple[Target, float]:
    """``iris:1=90`` or ``iris@candidate=10`` to (target, number); a missing ``=N`` is an error."""
    target, sep, number = text.rpartition("=")
    if not sep or not target:
        raise InvalidInput(f"{what} {text!r}: write TARGET=NUMBER, e.g. iris:1=90")
    try:
        value = float(number)
    except ValueError:
        raise InvalidInput(f"{what} {text!r}: {number!r} is not a number") from None
    return Target.parse(target), value
