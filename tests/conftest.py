"""Marks each test with its tier (unit, api, e2e) from the folder it lives in; the session's PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres import Cluster, start_cluster

TIERS = ("unit", "api", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).parts
        for tier in TIERS:
            if tier in parts:
                item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """One throwaway PostgreSQL cluster for the session (``tests/postgres.py``), stopped at its end."""
    try:
        cluster = start_cluster()
        cluster.create_registry_database()
    except RuntimeError as e:
        pytest.fail(str(e))
    yield cluster
    cluster.stop()


_DATABASES = itertools.count()


@pytest.fixture
def postgres_url(postgres: Cluster) -> str:
    """The URL of a new, empty database on the session's cluster: one per test that asks."""
    return postgres.create_database(f"test_{next(_DATABASES)}")


@pytest.fixture
def postgres_registry_url(postgres: Cluster) -> str:
    """The URL of the session's registry database, its schema at head and every table emptied: for
    the tests that need a registry, not a migration (emptying is ten times faster than a copy)."""
    return postgres.reset_registry_database()
