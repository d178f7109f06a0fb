"""Alembic environment: run by ``modelport.registry._engine.upgrade`` with a live connection.

No alembic.ini: the caller builds the ``Config`` in code and passes the connection in
``config.attributes["connection"]``; offline (SQL script) mode is not supported.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from modelport.registry._engine import VERSION_TABLE
from modelport.registry.schema import Base


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("modelport migrations need a SQLAlchemy Connection in config.attributes")
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("modelport migrations run online only")
run_migrations_online()
