"""Endpoints in the registry: named routing configs with a history and optimistic concurrency.

An endpoint is called like a model (``/v2/models/{endpoint}/infer``), so endpoint and model
names share one namespace: each side refuses the other's names, checked inside the (serialised)
write transaction. Every write is one transaction that bumps ``registry_state.revision``, stores
the endpoint's new config and revision, and appends the same config to ``endpoint_changes``.

Targets are checked when a config is stored (the model, the version, the alias exist; all
targets have the same signature) and stored as written: a ``MODEL@ALIAS`` target keeps
following the alias, which is resolved here only to check it.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelport.core import Conflict, InvalidInput, NotFound, Signature
from modelport.core.endpoints import EndpointConfig
from modelport.core.targets import Target
from modelport.registry import _convert as conv
from modelport.registry import _queries as q
from modelport.registry.names import check_alias, check_endpoint_name
from modelport.registry.records import Endpoint, EndpointChange
from modelport.registry.schema import (
    AliasRow,
    EndpointChangeRow,
    EndpointRow,
    ModelRow,
    MonitorConfigRow,
    VersionRow,
    utcnow,
)

__all__ = ["EndpointCatalog", "resolve_target", "update_if_revision"]

_MAX_ACTOR, _MAX_TEXT = 128, 4096


class EndpointCatalog:
    """The endpoint operations of ``Registry``, which supplies the two transactions below."""

    def _read(self) -> AbstractContextManager[Session]:
        raise NotImplementedError

    def _write(self) -> AbstractContextManager[Session]:
        raise NotImplementedError

    # -- writes ---------------------------------------------------------------------------------

    def create_endpoint(
        self,
        name: str,
        config: EndpointConfig,
        *,
        description: str = "",
        actor: str = "",
        force: bool = False,
    ) -> Endpoint:
        """Store a new endpoint at revision 1 (history: "created").

        Conflict if ``name`` is an endpoint's or a model's; NotFound if a target's model, version
        or alias does not exist; InvalidInput if the targets' signatures differ, unless ``force``.
        """
        check_endpoint_name(name)
        _check_config(config)
        _check_text("actor", actor, _MAX_ACTOR)
        _check_text("description", description, _MAX_TEXT)
        try:
            with self._write() as s:
                q.refuse_model_name(s, name)
                if s.scalar(select(EndpointRow.id).where(EndpointRow.name == name)) is not None:
                    raise Conflict(f"endpoint {name!r} already exists; update it instead")
                _check_targets(s, name, config, force=force)
                now, stored = utcnow(), config.to_dict()
                row = EndpointRow(name=name, revision=1, config=stored, description=description)
                row.created_at = row.updated_at = now
                s.add(row)
                s.flush()
                _append_change(s, row.id, 1, stored, actor, "created", None, now)
                return conv.to_endpoint(row)
        except IntegrityError:  # a backstop: writers are serialised, so the check above decides
            raise Conflict(f"endpoint {name!r} already exists; update it instead") from None

    def update_endpoint(
        self,
        name: str,
        config: EndpointConfig,
        *,
        expected_revision: int | None = None,
        actor: str = "",
        summary: str = "",
        description: str | None = None,
        force: bool = False,
        point_alias: tuple[str, str, int] | None = None,
    ) -> Endpoint:
        """Store ``config`` as the endpoint's next revision (``description=None`` keeps it).

        ``point_alias=(model, alias, version)`` moves that alias in the same transaction, so that
        nobody sees one change without the other (a rollout that passed promotes its candidate).

        With ``expected_revision``, Conflict unless the endpoint is still at that revision (the
        revision the caller read): a change made in between is never silently overwritten.
        Validation as in ``create_endpoint``; on any error nothing is stored.
        """
        _check_config(config)
        _check_text("actor", actor, _MAX_ACTOR)
        _check_text("summary", summary, _MAX_TEXT)
        if description is not None:
            _check_text("description", description, _MAX_TEXT)
        if point_alias is not None:
            check_alias(point_alias[1])
        with self._write() as s:
            row = q.endpoint(s, name)
            _check_expected(row, expected_revision)
            _check_targets(s, name, config, force=force)
            if point_alias is not None:
                model_name, alias, number = point_alias
                model = q.model(s, model_name)
                q.version_row(s, model, number)
                q.put_alias(s, model.id, alias, number)
                model.updated_at = utcnow()
            return _change(s, row, config.to_dict(), actor, summary or "updated", None, description)

    def rollback_endpoint(
        self,
        name: str,
        *,
        actor: str = "",
        expected_revision: int | None = None,
        force: bool = False,
    ) -> Endpoint:
        """Undo the latest change not yet undone, as a new revision; the history keeps everything.

        The rule is an undo stack. A rollback restores the config that was current just before
        the change it undoes, and records which revision it restored (``restored_from``). Rolling
        back again undoes the change before that one, and so on back to the "created" revision;
        past it there is nothing to roll back to (Conflict). A change made after rollbacks is
        undone first. E.g. revisions 1:A 2:B 3:C, rollback → 4:B, rollback → 5:A, rollback →
        Conflict; or 1:A 2:B 3:C, rollback → 4:B, update → 5:D, rollback → 6:B, rollback → 7:A.

        The restored config is validated again (an alias may have been removed since).
        """
        _check_text("actor", actor, _MAX_ACTOR)
        with self._write() as s:
            row = q.endpoint(s, name)
            _check_expected(row, expected_revision)
            changes = {
                c.revision: c
                for c in s.scalars(select(EndpointChangeRow).where(EndpointChangeRow.endpoint_id == row.id))
            }
            target = _undo_target(changes, row.revision)
            if target is None or target not in changes:
                raise Conflict(
                    f"endpoint {name!r} has nothing to roll back to: revision {row.revision} "
                    "undoes no earlier change"
                )
            restored = changes[target].config
            _check_targets(s, name, EndpointConfig.from_dict(restored), force=force)
            summary = f"rolled back to revision {target}"
            return _change(s, row, restored, actor, summary, target, None)

    def delete_endpoint(self, name: str) -> None:
        """Remove the endpoint, its history and its monitor config."""
        with self._write() as s:
            s.delete(q.endpoint(s, name))
            s.execute(delete(MonitorConfigRow).where(MonitorConfigRow.name == name))

    # -- reads ----------------------------------------------------------------------------------

    def get_endpoint(self, name: str) -> Endpoint:
        with self._read() as s:
            return conv.to_endpoint(q.endpoint(s, name))

    def list_endpoints(self) -> list[Endpoint]:
        with self._read() as s:
            return [
                conv.to_endpoint(r)
                for r in s.scalars(select(EndpointRow).order_by(q.by_name(EndpointRow.name)))
            ]

    def endpoint_history(self, name: str) -> list[EndpointChange]:
        """Every revision of the endpoint, oldest first."""
        with self._read() as s:
            row = q.endpoint(s, name)
            changes = s.scalars(
                select(EndpointChangeRow)
                .where(EndpointChangeRow.endpoint_id == row.id)
                .order_by(EndpointChangeRow.revision)
            )
            return [conv.to_endpoint_change(c) for c in changes]


def _undo_target(changes: dict[int, EndpointChangeRow], revision: int) -> int | None:
    """The revision whose config a rollback from ``revision`` restores (see ``rollback_endpoint``)."""
    while (change := changes.get(revision)) is not None and change.restored_from is not None:
        revision = change.restored_from  # already undone back to there: undo what preceded it
    return revision - 1 if revision > 1 else None


def update_if_revision(s: Session, row: EndpointRow, expected: int, values: dict[str, Any]) -> None:
    """``UPDATE endpoints SET ... WHERE id = :id AND revision = :expected``; Conflict if no row matched.

    The guard that keeps optimistic concurrency sound even where two writers run at once.
    """
    result = s.execute(
        update(EndpointRow)
        .where(EndpointRow.id == row.id, EndpointRow.revision == expected)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)
    if result.rowcount != 1:
        now = s.scalar(select(EndpointRow.revision).where(EndpointRow.id == row.id))
        raise Conflict(f"endpoint {row.name!r} changed (now at revision {now}); reload it and try again")


def _check_targets(s: Session, endpoint: str, config: EndpointConfig, *, force: bool) -> None:
    """NotFound unless every target exists; InvalidInput if their signatures differ (unless ``force``)."""
    resolved = [resolve_target(s, endpoint, "route", r.target) for r in config.routes]
    resolved += [resolve_target(s, endpoint, "shadow", sh.target) for sh in config.shadows]
    if force:
        return
    first_label, first = resolved[0]
    differences = [
        f"{label} {part} {_describe(mine)} vs {first_label} {part} {_describe(theirs)}"
        for label, signature in resolved[1:]
        for part, mine, theirs in (
            ("inputs", _inputs(signature), _inputs(first)),
            ("outputs", _outputs(signature), _outputs(first)),
        )
        if mine != theirs
    ]
    if differences:
        raise InvalidInput(
            f"endpoint {endpoint!r}: the targets' signatures differ: {'; '.join(differences)} "
            "(every route and shadow must take the same inputs and give the same outputs; "
            "force=True stores it anyway)"
        )


def resolve_target(s: Session, endpoint: str, kind: str, target: Target) -> tuple[str, Signature]:
    """``(label, signature)`` of the version ``target`` names now (an alias is followed)."""
    where = f"endpoint {endpoint!r}: {kind} {target}"
    model = s.scalar(select(ModelRow).where(ModelRow.name == target.model))
    if model is None:
        is_endpoint = s.scalar(select(EndpointRow.id).where(EndpointRow.name == target.model)) is not None
        hint = " (that is an endpoint; targets name models)" if is_endpoint else ""
        raise NotFound(f"{where}: model {target.model!r} is not registered{hint}")
    ref = target.ref or ""
    label = str(target)
    if ref.isdigit():
        number = int(ref)
    else:
        alias = s.get(AliasRow, (model.id, ref))
        if alias is None:
            known = s.scalars(select(AliasRow.name).where(AliasRow.model_id == model.id)).all()
            listed = ", ".join(sorted(known)) or "none"
            raise NotFound(f"{where}: model {model.name!r} has no alias {ref!r} (aliases: {listed})")
        number, label = alias.version_number, f"{target} (version {alias.version_number})"
    signature = s.scalar(
        select(VersionRow.signature).where(VersionRow.model_id == model.id, VersionRow.number == number)
    )
    if signature is None:
        raise NotFound(f"{where}: model {model.name!r} has no version {number}")
    return label, Signature.from_dict(signature)


def _inputs(signature: Signature) -> list[tuple[str, str, tuple[int, ...]]]:
    return sorted((t.name, str(t.datatype), tuple(t.shape)) for t in signature.inputs)


def _outputs(signature: Signature) -> list[tuple[str, str, tuple[int, ...]]]:
    return sorted((t.name, str(t.datatype), ()) for t in signature.outputs)  # shapes may differ


def _describe(specs: Sequence[tuple[str, str, tuple[int, ...]]]) -> str:
    parts = [f"{n}:{d}" + (f"{list(shape)}" if shape else "") for n, d, shape in specs]
    return "[" + ", ".join(parts) + "]"


def _change(
    s: Session,
    row: EndpointRow,
    config: dict[str, Any],
    actor: str,
    summary: str,
    restored_from: int | None,
    description: str | None,
) -> Endpoint:
    """Move ``row`` to its next revision with ``config`` (guarded), and record it in the history."""
    now, revision = utcnow(), row.revision + 1
    values: dict[str, Any] = {"revision": revision, "config": config, "updated_at": now}
    if description is not None:
        values["description"] = description
    update_if_revision(s, row, row.revision, values)
    _append_change(s, row.id, revision, config, actor, summary, restored_from, now)
    s.refresh(row)
    return conv.to_endpoint(row)


def _append_change(
    s: Session,
    endpoint_id: int,
    revision: int,
    config: dict[str, Any],
    actor: str,
    summary: str,
    restored_from: int | None,
    at: datetime,
) -> None:
    s.add(
        EndpointChangeRow(
            endpoint_id=endpoint_id,
            revision=revision,
            config=config,
            actor=actor,
            summary=summary,
            restored_from=restored_from,
            changed_at=at,
        )
    )
    s.flush()


def _check_expected(row: EndpointRow, expected: int | None) -> None:
    if expected is None:
        return
    if isinstance(expected, bool) or not isinstance(expected, int):
        raise InvalidInput(f"expected_revision must be an integer, got {expected!r}")
    if expected != row.revision:
        raise Conflict(
            f"endpoint {row.name!r} changed (now at revision {row.revision}); reload it and try again"
        )


def _check_config(config: EndpointConfig) -> None:
    if not isinstance(config, EndpointConfig):
        raise InvalidInput("config must be a modelport.core.endpoints.EndpointConfig")


def _check_text(what: str, value: str, limit: int) -> None:
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidInput(f"{what} must be a string of at most {limit} characters")
