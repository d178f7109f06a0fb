"""Storage failures of the registry are modelport errors naming the cause and the path, and leave
nothing half-written: a real full disk and a real read-only file system (a small tmpfs), a real
unreadable file and a database file full of garbage."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelport.core import InvalidInput
from modelport.core.errors import StorageError
from modelport.registry import LocalArtifactStore, Registry
from tests.tmpfs import remount_read_only, tmpfs
from tests.unit.registry.conftest import SIGNATURE


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_a_full_disk_stops_a_store_with_its_cause_and_leaves_no_file(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", 128) as disk:
        store = LocalArtifactStore(disk / "artifacts")
        source = tmp_path / "model.onnx"
        source.write_bytes(os.urandom(400_000))
        for put in (
            lambda: store.put_file(source, "model.onnx"),
            lambda: store.put_bytes(b"x" * 400_000, "r.npy"),
        ):
            with pytest.raises(StorageError) as caught:
                put()
            assert "No space left on device" in caught.value.message
            assert str(disk / "artifacts") in caught.value.message
        assert files_under(disk) == []  # no temporary file, nothing published


def test_a_source_that_cannot_be_read_is_the_callers_error_not_the_stores(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts")
    with pytest.raises(InvalidInput, match="cannot read artifact file '/proc/self/mem'"):
        store.put_file(Path("/proc/self/mem"), "model.onnx")  # open works, read fails (EIO)
    assert files_under(tmp_path / "artifacts") == []


def test_a_garbage_database_file_is_a_storage_error_naming_it(tmp_path: Path) -> None:
    database = tmp_path / "modelport.db"
    database.write_bytes(os.urandom(8192))
    with pytest.raises(StorageError, match=f"registry database {database}: it is not an SQLite database"):
        Registry.open(f"sqlite:///{database}", LocalArtifactStore(tmp_path / "artifacts"))


def test_a_database_on_a_full_disk_keeps_its_last_good_state(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", 512) as disk:
        artifact = tmp_path / "model.onnx"
        artifact.write_bytes(b"model")
        with Registry.open(f"sqlite:///{disk / 'modelport.db'}", LocalArtifactStore(disk / "a")) as registry:
            registry.register_version(
                "m", artifact=artifact, filename="model.onnx", framework="onnx", signature=SIGNATURE
            )
            filler = disk / "filler"
            with filler.open("wb", buffering=0) as out, pytest.raises(OSError):
                while True:
                    out.write(b"\0" * 4096)
            aliases = [f"a{n}-{'x' * 56}" for n in range(10_000)]
            with pytest.raises(StorageError, match="the disk is full") as caught:
                for alias in aliases:  # until the database's pages run out
                    registry.set_alias("m", alias, 1)
            assert str(disk / "modelport.db") in caught.value.message
            filler.unlink()
            kept = registry.get_model("m").aliases
            assert sorted(kept) == sorted(aliases[: aliases.index(alias)])  # the failed one left no trace
            registry.set_alias("m", "after", 1)  # usable again once there is room


def test_a_read_only_file_system_is_a_storage_error_naming_it(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", 1024) as disk:
        artifact = tmp_path / "model.onnx"
        artifact.write_bytes(b"model")
        url = f"sqlite:///{disk / 'modelport.db'}"
        with Registry.open(url, LocalArtifactStore(disk / "a")) as registry:
            registry.register_version(
                "m", artifact=artifact, filename="model.onnx", framework="onnx", signature=SIGNATURE
            )
        remount_read_only(disk)
        with pytest.raises(StorageError, match="Read-only file system"):
            LocalArtifactStore(disk / "new")
        with pytest.raises(StorageError) as caught:
            Registry.open(url, LocalArtifactStore(disk / "a"))
        assert caught.value.message.startswith(f"cannot use the registry database {disk / 'modelport.db'}")
        assert "read-only file system" in caught.value.message
