from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from modelport.core import InternalError, InvalidInput, NotFound
from modelport.registry import ArtifactStore, LocalArtifactStore


def test_content_addressed_and_stored_once(tmp_path: Path, store: LocalArtifactStore) -> None:
    assert isinstance(store, ArtifactStore)
    data = b"onnx bytes" * 1000
    src = tmp_path / "a.onnx"
    src.write_bytes(data)
    first = store.put_file(src, "model.onnx")
    second = store.put_bytes(data, "model.onnx")
    assert first == second
    assert first.digest == hashlib.sha256(data).hexdigest() and first.size == len(data)
    path = store.path(first.digest, "model.onnx")
    assert path == tmp_path / "artifacts" / first.digest[:2] / first.digest / "model.onnx"
    assert path.read_bytes() == data
    files = [p for p in (tmp_path / "artifacts").rglob("*") if p.is_file()]
    assert files == [path]  # no stray temporary files
    other = store.put_bytes(b"other", "model.onnx")
    assert other.digest != first.digest
    assert store.verify(first.digest, "model.onnx") == path


def test_large_file_streams(tmp_path: Path, store: LocalArtifactStore) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    stored = store.put_file(src, "big.bin")
    assert stored.size == len(data)
    assert store.verify(stored.digest, "big.bin").read_bytes() == data


def test_verify_detects_tampering(store: LocalArtifactStore) -> None:
    stored = store.put_bytes(b"good", "model.onnx")
    path = store.path(stored.digest, "model.onnx")
    path.chmod(0o644)
    path.write_bytes(b"evil")
    with pytest.raises(InternalError, match="corrupt"):
        store.verify(stored.digest, "model.onnx")


@pytest.mark.parametrize("damage", ["changed", "emptied"])
def test_storing_the_same_bytes_again_repairs_a_damaged_copy(
    tmp_path: Path, store: LocalArtifactStore, damage: str
) -> None:
    data = b"good bytes" * 100
    src = tmp_path / "a.onnx"
    src.write_bytes(data)
    for put in (lambda: store.put_file(src, "model.onnx"), lambda: store.put_bytes(data, "model.onnx")):
        stored = put()
        path = store.path(stored.digest, "model.onnx")
        path.chmod(0o644)
        path.write_bytes(b"evil" if damage == "changed" else b"")
        assert put() == stored
        assert store.verify(stored.digest, "model.onnx").read_bytes() == data
        assert path.stat().st_mode & 0o777 == 0o400
    assert [p for p in (tmp_path / "artifacts").rglob("*") if p.is_file()] == [path]


def test_verify_missing(store: LocalArtifactStore) -> None:
    with pytest.raises(NotFound, match="missing"):
        store.verify("ab" * 32, "model.onnx")
    with pytest.raises(InvalidInput, match="digest"):
        store.verify("../etc", "model.onnx")


@pytest.mark.parametrize("name", ["", "a/b", "../x", "..", ".hidden", "a\\b", "a b", "x" * 300])
def test_bad_filenames(store: LocalArtifactStore, name: str) -> None:
    with pytest.raises(InvalidInput, match="file name"):
        store.put_bytes(b"x", name)


def test_missing_source(tmp_path: Path, store: LocalArtifactStore) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        store.put_file(tmp_path / "nope.onnx", "model.onnx")


def test_stale_temporary_files_are_cleaned(tmp_path: Path, store: LocalArtifactStore) -> None:
    old, fresh = tmp_path / "artifacts" / ".tmp" / "put-old", tmp_path / "artifacts" / ".tmp" / "put-new"
    old.write_bytes(b"half")
    fresh.write_bytes(b"in progress")
    os.utime(old, (0, 0))
    LocalArtifactStore(tmp_path / "artifacts")
    assert not old.exists() and fresh.exists()
