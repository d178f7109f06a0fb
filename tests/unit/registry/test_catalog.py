from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from modelport.core import InternalError, InvalidInput, NotFound
from modelport.registry import ModelVersion, Registry, VersionPolicy

from .conftest import SIGNATURE

Register = Callable[..., ModelVersion]


def test_numbering_per_model(registry: Registry, register: Register) -> None:
    assert [register("a").number for _ in range(3)] == [1, 2, 3]
    assert [register("b").number for _ in range(2)] == [1, 2]
    assert register("a").number == 4
    assert [v.number for v in registry.list_versions("a")] == [1, 2, 3, 4]
    summaries = {m.name: m for m in registry.list_models()}
    assert (summaries["a"].latest_version, summaries["a"].version_count) == (4, 4)
    assert (summaries["b"].latest_version, summaries["b"].version_count) == (2, 2)
    assert registry.get_model("b") == summaries["b"]


def test_version_fields_round_trip(registry: Registry, register: Register) -> None:
    v = register(
        "iris",
        content=b"weights",
        description="first",
        tags={"team": "ml"},
        lineage={"run_id": "r1", "git": "abc123"},
        aliases=["production", "staging"],
        trusted=True,
        model_description="Iris classifier",
    )
    stored = registry.get_version("iris", 1)
    assert stored == v
    assert stored.signature == SIGNATURE and stored.framework == "onnx" and stored.filename == "model.onnx"
    assert stored.size == len(b"weights") and stored.trusted and stored.aliases == ("production", "staging")
    assert stored.tags == {"team": "ml"} and stored.lineage == {"run_id": "r1", "git": "abc123"}
    assert stored.created_at.tzinfo is UTC and not stored.has_reference_data
    assert registry.get_model("iris").description == "Iris classifier"
    with registry.artifact_copy(stored) as path:
        assert path.read_bytes() == b"weights"
    data = json.loads(json.dumps(stored.to_dict()))
    assert data["created_at"] == stored.created_at.isoformat()
    assert (data["name"], data["version"]) == (stored.model, 1)
    assert data["signature"] == SIGNATURE.to_dict()
    json.dumps(registry.get_model("iris").to_dict())
    json.dumps(registry.snapshot().to_dict())


def test_versions_are_immutable(registry: Registry, register: Register) -> None:
    v = register("m", content=b"one")
    register("m", content=b"two", description="other", aliases=["prod"])
    assert registry.get_version("m", 1) == v  # later writes never touch an existing version
    assert not any(hasattr(registry, n) for n in ("update_version", "set_tags"))  # deleting: test_deletion
    with pytest.raises(AttributeError):
        v.number = 3  # type: ignore[misc]


def test_aliases_set_move_remove_resolve(registry: Registry, register: Register) -> None:
    register("m", aliases=["staging"])
    register("m")
    assert registry.resolve("m", "staging").number == 1
    assert registry.resolve("m", 2).number == 2
    assert registry.resolve("m", "2").number == 2
    registry.set_alias("m", "staging", 2)
    registry.set_alias("m", "production", 1)
    assert registry.resolve("m", "staging").number == 2
    assert registry.get_model("m").aliases == {"production": 1, "staging": 2}
    assert registry.get_version("m", 2).aliases == ("staging",)
    register("m", aliases=["production"])  # registering with an alias moves it
    assert registry.resolve("m", "production").number == 3
    registry.remove_alias("m", "staging")
    assert registry.get_model("m").aliases == {"production": 3}
    with pytest.raises(NotFound, match=r"no version or alias 'staging' \(aliases: production\)"):
        registry.resolve("m", "staging")


def test_not_found_messages(registry: Registry, register: Register) -> None:
    register("m", aliases=["prod"])
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: registry.get_model("nope"), "model 'nope' is not registered"),
        (lambda: registry.list_versions("nope"), "model 'nope' is not registered"),
        (lambda: registry.get_version("m", 7), "model 'm' has no version 7"),
        (lambda: registry.resolve("m", "9"), "model 'm' has no version 9"),
        (lambda: registry.resolve("nope", "prod"), "model 'nope' is not registered"),
        (lambda: registry.set_alias("m", "prod", 5), "model 'm' has no version 5"),
        (lambda: registry.remove_alias("m", "canary"), "model 'm' has no alias 'canary'"),
        (lambda: registry.set_version_policy("nope", VersionPolicy.all()), "model 'nope'"),
        (lambda: registry.reference_data("m", 3), "model 'm' has no version 3"),
    ]
    for call, message in cases:
        with pytest.raises(NotFound) as info:
            call()
        assert message in info.value.message
    assert registry.resolve("m", "prod").number == 1  # failed writes changed nothing


@pytest.mark.parametrize("name", ["", "-x", ".x", "a/b", "a b", "x" * 129, "é"])
def test_model_name_validation(register: Register, name: str) -> None:
    with pytest.raises(InvalidInput, match="invalid model name"):
        register(name)


@pytest.mark.parametrize("alias", ["", "1", "123", "1abc", "-a", "a/b", "a" * 65, "a b"])
def test_alias_validation(registry: Registry, register: Register, alias: str) -> None:
    with pytest.raises(InvalidInput, match="invalid alias"):
        register("m", aliases=[alias])
    register("m")
    with pytest.raises(InvalidInput, match="invalid alias"):
        registry.set_alias("m", alias, 1)


def test_other_input_validation(register: Register) -> None:
    assert register("a.b-C_9").number == 1
    with pytest.raises(InvalidInput, match="tags"):
        register("m", tags={"k": 1})
    with pytest.raises(InvalidInput, match="lineage"):
        register("m", lineage={1: "v"})
    with pytest.raises(InvalidInput, match="reference data"):
        register("m", reference_data=np.array([object()]))


def test_revision_bumps_on_writes_only(registry: Registry, register: Register) -> None:
    assert registry.revision() == 0
    register("m")
    assert registry.revision() == 1
    register("m", aliases=["prod"])
    assert registry.revision() == 2
    registry.set_alias("m", "canary", 1)
    registry.remove_alias("m", "canary")
    registry.set_version_policy("m", VersionPolicy.latest(2))
    assert registry.revision() == 5
    registry.list_models(), registry.get_model("m"), registry.list_versions("m"), registry.snapshot()
    registry.resolve("m", "prod"), registry.get_version("m", 1)
    assert registry.revision() == 5
    with pytest.raises(NotFound):
        registry.set_alias("m", "x", 9)
    with pytest.raises(InvalidInput):
        register("m", aliases=["9"])
    assert registry.revision() == 5


def test_policy_and_snapshot(registry: Registry, register: Register) -> None:
    for _ in range(4):
        register("m")
    register("other")
    registry.set_alias("m", "prod", 2)
    snap = registry.snapshot()
    assert snap.revision == registry.revision() == 6
    m = snap.model("m")
    assert m.summary.policy == VersionPolicy() and m.live_versions() == {2, 4}
    assert [v.number for v in m.versions] == [1, 2, 3, 4] and m.version(2).aliases == ("prod",)
    registry.set_version_policy("m", VersionPolicy.parse("specific:1"))
    assert registry.get_model("m").policy == VersionPolicy.specific([1])
    assert registry.snapshot().model("m").live_versions() == {1, 2}
    assert snap.model("m").summary.policy == VersionPolicy()  # an old snapshot never changes
    with pytest.raises(NotFound, match="'zzz'"):
        snap.model("zzz")


def test_reference_data_round_trip(registry: Registry, register: Register) -> None:
    ref = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    v = register("m", reference_data=ref)
    assert v.has_reference_data
    back = registry.reference_data("m", 1)
    assert back is not None and back.dtype == np.float32
    np.testing.assert_array_equal(back, ref)
    register("m")
    assert registry.reference_data("m", 2) is None


def test_a_reference_table_is_kept_as_parquet(registry: Registry, register: Register) -> None:
    table = pa.table({"x[0]": [1.0, 2.0], "city": ["Oslo", "Rome"]})
    version = register("m", reference_data=table)
    back = registry.reference_data("m", 1)
    assert isinstance(back, pa.Table) and back.equals(table)
    assert registry.artifacts.exists(version.reference_digest, "reference.parquet")


def test_artifact_copy_verifies(registry: Registry, register: Register, tmp_path: Path) -> None:
    v = register("m", content=b"good bytes")
    with registry.artifact_copy(v) as path:
        path.chmod(0o644)
    path.write_bytes(b"bad bytes!")
    with pytest.raises(InternalError, match="corrupt"), registry.artifact_copy(v):
        pass


def test_registering_the_same_files_again_repairs_damaged_copies(
    registry: Registry, register: Register
) -> None:
    """A stored artifact or reference file damaged on disk is replaced by the next register of the
    same bytes, and the versions that share it load again."""
    table = pa.table({"x[0]": [1.0, 2.0]})
    first = register("m", content=b"good bytes", reference_data=table)
    damaged = [
        registry.artifacts.path(first.digest, first.filename),
        registry.artifacts.path(str(first.reference_digest), "reference.parquet"),
    ]
    for path in damaged:
        path.chmod(0o644)
        path.write_bytes(b"bad bytes!")
    with pytest.raises(InternalError, match="corrupt"):
        registry.reference_data("m", 1)
    register("m", content=b"good bytes", reference_data=table)
    with registry.artifact_copy(first) as path:
        assert path.read_bytes() == b"good bytes"
    back = registry.reference_data("m", 1)
    assert isinstance(back, pa.Table) and back.equals(table)


def test_same_bytes_stored_once(registry: Registry, register: Register, tmp_path: Path) -> None:
    a, b = register("m", content=b"same"), register("n", content=b"same")
    assert a.digest == b.digest
    assert len([p for p in (tmp_path / "artifacts").rglob("model.onnx")]) == 1


def test_reopen_keeps_everything(db_url: str, registry: Registry, register: Register) -> None:
    register("m", aliases=["prod"])
    before = registry.snapshot()
    registry.close()
    with Registry.open(db_url, registry.artifacts) as again:
        assert again.snapshot() == before


def test_names_are_listed_in_code_point_order_on_every_backend(
    registry: Registry, register: Register
) -> None:
    """As SQLite compares text, whatever the PostgreSQL database's collation (here ICU's en-US)."""
    for name in ("alpha", "Zeta", "b_", "beta", "b-"):
        register(name)
    assert [m.name for m in registry.list_models()] == ["Zeta", "alpha", "b-", "b_", "beta"]
    assert list(registry.snapshot().models) == ["Zeta", "alpha", "b-", "b_", "beta"]
