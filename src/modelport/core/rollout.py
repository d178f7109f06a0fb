"""A rollout plan: move traffic from a baseline to a candidate in steps while guardrails hold.

The plan lives in its endpoint's config, so every step, rollback or promotion is a new revision
in the endpoint's history. Guardrail margins are absolute differences of rates, canary minus
baseline: the share of failed requests, the share of requests slower than the baseline's p99,
and (when ground truth arrives) the share of wrong predictions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

from modelport.core.errors import InvalidInput
from modelport.core.targets import Target

__all__ = ["DEFAULT_STEPS", "Guardrails", "RolloutPlan", "RolloutPolicy", "RolloutStatus"]

DEFAULT_STEPS = (5, 25, 50, 100)


class RolloutStatus(StrEnum):
    RUNNING = "running"
    PASSED = "passed"
    ROLLED_BACK = "rolled_back"
    ABORTED = "aborted"


@dataclass(frozen=True, slots=True)
class Guardrails:
    max_error_increase: float = 0.02
    max_slow_increase: float = 0.05
    max_wrong_increase: float = 0.05
    alpha: float = 0.05
    """Chance, for the three guardrails together, of rolling back a canary within all margins
    (each guardrail's test gets a third of it)."""
    beta: float = 0.05
    """Chance, for each of the error-rate and latency guardrails, of promoting a canary worse than
    half its margin."""
    max_seconds: float = 86_400.0
    """A plan still running this long after it began is rolled back: not shown good enough."""
    max_requests: int = 1_000_000
    """... and so is one whose candidate has answered this many requests."""

    def __post_init__(self) -> None:
        for name in ("max_error_increase", "max_slow_increase", "max_wrong_increase"):
            if not 0 < getattr(self, name) < 1:
                raise InvalidInput(f"guardrail {name} must be between 0 and 1")
        for name in ("alpha", "beta"):
            if not 0 < getattr(self, name) < 0.5:
                raise InvalidInput(f"guardrail {name} must be between 0 and 0.5")
        if not self.max_seconds > 0 or self.max_requests < 1:
            raise InvalidInput("max_seconds must be above 0 and max_requests at least 1")


@dataclass(frozen=True, slots=True)
class RolloutPlan:
    baseline: Target
    candidate: Target
    steps: tuple[int, ...] = DEFAULT_STEPS
    """Percent of traffic on the candidate at each step; the last is 100."""
    min_requests: int = 100
    """Candidate requests a step needs before the next one."""
    min_seconds: float = 10.0
    guardrails: Guardrails = Guardrails()
    promote_alias: str | None = None
    """On success, this alias of the candidate's model moves to the candidate's version."""
    step: int = 0
    status: RolloutStatus = RolloutStatus.RUNNING
    reason: str = ""
    step_started_at: float = 0.0
    """Wall-clock seconds (epoch) when the current step began."""
    started_at: float = 0.0
    """Wall-clock seconds (epoch) when the rollout began: tells one rollout from the next."""
    final_route: Target | None = None
    """Where all traffic goes when the plan passes, e.g. ``iris@production``, if it still names the
    candidate's version then; else (and by default) the candidate's version, pinned."""
    restore_route: Target | None = None
    """Where traffic goes back when the plan is rolled back or aborted (the baseline as the endpoint
    named it, e.g. ``iris@production``), if it still names the baseline's version; else the baseline's
    version, pinned."""
    started_revision: int = 0
    """The endpoint revision that began the rollout: only outcomes served under it or later are evidence."""

    def __post_init__(self) -> None:
        if not self.steps or list(self.steps) != sorted(set(self.steps)) or self.steps[-1] != 100:
            raise InvalidInput("rollout steps must rise strictly and end at 100, e.g. 5,25,50,100")
        if self.steps[0] <= 0:
            raise InvalidInput("rollout steps must be percentages above 0")
        if str(self.baseline) == str(self.candidate):
            raise InvalidInput("the rollout's candidate and baseline must differ")
        if self.min_requests < 1 or self.min_seconds < 0:
            raise InvalidInput("min_requests must be >= 1 and min_seconds >= 0")
        if not 0 <= self.step < len(self.steps):
            raise InvalidInput("rollout step out of range")

    @property
    def percent(self) -> int:
        return self.steps[self.step]

    @property
    def running(self) -> bool:
        return self.status is RolloutStatus.RUNNING

    def advanced(self, now: float) -> RolloutPlan:
        return replace(self, step=self.step + 1, step_started_at=now)

    def ended(self, status: RolloutStatus, reason: str) -> RolloutPlan:
        return replace(self, status=status, reason=reason)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(baseline=str(self.baseline), candidate=str(self.candidate), steps=list(self.steps))
        data["final_route"] = None if self.final_route is None else str(self.final_route)
        data["restore_route"] = None if self.restore_route is None else str(self.restore_route)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RolloutPlan:
        try:
            values = dict(data)
            values["baseline"] = Target.parse(values["baseline"])
            values["candidate"] = Target.parse(values["candidate"])
            for route in ("final_route", "restore_route"):
                named = values.get(route)
                values[route] = None if named is None else Target.parse(named)
            values["steps"] = tuple(int(s) for s in values.get("steps", DEFAULT_STEPS))
            values["guardrails"] = Guardrails(**values.get("guardrails", {}))
            values["status"] = RolloutStatus(values.get("status", "running"))
            return cls(**values)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"invalid rollout plan: {exc}") from None


@dataclass(frozen=True, slots=True)
class RolloutPolicy:
    """How an endpoint follows a move of the alias it routes by: through a rollout, not at once."""

    steps: tuple[int, ...] = DEFAULT_STEPS
    min_requests: int = 100
    min_seconds: float = 10.0
    guardrails: Guardrails = Guardrails()

    def plan(self, baseline: Target, candidate: Target, final_route: Target) -> RolloutPlan:
        return RolloutPlan(
            baseline=baseline,
            candidate=candidate,
            steps=self.steps,
            min_requests=self.min_requests,
            min_seconds=self.min_seconds,
            guardrails=self.guardrails,
            final_route=final_route,
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["steps"] = list(self.steps)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RolloutPolicy:
        try:
            values = dict(data)
            values["steps"] = tuple(int(s) for s in values.get("steps", DEFAULT_STEPS))
            values["guardrails"] = Guardrails(**values.get("guardrails", {}))
            policy = cls(**values)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"invalid rollout policy: {exc}") from None
        policy.plan(Target("x", "1"), Target("x", "2"), Target("x", "2"))  # the same checks as a plan
        return policy
