"""Several processes on one registry (SQLite file or PostgreSQL database): distinct numbers, consistent
snapshots, crash safety."""

from __future__ import annotations

import multiprocessing
import os
import queue
import random
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from modelport.registry import LocalArtifactStore, ModelVersion, Registry

from . import _workers

SPAWN = multiprocessing.get_context("spawn")


def test_two_processes_get_distinct_consecutive_numbers(tmp_path: Path, empty_db_url: str) -> None:
    url, start, results = empty_db_url, SPAWN.Event(), SPAWN.Queue()
    # Both children create the brand-new database themselves, racing on the schema too.
    children = [
        SPAWN.Process(
            target=_workers.register_many, args=(url, str(tmp_path), "shared", 10, start, results, t)
        )
        for t in ("a", "b")
    ]
    for child in children:
        child.start()
    start.set()
    got = [_get(results, children) for _ in range(20)]
    for child in children:
        child.join(30)
        assert child.exitcode == 0
    numbers = sorted(n for _, n in got)
    assert numbers == list(range(1, 21))
    for tag in ("a", "b"):  # each writer saw its own numbers increase
        mine = [n for t, n in got if t == tag]
        assert mine == sorted(mine) and len(mine) == 10
    with Registry.open(url, LocalArtifactStore(tmp_path / "artifacts")) as registry:
        versions = registry.list_versions("shared")
        assert [v.number for v in versions] == list(range(1, 21))
        assert registry.revision() == 20
        by_writer = {t: max(n for w, n in got if w == t) for t in ("a", "b")}
        assert registry.get_model("shared").aliases == {f"latest-from-{t}": n for t, n in by_writer.items()}


def _get(results: Any, children: list[Any]) -> tuple[str, int]:
    """The next result, failing at once (not after a long timeout) if a child died."""
    for _ in range(600):
        try:
            item: tuple[str, int] = results.get(timeout=0.1)
            return item
        except queue.Empty:
            failed = [c.exitcode for c in children if c.exitcode not in (None, 0)]
            assert not failed, f"a registering child failed (exit codes {failed}); see its stderr"
    raise AssertionError("children produced no result in 60 s")


# SQLite only: there a crash tests modelport's own use of the file (WAL, the write lock); PostgreSQL
# rolls a killed client's transaction back itself, and 5-10 s more of the suite would show only that.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_crash_mid_registration_leaves_a_consistent_registry(tmp_path: Path, db_url: str) -> None:
    """Kill a registering child at random moments, many times; every kill must leave a whole state."""
    url, root = db_url, str(tmp_path)
    store = LocalArtifactStore(tmp_path / "artifacts")
    Registry.open(url, store).close()
    rng = random.Random(os.getpid())
    for _ in range(4):
        ready = SPAWN.Event()
        child = SPAWN.Process(target=_workers.register_forever, args=(url, root, "crash", ready))
        child.start()
        assert ready.wait(30)
        _wait_for_a_registration(url, store)  # on a busy machine the child may not have got that far
        threading.Event().wait(rng.uniform(0.02, 0.25))
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        child.join(10)
        assert child.exitcode == -signal.SIGKILL
        _assert_consistent(url, store)
    with Registry.open(url, store) as registry:
        total = registry.revision()
        assert total >= 4  # the children did register between kills
        assert (
            registry.register_version(
                "crash",
                artifact=_file(tmp_path),
                filename="model.onnx",
                framework="onnx",
                signature=registry.get_version("crash", 1).signature,
            ).number
            == total + 1
        )


def _wait_for_a_registration(url: str, store: LocalArtifactStore) -> None:
    """Until the running child has registered one more version (this round's kill then interrupts
    a later one at a random moment, and the final count is not left to the machine's speed)."""
    with Registry.open(url, store) as registry:
        before = registry.revision()
        for _ in range(600):
            if registry.revision() > before:
                return
            threading.Event().wait(0.05)
    raise AssertionError("the child registered nothing in 30 s")


def _assert_consistent(url: str, store: LocalArtifactStore) -> None:
    with Registry.open(url, store) as registry:
        snap = registry.snapshot()
        versions = snap.models["crash"].versions if "crash" in snap.models else ()
        assert [v.number for v in versions] == list(range(1, len(versions) + 1))
        assert snap.revision == len(versions)  # one bump per registration, none lost or extra
        for v in versions:
            with registry.artifact_copy(v):  # exists and its sha256 matches
                pass
            assert v.lineage == {"i": v.lineage["i"]}
        for path in store.root.rglob("*"):  # no half-written file under a final name, ever
            if path.is_file() and path.parent.parent.parent == store.root:
                store.verify(path.parent.name, path.name)
        if versions:
            aliases = snap.models["crash"].summary.aliases
            assert set(aliases.values()) <= {v.number for v in versions}


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "final.bin"
    path.write_bytes(os.urandom(32))
    return path


def test_snapshots_are_consistent_under_concurrent_writes(
    registry: Registry, register: Callable[..., ModelVersion], tmp_path: Path, db_url: str
) -> None:
    """A writer registers into two models while snapshots are taken: each must be one moment."""
    register("a")
    register("b")
    stop = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with Registry.open(db_url, registry.artifacts) as writer:
                src = tmp_path / "w.bin"
                for i in range(40):
                    if stop.is_set():
                        return
                    src.write_bytes(str(i).encode())
                    for model in ("a", "b"):
                        writer.register_version(
                            model,
                            artifact=src,
                            filename="model.onnx",
                            framework="onnx",
                            signature=registry.get_version("a", 1).signature,
                            aliases=["newest"],
                        )
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=write)
    thread.start()
    seen = set()
    try:
        while thread.is_alive():
            snap = registry.snapshot()
            seen.add(snap.revision)
            counts = [len(snap.models[m].versions) for m in ("a", "b")]
            assert snap.revision == sum(counts)
            assert counts[0] - counts[1] in (0, 1)  # a is written first, then b
            for m in ("a", "b"):
                summary = snap.models[m].summary
                assert summary.latest_version == summary.version_count == len(snap.models[m].versions)
                assert summary.aliases.get("newest", summary.latest_version) == summary.latest_version
    finally:
        stop.set()
        thread.join(30)
    assert not errors
    assert len(seen) > 3  # the snapshots did interleave with writes
