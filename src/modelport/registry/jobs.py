"""Batch jobs in the registry: submitted through the API, claimed and run by a server's job runner.

A job's writes (submission, claim, heartbeat, end) are transactions of their own that do NOT bump
``registry_state.revision``: a running job writes its progress every second, and the servers reload
their routing only when the revision moves.

A server claims a job with one guarded ``UPDATE`` (``WHERE id = ? AND <claimable>``): of several
servers (or ``--workers`` processes) on one registry, one wins. A job is claimable while ``queued``,
or ``running`` with no owner (its server stopped cleanly) or a heartbeat older than the caller's
``stale_before`` (its server died): that job is resumed by whoever claims it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, or_, select, update
from sqlalchemy.orm import Session

from modelport.core.errors import Conflict, NotFound
from modelport.registry.records import ModelVersion
from modelport.registry.schema import BatchJobRow, utcnow

__all__ = ["FINISHED", "Job", "JobCatalog", "Progress"]

MANIFEST_NAME = "_manifest.json"  # modelport.batch.manifest's; not imported: the registry stays light
FINISHED = frozenset({"succeeded", "failed", "cancelled"})
_ACTIVE = ("queued", "running")


@dataclass(frozen=True)
class Progress:
    rows_done: int
    rows_total: int | None
    rows_failed: int
    rows_per_s: float | None


@dataclass(frozen=True)
class Job:
    id: str
    target: str
    model: str
    version: int
    input: str
    output: str
    options: Mapping[str, Any]
    state: str
    cancel_requested: bool
    progress: Progress
    message: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    owner: str | None

    def to_dict(self) -> dict[str, Any]:
        """The API's job JSON (docs/management-api.md)."""
        return {
            "id": self.id,
            "state": self.state,
            "target": self.target,
            "model": self.model,
            "version": self.version,
            "input": self.input,
            "output": self.output,
            "format": self.options.get("format"),
            "rows_done": self.progress.rows_done,
            "rows_total": self.progress.rows_total,
            "rows_failed": self.progress.rows_failed,
            "rows_per_s": self.progress.rows_per_s,
            "message": self.message,
            "created_at": _iso(self.created_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "manifest": str(Path(self.output) / MANIFEST_NAME),
        }


class JobCatalog:
    """The batch-job operations of ``Registry``, which supplies the engine and the read transaction."""

    _writer: Engine

    def _read(self) -> AbstractContextManager[Session]:
        raise NotImplementedError

    @contextmanager
    def _job_write(self) -> Iterator[Session]:
        """A write transaction that leaves the revision alone (the servers' routing did not change)."""
        with Session(self._writer) as s, s.begin():
            yield s

    def add_job(
        self, target: str, version: ModelVersion, input: str, output: str, options: Mapping[str, Any]
    ) -> Job:
        """Queue a job pinned to ``version``; Conflict if an unfinished job writes ``output`` too."""
        with self._job_write() as s:
            busy = s.scalar(
                select(BatchJobRow.id).where(BatchJobRow.output == output, BatchJobRow.state.in_(_ACTIVE))
            )
            if busy is not None:
                raise Conflict(f"job {busy} writes {output} already; cancel it or choose another output")
            row = BatchJobRow(
                id=uuid.uuid4().hex[:12],
                target=target,
                model=version.model,
                version=version.number,
                input=input,
                output=output,
                options=dict(options),
                state="queued",
                cancel_requested=False,
                rows_done=0,
                rows_total=None,
                rows_failed=0,
                created_at=utcnow(),
            )
            s.add(row)
            s.flush()
            return _to_job(row)

    def get_job(self, job_id: str) -> Job:
        with self._read() as s:
            return _to_job(_row(s, job_id))

    def list_jobs(self) -> list[Job]:
        """Every job, newest first."""
        with self._read() as s:
            rows = s.scalars(select(BatchJobRow).order_by(BatchJobRow.created_at.desc(), BatchJobRow.id))
            return [_to_job(r) for r in rows]

    def cancel_job(self, job_id: str, stale_before: datetime) -> Job:
        """Cancel a queued job (or a running one that no live server runs) at once; ask a running
        one's server to stop it. Conflict for a finished job."""
        with self._job_write() as s:
            row = _row(s, job_id)
            if row.state in FINISHED:
                raise Conflict(f"job {job_id} is {row.state} already")
            orphaned = row.heartbeat_at is None or row.heartbeat_at < stale_before
            if row.state == "queued" or orphaned:
                row.state, row.finished_at, row.owner, row.heartbeat_at = "cancelled", utcnow(), None, None
            row.cancel_requested = True
            s.flush()
            return _to_job(row)

    def claim_job(self, owner: str, stale_before: datetime) -> tuple[Job, bool] | None:
        """Take the oldest claimable job for ``owner``: the job, and whether it ran before (resume)."""
        with self._job_write() as s:
            candidates = s.scalars(
                select(BatchJobRow)
                .where(_claimable(stale_before))
                .order_by(BatchJobRow.created_at, BatchJobRow.id)
                .limit(8)
            ).all()
            for row in candidates:
                ran_before = row.started_at is not None
                now = utcnow()
                claimed = s.execute(
                    update(BatchJobRow)
                    .where(BatchJobRow.id == row.id, _claimable(stale_before))
                    .values(state="running", owner=owner, heartbeat_at=now, started_at=row.started_at or now)
                    .execution_options(synchronize_session=False)
                )
                if claimed.rowcount == 1:  # type: ignore[attr-defined]
                    s.expire(row)
                    return _to_job(row), ran_before
        return None

    def beat_job(self, job_id: str, owner: str, progress: Progress | None) -> bool | None:
        """The owner's heartbeat (with the progress, if any): whether a cancel was asked, or None
        when ``owner`` no longer runs the job (cancelled as orphaned, or taken over)."""
        values: dict[str, Any] = {"heartbeat_at": utcnow()}
        if progress is not None:
            values.update(asdict(progress))  # its fields are the table's columns
        with self._job_write() as s:
            updated = s.execute(
                update(BatchJobRow)
                .where(_owned(job_id, owner))
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if updated.rowcount != 1:  # type: ignore[attr-defined]
                return None
            return bool(s.scalar(select(BatchJobRow.cancel_requested).where(BatchJobRow.id == job_id)))

    def finish_job(
        self, job_id: str, owner: str, state: str, message: str | None, progress: Progress | None
    ) -> None:
        """Record how the owner's run ended (``state`` one of ``FINISHED``)."""
        values: dict[str, Any] = {"state": state, "message": message, "finished_at": utcnow()}
        values.update(owner=None, heartbeat_at=None)
        if progress is not None:
            values.update(asdict(progress))  # its fields are the table's columns
        with self._job_write() as s:
            s.execute(
                update(BatchJobRow)
                .where(_owned(job_id, owner))
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    def release_job(self, job_id: str, owner: str) -> None:
        """The owner stops without finishing (its server stops): the job stays ``running``, ownerless,
        and the next server to look resumes it."""
        with self._job_write() as s:
            s.execute(
                update(BatchJobRow)
                .where(_owned(job_id, owner))
                .values(owner=None, heartbeat_at=None)
                .execution_options(synchronize_session=False)
            )


def _claimable(stale_before: datetime) -> ColumnElement[bool]:
    orphaned = or_(BatchJobRow.heartbeat_at.is_(None), BatchJobRow.heartbeat_at < stale_before)
    return or_(BatchJobRow.state == "queued", and_(BatchJobRow.state == "running", orphaned))


def _owned(job_id: str, owner: str) -> ColumnElement[bool]:
    return and_(BatchJobRow.id == job_id, BatchJobRow.owner == owner, BatchJobRow.state == "running")


def _row(s: Session, job_id: str) -> BatchJobRow:
    row = s.get(BatchJobRow, job_id)
    if row is None:
        raise NotFound(f"no job {job_id!r}")
    return row


def _to_job(row: BatchJobRow) -> Job:
    return Job(
        id=row.id,
        target=row.target,
        model=row.model,
        version=row.version,
        input=row.input,
        output=row.output,
        options=dict(row.options),
        state=row.state,
        cancel_requested=row.cancel_requested,
        progress=Progress(row.rows_done, row.rows_total, row.rows_failed, row.rows_per_s),
        message=row.message,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        owner=row.owner,
    )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")
