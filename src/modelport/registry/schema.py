"""The registry's tables (SQLAlchemy 2 typed ORM, portable SQL: SQLite and PostgreSQL).

Alembic migrations in ``migrations/`` create these; a test checks they stay identical.
Versions are never updated once inserted (only deleted, by ``deletion.py``); aliases and the
model's policy are the movable parts.
An endpoint's row holds its current routing config and ``revision``; ``endpoint_changes`` keeps
every revision's config (the history that rollbacks read).
``monitor_configs`` holds each model's or endpoint's payload-log settings, keyed by name.
``batch_jobs`` holds the batch jobs servers run; their writes do not bump the revision.
``deployment_evidence`` holds each server process's deployment aggregates per endpoint, and
``leases`` who decides for all of them (``deployment_state.py``); neither bumps the revision.
``remembered_predictions`` holds the predictions feedback can judge, on any process
(``predictions.py``); its writes do not bump the revision either.
``registry_state`` is one row whose ``revision`` is bumped by every write transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AliasRow",
    "Base",
    "BatchJobRow",
    "DeploymentEvidenceRow",
    "EndpointChangeRow",
    "EndpointRow",
    "LeaseRow",
    "ModelRow",
    "MonitorConfigRow",
    "RegistryState",
    "RememberedPredictionRow",
    "UTCDateTime",
    "VersionRow",
    "utcnow",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores it naive, read back as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ModelRow(Base):
    __tablename__ = "models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    version_policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    serving_config: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """``ServingConfig.to_dict()``; NULL means the defaults."""
    last_number: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """The highest version number ever given: a deleted version's number is not given again."""
    served: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    """False after an unload (the OIP repository extension): servers serve none of its versions."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class VersionRow(Base):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    framework: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[dict[str, Any]] = mapped_column(JSON)
    description: Mapped[str] = mapped_column(Text)
    tags: Mapped[dict[str, str]] = mapped_column(JSON)
    lineage: Mapped[dict[str, str]] = mapped_column(JSON)
    trusted: Mapped[bool] = mapped_column(Boolean)
    reference_digest: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AliasRow(Base):
    __tablename__ = "model_aliases"
    __table_args__ = (
        ForeignKeyConstraint(
            ["model_id", "version_number"],
            ["model_versions.model_id", "model_versions.number"],
            ondelete="CASCADE",
        ),
    )

    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_number: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EndpointRow(Base):
    __tablename__ = "endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    """Shares one namespace with ``models.name`` (checked by the writers, which are serialised)."""
    revision: Mapped[int] = mapped_column(Integer)
    """1 when created, +1 per change; updates are guarded by ``WHERE revision = :expected``."""
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    """``EndpointConfig.to_dict()``: targets as written (an alias stays an alias)."""
    description: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EndpointChangeRow(Base):
    __tablename__ = "endpoint_changes"
    __table_args__ = (UniqueConstraint("endpoint_id", "revision"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"))
    revision: Mapped[int] = mapped_column(Integer)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(128))
    summary: Mapped[str] = mapped_column(Text)
    restored_from: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """For a rollback, the earlier revision whose config this one restored; NULL otherwise."""
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MonitorConfigRow(Base):
    __tablename__ = "monitor_configs"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    """A model's or an endpoint's name (they share one namespace); removed with the endpoint."""
    sample_rate: Mapped[float] = mapped_column(Float)
    redact: Mapped[dict[str, str]] = mapped_column(JSON)
    """Input name → ``drop`` | ``hash`` | ``keep``."""
    actor: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BatchJobRow(Base):
    __tablename__ = "batch_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    target: Mapped[str] = mapped_column(String(300))
    """As submitted; ``model`` and ``version`` are what it resolved to then (a resumed job keeps them)."""
    model: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer)
    input: Mapped[str] = mapped_column(Text)
    output: Mapped[str] = mapped_column(Text)
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    """format, id_columns, features, errors, max_errors, chunk_rows, overwrite."""
    state: Mapped[str] = mapped_column(String(16))
    """queued, running, succeeded, failed or cancelled."""
    cancel_requested: Mapped[bool] = mapped_column(Boolean)
    rows_done: Mapped[int] = mapped_column(BigInteger)
    rows_total: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    rows_failed: Mapped[int] = mapped_column(BigInteger)
    rows_per_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    owner: Mapped[str | None] = mapped_column(String(300), nullable=True)
    """``host:pid`` of the server process running it; NULL while no server runs it."""
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """The owner's last sign of life; a stale one lets another server take the job over."""


class DeploymentEvidenceRow(Base):
    __tablename__ = "deployment_evidence"

    instance: Mapped[str] = mapped_column(String(32), primary_key=True)
    """The server process that wrote it: a uuid drawn at each start."""
    endpoint: Mapped[str] = mapped_column(String(128), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    """Its cumulative aggregates since it started, replaced at each flush."""
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LeaseRow(Base):
    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(32))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RememberedPredictionRow(Base):
    __tablename__ = "remembered_predictions"
    __table_args__ = (Index("ix_remembered_predictions_endpoint_created", "endpoint", "created_at"),)

    endpoint: Mapped[str] = mapped_column(String(128), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    """Unique per endpoint: the first prediction stored under an id stays."""
    variant: Mapped[str] = mapped_column(String(300))
    revision: Mapped[int] = mapped_column(BigInteger)
    """The endpoint revision the request was served under."""
    dtype: Mapped[str] = mapped_column(String(32))
    """numpy's dtype string of ``data``, or ``text`` for a JSON list of strings."""
    shape: Mapped[list[int]] = mapped_column(JSON)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    judged: Mapped[bool] = mapped_column(Boolean)
    """Set once, by the feedback call that counts it (on whichever process)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RegistryState(Base):
    __tablename__ = "registry_state"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    revision: Mapped[int] = mapped_column(BigInteger)
