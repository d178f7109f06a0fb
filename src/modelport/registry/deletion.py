"""Deleting versions and models, and removing the stored files no version references any more.

A deletion never changes what a caller gets without saying so. It is refused (Conflict, naming
every reason) while an alias points at the version, while an endpoint's route or shadow resolves to
it (directly or through an alias; a running rollout's baseline and candidate are routes), or while
the model's ``specific`` version policy names it. Deleting one version is also refused while the
model's bare name resolves to it, i.e. it is the newest version of a model without a ``production``
alias: its deletion would quietly put the version before it in front of callers. Nothing is
archived: a deleted version's number is not reused, but its row, lineage and files are gone.

The rows go in one transaction. The files follow in a second write transaction, so that a register
storing the same bytes is serialised with it (``Registry.register_version`` stores its file again
if it vanished): an artifact or reference file is removed only when no remaining version
references it (versions may share one). A crash between the two leaves an unreferenced file, never
a version without its file; ```collect_garbage`` sweeps such files.

A running server may answer an alias with an earlier version while the one the alias names
cannot load ("held", see ``serving/reconciler.py``); the registry cannot see that, so the callers
that can ask a server (the management API, the CLI) refuse with ``held_reasons`` first.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from modelport.core import Conflict
from modelport.core.endpoints import EndpointConfig
from modelport.core.targets import DEFAULT_ALIAS, Target
from modelport.registry import _queries as q
from modelport.registry.artifacts import ArtifactStore
from modelport.registry.policy import VersionPolicy
from modelport.registry.schema import (
    AliasRow,
    EndpointRow,
    ModelRow,
    MonitorConfigRow,
    VersionRow,
    utcnow,
)

__all__ = [
    "REFERENCE_FILENAME",
    "REFERENCE_TABLE_FILENAME",
    "DeletionCatalog",
    "Removed",
    "held_reasons",
    "refuse_deletion",
]

REFERENCE_FILENAME = "reference.npy"
REFERENCE_TABLE_FILENAME = "reference.parquet"

_File = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Removed:
    """What a deletion or a garbage collection removed."""

    model: str | None
    versions: tuple[int, ...]
    files: tuple[str, ...]
    """``digest/filename`` of every stored file removed."""
    bytes_freed: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.model,
            "versions": list(self.versions),
            "files": list(self.files),
            "bytes_freed": self.bytes_freed,
        }


class DeletionCatalog:
    """The delete operations of ``Registry``, which supplies the store and the two transactions."""

    artifacts: ArtifactStore

    def _write(self) -> AbstractContextManager[Session]:
        raise NotImplementedError

    def delete_version(self, name: str, number: int) -> Removed:
        """Delete version ``number`` of ``name``, then the files only it referenced."""
        with self._write() as s:
            model = q.model(s, name)
            row = q.version_row(s, model, number)
            reasons = _uses(s, model, {number})
            if _bare_name_version(s, model) == number:
                reasons.append(
                    f"{name!r} alone resolves to it (its newest version, and it has no "
                    f"{DEFAULT_ALIAS!r} alias): point {DEFAULT_ALIAS!r} at the version to serve instead"
                    f" (modelport alias set {name} {DEFAULT_ALIAS} VERSION), or delete the model"
                )
            refuse_deletion(f"version {number} of model {name!r}", reasons)
            files = _files_of(row)
            s.delete(row)
            model.updated_at = utcnow()
        return self._remove_unreferenced(files, name, (number,))

    def delete_model(self, name: str) -> Removed:
        """Delete the model ``name`` with every version, its settings and its monitor config."""
        with self._write() as s:
            model = q.model(s, name)
            rows = s.scalars(select(VersionRow).where(VersionRow.model_id == model.id)).all()
            refuse_deletion(f"model {name!r}", _uses(s, model, {r.number for r in rows}))
            files = [f for r in rows for f in _files_of(r)]
            numbers = tuple(sorted(r.number for r in rows))
            s.execute(delete(VersionRow).where(VersionRow.model_id == model.id))
            s.execute(delete(MonitorConfigRow).where(MonitorConfigRow.name == name))
            s.delete(model)
        return self._remove_unreferenced(files, name, numbers)

    def collect_garbage(self) -> Removed:
        """Remove every stored file that no version references (left by a crash or a failed register)."""
        return self._remove_unreferenced(self.artifacts.stored(), None, ())

    def _remove_unreferenced(
        self, files: Iterable[_File], model: str | None, numbers: tuple[int, ...]
    ) -> Removed:
        removed, freed = [], 0
        with self._write() as s:  # serialised with registering writers (see the module docstring)
            referenced = {f for r in s.scalars(select(VersionRow)) for f in _files_of(r)}
            for digest, filename in sorted(set(files) - referenced):
                size = self.artifacts.remove(digest, filename)
                if size is not None:
                    removed.append(f"{digest}/{filename}")
                    freed += size
        return Removed(model, numbers, tuple(removed), freed)


def _files_of(row: VersionRow) -> list[_File]:
    """The stored files a version references: its artifact, and its reference data in either format."""
    files = [(row.digest, row.filename)]
    if row.reference_digest is not None:
        files += [
            (row.reference_digest, REFERENCE_FILENAME),
            (row.reference_digest, REFERENCE_TABLE_FILENAME),
        ]
    return files


def _uses(s: Session, model: ModelRow, numbers: set[int]) -> list[str]:
    """Why versions ``numbers`` of ``model`` are in use: aliases, endpoints, the version policy."""
    aliases = s.scalars(
        select(AliasRow).where(AliasRow.model_id == model.id).order_by(q.by_name(AliasRow.name))
    ).all()
    alias_to = {a.name: a.version_number for a in aliases}
    reasons = [
        f"alias {model.name}@{a.name} points at version {a.version_number}: move or remove it first "
        f"(modelport alias rm {model.name} {a.name})"
        for a in aliases
        if a.version_number in numbers
    ]
    for endpoint in s.scalars(select(EndpointRow).order_by(q.by_name(EndpointRow.name))):
        config = EndpointConfig.from_dict(endpoint.config)
        targets = [("routes to", r.target) for r in config.routes]
        targets += [("shadows", sh.target) for sh in config.shadows]
        for verb, target in targets:
            if target.model != model.name or target.ref is None:
                continue
            number = int(target.ref) if target.ref.isdigit() else alias_to.get(target.ref)
            if number in numbers:
                running = config.rollout is not None and config.rollout.running
                during = " (in a running rollout)" if running and target in _rollout_targets(config) else ""
                reasons.append(
                    f"endpoint {endpoint.name!r} {verb} {target} (version {number}){during}: "
                    "change or delete the endpoint first"
                )
    policy = VersionPolicy.from_dict(model.version_policy)
    named = sorted(numbers & set(policy.versions)) if policy.kind == "specific" else []
    if named:
        reasons.append(
            f"the version policy {policy} names version {', '.join(map(str, named))}: "
            f"set another first (modelport policy set {model.name} ...)"
        )
    return reasons


def _rollout_targets(config: EndpointConfig) -> tuple[Target, ...]:
    rollout = config.rollout
    return () if rollout is None else (rollout.baseline, rollout.candidate)


def _bare_name_version(s: Session, model: ModelRow) -> int | None:
    """The newest version when the model has no ``production`` alias: what its name alone serves
    (with the alias, the aliased version is, and the alias itself keeps it from deletion)."""
    if s.get(AliasRow, (model.id, DEFAULT_ALIAS)) is not None:
        return None
    numbers = s.scalars(select(VersionRow.number).where(VersionRow.model_id == model.id)).all()
    return max(numbers, default=None)


def held_reasons(
    held_aliases: Iterable[Mapping[str, Any]], model: str, numbers: Collection[int] | None
) -> list[str]:
    """Why a server's held aliases (its status's ``held_aliases``) forbid deleting versions ``numbers``
    of ``model`` (None: all of them): each is the only version answering for an alias."""
    return [
        f"a running server answers {model}@{held['alias']} with version {held['serving']} because "
        f"version {held['version']} cannot be served ({held['reason']}): fix or move the alias first"
        for held in held_aliases
        if held.get("model") == model and (numbers is None or held.get("serving") in numbers)
    ]


def refuse_deletion(what: str, reasons: list[str]) -> None:
    """Conflict naming every reason, if there is any."""
    if reasons:
        raise Conflict(f"cannot delete {what}: {'; '.join(reasons)}")
