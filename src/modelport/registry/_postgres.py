"""The registry's engine on PostgreSQL (``postgresql+psycopg://``): pool, write lock, clear errors.

Writers are serialised as on SQLite (where ``BEGIN IMMEDIATE`` takes the database's one write
lock): every write transaction starts with ``pg_advisory_xact_lock``, one lock for the whole
registry, released at commit or rollback. Each later statement of that transaction (READ
COMMITTED) then sees everything committed before it, so check-then-write sequences (the next
version number, the shared model/endpoint namespace, a job's output in use) hold without a retry
loop. The alternatives were weighed: SERIALIZABLE would fail a writer that lost a race with a
serialisation error that every caller would have to catch and replay (including the file work a
registration does between its checks), and ``SELECT ... FOR UPDATE`` on the rows read cannot lock
a row that does not exist yet (a new model's name, a new alias). Registry writes are rare and
short, so one lock costs nothing measurable, and readers never take it (they read a REPEATABLE
READ snapshot). A writer waits at most ``LOCK_TIMEOUT_S`` for it, then gets ``Overloaded``.

The pool pings a connection before lending it (a database restart or an idle timeout on the way
costs one reconnect, not a failed request), recycles connections after half an hour, and gives up
connecting after ``CONNECT_TIMEOUT_S`` (unless the URL sets ``connect_timeout``). Connection
failures become one ``StorageError`` line naming the database (password hidden) and libpq's reason;
text with a NUL character, which PostgreSQL cannot store (SQLite can), is ``InvalidInput``.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event
from sqlalchemy.engine import Connection, ExceptionContext

from modelport.core.errors import InvalidInput, ModelportError, Overloaded, StorageError

__all__ = ["CONNECT_TIMEOUT_S", "LOCK_TIMEOUT_S", "create_postgres_engine"]

_DRIVER = "psycopg"
CONNECT_TIMEOUT_S = 10
LOCK_TIMEOUT_S = 30
_POOL = {"pool_size": 5, "max_overflow": 10, "pool_timeout": 30, "pool_recycle": 1800, "pool_pre_ping": True}
_WRITE_LOCK_ID = 0x6D6F64656C7077  # "modelpw"
_LOCK_NOT_AVAILABLE = "55P03"
_CONNECTION_STATES = ("08", "57P01", "57P02", "57P03")  # connection exception, server shut down


def create_postgres_engine(url: URL) -> Engine:
    """An engine for ``url`` (``postgresql://`` means ``postgresql+psycopg://``)."""
    where = url.render_as_string(hide_password=True)
    if url.drivername == "postgresql":
        url = url.set(drivername=f"postgresql+{_DRIVER}")
    if url.get_driver_name() != _DRIVER:
        raise StorageError(f"the registry database {where}: use the psycopg driver (postgresql+psycopg://)")
    try:
        import psycopg  # noqa: F401
    except ModuleNotFoundError:
        raise StorageError(
            f"the registry database {where} needs the psycopg driver: pip install 'modelport[postgres]'"
        ) from None
    connect_args: dict[str, Any] = {"application_name": "modelport"}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    engine = create_engine(url, connect_args=connect_args, **_POOL)
    event.listen(engine, "begin", _lock_writers)
    event.listen(engine, "handle_error", functools.partial(_postgres_error, where=where))
    return engine


def _lock_writers(connection: Connection) -> None:
    if connection.get_execution_options().get("modelport_write", False):
        connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_S}s'")
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_WRITE_LOCK_ID})")


def _postgres_error(context: ExceptionContext, where: str) -> ModelportError | None:
    """A connection failure, a lock wait that timed out or a value PostgreSQL cannot store as a
    modelport error; anything else unchanged."""
    import psycopg

    cause = context.original_exception
    if not isinstance(cause, psycopg.Error) or context.is_pre_ping:
        return None
    state = cause.sqlstate or ""
    if state == _LOCK_NOT_AVAILABLE:
        return Overloaded(
            f"the registry database {where} is locked by another writer (waited {LOCK_TIMEOUT_S} s); retry"
        )
    if isinstance(cause, psycopg.OperationalError) and (not state or state.startswith(_CONNECTION_STATES)):
        return StorageError(f"cannot reach the registry database {where}: {_one_line(str(cause))}")
    if isinstance(cause, psycopg.DataError) and "NUL (0x00)" in str(cause):  # SQLite would store it
        return InvalidInput("text with a NUL character (\\x00) cannot be stored in a PostgreSQL registry")
    if state.startswith("53"):  # insufficient resources: disk full, out of memory, too many connections
        return StorageError(f"cannot use the registry database {where}: {_one_line(str(cause))}")
    return None


def _one_line(message: str) -> str:
    return "; ".join(part.strip() for part in message.splitlines() if part.strip())
