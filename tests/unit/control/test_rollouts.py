"""Rollouts against a real registry: start, advance, pass (alias moved), roll back, abort."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport.control.aliases import move_alias
from modelport.control.endpoints import EndpointChanges
from modelport.control.rollout import RolloutController
from modelport.core import Conflict, Datatype, Signature, TensorSpec
from modelport.core.endpoints import EndpointConfig, RouteSpec
from modelport.core.rollout import RolloutPlan, RolloutPolicy, RolloutStatus
from modelport.core.targets import Target
from modelport.monitoring.book import OutcomeBook
from modelport.registry import LocalArtifactStore, Registry

SIGNATURE = Signature(
    inputs=(TensorSpec("x", Datatype.FP32, (-1, 2)),), outputs=(TensorSpec("y", Datatype.FP32, (-1,)),)
)


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    registry = Registry.open(f"sqlite:///{tmp_path / 'r.db'}", LocalArtifactStore(tmp_path / "a"))
    artifact = tmp_path / "model.bin"
    for content in (b"one", b"two"):
        artifact.write_bytes(content)
        registry.register_version(
            "m", artifact=artifact, filename="model.bin", framework="fake", signature=SIGNATURE
        )
    registry.set_alias("m", "production", 1)
    registry.create_endpoint("ep", EndpointConfig((RouteSpec(Target.parse("m@production"), 1),)))
    return registry


def plan(**overrides: object) -> RolloutPlan:
    values: dict[str, object] = {"baseline": Target.parse("m@production"), "candidate": Target.parse("m:2")}
    values.update(overrides)
    return RolloutPlan(**values)  # type: ignore[arg-type]


def routes(registry: Registry) -> dict[str, int]:
    return {str(r.target): r.weight for r in registry.get_endpoint("ep").config.routes}


def test_steps_advance_and_passing_moves_the_alias(registry: Registry) -> None:
    clock = Clock()
    changes = EndpointChanges(registry, "test", clock)
    started = changes.start_rollout("ep", plan(steps=(10, 50, 100), promote_alias="production"))
    assert routes(registry) == {"m@production": 90, "m:2": 10}
    assert started.config.rollout is not None and started.config.rollout.started_at == clock.now
    advanced = changes.advance_rollout("ep", started.revision)
    assert routes(registry) == {"m@production": 50, "m:2": 50}
    passed = changes.advance_rollout("ep", advanced.revision)
    assert passed.config.rollout is not None and passed.config.rollout.status is RolloutStatus.PASSED
    assert routes(registry) == {"m:2": 100}
    assert registry.get_model("m").aliases["production"] == 2
    history = [c.summary for c in registry.endpoint_history("ep")]
    assert history[-1].startswith("rollout passed")


def test_roll_back_and_abort_send_everything_to_the_baseline(registry: Registry) -> None:
    changes = EndpointChanges(registry, "test", Clock())
    started = changes.start_rollout("ep", plan())
    rolled_back = changes.roll_back_rollout("ep", started.revision, "error rate of m:2 is worse")
    assert routes(registry) == {"m@production": 100}
    assert (
        rolled_back.config.rollout is not None
        and rolled_back.config.rollout.status is RolloutStatus.ROLLED_BACK
    )
    with pytest.raises(Conflict, match="no rollout running"):
        changes.abort_rollout("ep")
    changes.start_rollout("ep", plan())
    with pytest.raises(Conflict, match="already has a rollout"):
        changes.start_rollout("ep", plan())
    changes.abort_rollout("ep")
    assert routes(registry) == {"m@production": 100}


def test_a_stale_decision_loses_to_a_newer_change(registry: Registry) -> None:
    changes = EndpointChanges(registry, "test", Clock())
    started = changes.start_rollout("ep", plan())
    changes.abort_rollout("ep")
    with pytest.raises(Conflict):
        changes.advance_rollout("ep", started.revision)


async def test_the_controller_rolls_back_a_failing_canary(registry: Registry) -> None:
    clock = Clock()
    outcomes = OutcomeBook()
    EndpointChanges(registry, "test", clock).start_rollout("ep", plan(min_requests=10, min_seconds=0))
    controller = RolloutController(registry, outcomes, clock=clock)
    book = outcomes.endpoint("ep")
    for i in range(4000):
        canary = i % 2 == 1
        book.record(f"r{i}", "m:2" if canary else "m@production", canary and i % 3 == 0, 0.001, None)
    await controller.tick()
    rollout = registry.get_endpoint("ep").config.rollout
    assert rollout is not None and rollout.status is RolloutStatus.ROLLED_BACK
    assert routes(registry) == {"m@production": 100}


async def test_the_controller_advances_a_healthy_canary_step_by_step(registry: Registry) -> None:
    clock = Clock()
    outcomes = OutcomeBook()
    EndpointChanges(registry, "test", clock).start_rollout(
        "ep", plan(steps=(20, 100), min_requests=10, min_seconds=1)
    )
    controller = RolloutController(registry, outcomes, clock=clock)
    book = outcomes.endpoint("ep")
    for i in range(3000):  # enough clean pairs for the tests to accept the candidate as not worse
        book.record(f"r{i}", "m:2" if i % 2 else "m@production", False, 0.001, None)
    await controller.tick()
    assert routes(registry) == {"m@production": 80, "m:2": 20}  # min_seconds not yet reached
    clock.now += 2
    await controller.tick()
    assert routes(registry) == {"m:2": 100}


def test_an_alias_move_reaches_an_endpoint_with_a_policy_through_a_rollout(registry: Registry) -> None:
    changes = EndpointChanges(registry, "test", Clock())
    changes.set_policy("ep", RolloutPolicy(steps=(50, 100), min_requests=1, min_seconds=0))
    move_alias(registry, "m", "production", 2, actor="test")
    assert registry.get_model("m").aliases["production"] == 2
    assert routes(registry) == {"m:1": 50, "m:2": 50}
    endpoint = registry.get_endpoint("ep")
    assert endpoint.config.rollout is not None and str(endpoint.config.rollout.final_route) == "m@production"
    changes.advance_rollout("ep", endpoint.revision)
    assert routes(registry) == {"m@production": 100}  # passed: following the alias again


def test_without_a_policy_an_alias_move_applies_at_once(registry: Registry) -> None:
    move_alias(registry, "m", "production", 2, actor="test")
    assert routes(registry) == {"m@production": 1}
    assert registry.get_endpoint("ep").config.rollout is None
