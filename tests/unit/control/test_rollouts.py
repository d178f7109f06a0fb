"""Rollouts against a real registry: start, advance, pass (alias moved), roll back, abort."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelport.control.aliases import move_alias
from modelport.control.endpoints import EndpointChanges
from modelport.control.rollout import RolloutController
from modelport.core import Conflict, Datatype, InvalidInput, Signature, TensorSpec
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


def local_controller(
    registry: Registry, outcomes: OutcomeBook, instance: str = "one", **options: Any
) -> RolloutController:
    """A controller judging the outcomes of one process (``outcomes``)."""
    return RolloutController(
        registry, lambda name: {}, lambda name: outcomes.endpoint(name).state(), instance, **options
    )


def routes(registry: Registry) -> dict[str, int]:
    return {str(r.target): r.weight for r in registry.get_endpoint("ep").config.routes}


def test_steps_advance_and_passing_moves_the_alias(registry: Registry) -> None:
    clock = Clock()
    changes = EndpointChanges(registry, "test", clock)
    started = changes.start_rollout("ep", plan(steps=(10, 50, 100), promote_alias="production"))
    assert routes(registry) == {"m:1": 90, "m:2": 10}  # both pinned while the rollout runs
    assert started.config.rollout is not None and started.config.rollout.started_at == clock.now
    assert started.config.rollout.started_revision == started.revision
    advanced = changes.advance_rollout("ep", started.revision)
    assert routes(registry) == {"m:1": 50, "m:2": 50}
    passed = changes.advance_rollout("ep", advanced.revision)
    assert passed.config.rollout is not None and passed.config.rollout.status is RolloutStatus.PASSED
    assert routes(registry) == {"m@production": 100}  # the promoted alias, now at version 2
    assert registry.get_model("m").aliases["production"] == 2
    history = [c.summary for c in registry.endpoint_history("ep")]
    assert history[-1].startswith("rollout passed")


def test_roll_back_and_abort_send_everything_to_the_baseline(registry: Registry) -> None:
    changes = EndpointChanges(registry, "test", Clock())
    started = changes.start_rollout("ep", plan())
    assert routes(registry) == {"m:1": 95, "m:2": 5}
    rolled_back = changes.roll_back_rollout("ep", started.revision, "error rate of m:2 is worse")
    assert routes(registry) == {"m@production": 100}  # back on the route it had, which still means m:1
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
    started = EndpointChanges(registry, "test", clock).start_rollout(
        "ep", plan(min_requests=10, min_seconds=0)
    )
    revision = started.revision
    controller = local_controller(registry, outcomes, clock=clock)
    book = outcomes.endpoint("ep")
    for i in range(4000):
        canary = i % 2 == 1
        book.record(f"r{i}", "m:2" if canary else "m:1", canary and i % 3 == 0, 0.001, None, revision)
    await controller.tick()
    rollout = registry.get_endpoint("ep").config.rollout
    assert rollout is not None and rollout.status is RolloutStatus.ROLLED_BACK
    assert routes(registry) == {"m@production": 100}


async def test_the_controller_advances_a_healthy_canary_step_by_step(registry: Registry) -> None:
    clock = Clock()
    outcomes = OutcomeBook()
    started = EndpointChanges(registry, "test", clock).start_rollout(
        "ep", plan(steps=(20, 100), min_requests=10, min_seconds=1)
    )
    controller = local_controller(registry, outcomes, clock=clock)
    book = outcomes.endpoint("ep")
    for i in range(3000):  # enough clean pairs for the tests to accept the candidate as not worse
        book.record(f"r{i}", "m:2" if i % 2 else "m:1", False, 0.001, None, started.revision)
    await controller.tick()
    assert routes(registry) == {"m:1": 80, "m:2": 20}  # min_seconds not yet reached
    clock.now += 2
    await controller.tick()
    assert routes(registry) == {"m:2": 100}  # no alias to promote: the candidate's version, pinned


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


def test_a_passed_rollout_of_a_moving_alias_leaves_the_endpoint_on_the_version_it_judged(
    registry: Registry, tmp_path: Path
) -> None:
    registry.set_alias("m", "candidate", 2)
    changes = EndpointChanges(registry, "test", Clock())
    started = changes.start_rollout("ep", plan(candidate=Target.parse("m@candidate"), steps=(50, 100)))
    assert routes(registry) == {"m:1": 50, "m:2": 50}
    changes.advance_rollout("ep", started.revision)
    assert routes(registry) == {"m:2": 100}
    artifact = tmp_path / "three.bin"
    artifact.write_bytes(b"three")
    registry.register_version(
        "m", artifact=artifact, filename="model.bin", framework="fake", signature=SIGNATURE
    )
    move_alias(registry, "m", "candidate", 3, actor="test")
    assert routes(registry) == {"m:2": 100}  # the new @candidate gets no traffic without a rollout


def test_an_alias_that_moved_during_a_rollout_is_not_where_its_end_sends_traffic(
    registry: Registry, tmp_path: Path
) -> None:
    artifact = tmp_path / "three.bin"
    artifact.write_bytes(b"three")
    registry.register_version(
        "m", artifact=artifact, filename="model.bin", framework="fake", signature=SIGNATURE
    )
    changes = EndpointChanges(registry, "test", Clock())
    started = changes.start_rollout("ep", plan())
    registry.set_alias("m", "production", 3)  # behind the rollout's back
    changes.roll_back_rollout("ep", started.revision, "worse")
    assert routes(registry) == {"m:1": 100}  # m@production means m:3 now, which nobody judged
    registry.set_alias("m", "candidate", 2)
    started = changes.start_rollout(
        "ep", plan(baseline=Target.parse("m:1"), candidate=Target.parse("m@candidate"), steps=(50, 100))
    )
    registry.set_alias("m", "candidate", 3)
    changes.advance_rollout("ep", started.revision)
    assert routes(registry) == {"m:2": 100}


def test_a_rollout_of_one_version_against_itself_is_refused(registry: Registry) -> None:
    registry.set_alias("m", "candidate", 1)
    with pytest.raises(InvalidInput, match="same version"):
        EndpointChanges(registry, "test", Clock()).start_rollout(
            "ep", plan(candidate=Target.parse("m@candidate"))
        )


async def test_a_new_rollout_starts_with_no_evidence(registry: Registry) -> None:
    """Outcomes of the same versions served before the rollout began are not its evidence."""
    clock = Clock()
    outcomes = OutcomeBook()
    book = outcomes.endpoint("ep")
    changes = EndpointChanges(registry, "test", clock)
    first = changes.start_rollout("ep", plan(steps=(50, 100), min_requests=10, min_seconds=0))
    for i in range(3000):  # plenty of clean pairs for the first rollout, which is then aborted
        book.record(f"r{i}", "m:2" if i % 2 else "m:1", False, 0.001, None, first.revision)
    changes.abort_rollout("ep")
    second = changes.start_rollout("ep", plan(steps=(50, 100), min_requests=10, min_seconds=0))
    controller = local_controller(registry, outcomes, clock=clock)
    await controller.tick()
    assert routes(registry) == {"m:1": 50, "m:2": 50}  # nothing seen yet: holds
    status = controller.status("ep")
    assert status is not None and status["candidate_requests_in_step"] == 0
    for i in range(3000):
        book.record(f"s{i}", "m:2" if i % 2 else "m:1", False, 0.001, None, second.revision)
    await controller.tick()
    assert routes(registry) == {"m:2": 100}


def test_an_alias_being_rolled_out_cannot_be_moved_again_meanwhile(registry: Registry) -> None:
    changes = EndpointChanges(registry, "test", Clock())
    changes.set_policy("ep", RolloutPolicy(steps=(50, 100), min_requests=1, min_seconds=0))
    move_alias(registry, "m", "production", 2, actor="test")
    with pytest.raises(Conflict, match="being rolled out"):
        move_alias(registry, "m", "production", 1, actor="test")
    assert registry.get_model("m").aliases["production"] == 2


async def test_a_candidate_that_cannot_be_loaded_is_rolled_back(registry: Registry) -> None:
    EndpointChanges(registry, "test", Clock()).start_rollout("ep", plan())
    controller = local_controller(
        registry, OutcomeBook(), clock=Clock(), load_failures=lambda: {"m:2": "the file is damaged"}
    )
    await controller.tick()
    rollout = registry.get_endpoint("ep").config.rollout
    assert rollout is not None and rollout.status is RolloutStatus.ROLLED_BACK
    assert rollout.reason == "m:2 could not be loaded: the file is damaged"
    assert routes(registry) == {"m@production": 100}


def test_a_plan_stored_before_beta_and_the_limits_existed_still_loads() -> None:
    stored = plan().to_dict()
    for name in ("beta", "max_seconds", "max_requests"):
        del stored["guardrails"][name]
    assert RolloutPlan.from_dict(stored) == plan()
    with pytest.raises(InvalidInput, match="beta"):
        RolloutPlan.from_dict({**stored, "guardrails": {"beta": 0.7}})


def test_a_decision_is_applied_only_to_the_step_it_was_made_for(registry: Registry) -> None:
    changes = EndpointChanges(registry, "test", Clock())
    started = changes.start_rollout("ep", plan(steps=(20, 50, 100)))
    assert started.config.rollout is not None
    key = (started.config.rollout.started_revision, 0)
    advanced = changes.advance_rollout("ep", started.revision, key)
    with pytest.raises(Conflict, match="stale"):  # the same decision again, even at the new revision
        changes.advance_rollout("ep", advanced.revision, key)
    with pytest.raises(Conflict, match="stale"):
        changes.roll_back_rollout("ep", advanced.revision, "worse", key)
    assert routes(registry) == {"m:1": 50, "m:2": 50}  # one step taken


async def test_one_controller_decides_and_another_takes_over_once_its_lease_expires(
    registry: Registry,
) -> None:
    outcomes, clock = OutcomeBook(), Clock()
    EndpointChanges(registry, "test", clock).start_rollout("ep", plan())
    first = local_controller(registry, outcomes, "first", clock=clock, lease_s=-1)  # lapses at once
    second = local_controller(registry, outcomes, "second", clock=clock)
    await first.tick()
    assert first.deciding and first.status("ep") is not None
    await second.tick()  # the first stopped renewing (here: its lease lapsed at once)
    assert second.deciding and second.status("ep") is not None
    await first.tick()  # the second holds it now: the first stands by, and drops its judges
    assert not first.deciding and first.status("ep") is None
