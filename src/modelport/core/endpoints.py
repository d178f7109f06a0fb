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
from modelport.core.rollout import RolloutPlan, RolloutPolicy, RolloutStatus
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
    rollout: RolloutPlan | None = None
    """The rollout in progress or last run; its baseline and candidate are routes while it runs."""
    rollout_policy: RolloutPolicy | None = None
    """When set, a move of an alias this endpoint routes by goes through a rollout."""

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
        if self.rollout is not None and self.rollout.running:
            for target in (self.rollout.baseline, self.rollout.candidate):
                if str(target) not in primaries:
                    raise InvalidInput(f"a running rollout's {target} must be a route of the endpoint")

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "routes": [r.to_dict() for r in self.routes],
            "shadows": [s.to_dict() for s in self.shadows],
        }
        if self.rollout is not None:
            data["rollout"] = self.rollout.to_dict()
        if self.rollout_policy is not None:
            data["rollout_policy"] = self.rollout_policy.to_dict()
        return data

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
        rollout = RolloutPlan.from_dict(data["rollout"]) if data.get("rollout") else None
        policy = RolloutPolicy.from_dict(data["rollout_policy"]) if data.get("rollout_policy") else None
        return cls(routes=routes, shadows=shadows, rollout=rollout, rollout_policy=policy)

    def with_routes(self, routes: Sequence[RouteSpec]) -> EndpointConfig:
        """These routes, the same shadows (minus any that became a route)."""
        labels = {str(r.target) for r in routes}
        shadows = tuple(s for s in self.shadows if str(s.target) not in labels)
        return EndpointConfig(
            tuple(routes), shadows, self._rollout_after_manual_change(), self.rollout_policy
        )

    def with_rollout(self, routes: Sequence[RouteSpec], rollout: RolloutPlan) -> EndpointConfig:
        return EndpointConfig(tuple(routes), self.shadows, rollout, self.rollout_policy)

    def with_policy(self, policy: RolloutPolicy | None) -> EndpointConfig:
        return EndpointConfig(self.routes, self.shadows, self.rollout, policy)

    def _rollout_after_manual_change(self) -> RolloutPlan | None:
        """A manual routing change ends a running rollout (it would fight the change)."""
        if self.rollout is None or not self.rollout.running:
            return self.rollout
        return self.rollout.ended(RolloutStatus.ABORTED, "routes changed by hand")

    def promoted(self, target: Target) -> EndpointConfig:
        """All traffic to ``target``."""
        return self.with_routes([RouteSpec(target, 100)])

    def with_shadow(self, shadow: ShadowSpec) -> EndpointConfig:
        """``shadow`` added, or its percent changed if it is already a shadow."""
        others = tuple(s for s in self.shadows if str(s.target) != str(shadow.target))
        return EndpointConfig(self.routes, (*others, shadow), self.rollout, self.rollout_policy)

    def without_shadow(self, target: Target) -> EndpointConfig:
        remaining = tuple(s for s in self.shadows if str(s.target) != str(target))
        if len(remaining) == len(self.shadows):
            raise InvalidInput(f"{target} is not a shadow of this endpoint")
        return EndpointConfig(self.routes, remaining, self.rollout, self.rollout_policy)


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
