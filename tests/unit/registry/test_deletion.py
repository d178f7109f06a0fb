"""Deleting versions and models: refused with every reason while in use; files removed only when
no remaining version references them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from modelport.core import Conflict, NotFound
from modelport.core.endpoints import EndpointConfig
from modelport.core.rollout import RolloutPlan
from modelport.core.targets import Target
from modelport.registry import LocalArtifactStore, ModelVersion, Registry
from modelport.registry.artifacts import StoredArtifact
from modelport.registry.policy import VersionPolicy

from .test_endpoints import cfg

Register = Callable[..., ModelVersion]


def stored_files(store: LocalArtifactStore) -> set[tuple[str, str]]:
    return set(store.stored())


def refusal(call: Callable[[], object]) -> str:
    with pytest.raises(Conflict) as refused:
        call()
    return refused.value.message


def test_an_unused_version_is_deleted_with_its_files(
    registry: Registry, register: Register, store: LocalArtifactStore
) -> None:
    reference = np.arange(8, dtype=np.float32).reshape(2, 4)
    first = register("iris", reference_data=reference)
    register("iris")
    before = registry.revision()
    removed = registry.delete_version("iris", 1)
    assert removed.versions == (1,) and removed.bytes_freed > 0
    assert {f.split("/")[0] for f in removed.files} == {first.digest, first.reference_digest}
    assert [v.number for v in registry.list_versions("iris")] == [2]
    assert first.digest not in {d for d, _ in stored_files(store)}
    assert registry.revision() > before  # servers see the change on their next poll
    assert register("iris").number == 3  # a number is never reused
    with pytest.raises(NotFound):
        registry.delete_version("iris", 1)


def test_a_shared_artifact_stays_while_a_version_references_it(
    registry: Registry, register: Register, store: LocalArtifactStore
) -> None:
    same = b"the same model bytes"
    one = register("iris", content=same)
    register("iris", content=same)
    register("iris")
    assert registry.delete_version("iris", 1).files == ()  # version 2 has the same file
    assert (one.digest, "model.onnx") in stored_files(store)
    removed = registry.delete_version("iris", 2)
    assert removed.files == (f"{one.digest}/model.onnx",)
    assert (one.digest, "model.onnx") not in stored_files(store)


def test_an_aliased_version_is_refused_with_the_reason(registry: Registry, register: Register) -> None:
    register("iris", aliases=["production", "staging"])
    register("iris")
    message = refusal(lambda: registry.delete_version("iris", 1))
    assert message.startswith("cannot delete version 1 of model 'iris': alias iris@production points at")
    assert "alone resolves" not in message  # `iris` is production's: the alias is the one reason
    assert "alias iris@staging points at version 1" in message and "alias rm iris staging" in message
    assert [v.number for v in registry.list_versions("iris")] == [1, 2]  # nothing changed


def test_the_version_a_bare_name_serves_is_refused(registry: Registry, register: Register) -> None:
    """Without a production alias, ``iris`` is the newest version: deleting it would silently
    put the one before it in front of callers."""
    register("iris")
    register("iris")
    assert "'iris' alone resolves to it" in refusal(lambda: registry.delete_version("iris", 2))
    registry.set_alias("iris", "production", 1)
    registry.delete_version("iris", 2)  # `iris` is production's version 1 now
    assert [v.number for v in registry.list_versions("iris")] == [1]
    assert register("iris").number == 3  # the deleted newest version's number is not given again


def test_a_version_an_endpoint_resolves_to_is_refused(registry: Registry, register: Register) -> None:
    register("iris", aliases=["production"])
    register("iris", aliases=["candidate"])
    register("iris")
    register("iris")
    registry.create_endpoint("api", cfg("iris:3=100", shadows=("iris@candidate=10",)))
    assert "endpoint 'api' routes to iris:3 (version 3)" in refusal(
        lambda: registry.delete_version("iris", 3)
    )
    message = refusal(lambda: registry.delete_version("iris", 2))
    assert (
        "endpoint 'api' shadows iris@candidate (version 2)" in message and "alias iris@candidate" in message
    )
    registry.remove_alias("iris", "candidate")
    registry.update_endpoint("api", cfg("iris:3=100"))
    registry.delete_version("iris", 2)
    assert "endpoint 'api'" in refusal(lambda: registry.delete_model("iris"))


def test_a_version_in_a_running_rollout_is_refused(registry: Registry, register: Register) -> None:
    register("iris", aliases=["production"])
    register("iris")
    register("iris")
    plan = RolloutPlan(baseline=Target.parse("iris@production"), candidate=Target.parse("iris:2"))
    routes = cfg("iris@production=95", "iris:2=5").routes
    registry.create_endpoint("api", EndpointConfig(routes).with_rollout(routes, plan))
    message = refusal(lambda: registry.delete_version("iris", 2))
    assert "endpoint 'api' routes to iris:2 (version 2) (in a running rollout)" in message


def test_a_version_the_policy_names_is_refused(registry: Registry, register: Register) -> None:
    for _ in range(3):
        register("iris")
    registry.set_version_policy("iris", VersionPolicy.specific([1, 3]))
    assert "the version policy specific:1,3 names version 1" in refusal(
        lambda: registry.delete_version("iris", 1)
    )
    registry.delete_version("iris", 2)


def test_a_model_is_deleted_with_everything_it_alone_references(
    registry: Registry, register: Register, store: LocalArtifactStore
) -> None:
    shared = b"shared bytes"
    register("iris", content=shared, aliases=["production"])
    register("iris")
    kept = register("wine", content=shared)
    assert "alias iris@production" in refusal(lambda: registry.delete_model("iris"))
    registry.remove_alias("iris", "production")
    removed = registry.delete_model("iris")
    assert removed.versions == (1, 2) and len(removed.files) == 1  # wine still uses the shared file
    assert [m.name for m in registry.list_models()] == ["wine"]
    assert (kept.digest, "model.onnx") in stored_files(store)
    with pytest.raises(NotFound):
        registry.get_model("iris")
    assert register("iris").number == 1  # a new model of that name starts again


def test_garbage_collection_removes_only_unreferenced_files(
    registry: Registry, register: Register, store: LocalArtifactStore, make_file: Callable[[bytes], Path]
) -> None:
    kept = register("iris")
    orphan = store.put_file(make_file(b"left by a crash after storing"), "model.onnx")
    removed = registry.collect_garbage()
    assert removed.files == (f"{orphan.digest}/model.onnx",) and removed.bytes_freed == orphan.size
    assert stored_files(store) == {(kept.digest, "model.onnx")}
    assert registry.collect_garbage().files == ()


def test_a_register_whose_file_a_deletion_removed_stores_it_again(
    registry: Registry, register: Register, store: LocalArtifactStore, make_file: Callable[[bytes], Path]
) -> None:
    """A register stores its file before its transaction: if a deletion's cleanup removed the same
    bytes in between, the version's transaction stores them again, never a version without its file."""
    data = b"bytes stored, then removed by a concurrent cleanup"
    original = store.put_file

    def removed_after_storing(src: Path, filename: str) -> StoredArtifact:
        stored = original(src, filename)
        registry.collect_garbage()  # runs between the store and the version's transaction
        store.put_file = original  # type: ignore[method-assign]
        return stored

    store.put_file = removed_after_storing  # type: ignore[method-assign]
    version = register("iris", content=data)
    with registry.artifact_copy(version) as path:
        assert path.read_bytes() == data
