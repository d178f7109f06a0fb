from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from modelport.core import Conflict, Datatype, InvalidInput, NotFound, Signature, TensorSpec
from modelport.core.endpoints import EndpointConfig, RouteSpec, ShadowSpec
from modelport.core.targets import Target
from modelport.registry import Endpoint, ModelVersion, Registry
from modelport.registry._engine import create_registry_engine
from modelport.registry.endpoints import update_if_revision
from modelport.registry.schema import EndpointRow

from .conftest import SIGNATURE

Register = Callable[..., ModelVersion]


def cfg(*routes: str, shadows: tuple[str, ...] = ()) -> EndpointConfig:
    """``cfg("iris:1=90", "iris@candidate=10", shadows=("iris:3=5",))``."""

    def split(text: str) -> tuple[Target, int]:
        target, _, number = text.rpartition("=")
        return Target.parse(target), int(number)

    return EndpointConfig(
        routes=tuple(RouteSpec(*split(r)) for r in routes),
        shadows=tuple(ShadowSpec(t, float(n)) for t, n in map(split, shadows)),
    )


@pytest.fixture
def iris(register: Register) -> None:
    """iris versions 1-3 (same signature); aliases production → 1, candidate → 2."""
    register("iris", aliases=["production"])
    register("iris", aliases=["candidate"])
    register("iris")


def register_with(registry: Registry, make_file: Callable[[bytes], Path], name: str, sig: Signature) -> None:
    registry.register_version(
        name, artifact=make_file(name.encode()), filename="m.onnx", framework="onnx", signature=sig
    )


def test_create_get_list_round_trip(registry: Registry, iris: None) -> None:
    config = cfg("iris:1=90", "iris@candidate=10", shadows=("iris:3=5",))
    created = registry.create_endpoint("iris-ab", config, description="A/B", actor="ana")
    assert (created.name, created.revision, created.config, created.description) == (
        "iris-ab",
        1,
        config,
        "A/B",
    )
    assert created.created_at == created.updated_at and created.created_at.tzinfo is UTC
    assert registry.get_endpoint("iris-ab") == created
    assert registry.list_endpoints() == [created]
    data = json.loads(json.dumps(created.to_dict()))
    assert data == {
        "name": "iris-ab",
        "revision": 1,
        "config": config.to_dict(),
        "description": "A/B",
        "created_at": created.created_at.isoformat(),
        "updated_at": created.updated_at.isoformat(),
    }
    [change] = registry.endpoint_history("iris-ab")
    assert (change.revision, change.config, change.actor, change.summary) == (1, config, "ana", "created")
    assert set(json.loads(json.dumps(change.to_dict()))) == {
        "revision",
        "config",
        "actor",
        "summary",
        "restored_from",
        "changed_at",
    }


def test_every_write_bumps_the_registry_revision(registry: Registry, iris: None) -> None:
    before = registry.revision()
    registry.create_endpoint("e", cfg("iris:1=1"))
    registry.update_endpoint("e", cfg("iris:2=1"))
    registry.rollback_endpoint("e")
    registry.delete_endpoint("e")
    assert registry.revision() == before + 4


def test_update_bumps_revision_and_appends_history(registry: Registry, iris: None) -> None:
    first = registry.create_endpoint("e", cfg("iris:1=1"), description="d")
    second = registry.update_endpoint(
        "e", cfg("iris:1=90", "iris:2=10"), expected_revision=1, actor="bo", summary="canary 10%"
    )
    assert second.revision == 2 and second.config == cfg("iris:1=90", "iris:2=10")
    assert second.description == "d" and second.created_at == first.created_at
    assert second.updated_at >= first.updated_at
    assert registry.get_endpoint("e") == second
    third = registry.update_endpoint("e", cfg("iris:2=1"), description="all on 2")
    assert (third.revision, third.description) == (3, "all on 2")
    history = registry.endpoint_history("e")
    assert [(c.revision, c.summary, c.actor) for c in history] == [
        (1, "created", ""),
        (2, "canary 10%", "bo"),
        (3, "updated", ""),
    ]
    assert [c.config for c in history] == [first.config, second.config, third.config]


def test_stale_expected_revision_is_a_conflict(registry: Registry, iris: None) -> None:
    registry.create_endpoint("e", cfg("iris:1=1"))
    registry.update_endpoint("e", cfg("iris:2=1"), expected_revision=1)
    revision = registry.revision()
    with pytest.raises(Conflict, match=r"endpoint 'e' changed \(now at revision 2\); reload it"):
        registry.update_endpoint("e", cfg("iris:3=1"), expected_revision=1)
    assert registry.get_endpoint("e").config == cfg("iris:2=1")
    assert registry.revision() == revision and len(registry.endpoint_history("e")) == 2


def test_an_update_can_move_an_alias_in_the_same_transaction(registry: Registry, iris: None) -> None:
    registry.create_endpoint("e", cfg("iris@production=1"))
    updated = registry.update_endpoint(
        "e", cfg("iris:2=1"), expected_revision=1, point_alias=("iris", "production", 2)
    )
    assert updated.revision == 2 and registry.get_model("iris").aliases["production"] == 2
    revision = registry.revision()
    with pytest.raises(Conflict):  # a stale endpoint write moves no alias either
        registry.update_endpoint(
            "e", cfg("iris:3=1"), expected_revision=1, point_alias=("iris", "production", 3)
        )
    with pytest.raises(NotFound):  # nor does a missing version store the endpoint change
        registry.update_endpoint("e", cfg("iris:3=1"), point_alias=("iris", "production", 9))
    assert registry.get_model("iris").aliases["production"] == 2
    assert registry.get_endpoint("e").config == cfg("iris:2=1") and registry.revision() == revision


def test_two_threads_with_the_same_expected_revision_exactly_one_wins(registry: Registry, iris: None) -> None:
    registry.create_endpoint("e", cfg("iris:1=1"))
    barrier, outcomes = threading.Barrier(2), []
    lock = threading.Lock()

    def writer(version: int) -> None:
        barrier.wait(10)
        try:
            registry.update_endpoint("e", cfg(f"iris:{version}=1"), expected_revision=1)
            result: object = version
        except Conflict as e:
            result = e
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=writer, args=(v,)) for v in (2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    winners = [o for o in outcomes if isinstance(o, int)]
    losers = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(winners) == 1 and len(losers) == 1
    stored = registry.get_endpoint("e")
    assert stored.revision == 2 and stored.config == cfg(f"iris:{winners[0]}=1")
    assert [c.revision for c in registry.endpoint_history("e")] == [1, 2]


def test_the_row_update_itself_is_guarded_by_revision(db_url: str, registry: Registry, iris: None) -> None:
    """Even a writer that skipped the read-time check cannot overwrite a newer revision."""
    registry.create_endpoint("e", cfg("iris:1=1"))
    registry.update_endpoint("e", cfg("iris:2=1"))
    engine = create_registry_engine(db_url)
    try:
        with Session(engine) as s, s.begin():
            row = s.scalars(select(EndpointRow).where(EndpointRow.name == "e")).one()
            with pytest.raises(Conflict, match="now at revision 2"):
                update_if_revision(s, row, 1, {"revision": 2, "config": cfg("iris:3=1").to_dict()})
            update_if_revision(s, row, 2, {"revision": 3, "config": cfg("iris:3=1").to_dict()})
    finally:
        engine.dispose()
    assert registry.get_endpoint("e").revision == 3


def test_rollback_walks_back_through_changes(registry: Registry, iris: None) -> None:
    a, b, c = cfg("iris:1=1"), cfg("iris:2=1"), cfg("iris:3=1")
    registry.create_endpoint("e", a)
    registry.update_endpoint("e", b)
    registry.update_endpoint("e", c)
    fourth = registry.rollback_endpoint("e", actor="ops")
    assert (fourth.revision, fourth.config) == (4, b)
    fifth = registry.rollback_endpoint("e")
    assert (fifth.revision, fifth.config) == (5, a)
    revision = registry.revision()
    with pytest.raises(Conflict, match="nothing to roll back to"):
        registry.rollback_endpoint("e")
    assert registry.revision() == revision and registry.get_endpoint("e") == fifth
    history = registry.endpoint_history("e")
    assert [(h.revision, h.config, h.restored_from) for h in history] == [
        (1, a, None),
        (2, b, None),
        (3, c, None),
        (4, b, 2),
        (5, a, 1),
    ]
    assert (history[3].summary, history[3].actor) == ("rolled back to revision 2", "ops")


def test_a_change_after_a_rollback_is_undone_first(registry: Registry, iris: None) -> None:
    a, b, c, d = cfg("iris:1=1"), cfg("iris:2=1"), cfg("iris:3=1"), cfg("iris:1=1", "iris:2=1")
    registry.create_endpoint("e", a)
    registry.update_endpoint("e", b)
    registry.update_endpoint("e", c)
    registry.rollback_endpoint("e")  # 4: b
    registry.update_endpoint("e", d)  # 5: d
    assert registry.rollback_endpoint("e").config == b  # 6: undoes 5
    assert registry.rollback_endpoint("e").config == a  # 7: undoes 2
    with pytest.raises(Conflict):
        registry.rollback_endpoint("e")


def test_a_new_endpoint_has_nothing_to_roll_back(registry: Registry, iris: None) -> None:
    registry.create_endpoint("e", cfg("iris:1=1"))
    with pytest.raises(Conflict, match="nothing to roll back to"):
        registry.rollback_endpoint("e")
    with pytest.raises(Conflict, match="now at revision 1"):
        registry.rollback_endpoint("e", expected_revision=3)


def test_alias_targets_stay_aliases(registry: Registry, iris: None) -> None:
    registry.create_endpoint("e", cfg("iris@production=1", shadows=("iris@candidate=50",)))
    stored = registry.get_endpoint("e").to_dict()["config"]
    assert [r["target"] for r in stored["routes"]] == ["iris@production"]
    assert [s["target"] for s in stored["shadows"]] == ["iris@candidate"]
    registry.set_alias("iris", "production", 3)  # moving the alias re-targets the endpoint
    assert registry.get_endpoint("e").config.routes[0].target == Target("iris", "production")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (cfg("nope:1=1"), r"route nope:1: model 'nope' is not registered"),
        (cfg("iris:9=1"), r"route iris:9: model 'iris' has no version 9"),
        (cfg("iris@gone=1"), r"model 'iris' has no alias 'gone' \(aliases: candidate, production\)"),
        (cfg("iris:1=1", shadows=("iris:7=10",)), r"shadow iris:7: model 'iris' has no version 7"),
    ],
)
def test_missing_targets_store_nothing(
    registry: Registry, iris: None, config: EndpointConfig, message: str
) -> None:
    registry.create_endpoint("e", cfg("iris:1=1"))
    revision = registry.revision()
    with pytest.raises(NotFound, match=message):
        registry.create_endpoint("f", config)
    with pytest.raises(NotFound, match=message):
        registry.update_endpoint("e", config, force=True)  # force skips signatures, not existence
    assert registry.revision() == revision
    assert [e.name for e in registry.list_endpoints()] == ["e"]
    assert registry.get_endpoint("e").revision == 1 and len(registry.endpoint_history("e")) == 1


def test_an_endpoint_is_not_a_target(registry: Registry, iris: None) -> None:
    registry.create_endpoint("e", cfg("iris:1=1"))
    with pytest.raises(NotFound, match="that is an endpoint; targets name models"):
        registry.create_endpoint("f", cfg("e:1=1"))


def test_signatures_must_match_unless_forced(
    registry: Registry, iris: None, make_file: Callable[[bytes], Path]
) -> None:
    wide = Signature(inputs=(TensorSpec("x", Datatype.FP32, (-1, 5)),), outputs=SIGNATURE.outputs)
    renamed = Signature(inputs=SIGNATURE.inputs, outputs=(TensorSpec("label", Datatype.INT64, (-1,)),))
    other_shape_out = Signature(inputs=SIGNATURE.inputs, outputs=(TensorSpec("y", Datatype.INT64, (-1, 1)),))
    register_with(registry, make_file, "wide", wide)
    register_with(registry, make_file, "renamed", renamed)
    register_with(registry, make_file, "shaped", other_shape_out)
    revision = registry.revision()
    with pytest.raises(InvalidInput, match=r"signatures differ: wide:1 inputs \[x:FP32\[-1, 5\]\] vs iris:1"):
        registry.create_endpoint("e", cfg("iris:1=1", "wide:1=1"))
    with pytest.raises(InvalidInput, match=r"renamed:1 outputs \[label:INT64\] vs iris@production"):
        registry.create_endpoint("e", cfg("iris@production=1", shadows=("renamed:1=10",)))
    assert registry.revision() == revision and registry.list_endpoints() == []
    # Output shapes may differ; forcing stores a mismatch on purpose.
    registry.create_endpoint("e", cfg("iris:1=1", "shaped:1=1"))
    forced = registry.update_endpoint("e", cfg("iris:1=1", "wide:1=1"), force=True)
    assert forced.revision == 2


def test_alias_targets_are_checked_at_the_version_they_point_to(
    registry: Registry, register: Register, make_file: Callable[[bytes], Path]
) -> None:
    register("m", aliases=["production"])
    wide = Signature(inputs=(TensorSpec("x", Datatype.FP32, (-1, 5)),), outputs=SIGNATURE.outputs)
    registry.register_version(
        "m", artifact=make_file(b"w"), filename="m.onnx", framework="onnx", signature=wide, aliases=["next"]
    )
    with pytest.raises(InvalidInput, match=r"m@next \(version 2\) inputs"):
        registry.create_endpoint("e", cfg("m@production=1", "m@next=1"))


def test_names_are_shared_with_models_both_ways(registry: Registry, register: Register, iris: None) -> None:
    with pytest.raises(
        Conflict, match="'iris' is the name of a model; models and endpoints share one namespace"
    ):
        registry.create_endpoint("iris", cfg("iris:1=1"))
    registry.create_endpoint("ab", cfg("iris:1=1"))
    revision = registry.revision()
    with pytest.raises(Conflict, match="'ab' is the name of an endpoint; models and endpoints share"):
        register("ab")
    assert registry.revision() == revision and [m.name for m in registry.list_models()] == ["iris"]
    with pytest.raises(Conflict, match="endpoint 'ab' already exists"):
        registry.create_endpoint("ab", cfg("iris:2=1"))


def test_endpoint_names_follow_the_model_name_rule(registry: Registry, iris: None) -> None:
    for bad in ("", "-x", "a/b", "x" * 129, "a b"):
        with pytest.raises(InvalidInput, match="invalid endpoint name"):
            registry.create_endpoint(bad, cfg("iris:1=1"))
    with pytest.raises(InvalidInput, match="EndpointConfig"):
        registry.create_endpoint("e", {"routes": []})  # type: ignore[arg-type]


def test_snapshot_contains_endpoints(registry: Registry, iris: None) -> None:
    assert registry.snapshot().endpoints == {}
    ab = registry.create_endpoint("ab", cfg("iris:1=1"))
    shadowed = registry.create_endpoint("canary", cfg("iris:1=1", shadows=("iris:2=5",)))
    snap = registry.snapshot()
    assert snap.revision == registry.revision()
    assert dict(snap.endpoints) == {"ab": ab, "canary": shadowed}
    assert snap.endpoint("ab") == ab and set(snap.models) == {"iris"}
    with pytest.raises(NotFound, match="endpoint 'nope' does not exist"):
        snap.endpoint("nope")
    data = json.loads(json.dumps(snap.to_dict()))
    assert [e["name"] for e in data["endpoints"]] == ["ab", "canary"]


def test_delete_removes_endpoint_and_history(registry: Registry, register: Register, iris: None) -> None:
    registry.create_endpoint("e", cfg("iris:1=1"))
    registry.update_endpoint("e", cfg("iris:2=1"))
    registry.delete_endpoint("e")
    assert registry.list_endpoints() == []
    for call in (registry.get_endpoint, registry.endpoint_history, registry.delete_endpoint):
        with pytest.raises(NotFound, match="endpoint 'e' does not exist"):
            call("e")
    with pytest.raises(NotFound):
        registry.update_endpoint("e", cfg("iris:1=1"))
    register("e")  # the name is free for a model again
    again = registry.create_endpoint("e2", cfg("iris:1=1"))
    assert isinstance(again, Endpoint) and [c.revision for c in registry.endpoint_history("e2")] == [1]
