"""Moving an alias, with the closed loop to endpoints that route by it.

An endpoint that routes by ``MODEL@ALIAS`` follows the alias at once, unless it has a rollout
policy: then it is first pinned to the alias's current version, the alias moves, and a rollout
from the old version to the new one starts. When the rollout passes, the endpoint routes by the
alias again; if it is rolled back, the endpoint stays on the old version.
"""

from __future__ import annotations

from modelport.control.endpoints import EndpointChanges
from modelport.core.targets import Target
from modelport.registry.catalog import Registry
from modelport.registry.records import Endpoint

__all__ = ["move_alias"]


def move_alias(registry: Registry, model: str, alias: str, version: int, actor: str) -> None:
    previous = registry.get_model(model).aliases.get(alias)
    target = Target(model, alias)
    guarded = [e for e in registry.list_endpoints() if _follows_through_rollout(e, target)]
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


def _follows_through_rollout(endpoint: Endpoint, target: Target) -> bool:
    config = endpoint.config
    routes_by_alias = any(str(r.target) == str(target) and r.weight > 0 for r in config.routes)
    running = config.rollout is not None and config.rollout.running
    return routes_by_alias and config.rollout_policy is not None and not running
