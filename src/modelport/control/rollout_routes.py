"""Management API routes for rollouts, ground-truth feedback and A/B reports."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header
from pydantic import BaseModel, Field

from modelport.control.endpoints import EndpointChanges
from modelport.core.errors import InvalidInput
from modelport.core.inference import MAX_REQUEST_ID_CHARS
from modelport.core.rollout import DEFAULT_STEPS, Guardrails, RolloutPlan, RolloutPolicy
from modelport.core.targets import Target
from modelport.monitoring.book import OutcomeBook
from modelport.registry.catalog import Registry

__all__ = ["build_rollout_router"]

Actor = Annotated[str, Header(alias="x-modelport-actor", description="Who makes the change (history).")]


class _Steps(BaseModel):
    """How a rollout advances and what stops it: shared by a rollout and a rollout policy."""

    steps: list[int] = Field(default_factory=lambda: list(DEFAULT_STEPS))
    min_requests: int = Field(100, ge=1)
    min_seconds: float = Field(10.0, ge=0)
    max_error_increase: float = 0.02
    max_slow_increase: float = 0.05
    max_wrong_increase: float = 0.05
    alpha: float = Field(0.05, description="Chance of rolling back a candidate within all margins")
    beta: float = Field(0.05, description="Chance of promoting a candidate worse than half a margin")
    max_seconds: float = Field(86_400.0, description="Rolled back if not passed this long after its start")
    max_requests: int = Field(1_000_000, description="... or after this many candidate requests")

    def guardrails(self) -> Guardrails:
        return Guardrails(
            self.max_error_increase,
            self.max_slow_increase,
            self.max_wrong_increase,
            self.alpha,
            self.beta,
            self.max_seconds,
            self.max_requests,
        )


class RolloutBody(_Steps):
    candidate: str = Field(description="MODEL:VERSION or MODEL@ALIAS to roll out")
    baseline: str | None = Field(None, description="Defaults to the endpoint's only route")
    promote_alias: str | None = None
    expected_revision: int | None = None


class PolicyBody(_Steps):
    enabled: bool = Field(True, description="False: alias moves apply at once again")


class FeedbackItem(BaseModel):
    id: str = Field(max_length=MAX_REQUEST_ID_CHARS, description="The id the prediction was answered with")
    label: Any = Field(description="The true label (or value); a list for a multi-row request")


class FeedbackBody(BaseModel):
    items: list[FeedbackItem]


def build_rollout_router(
    registry: Registry,
    outcomes: OutcomeBook,
    ab_report: Callable[[str], dict[str, Any]],
    rollout_status: Callable[[str], dict[str, Any] | None],
) -> APIRouter:
    router = APIRouter()

    @router.post("/endpoints/{name}/rollout", summary="Start a guarded, stepwise rollout")
    def start(name: str, body: RolloutBody, actor: Actor = "") -> dict[str, Any]:
        endpoint = registry.get_endpoint(name)
        baseline = body.baseline or _only_route(endpoint.config.routes)
        plan = RolloutPlan(
            baseline=Target.parse(baseline),
            candidate=Target.parse(body.candidate),
            steps=tuple(body.steps),
            min_requests=body.min_requests,
            min_seconds=body.min_seconds,
            guardrails=body.guardrails(),
            promote_alias=body.promote_alias,
        )
        changes = EndpointChanges(registry, actor or "api")
        return changes.start_rollout(name, plan, expected_revision=body.expected_revision).to_dict()

    @router.get("/endpoints/{name}/rollout", summary="The rollout's plan, step and guardrail evidence")
    def status(name: str) -> dict[str, Any]:
        plan = registry.get_endpoint(name).config.rollout
        guardrails = rollout_status(name)
        if plan is None or (guardrails or {}).get("rollout_started_revision") != plan.started_revision:
            guardrails = None  # the judge's evidence is of an earlier rollout: this one is not judged yet
        return {"plan": None if plan is None else plan.to_dict(), "guardrails": guardrails}

    @router.delete(
        "/endpoints/{name}/rollout", summary="Abort a running rollout (all traffic to the baseline)"
    )
    def abort(name: str, actor: Actor = "") -> dict[str, Any]:
        return EndpointChanges(registry, actor or "api").abort_rollout(name).to_dict()

    @router.put(
        "/endpoints/{name}/rollout-policy", summary="Make alias moves reach this endpoint via a rollout"
    )
    def set_policy(name: str, body: PolicyBody, actor: Actor = "") -> dict[str, Any]:
        policy = None
        if body.enabled:
            policy = RolloutPolicy(tuple(body.steps), body.min_requests, body.min_seconds, body.guardrails())
            policy.plan(Target("x", "1"), Target("x", "2"), Target("x", "2"))  # validate like a plan
        return EndpointChanges(registry, actor or "api").set_policy(name, policy).to_dict()

    @router.post("/endpoints/{name}/feedback", summary="Ground truth for earlier predictions, by request id")
    def feedback(name: str, body: FeedbackBody) -> dict[str, Any]:
        registry.get_endpoint(name)
        items = [(item.id, _labels(item.label)) for item in body.items]
        judged = outcomes.endpoint(name).feedback(  # judged once, whichever process served or hears it
            items, claim=lambda ids, check, local: registry.claim_predictions(name, ids, check, local)
        )
        return {"judged": judged}

    @router.get("/endpoints/{name}/report", summary="Per-variant metrics with intervals, and significance")
    def report(name: str) -> dict[str, Any]:
        registry.get_endpoint(name)
        return ab_report(name)

    return router


def _only_route(routes: Any) -> str:
    active = [r for r in routes if r.weight > 0]
    if len(active) != 1:
        raise InvalidInput("the endpoint has several routes: say which one is the rollout's baseline")
    return str(active[0].target)


def _labels(label: Any) -> list[Any]:
    return label if isinstance(label, list) else [label]
