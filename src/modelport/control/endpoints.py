"""Endpoint changes as the CLI and the management API both make them: read, change, write guarded.

Each change reads the endpoint, derives the new config, and writes it only if nobody changed the
endpoint meanwhile (optimistic concurrency on its revision); the loser of a race gets ``Conflict``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from modelport.core.endpoints import EndpointConfig, RouteSpec, ShadowSpec
from modelport.core.errors import Conflict, InvalidInput, NotFound
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
        """Begin ``plan`` at its first step: that share to the candidate, the rest to the baseline.

        Both are pinned to the versions they name now, so that a move of an alias during the rollout
        changes neither what is judged nor what callers get; the evidence starts empty (only
        outcomes served under the new revision count).
        """
        current = self._current(name, expected_revision)
        if current.config.rollout is not None and current.config.rollout.running:
            raise Conflict(f"endpoint {name!r} already has a rollout running; abort it first")
        baseline, candidate = self._pinned(plan.baseline), self._pinned(plan.candidate)
        if baseline == candidate:
            raise InvalidInput(
                f"the candidate {plan.candidate} and the baseline {plan.baseline} are the same version "
                f"({candidate}): nothing to roll out"
            )
        final = plan.final_route
        if plan.promote_alias is not None:
            final = Target(candidate.model, plan.promote_alias)
        now = self._clock()
        plan = replace(
            plan,
            baseline=baseline,
            candidate=candidate,
            final_route=final,
            restore_route=plan.restore_route or (plan.baseline if plan.baseline != baseline else None),
            step=0,
            status=RolloutStatus.RUNNING,
            reason="",
            step_started_at=now,
            started_at=now,
            started_revision=current.revision + 1,  # the revision this write creates
        )
        config = current.config.with_rollout(_split(plan), plan)
        return self._write(
            current, config, f"rollout {plan.baseline} -> {plan.candidate}: {plan.percent}%", False
        )

    def advance_rollout(self, name: str, revision: int, key: tuple[int, int] | None = None) -> Endpoint:
        """Move the rollout on, if the endpoint is still at ``revision`` and its rollout at ``key``
        (first revision, step) when given: a decision is applied once, to the state it was made for."""
        current = self._current(name, revision)
        plan = _running_plan(current, key)
        if plan.steps[plan.step + 1] == 100:
            return self._finish_rollout(current, plan)
        plan = plan.advanced(self._clock())
        return self._write(
            current, current.config.with_rollout(_split(plan), plan), f"rollout at {plan.percent}%", False
        )

    def roll_back_rollout(
        self, name: str, revision: int, reason: str, key: tuple[int, int] | None = None
    ) -> Endpoint:
        current = self._current(name, revision)
        plan = _running_plan(current, key).ended(RolloutStatus.ROLLED_BACK, reason)
        config = current.config.with_rollout([RouteSpec(self._restored(plan), 100)], plan)
        return self._write(current, config, f"rollout rolled back: {reason}", False)

    def abort_rollout(self, name: str, *, expected_revision: int | None = None) -> Endpoint:
        current = self._current(name, expected_revision)
        plan = _running_plan(current).ended(RolloutStatus.ABORTED, "aborted by hand")
        config = current.config.with_rollout([RouteSpec(self._restored(plan), 100)], plan)
        return self._write(current, config, "rollout aborted", False)

    def _finish_rollout(self, current: Endpoint, plan: RolloutPlan) -> Endpoint:
        """All traffic to the candidate, under a name that cannot move without the endpoint's policy:
        the promoted alias (moved in the same write), or the route the plan ends on if it still names
        the candidate's version, else the candidate's version itself."""
        plan = replace(plan, step=len(plan.steps) - 1).ended(RolloutStatus.PASSED, "every step held")
        promotion = None
        if plan.promote_alias is not None:
            version = self._registry.resolve_target(plan.candidate).number
            promotion = (plan.candidate.model, plan.promote_alias, version)
            final = Target(plan.candidate.model, plan.promote_alias)
        else:
            final = self._if_still(plan.final_route, plan.candidate)
        config = current.config.with_rollout([RouteSpec(final, 100)], plan)
        summary = f"rollout passed: {plan.candidate} at 100% as {final}"
        return self._write(current, config, summary, False, point_alias=promotion)

    def _restored(self, plan: RolloutPlan) -> Target:
        return self._if_still(plan.restore_route, plan.baseline)

    def _if_still(self, route: Target | None, pinned: Target) -> Target:
        """``route`` if it names ``pinned``'s version now, else ``pinned``: an alias that moved during
        the rollout never brings an unjudged version in with the end of it."""
        if route is None or route == pinned:
            return pinned
        try:
            return route if self._pinned(route) == pinned else pinned
        except NotFound:
            return pinned

    def _pinned(self, target: Target) -> Target:
        """``target`` as ``model:version``, the version it names now."""
        return Target(target.model, str(self._registry.resolve_target(target).number))

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


def _running_plan(endpoint: Endpoint, key: tuple[int, int] | None = None) -> RolloutPlan:
    plan = endpoint.config.rollout
    if plan is None or not plan.running:
        raise Conflict(f"endpoint {endpoint.name!r} has no rollout running")
    if key is not None and key != (plan.started_revision, plan.step):
        raise Conflict(
            f"a decision for step {key[1]} of the rollout begun at revision {key[0]} of {endpoint.name!r} is "
            f"stale: it is at step {plan.step} of the rollout begun at revision {plan.started_revision}"
        )
    return plan
