"""What only PostgreSQL has: its write lock, its connection errors, its URLs (the rest of the registry's
tests run on both backends)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from modelport.core.errors import InvalidInput, Overloaded, StorageError
from modelport.registry import LocalArtifactStore, Registry, _postgres
from modelport.registry._engine import WRITE, create_registry_engine
from tests.e2e.conftest import free_port
from tests.postgres import REGISTRY_DATABASE, Cluster

from .conftest import SIGNATURE


def test_a_writer_waits_for_another_writers_transaction_then_is_told_to_retry(
    postgres_registry_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any write transaction holds the registry's write lock, even one that leaves the revision alone
    (a batch job's): as ``BEGIN IMMEDIATE`` on SQLite, the next writer waits for it."""
    monkeypatch.setattr(_postgres, "LOCK_TIMEOUT_S", 1)
    other_process = create_registry_engine(postgres_registry_url)
    with Registry.open(postgres_registry_url, LocalArtifactStore(tmp_path / "artifacts")) as registry:
        try:
            with other_process.connect().execution_options(**WRITE) as held, held.begin():
                with pytest.raises(Overloaded, match="is locked by another writer \\(waited 1 s\\); retry"):
                    _register(registry, tmp_path)
                assert registry.revision() == 0  # readers never wait
        finally:
            other_process.dispose()
        assert _register(registry, tmp_path) == 1
        assert registry.revision() == 1


def _register(registry: Registry, tmp_path: Path, description: str = "") -> int:
    artifact = tmp_path / "model.onnx"
    artifact.write_bytes(b"weights")
    version = registry.register_version(
        "m",
        artifact=artifact,
        filename="model.onnx",
        framework="onnx",
        signature=SIGNATURE,
        description=description,
    )
    return version.number


def test_text_postgresql_cannot_store_is_invalid_input(postgres_registry_url: str, tmp_path: Path) -> None:
    with Registry.open(postgres_registry_url, LocalArtifactStore(tmp_path / "artifacts")) as registry:
        with pytest.raises(InvalidInput, match=r"NUL character \(\\x00\) cannot be stored"):
            _register(registry, tmp_path, description="before\x00after")
        assert registry.revision() == 0
        assert _register(registry, tmp_path, description="before after") == 1


def test_an_unreachable_database_is_one_clear_line_without_the_password(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://someone:s3cret@127.0.0.1:{free_port()}/registry"
    with pytest.raises(StorageError) as caught:
        Registry.open(url, LocalArtifactStore(tmp_path / "artifacts"))
    message = caught.value.message
    assert message.startswith(
        "cannot reach the registry database postgresql+psycopg://someone:***@127.0.0.1:"
    )
    assert "Connection refused" in message and "\n" not in message and "s3cret" not in message


def test_a_missing_database_names_it(postgres: Cluster, tmp_path: Path) -> None:
    with pytest.raises(
        StorageError, match=r'cannot reach the registry database .*database "nowhere" does not'
    ):
        Registry.open(postgres.url("nowhere"), LocalArtifactStore(tmp_path / "artifacts"))


def test_a_plain_postgresql_url_uses_psycopg(postgres_registry_url: str, tmp_path: Path) -> None:
    plain = postgres_registry_url.replace("postgresql+psycopg://", "postgresql://")
    with Registry.open(plain, LocalArtifactStore(tmp_path / "artifacts")) as registry:
        assert registry.revision() == 0


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("postgresql+psycopg2://u:pw@localhost/db", "use the psycopg driver"),
        ("mysql://u:pw@localhost/db", "runs on SQLite or PostgreSQL"),
        ("not a url", "is not a URL"),
    ],
)
def test_other_databases_and_drivers_are_refused(url: str, reason: str, tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=reason) as caught:
        Registry.open(url, LocalArtifactStore(tmp_path / "artifacts"))
    assert ":pw@" not in caught.value.message


def test_connections_the_database_dropped_are_replaced_without_an_error(
    postgres: Cluster, postgres_registry_url: str, tmp_path: Path
) -> None:
    """As after a database restart or an idle timeout on the way: the pool pings before lending."""
    with Registry.open(postgres_registry_url, LocalArtifactStore(tmp_path / "artifacts")) as registry:
        assert registry.revision() == 0
        postgres.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{REGISTRY_DATABASE}' AND pid <> pg_backend_pid()"
        )
        assert _register(registry, tmp_path) == 1
        assert registry.revision() == 1


def test_without_the_driver_the_error_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if modelport[postgres] were not installed
    with pytest.raises(StorageError, match=r"needs the psycopg driver: pip install 'modelport\[postgres\]'"):
        Registry.open("postgresql+psycopg://u@localhost/db", LocalArtifactStore(tmp_path / "artifacts"))
