"""The registry's API: register versions, move aliases, set policies, read consistent snapshots.

The endpoint operations (``create_endpoint``, ``update_endpoint``, ...) live in ``endpoints.py``,
the payload-log settings (``set_monitor_config``, ...) in ``monitors.py``, the batch jobs that
servers run (``add_job``, ``claim_job``, ...) in ``jobs.py``, deletions and the removal of
unreferenced files in ``deletion.py``, the server processes' shared deployment evidence and leases
in ``deployment_state.py``.

Every write but a batch job's is one transaction that also bumps ``registry_state.revision``, so a
server polls one cheap row (``revision()``) and reads a ``snapshot()`` only when it changed; on
PostgreSQL the transaction also announces the new revision (``changes.py``), which wakes every
server at once (``follow_changes``).
Artifacts are stored before the transaction that records them: a crash can leave an unreferenced
artifact, never a version without its file; a file removed by a concurrent deletion before the
version's transaction is stored again inside it.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelport.core import Conflict, InvalidInput, NotFound, Signature
from modelport.core.serving_config import ServingConfig
from modelport.core.targets import DEFAULT_ALIAS, Target
from modelport.registry import _convert as conv
from modelport.registry import _queries as q
from modelport.registry import changes
from modelport.registry._engine import WRITE, create_registry_engine, upgrade_schema
from modelport.registry.artifacts import ArtifactStore
from modelport.registry.deletion import REFERENCE_FILENAME, REFERENCE_TABLE_FILENAME, DeletionCatalog
from modelport.registry.deployment_state import DeploymentStateCatalog
from modelport.registry.endpoints import EndpointCatalog
from modelport.registry.jobs import JobCatalog
from modelport.registry.monitors import MonitorCatalog
from modelport.registry.names import check_alias, check_filename, check_model_name
from modelport.registry.policy import VersionPolicy, refuse_missing_versions
from modelport.registry.predictions import PredictionCatalog
from modelport.registry.records import ModelSummary, ModelVersion, RegistrySnapshot
from modelport.registry.schema import AliasRow, ModelRow, RegistryState, VersionRow, utcnow

__all__ = ["REFERENCE_FILENAME", "REFERENCE_TABLE_FILENAME", "Registry"]

_ATTEMPTS = 5


class Registry(
    EndpointCatalog, MonitorCatalog, JobCatalog, DeletionCatalog, DeploymentStateCatalog, PredictionCatalog
):
    def __init__(self, engine: Engine, artifact_store: ArtifactStore) -> None:
        """Use ``Registry.open``; this assumes the schema is already current."""
        self._engine = engine
        self._writer = engine.execution_options(**WRITE)
        consistent = engine.dialect.name != "sqlite"  # SQLite transactions are snapshots already
        self._reader = engine.execution_options(isolation_level="REPEATABLE READ") if consistent else engine
        self._announces = changes.announces(engine)
        self.artifacts = artifact_store

    @classmethod
    def open(cls, database_url: str, artifact_store: ArtifactStore) -> Registry:
        """Connect, create or upgrade the schema (Alembic ``upgrade head``), and return the registry."""
        engine = create_registry_engine(database_url)
        try:
            upgrade_schema(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, artifact_store)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    # -- writes ---------------------------------------------------------------------------------

    def register_version(
        self,
        name: str,
        *,
        artifact: Path,
        filename: str,
        framework: str,
        signature: Signature,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        lineage: Mapping[str, str] | None = None,
        aliases: Sequence[str] = (),
        trusted: bool = False,
        reference_data: np.ndarray | pa.Table | None = None,
        model_description: str | None = None,
    ) -> ModelVersion:
        """Store the artifact, then record version ``max + 1`` (creating the model on first use).

        Conflict if ``name`` is an endpoint's: models and endpoints share one namespace.
        """
        check_model_name(name)
        check_filename(filename)
        if not isinstance(framework, str) or not framework or len(framework) > 64:
            raise InvalidInput(f"framework must be a name of 1-64 characters, got {framework!r}")
        if not isinstance(signature, Signature):
            raise InvalidInput("signature must be a modelport.core.Signature")
        alias_names = sorted({check_alias(a) for a in aliases})
        fields = {
            "framework": framework,
            "filename": filename,
            "signature": signature.to_dict(),
            "description": description,
            "tags": conv.check_str_map("tags", tags),
            "lineage": conv.check_str_map("lineage", lineage),
            "trusted": bool(trusted),
        }
        with self._read() as s:  # fail before storing the artifact; re-checked in the write
            q.refuse_endpoint_name(s, name)
        stored = self.artifacts.put_file(Path(artifact), filename)
        fields.update(digest=stored.digest, size=stored.size)
        fields["reference_digest"] = self._store_reference(reference_data)
        for attempt in range(_ATTEMPTS):
            try:
                with self._write() as s:
                    q.refuse_endpoint_name(s, name)
                    self._restore_if_removed(fields, artifact, filename, reference_data)
                    model = q.get_or_create_model(s, name, model_description)
                    row = VersionRow(
                        model_id=model.id, number=q.next_number(s, model), created_at=utcnow(), **fields
                    )
                    s.add(row)
                    s.flush()
                    for alias in alias_names:
                        q.put_alias(s, model.id, alias, row.number)
                    return conv.to_version(row, name, alias_names)
            except IntegrityError:
                if attempt == _ATTEMPTS - 1:
                    raise Conflict(
                        f"could not number a new version of {name!r}: concurrent writers"
                    ) from None
        raise AssertionError("unreachable")

    def set_alias(self, name: str, alias: str, number: int) -> None:
        """Point ``alias`` at version ``number`` (moving it if it pointed elsewhere)."""
        check_alias(alias)
        with self._write() as s:
            model = q.model(s, name)
            q.version_row(s, model, number)
            q.put_alias(s, model.id, alias, number)
            model.updated_at = utcnow()

    def remove_alias(self, name: str, alias: str) -> None:
        with self._write() as s:
            model = q.model(s, name)
            row = s.get(AliasRow, (model.id, alias))
            if row is None:
                raise NotFound(f"model {name!r} has no alias {alias!r}")
            s.delete(row)
            model.updated_at = utcnow()

    def set_version_policy(self, name: str, policy: VersionPolicy) -> None:
        """Store ``policy``; a ``specific`` one naming a version the model does not have is refused."""
        if not isinstance(policy, VersionPolicy):
            raise InvalidInput("policy must be a VersionPolicy")
        with self._write() as s:
            model = q.model(s, name)
            numbers = s.scalars(select(VersionRow.number).where(VersionRow.model_id == model.id))
            refuse_missing_versions(name, policy, list(numbers))
            model.version_policy = policy.to_dict()
            model.updated_at = utcnow()

    def set_served(self, name: str, served: bool) -> None:
        """Serve model ``name`` (its policy's versions and aliased ones) or none of it (an unload);
        its versions, aliases and policy are left as they are. Setting the flag it has is no change."""
        with self._write() as s:
            model = q.model(s, name)
            if model.served != served:
                model.served = served
                model.updated_at = utcnow()

    def set_serving_config(self, name: str, config: ServingConfig) -> None:
        if not isinstance(config, ServingConfig):
            raise InvalidInput("config must be a ServingConfig")
        with self._write() as s:
            model = q.model(s, name)
            model.serving_config = config.to_dict()
            model.updated_at = utcnow()

    # -- reads ----------------------------------------------------------------------------------

    def revision(self) -> int:
        """The registry's write counter: unchanged revision, unchanged catalogue."""
        with self._engine.connect() as conn:
            return int(conn.scalar(select(RegistryState.revision)) or 0)

    async def follow_changes(self, on_change: Callable[[], None]) -> None:
        """Call ``on_change`` at each committed change, from any process, until cancelled (PostgreSQL's
        LISTEN/NOTIFY, reconnecting after an outage); on SQLite return at once: readers poll ``revision``."""
        await changes.follow(self._engine, on_change)

    def list_models(self) -> list[ModelSummary]:
        return [m.summary for m in self.snapshot().models.values()]

    def get_model(self, name: str) -> ModelSummary:
        with self._read() as s:
            model = q.model(s, name)
            latest, count = s.execute(
                select(func.max(VersionRow.number), func.count()).where(VersionRow.model_id == model.id)
            ).one()
            aliases = s.scalars(select(AliasRow).where(AliasRow.model_id == model.id)).all()
            return conv.to_summary(model, latest, count, aliases)

    def list_versions(self, name: str) -> list[ModelVersion]:
        with self._read() as s:
            model = q.model(s, name)
            rows = s.scalars(
                select(VersionRow).where(VersionRow.model_id == model.id).order_by(VersionRow.number)
            ).all()
            by_version = conv.aliases_by_version(
                s.scalars(select(AliasRow).where(AliasRow.model_id == model.id))
            )
            return [conv.to_version(r, name, by_version.get(r.number, ())) for r in rows]

    def get_version(self, name: str, number: int) -> ModelVersion:
        with self._read() as s:
            model = q.model(s, name)
            return q.version(s, model, number)

    def resolve(self, name: str, ref: str | int) -> ModelVersion:
        """The version ``ref`` names: a number (``3`` or ``"3"``) or an alias (``"production"``)."""
        if isinstance(ref, int) and not isinstance(ref, bool):
            return self.get_version(name, ref)
        if not isinstance(ref, str):
            raise InvalidInput(f"a version reference is a number or an alias name, got {ref!r}")
        if ref.isdigit():
            return self.get_version(name, int(ref))
        with self._read() as s:
            model = q.model(s, name)
            alias = s.get(AliasRow, (model.id, ref))
            if alias is None:
                known = s.scalars(select(AliasRow.name).where(AliasRow.model_id == model.id)).all()
                listed = ", ".join(sorted(known)) or "none"
                raise NotFound(f"model {name!r} has no version or alias {ref!r} (aliases: {listed})")
            return q.version(s, model, alias.version_number)

    def resolve_target(self, target: Target) -> ModelVersion:
        """The version ``target`` names; without a version or alias, the model's default: its
        ``DEFAULT_ALIAS`` version if it has that alias, else its newest (as serving picks it)."""
        if target.ref is not None:
            return self.resolve(target.model, target.ref)
        model = self.get_model(target.model)
        default = model.aliases.get(DEFAULT_ALIAS, model.latest_version)
        if default is None:
            raise NotFound(f"model {target.model!r} has no versions")
        return self.get_version(target.model, default)

    def name_kind(self, name: str) -> Literal["model", "endpoint"]:
        """Whether ``name`` is a model's or an endpoint's (one namespace); NotFound for neither."""
        with self._read() as s:
            return "model" if isinstance(q.model_or_endpoint(s, name), ModelRow) else "endpoint"

    def snapshot(self) -> RegistrySnapshot:
        """Every model (versions, aliases, policy), every endpoint and the revision, in one transaction."""
        with self._read() as s:
            return q.snapshot(s)

    def reference_data(self, name: str, number: int) -> np.ndarray | pa.Table | None:
        """The reference data registered with a version (a table of feature columns, or an array
        for versions registered before tables), or None if it has none."""
        version = self.get_version(name, number)
        digest = version.reference_digest
        if digest is None:
            return None
        if self.artifacts.exists(digest, REFERENCE_TABLE_FILENAME):
            with self.artifacts.local_copy(digest, REFERENCE_TABLE_FILENAME) as path:
                return pq.read_table(path)
        with self.artifacts.local_copy(digest, REFERENCE_FILENAME) as path:
            return np.load(path, allow_pickle=False)

    def artifact_copy(self, version: ModelVersion) -> AbstractContextManager[Path]:
        """The version's artifact file for the with-block, its sha256 re-checked (InternalError if
        it changed); read it inside the block (a cached copy may be evicted after)."""
        return self.artifacts.local_copy(version.digest, version.filename)

    # -- internals ------------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with Session(self._reader) as s, s.begin():
            yield s

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """One write transaction; its first statement bumps the revision (and takes the write lock)."""
        with Session(self._writer) as s, s.begin():
            s.execute(update(RegistryState).values(revision=RegistryState.revision + 1))
            if self._announces:
                changes.announce(s)
            yield s

    def _restore_if_removed(
        self,
        fields: Mapping[str, object],
        artifact: Path,
        filename: str,
        reference_data: np.ndarray | pa.Table | None,
    ) -> None:
        """Store the files again if a deletion's cleanup removed them since they were stored (it
        runs under the write lock that the caller now holds, so it cannot remove them again)."""
        if not self.artifacts.exists(str(fields["digest"]), filename):
            self.artifacts.put_file(Path(artifact), filename)
        digest = fields["reference_digest"]
        if digest is not None and not any(
            self.artifacts.exists(str(digest), f) for f in (REFERENCE_FILENAME, REFERENCE_TABLE_FILENAME)
        ):
            self._store_reference(reference_data)

    def _store_reference(self, data: np.ndarray | pa.Table | None) -> str | None:
        if data is None:
            return None
        if isinstance(data, pa.Table):
            buffer = io.BytesIO()
            pq.write_table(data, buffer)
            return self.artifacts.put_bytes(buffer.getvalue(), REFERENCE_TABLE_FILENAME).digest
        array = np.asarray(data)
        if array.dtype.hasobject:
            raise InvalidInput("reference data must be a numeric, boolean or fixed-width string array")
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        return self.artifacts.put_bytes(buffer.getvalue(), REFERENCE_FILENAME).digest
