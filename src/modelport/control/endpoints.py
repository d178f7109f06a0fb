"""Endpoint changes as the CLI and the management API both make them: read, change, write guarded.

Each change reads the endpoint, derives the new config, and writes it only if nobody changed the
endpoint meanwhile (optimistic concurrency on its revision); the loser of a race gets ``Conflict``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from modelport.core.endpoints import EndpointConfig, RouteSpec, ShadowSpec
from modelport.core.errors import Conflict
from modelport.core.rollout import RolloutPlan, RolloutPolicy, RolloutStatus
from modelport.core.targets import Target
from modelport.registry.catalog import Registry
from modelport.registry.records import Endpoint

__all__ = ["EndpointChanges"]


class EndpointChanges:
    def __init__(self, registry: Registry, actor: str, clock: Callable[[], float] = time.time) -> None:
        self._registry = registry
        self._actor = actor
        self._clock = clock

    def create(
        self, name: str, config: EndpointConfig, *, description: str = "", force: bool = False
    ) -> Endpoint:
        return self._registry.create_endpoint(
            name, config, description=description, actor=self._actor, force=force
        )

    def set_routes(
        self,
        name: str,
        routes: Sequence[RouteSpec],
        *,
        expected_revision: int | None = None,
        force: bool = False,
    ) -> Endpoint:
        current = self._current(name, expected_revision)
        summary = "routes " + ", ".join(f"{r.target}={r.weight}" for r in routes)
        return self._write(current, current.config.with_routes(routes), summary, force)

    def promote(self, name: str, target: Target, *, expected_revision: int | None = None) -> Endpoint:
        current = self._current(name, expected_revision)
        return self._write(current, current.config.promoted(target), f"promote {target} to 100%", force=False)

    def add_shadow(
        self, name: str, shadow: ShadowSpec, *, expected_revision: int | None = None, force: bool = False
    ) -> Endpoint:
        current = self._current(name, expected_revision)
        summary = f"shadow {shadow.target} at {shadow.percent:g}%"
        return self._write(current, current.config.with_shadow(shadow), summary, force)

    def remove_shadow(self, name: str, target: Target, *, expected_revision: int | None = None) -> Endpoint:
        current = self._current(name, expected_revision)
        return self._write(
            current, current.config.without_shadow(target), f"remove shadow {target}", force=False
        )

    def start_rollout(
        self, name: str, plan: RolloutPlan, *, expected_revision: int | None = None
    ) -> Endpoint:
        """Begin ``plan`` at its first step: that share to the candidate, the rest to the baseline."""
        current = self._current(name, expected_revision)
        if current.config.rollout is not None and current.config.rollout.running:
            raise Conflict(f"endpoint {name!r} already has a rollout running; abort it first")
        now = self._clock()
        plan = replace(
            plan, step=0, status=RolloutStatus.RUNNING, reason="", step_started_at=now, started_at=now
        )
        config = current.config.with_rollout(_split(plan), plan)
        return self._write(
            current, config, f"rollout {plan.baseline} -> {plan.candidate}: {plan.percent}%", False
        )

    def advance_rollout(self, name: str, revision: int) -> Endpoint:
        current = self._current(name, revision)
        plan = _running_plan(current)
        if plan.steps[plan.step + 1] == 100:
            return self._finish_rollout(current, plan)
        plan = plan.advanced(self._clock())
        return self._write(
            current, current.config.with_rollout(_split(plan), plan), f"rollout at {plan.percent}%", False
        )

    def roll_back_rollout(self, name: str, revision: int, reason: str) -> Endpoint:
        current = self._current(name, revision)
        plan = _running_plan(current).ended(RolloutStatus.ROLLED_BACK, reason)
        config = current.config.with_rollout([RouteSpec(plan.baseline, 100)], plan)
        return self._write(current, config, f"rollout rolled back: {reason}", False)

    def abort_rollout(self, name: str, *, expected_revision: int | None = None) -> Endpoint:
        current = self._current(name, expected_revision)
        plan = _running_plan(current).ended(RolloutStatus.ABORTED, "aborted by hand")
        config = current.config.with_rollout([RouteSpec(plan.baseline, 100)], plan)
        return self._write(current, config, "rollout aborted", False)

    def _finish_rollout(self, current: Endpoint, plan: RolloutPlan) -> Endpoint:
        plan = replace(plan, step=len(plan.steps) - 1).ended(RolloutStatus.PASSED, "every step held")
        config = current.config.with_rollout([RouteSpec(plan.final_route or plan.candidate, 100)], plan)
        promotion = None
        if plan.promote_alias is not None:
            version = self._registry.resolve(plan.candidate.model, plan.candidate.ref or "")
            promotion = (plan.candidate.model, plan.promote_alias, version.number)
        summary = f"rollout passed: {plan.candidate} at 100%"
        return self._write(current, config, summary, False, point_alias=promotion)

    def set_policy(self, name: str, policy: RolloutPolicy | None) -> Endpoint:
        current = self._current(name, None)
        summary = "alias moves go through a rollout" if policy else "alias moves apply at once"
        return self._write(current, current.config.with_policy(policy), summary, False)

    def pin(self, name: str, alias_target: Target, version: int) -> Endpoint:
        """Route to ``model:version`` instead of ``alias_target`` (before that alias moves)."""
        current = self._current(name, None)
        pinned = Target(alias_target.model, str(version))
        routes = [
            RouteSpec(pinned if str(r.target) == str(alias_target) else r.target, r.weight)
            for r in current.config.routes
        ]
        config = EndpointConfig(
            tuple(routes), current.config.shadows, current.config.rollout, current.config.rollout_policy
        )
        return self._write(current, config, f"pin {alias_target} to {pinned} before the alias moves", False)

    def rollback(self, name: str, *, expected_revision: int | None = None) -> Endpoint:
        return self._registry.rollback_endpoint(name, actor=self._actor, expected_revision=expected_revision)

    def _current(self, name: str, expected_revision: int | None) -> Endpoint:
        current = self._registry.get_endpoint(name)
        if expected_revision is not None and expected_revision != current.revision:
            raise Conflict(
                f"endpoint {name!r} changed (now at revision {current.revision}); reload it and try again"
            )
        return current

    def _write(
        self,
        current: Endpoint,
        config: EndpointConfig,
        summary: str,
        force: bool,
        point_alias: tuple[str, str, int] | None = None,
    ) -> Endpoint:
        return self._registry.update_endpoint(
            current.name,
            config,
            expected_revision=current.revision,
            actor=self._actor,
            summary=summary,
            force=force,
            point_alias=point_alias,
        )


def _split(plan: RolloutPlan) -> list[RouteSpec]:
    return [RouteSpec(plan.baseline, 100 - plan.percent), RouteSpec(plan.candidate, plan.percent)]


def _running_plan(endpoint: Endpoint) -> RolloutPlan:
    plan = endpoint.config.rollout
    if plan is None or not plan.running:
        raise Conflict(f"endpoint {endpoint.name!r} has no rollout running")
    return plan
