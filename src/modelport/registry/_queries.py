"""The catalogue's queries, each run inside a session the caller's transaction owns."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, String, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from modelport.core import Conflict, NotFound
from modelport.registry import _convert as conv
from modelport.registry.policy import VersionPolicy
from modelport.registry.records import ModelSnapshot, ModelVersion, RegistrySnapshot
from modelport.registry.schema import (
    AliasRow,
    EndpointRow,
    ModelRow,
    MonitorConfigRow,
    RegistryState,
    VersionRow,
    utcnow,
)

__all__ = [
    "by_name",
    "endpoint",
    "get_or_create_model",
    "model",
    "model_or_endpoint",
    "next_number",
    "put_alias",
    "refuse_endpoint_name",
    "refuse_model_name",
    "snapshot",
    "version",
    "version_row",
]


class by_name(FunctionElement[str]):
    """ORDER BY a name in code-point order on every backend: SQLite compares text byte by byte, and
    a PostgreSQL database's collation (``en_US.UTF-8``, ICU) may not ("Zeta" after "alpha")."""

    type = String()
    inherit_cache = True

    def __init__(self, column: InstrumentedAttribute[str] | ColumnElement[str]) -> None:
        super().__init__(column)


@compiles(by_name)
def _by_name(element: by_name, compiler: SQLCompiler, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(by_name, "postgresql")
def _by_name_postgresql(element: by_name, compiler: SQLCompiler, **kw: Any) -> str:
    return f'{compiler.process(element.clauses, **kw)} COLLATE "C"'


_SHARED = "models and endpoints share one namespace (clients call both at /v2/models/{name})"


def model(s: Session, name: str) -> ModelRow:
    row = s.scalar(select(ModelRow).where(ModelRow.name == name))
    if row is None:
        raise NotFound(f"model {name!r} is not registered")
    return row


def endpoint(s: Session, name: str) -> EndpointRow:
    row = s.scalar(select(EndpointRow).where(EndpointRow.name == name))
    if row is None:
        raise NotFound(f"endpoint {name!r} does not exist")
    return row


def model_or_endpoint(s: Session, name: str) -> ModelRow | EndpointRow:
    """The model or the endpoint called ``name`` (they share one namespace); NotFound for neither."""
    found: ModelRow | EndpointRow | None = s.scalar(select(ModelRow).where(ModelRow.name == name))
    if found is None:
        found = s.scalar(select(EndpointRow).where(EndpointRow.name == name))
    if found is None:
        raise NotFound(f"no model or endpoint is named {name!r}")
    return found


def refuse_endpoint_name(s: Session, name: str) -> None:
    """Conflict if ``name`` is an endpoint's: a model cannot take it."""
    if s.scalar(select(EndpointRow.id).where(EndpointRow.name == name)) is not None:
        raise Conflict(f"{name!r} is the name of an endpoint; {_SHARED}, so give the model another name")


def refuse_model_name(s: Session, name: str) -> None:
    """Conflict if ``name`` is a model's: an endpoint cannot take it."""
    if s.scalar(select(ModelRow.id).where(ModelRow.name == name)) is not None:
        raise Conflict(f"{name!r} is the name of a model; {_SHARED}, so give the endpoint another name")


def get_or_create_model(s: Session, name: str, description: str | None) -> ModelRow:
    now = utcnow()
    row = s.scalar(select(ModelRow).where(ModelRow.name == name))
    if row is None:
        row = ModelRow(
            name=name,
            description=description or "",
            version_policy=VersionPolicy().to_dict(),
            created_at=now,
            updated_at=now,
        )
        s.add(row)
        s.flush()
    elif description is not None:
        row.description = description
    row.updated_at = now
    return row


def next_number(s: Session, model: ModelRow) -> int:
    """One past the highest number the model ever gave (deleted versions' numbers included), which
    it records."""
    latest = s.scalar(select(func.max(VersionRow.number)).where(VersionRow.model_id == model.id))
    model.last_number = max(latest or 0, model.last_number or 0) + 1
    return model.last_number


def version_row(s: Session, model: ModelRow, number: int) -> VersionRow:
    row = s.scalar(select(VersionRow).where(VersionRow.model_id == model.id, VersionRow.number == number))
    if row is None:
        raise NotFound(f"model {model.name!r} has no version {number!r}")
    return row


def version(s: Session, model: ModelRow, number: int) -> ModelVersion:
    row = version_row(s, model, number)
    names = s.scalars(
        select(AliasRow.name).where(AliasRow.model_id == model.id, AliasRow.version_number == number)
    ).all()
    return conv.to_version(row, model.name, names)


def put_alias(s: Session, model_id: int, alias: str, number: int) -> None:
    row = s.get(AliasRow, (model_id, alias))
    if row is None:
        s.add(AliasRow(model_id=model_id, name=alias, version_number=number, updated_at=utcnow()))
    else:
        row.version_number, row.updated_at = number, utcnow()


def snapshot(s: Session) -> RegistrySnapshot:
    """Everything, in six SELECTs of the caller's (single, consistent) transaction."""
    revision = int(s.scalar(select(RegistryState.revision)) or 0)
    models = s.scalars(select(ModelRow).order_by(by_name(ModelRow.name))).all()
    versions = s.scalars(select(VersionRow).order_by(VersionRow.model_id, VersionRow.number)).all()
    aliases = s.scalars(select(AliasRow)).all()
    versions_of: dict[int, list[VersionRow]] = {m.id: [] for m in models}
    for v in versions:
        versions_of[v.model_id].append(v)
    aliases_of: dict[int, list[AliasRow]] = {m.id: [] for m in models}
    for a in aliases:
        aliases_of[a.model_id].append(a)
    out: dict[str, ModelSnapshot] = {}
    for m in models:
        rows, mine = versions_of[m.id], aliases_of[m.id]
        by_version = conv.aliases_by_version(mine)
        summary = conv.to_summary(m, rows[-1].number if rows else None, len(rows), mine)
        out[m.name] = ModelSnapshot(
            summary, tuple(conv.to_version(r, m.name, by_version.get(r.number, ())) for r in rows)
        )
    endpoints = s.scalars(select(EndpointRow).order_by(by_name(EndpointRow.name))).all()
    monitors = {m.name: conv.to_monitor(m).config for m in s.scalars(select(MonitorConfigRow))}
    return RegistrySnapshot(
        revision=revision,
        models=out,
        endpoints={e.name: conv.to_endpoint(e) for e in endpoints},
        monitors=monitors,
    )
