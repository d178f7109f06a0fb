from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from modelport.core.serving_config import ServingConfig
from modelport.registry import LocalArtifactStore, ModelVersion, Registry
from modelport.registry._engine import HEAD_REVISION, MIGRATIONS_DIR
from modelport.registry.schema import Base

from .conftest import SIGNATURE


def test_migration_matches_orm_metadata(tmp_path: Path, empty_db_url: str) -> None:
    Registry.open(empty_db_url, LocalArtifactStore(tmp_path / "artifacts")).close()
    engine = create_engine(empty_db_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"version_table": "modelport_alembic_version", "compare_type": True}
            )
            assert compare_metadata(context, Base.metadata) == []
            assert context.get_current_revision() == _head()
            names = set(inspect(conn).get_table_names())
        assert names == {*Base.metadata.tables, "modelport_alembic_version"}
    finally:
        engine.dispose()


def test_the_head_revision_the_engine_checks_is_alembics_head() -> None:
    assert _head() == HEAD_REVISION


def _head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def test_a_database_from_the_first_migration_upgrades_in_place(tmp_path: Path, empty_db_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    engine = create_engine(empty_db_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.exec_driver_sql(
            "INSERT INTO models (name, description, version_policy, created_at, updated_at) "
            "VALUES ('old', '', '{\"kind\": \"latest\", \"n\": 1}', "
            "'2026-01-01 00:00:00', '2026-01-01 00:00:00')"
        )
    engine.dispose()
    with Registry.open(empty_db_url, LocalArtifactStore(tmp_path / "artifacts")) as registry:
        assert registry.get_model("old").serving == ServingConfig()
        assert registry.get_model("old").served  # 0009: models of before are served


def test_open_is_idempotent(tmp_path: Path, db_url: str) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts")
    for _ in range(3):
        with Registry.open(db_url, store) as registry:
            assert registry.revision() == 0


def test_open_creates_missing_data_dir(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'deep' / 'er' / 'modelport.db'}"
    with Registry.open(url, LocalArtifactStore(tmp_path / "artifacts")) as registry:
        assert registry.list_models() == []


def test_an_upgraded_database_never_gives_a_deleted_version_number_again(
    tmp_path: Path, db_url: str, registry: Registry, register: Callable[..., ModelVersion]
) -> None:
    """0005 records each model's highest number from its existing versions."""
    from alembic import command
    from alembic.config import Config

    register("m", aliases=["production"])
    register("m")
    registry.close()
    engine = create_engine(db_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")
    engine.dispose()
    with Registry.open(db_url, LocalArtifactStore(tmp_path / "artifacts")) as upgraded:
        upgraded.delete_version("m", 2)
        version = upgraded.register_version(
            "m",
            artifact=registry_file(tmp_path),
            filename="model.onnx",
            framework="onnx",
            signature=SIGNATURE,
        )
        assert version.number == 3


def registry_file(tmp_path: Path) -> Path:
    path = tmp_path / "again.onnx"
    path.write_bytes(b"registered after the upgrade")
    return path
