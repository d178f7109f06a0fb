"""The S3 artifact store and its local cache, against a real S3 server (SeaweedFS).

In this process for the store's own behaviour; in child processes (``store_child.py``) where the
point is what several processes on one host do with one cache, and for memory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import obstore
import pytest

from modelport.core.errors import StorageError
from modelport.core.settings import Settings
from modelport.registry.artifact_cache import ArtifactCache, DigestMismatch
from modelport.registry.local import open_artifact_store
from modelport.registry.s3_store import S3ArtifactStore, parse_s3_url
from tests.e2e.conftest import free_port
from tests.s3 import SeaweedFS, cache_entries

MB = 1024 * 1024
REPO = Path(__file__).resolve().parents[3]


def storage(seaweed: SeaweedFS, s3_url: str, **more: Any) -> dict[str, Any]:
    return {
        "artifacts_url": s3_url,
        "s3_endpoint_url": seaweed.endpoint,
        "s3_access_key_id": seaweed.env()["AWS_ACCESS_KEY_ID"],
        "s3_secret_access_key": seaweed.env()["AWS_SECRET_ACCESS_KEY"],
        "s3_region": "us-east-1",
        **more,
    }


def open_store(home: Path, seaweed: SeaweedFS, s3_url: str, **more: Any) -> S3ArtifactStore:
    store = open_artifact_store(Settings(home=home, storage=storage(seaweed, s3_url, **more)))
    assert isinstance(store, S3ArtifactStore)
    return store


def write(path: Path, size: int, seed: int) -> Path:
    path.write_bytes(seed.to_bytes(1, "big") * size)
    return path


def child(home: Path, seaweed: SeaweedFS, s3_url: str, *args: str, **more: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELPORT_", "AWS_"))}
    env.update(seaweed.env(), MODELPORT_HOME=str(home), MODELPORT_STORAGE__ARTIFACTS_URL=s3_url, **more)
    return subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.s3.store_child", *args],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def answer(process: subprocess.Popen[str]) -> dict[str, Any]:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, f"the child exited with {process.wait()}"
    return dict(json.loads(line))


def read(store: S3ArtifactStore, digest: str, filename: str) -> bytes:
    with store.local_copy(digest, filename) as path:
        return path.read_bytes()


def finish(process: subprocess.Popen[str]) -> None:
    """Close its stdin (a holder then exits) and wait for a clean exit."""
    process.communicate(timeout=60)
    assert process.returncode == 0


def test_store_verify_and_remove(tmp_path: Path, seaweed: SeaweedFS, s3_url: str) -> None:
    store = open_store(tmp_path, seaweed, s3_url)
    source = write(tmp_path / "a.onnx", 3 * MB, 1)
    stored = store.put_file(source, "model.onnx")
    assert store.exists(stored.digest, "model.onnx")
    assert list(store.stored()) == [(stored.digest, "model.onnx")]
    with store.local_copy(stored.digest, "model.onnx") as path:
        assert path.read_bytes() == source.read_bytes()
    assert path.is_relative_to(tmp_path / "cache" / "artifacts")
    assert store.remove(stored.digest, "model.onnx") == 3 * MB
    assert not store.exists(stored.digest, "model.onnx")
    assert not path.exists()
    assert store.remove(stored.digest, "model.onnx") is None


def test_changed_object_is_refused_and_not_cached(tmp_path: Path, seaweed: SeaweedFS, s3_url: str) -> None:
    store = open_store(tmp_path, seaweed, s3_url)
    a = store.put_file(write(tmp_path / "a.onnx", MB, 1), "model.onnx")
    b = store.put_file(write(tmp_path / "b.onnx", MB, 2), "model.onnx")
    _, prefix = parse_s3_url(s3_url)
    obstore.put(
        seaweed.client(parse_s3_url(s3_url)[0]), f"{prefix}/{a.digest[:2]}/{a.digest}/model.onnx", b"changed"
    )

    with pytest.raises(DigestMismatch, match="refused: the downloaded bytes hash to"):
        read(store, a.digest, "model.onnx")
    assert cache_entries(tmp_path) == set()
    assert list((tmp_path / "cache" / "artifacts" / ".tmp").iterdir()) == []
    assert read(store, b.digest, "model.onnx") == (tmp_path / "b.onnx").read_bytes()
    store.put_file(tmp_path / "a.onnx", "model.onnx")  # storing the bytes again repairs the object
    assert read(store, a.digest, "model.onnx") == (tmp_path / "a.onnx").read_bytes()


def test_changed_cache_entry_is_downloaded_again(tmp_path: Path, seaweed: SeaweedFS, s3_url: str) -> None:
    store = open_store(tmp_path, seaweed, s3_url)
    a = store.put_file(write(tmp_path / "a.onnx", MB, 1), "model.onnx")
    with store.local_copy(a.digest, "model.onnx") as path:
        pass
    path.chmod(0o600)
    path.write_bytes(b"damaged on disk")
    assert read(store, a.digest, "model.onnx") == (tmp_path / "a.onnx").read_bytes()


def test_a_download_cut_short_leaves_nothing(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path / "cache", max_bytes=MB)

    def cut_short(write: Callable[[bytes], object]) -> None:
        write(b"the first half")
        raise StorageError("cannot reach s3://models/x: the S3 endpoint does not answer")

    with pytest.raises(StorageError, match="does not answer"), cache.use("a" * 64, "model.onnx", cut_short):
        pass
    assert list((tmp_path / "cache").glob("??/*/*")) == []
    assert list((tmp_path / "cache" / ".tmp").iterdir()) == []


def test_partial_downloads_a_killed_process_left_are_removed(tmp_path: Path) -> None:
    tmp = tmp_path / "cache" / ".tmp"
    tmp.mkdir(parents=True)
    old, fresh = tmp / "fill-old", tmp / "fill-fresh"  # fresh: maybe another process's, still writing
    for leftover in (old, fresh):
        leftover.write_bytes(b"part")
    os.utime(old, (time.time() - 2 * 24 * 3600,) * 2)
    ArtifactCache(tmp_path / "cache", max_bytes=MB)
    assert sorted(tmp.iterdir()) == [fresh]


def test_two_processes_download_an_artifact_once(tmp_path: Path, seaweed: SeaweedFS, s3_url: str) -> None:
    a = open_store(tmp_path / "writer", seaweed, s3_url).put_file(write(tmp_path / "a", 4 * MB, 1), "m.onnx")
    home = tmp_path / "home"
    both = [child(home, seaweed, s3_url, "fetch", "m.onnx", a.digest, "--slow") for _ in range(2)]
    answers = [answer(process) for process in both]
    for process in both:
        finish(process)
    assert sum(answer["downloads"] for answer in answers) == 1
    assert answers[0]["paths"] == answers[1]["paths"]
    assert Path(answers[0]["paths"][0]).read_bytes() == (tmp_path / "a").read_bytes()


def test_eviction_is_least_recently_used_and_spares_entries_in_use(
    tmp_path: Path, seaweed: SeaweedFS, s3_url: str
) -> None:
    writer = open_store(tmp_path / "writer", seaweed, s3_url)
    a, b, c = (writer.put_file(write(tmp_path / f"{n}", MB, n), "m.onnx").digest for n in (1, 2, 3))
    home = tmp_path / "home"
    bound = {"MODELPORT_STORAGE__CACHE_MAX_BYTES": str(2 * MB + MB // 2)}  # two entries fit

    def fetch(digest: str) -> None:
        process = child(home, seaweed, s3_url, "fetch", "m.onnx", digest, **bound)
        answer(process)
        finish(process)

    holder = child(home, seaweed, s3_url, "fetch", "m.onnx", a, "--hold", **bound)
    answer(holder)
    fetch(b)
    fetch(c)  # over the bound: a is the least recently used, but in use, so b goes
    assert cache_entries(home) == {a, c}
    finish(holder)
    fetch(b)  # a, no longer in use, goes now
    assert cache_entries(home) == {b, c}


def test_transfers_stream_without_holding_the_artifact(
    tmp_path: Path, seaweed: SeaweedFS, s3_url: str
) -> None:
    size = 64 * MB
    with open(tmp_path / "big.onnx", "wb") as out:
        for _ in range(size // MB):
            out.write(os.urandom(MB))
    process = child(tmp_path / "home", seaweed, s3_url, "transfer", str(tmp_path / "big.onnx"))
    memory = answer(process)
    finish(process)
    assert memory["size"] == size
    assert memory["after"] - memory["before"] < size // 2, memory


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("credentials", "access denied: check the S3 credentials"),
        ("bucket", "the bucket does not exist"),
        ("server", "the S3 endpoint does not answer"),
    ],
)
def test_faults_are_one_line_storage_errors(
    tmp_path: Path, seaweed: SeaweedFS, s3_url: str, fault: str, message: str
) -> None:
    writer = open_store(tmp_path / "w", seaweed, s3_url)
    digest = writer.put_file(write(tmp_path / "a", 10, 1), "m.onnx").digest
    changes: dict[str, Any] = {
        "credentials": {"s3_secret_access_key": "wrong"},
        "bucket": {"artifacts_url": "s3://no-such-bucket/x"},
        "server": {"s3_endpoint_url": f"http://127.0.0.1:{free_port()}"},
    }[fault]
    store = open_store(tmp_path, seaweed, s3_url, **changes)
    for call in (lambda: read(store, digest, "m.onnx"), lambda: store.put_file(tmp_path / "a", "m.onnx")):
        with pytest.raises(StorageError) as error:
            call()
        assert message in str(error.value)
        assert "\n" not in str(error.value)
        assert "wrong" not in str(error.value)
    assert cache_entries(tmp_path) == set()
