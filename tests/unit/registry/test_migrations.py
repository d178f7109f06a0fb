from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from modelport.registry import LocalArtifactStore, Registry
from modelport.registry.schema import Base

from .conftest import db_url


def test_migration_matches_orm_metadata(tmp_path: Path) -> None:
    Registry.open(db_url(tmp_path), LocalArtifactStore(tmp_path / "artifacts")).close()
    engine = create_engine(db_url(tmp_path))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"version_table": "modelport_alembic_version", "compare_type": True}
            )
            assert compare_metadata(context, Base.metadata) == []
            assert context.get_current_revision() == "0001"
            names = set(inspect(conn).get_table_names())
        assert names == {*Base.metadata.tables, "modelport_alembic_version"}
    finally:
        engine.dispose()


def test_open_is_idempotent(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts")
    for _ in range(3):
        with Registry.open(db_url(tmp_path), store) as registry:
            assert registry.revision() == 0


def test_open_creates_missing_data_dir(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'deep' / 'er' / 'modelport.db'}"
    with Registry.open(url, LocalArtifactStore(tmp_path / "artifacts")) as registry:
        assert registry.list_models() == []
