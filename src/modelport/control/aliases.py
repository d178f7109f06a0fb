"""Moving an alias, with the closed loop to endpoints that route by it.

An endpoint that routes by ``MODEL@ALIAS`` follows the alias at once, unless it has a rollout
policy: then it is first pinned to the alias's current version, the alias moves, and a rollout
from the old version to the new one starts. When the rollout passes, the endpoint routes by the
alias again; if it is rolled back, the endpoint stays on the old version. While such a rollout (or
a rollout that will promote the alias) runs, the alias cannot move again: the move would put a
version nobody judged behind the name the rollout ends on.

Every alias move goes through here, whoever makes it: ``alias set``, the management API, and a
registration that names aliases.
"""

from __future__ import annotations

from modelport.control.endpoints import EndpointChanges
from modelport.core.errors import Conflict
from modelport.core.targets import Target
from modelport.registry.catalog import Registry
from modelport.registry.records import Endpoint

__all__ = ["check_alias_can_move", "move_alias"]


def move_alias(registry: Registry, model: str, alias: str, version: int, actor: str) -> None:
    previous = registry.get_model(model).aliases.get(alias)
    target = Target(model, alias)
    endpoints = registry.list_endpoints()
    if previous != version:
        _refuse_while_rolled_out(endpoints, target)
    guarded = [e for e in endpoints if _follows_through_rollout(e, target)]
    if previous is None or previous == version or not guarded:
        registry.set_alias(model, alias, version)
        return
    changes = EndpointChanges(registry, actor)
    for endpoint in guarded:
        changes.pin(endpoint.name, target, previous)
    registry.set_alias(model, alias, version)
    for endpoint in guarded:
        policy = endpoint.config.rollout_policy
        assert policy is not None
        plan = policy.plan(Target(model, str(previous)), Target(model, str(version)), final_route=target)
        changes.start_rollout(endpoint.name, plan)


def check_alias_can_move(registry: Registry, model: str, alias: str) -> None:
    """``Conflict`` when a running rollout ends on ``model@alias`` (checked before a registration
    that names the alias stores anything)."""
    _refuse_while_rolled_out(registry.list_endpoints(), Target(model, alias))


def _refuse_while_rolled_out(endpoints: list[Endpoint], target: Target) -> None:
    busy = sorted(e.name for e in endpoints if _rolls_out(e, target))
    if busy:
        raise Conflict(
            f"{target} is being rolled out on endpoint {', '.join(busy)}; wait until the rollout ends "
            f"or abort it (modelport rollout abort {busy[0]}), then move the alias"
        )


def _follows_through_rollout(endpoint: Endpoint, target: Target) -> bool:
    config = endpoint.config
    routes_by_alias = any(r.target == target and r.weight > 0 for r in config.routes)
    running = config.rollout is not None and config.rollout.running
    return routes_by_alias and config.rollout_policy is not None and not running


def _rolls_out(endpoint: Endpoint, target: Target) -> bool:
    """Whether a running rollout of ``endpoint`` ends on ``target`` (it follows or promotes it)."""
    plan = endpoint.config.rollout
    return plan is not None and plan.running and plan.final_route == target
