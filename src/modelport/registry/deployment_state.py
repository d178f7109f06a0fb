"""Deployment state shared by the server processes of one registry: their evidence, and a lease.

Each server process (an ``instance``: a uuid drawn at its start) writes its cumulative deployment
aggregates per endpoint (``put_evidence``), replacing its own row: a flush is idempotent, and a
dead process's last row stays, so totals merged over every row stay right. Rows of deleted
endpoints, and rows no process has written for ``retention``, are pruned.

A lease names the one process that decides for all of them (the rollout judge): it is taken or
renewed by one guarded ``UPDATE`` (``WHERE holder = me OR expires_at < now``), which on SQLite and
PostgreSQL alike lets exactly one of several concurrent takers win; the first taker of a name that
has no row inserts it, and a concurrent insert loses on the primary key. Expiry is judged on the
writers' clocks: processes whose clocks differ by more than a lease's length could both hold it
for that long; every decision the holder writes is still guarded by the endpoint's revision.

None of these writes bumps ``registry_state.revision``: they are not routing changes, and servers
reload their routing only when the revision moves.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelport.registry.schema import DeploymentEvidenceRow, EndpointRow, LeaseRow, utcnow

__all__ = ["DeploymentStateCatalog"]


class DeploymentStateCatalog:
    """The shared-deployment-state operations of ``Registry``, which supplies the engine."""

    _writer: Engine

    @contextmanager
    def _state_write(self) -> Iterator[Session]:
        """A write transaction that leaves the revision alone."""
        with Session(self._writer) as s, s.begin():
            yield s

    def put_evidence(self, instance: str, states: Mapping[str, Mapping[str, Any]]) -> None:
        """Replace ``instance``'s rows of these endpoints with their states (cumulative aggregates)."""
        now = utcnow()
        with self._state_write() as s:
            for endpoint, state in states.items():
                updated = s.execute(
                    update(DeploymentEvidenceRow)
                    .where(
                        DeploymentEvidenceRow.instance == instance, DeploymentEvidenceRow.endpoint == endpoint
                    )
                    .values(state=dict(state), updated_at=now)
                    .execution_options(synchronize_session=False)
                )
                if updated.rowcount == 0:  # type: ignore[attr-defined]
                    s.add(
                        DeploymentEvidenceRow(
                            instance=instance, endpoint=endpoint, state=dict(state), updated_at=now
                        )
                    )

    def evidence(self, endpoint: str, *, besides: str) -> dict[str, dict[str, Any]]:
        """Every process's last state of ``endpoint``, by instance, except ``besides``'s (the caller's)."""
        with Session(self._writer) as s:
            rows = s.execute(
                select(DeploymentEvidenceRow.instance, DeploymentEvidenceRow.state).where(
                    DeploymentEvidenceRow.endpoint == endpoint, DeploymentEvidenceRow.instance != besides
                )
            )
            return {instance: dict(state) for instance, state in rows}

    def prune_evidence(self, retention: timedelta) -> int:
        """Remove the rows of endpoints that no longer exist and those not written for ``retention``."""
        with self._state_write() as s:
            removed = s.execute(
                delete(DeploymentEvidenceRow).where(
                    or_(
                        DeploymentEvidenceRow.endpoint.not_in(select(EndpointRow.name)),
                        DeploymentEvidenceRow.updated_at < utcnow() - retention,
                    )
                )
            )
            return int(removed.rowcount)  # type: ignore[attr-defined]

    def hold_lease(self, name: str, holder: str, seconds: float) -> bool:
        """Take or renew the lease ``name`` for ``seconds``: whether ``holder`` holds it now."""
        now = utcnow()
        expires = now + timedelta(seconds=seconds)
        with self._state_write() as s:
            taken = s.execute(
                update(LeaseRow)
                .where(LeaseRow.name == name, or_(LeaseRow.holder == holder, LeaseRow.expires_at < now))
                .values(holder=holder, expires_at=expires)
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount == 1:  # type: ignore[attr-defined]
                return True
            if s.scalar(select(LeaseRow.name).where(LeaseRow.name == name)) is not None:
                return False
        try:
            with self._state_write() as s:
                s.add(LeaseRow(name=name, holder=holder, expires_at=expires))
        except IntegrityError:
            return False  # another process inserted it first
        return True

    def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up at once (a clean stop), if ``holder`` holds it."""
        with self._state_write() as s:
            s.execute(delete(LeaseRow).where(LeaseRow.name == name, LeaseRow.holder == holder))

    def lease_holder(self, name: str) -> tuple[str, datetime] | None:
        """Who holds the lease ``name`` and until when, or None if nobody ever took it."""
        with Session(self._writer) as s:
            row = s.execute(select(LeaseRow.holder, LeaseRow.expires_at).where(LeaseRow.name == name)).first()
            return None if row is None else (row[0], row[1])
