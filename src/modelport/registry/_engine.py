"""Engine setup and schema upgrades, kept apart from the catalogue's logic.

SQLite gets WAL (readers never wait on the writer), foreign keys, a busy timeout, and explicit
transaction control: SQLAlchemy emits ``BEGIN`` itself so that reads are inside the transaction
too (Python's sqlite3 legacy mode would run them outside it), and write transactions begin with
``BEGIN IMMEDIATE`` so that two writers queue on the lock instead of failing on a stale snapshot.
On PostgreSQL (``_postgres.py``) every write transaction begins by taking one advisory lock, which
serialises writers the same way.

Storage failures are expected, not bugs: a full disk, a read-only or unreadable file, a corrupt
database or a lock held too long become modelport errors naming the cause and the database, at the
engine (``handle_error``), so every caller (CLI, server, Python) gets them the same way.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection, ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import ConnectionPoolEntry

from modelport.core.errors import ModelportError, Overloaded, StorageError
from modelport.core.private_files import FILE_MODE, create_private, private_dir, tighten
from modelport.registry._postgres import create_postgres_engine

__all__ = ["HEAD_REVISION", "VERSION_TABLE", "WRITE", "create_registry_engine", "upgrade_schema"]

WRITE = {"modelport_write": True}
"""Execution options marking a connection that will write (``BEGIN IMMEDIATE`` on SQLite)."""

_BUSY_TIMEOUT_MS = 30_000
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "modelport_alembic_version"
HEAD_REVISION = "0009"
"""The newest migration (a test holds it equal to alembic's head): a registry already there opens
without importing alembic, which takes longer to import than the rest of the registry."""


def create_registry_engine(database_url: str) -> Engine:
    try:
        url = make_url(database_url)
    except ArgumentError:
        raise StorageError(f"the registry database URL {database_url!r} is not a URL") from None
    if url.get_backend_name() == "postgresql":
        return create_postgres_engine(url)
    if url.get_backend_name() != "sqlite":
        shown = url.render_as_string(hide_password=True)
        raise StorageError(f"the registry database {shown}: the registry runs on SQLite or PostgreSQL")
    where = url.database or ":memory:"
    if url.database and url.database != ":memory:":
        path = Path(url.database).expanduser()
        try:
            _private_database(path)
        except OSError as e:
            raise StorageError(f"cannot create the registry database {path}: {e.strerror}") from None
    engine = create_engine(url, connect_args={"timeout": _BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    event.listen(engine, "handle_error", functools.partial(_sqlite_error, where=where))
    return engine


_SQLITE_CAUSES = {
    sqlite3.SQLITE_FULL: "the disk is full",
    sqlite3.SQLITE_READONLY: "it is read-only",
    sqlite3.SQLITE_CANTOPEN: "it cannot be opened",
    sqlite3.SQLITE_PERM: "permission denied",
    sqlite3.SQLITE_IOERR: "disk I/O error",
    sqlite3.SQLITE_NOTADB: "it is not an SQLite database (corrupt, or another file)",
    sqlite3.SQLITE_CORRUPT: "it is corrupt",
}


def _sqlite_error(context: ExceptionContext, where: str) -> ModelportError | None:
    """A SQLite storage failure as a modelport error (by its result code); anything else unchanged."""
    cause = context.original_exception
    code = getattr(cause, "sqlite_errorcode", None)
    if not isinstance(cause, sqlite3.DatabaseError) or code is None or context.is_pre_ping:
        return None
    primary = code & 0xFF
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return Overloaded(
            f"the registry database {where} is locked by another writer "
            f"(waited {_BUSY_TIMEOUT_MS // 1000} s); retry"
        )
    reason = _SQLITE_CAUSES.get(primary)
    if reason is None:
        return None
    if primary in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY) and _read_only_folder(where):
        reason = "its folder is on a read-only file system"
    return StorageError(f"cannot use the registry database {where}: {reason} ({cause})")


def _read_only_folder(database: str) -> bool:
    """Whether the database's folder is on a read-only mount (SQLite only says it cannot open it)."""
    try:
        return bool(os.statvfs(Path(database).parent).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _private_database(path: Path) -> None:
    """Create the SQLite file ``0600`` before SQLite does (its -wal, -shm and journal files take the
    database file's mode), and tighten an existing one and its companions."""
    private_dir(path.parent)
    if not path.exists():
        with contextlib.suppress(FileExistsError), create_private(path, exclusive=True):
            pass
    for companion in ("", "-wal", "-shm", "-journal"):
        tighten(path.with_name(path.name + companion), FILE_MODE)


def _sqlite_on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (see _sqlite_on_begin)
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        _enable_wal(cursor)
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _enable_wal(cursor: sqlite3.Cursor) -> None:
    """Switch a database file to WAL (a lasting setting), retrying while another process does too.

    Changing the journal mode can fail with "database is locked" at once, without the busy
    timeout, when two processes open a brand-new database together.
    """
    deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _sqlite_on_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get("modelport_write", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def upgrade_schema(engine: Engine) -> None:
    """Create or upgrade the schema to the newest migration, in one transaction."""
    if _schema_revision(engine) == HEAD_REVISION:
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    # A write transaction: servers starting together on a new database upgrade it one at a time.
    with engine.connect().execution_options(**WRITE) as connection, connection.begin():
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _schema_revision(engine: Engine) -> str | None:
    """The registry's migration revision, ``None`` for a new (or foreign) database."""
    with engine.connect() as connection:
        if not engine.dialect.has_table(connection, VERSION_TABLE):
            return None
        revision = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    return None if revision is None else str(revision)
