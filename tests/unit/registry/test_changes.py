"""Every kind of registry change bumps the revision (what servers poll) and, on PostgreSQL, announces
it with NOTIFY at commit (what wakes them); the listener comes back after losing its connection."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from modelport.core import Conflict
from modelport.core.monitor_config import MonitorConfig
from modelport.core.serving_config import ServingConfig
from modelport.registry import LocalArtifactStore, ModelVersion, Registry
from modelport.registry.changes import CHANNEL
from modelport.registry.policy import VersionPolicy
from tests.postgres import REGISTRY_DATABASE, Cluster

from .conftest import SIGNATURE
from .test_endpoints import cfg

Register = Callable[..., ModelVersion]
NOTIFY_WAIT_S = 10.0
"""Bounds a broken test's wait; not a latency assertion."""


@pytest.fixture
def listener(backend: str, request: pytest.FixtureRequest) -> Iterator[psycopg.Connection | None]:
    """A connection LISTENing on the registry's channel (PostgreSQL); None on SQLite."""
    if backend == "sqlite":
        yield None
        return
    postgres: Cluster = request.getfixturevalue("postgres")
    with psycopg.connect(
        host="127.0.0.1", port=postgres.port, user="postgres", dbname=REGISTRY_DATABASE, autocommit=True
    ) as connection:
        connection.execute(f"LISTEN {CHANNEL}")
        yield connection


def announced(listener: psycopg.Connection | None, count: int = 1) -> list[str]:
    """The next ``count`` revisions announced (waited for), then any others already received."""
    if listener is None:
        return []
    waited = [n.payload for n in listener.notifies(timeout=NOTIFY_WAIT_S, stop_after=count)]
    return waited + [n.payload for n in listener.notifies(timeout=0)]


def test_every_kind_of_change_bumps_the_revision_and_postgresql_announces_it_at_commit(
    registry: Registry, register: Register, listener: psycopg.Connection | None
) -> None:
    changes: list[tuple[str, Callable[[], object]]] = [
        ("register a version", lambda: register("iris")),
        ("register another", lambda: register("iris")),
        ("set an alias", lambda: registry.set_alias("iris", "production", 1)),
        ("move the alias", lambda: registry.set_alias("iris", "production", 2)),
        ("remove the alias", lambda: registry.remove_alias("iris", "production")),
        ("create an endpoint", lambda: registry.create_endpoint("ab", cfg("iris:1=90", "iris:2=10"))),
        ("change its weights", lambda: registry.update_endpoint("ab", cfg("iris:1=50", "iris:2=50"))),
        ("add a shadow", lambda: registry.update_endpoint("ab", cfg("iris:1=1", shadows=("iris:2=5",)))),
        ("roll the endpoint back", lambda: registry.rollback_endpoint("ab")),
        ("set a monitor config", lambda: registry.set_monitor_config("ab", MonitorConfig(sample_rate=0.5))),
        ("set a version policy", lambda: registry.set_version_policy("iris", VersionPolicy.all())),
        (
            "set a serving config",
            lambda: registry.set_serving_config("iris", ServingConfig(max_batch_size=4)),
        ),
        ("delete the endpoint", lambda: registry.delete_endpoint("ab")),
        ("delete a version", lambda: registry.delete_version("iris", 1)),  # and then its files: 2 writes
    ]
    for what, change in changes:
        before = registry.revision()
        change()
        after = registry.revision()
        assert after > before, what
        if listener is not None:
            wanted = [str(r) for r in range(before + 1, after + 1)]
            assert announced(listener, len(wanted)) == wanted, what


def test_a_failed_write_announces_nothing(
    registry: Registry, register: Register, listener: psycopg.Connection | None
) -> None:
    register("iris")
    announced(listener)
    with pytest.raises(Conflict):
        registry.create_endpoint("iris", cfg("iris:1=1"))  # models and endpoints share one namespace
    register("iris")
    assert announced(listener) == ([] if listener is None else [str(registry.revision())])


def test_sqlite_has_no_notifications_to_follow(tmp_path: Path) -> None:
    with Registry.open(f"sqlite:///{tmp_path / 'r.db'}", LocalArtifactStore(tmp_path / "a")) as registry:
        asyncio.run(asyncio.wait_for(registry.follow_changes(lambda: None), NOTIFY_WAIT_S))  # returns


def test_the_listener_comes_back_after_losing_its_connection_and_logs_the_outage_once(
    postgres: Cluster, postgres_registry_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """As after a PostgreSQL restart: its backend is ended; it reconnects, wakes its reader once back
    (for what it missed meanwhile), and then hears the next change."""
    caplog.set_level(logging.INFO, logger="modelport.registry.changes")

    async def scenario() -> None:
        woken = asyncio.Event()
        with Registry.open(postgres_registry_url, LocalArtifactStore(tmp_path / "artifacts")) as follower:
            task = asyncio.create_task(follower.follow_changes(woken.set))
            try:
                await _until(lambda: _listeners(postgres) == 1)
                _end_listeners(postgres)
                await _until(lambda: _listeners(postgres) == 1)  # reconnected
                await asyncio.wait_for(woken.wait(), NOTIFY_WAIT_S)  # the catch-up wake
                woken.clear()
                await asyncio.to_thread(_register, follower, tmp_path)
                await asyncio.wait_for(woken.wait(), NOTIFY_WAIT_S)
            finally:
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task

    asyncio.run(scenario())
    messages = [r.getMessage() for r in caplog.records]
    assert sum("lost registry change notifications" in m for m in messages) == 1, messages
    assert sum(m.endswith(": reconnected") for m in messages) == 1, messages


def _register(registry: Registry, tmp_path: Path) -> None:
    artifact = tmp_path / "model.onnx"
    artifact.write_bytes(b"weights")
    registry.register_version(
        "iris", artifact=artifact, filename="model.onnx", framework="onnx", signature=SIGNATURE
    )


def _listeners(postgres: Cluster) -> int:
    with psycopg.connect(host="127.0.0.1", port=postgres.port, user="postgres", autocommit=True) as c:
        row = c.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'modelport-listen' "
            "AND query LIKE 'LISTEN%'"
        ).fetchone()
        return int(row[0]) if row else 0


def _end_listeners(postgres: Cluster) -> None:
    with psycopg.connect(host="127.0.0.1", port=postgres.port, user="postgres", autocommit=True) as c:
        c.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'modelport-listen'"
        )


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(NOTIFY_WAIT_S):
        while not await asyncio.to_thread(condition):
            await asyncio.sleep(0.02)
