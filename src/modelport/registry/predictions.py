"""Predictions that feedback can judge on any server process of one registry, each judged once.

Each process stores the predictions it remembered (``put_predictions``, batched in its evidence
flush); the first prediction stored under a request id stays (an insert that meets the endpoint's
id is ignored, as in memory). A feedback call claims every id it judges in one write transaction
(``claim_predictions``): one guarded ``UPDATE ... SET judged WHERE NOT judged``, refused unless it
claimed them all, so of two processes given the same id only one counts it (write transactions
are serialized on both backends, so the ids' check before it sees every earlier claim too). Rows
are pruned per endpoint to the newest ``keep`` and to those younger than a retention
(``prune_predictions``).

None of these writes bumps ``registry_state.revision``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import timedelta

import numpy as np
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from modelport.core.errors import Conflict, NotFound
from modelport.core.judged import StoredPrediction
from modelport.registry.schema import EndpointRow, RememberedPredictionRow, utcnow

__all__ = ["PredictionCatalog"]

_TEXT = "text"
_ROWS_PER_INSERT = 1000
"""Rows per INSERT statement (SQLite caps the parameters of one statement)."""


class PredictionCatalog:
    """The remembered-prediction operations of ``Registry``, which supplies the engine."""

    _writer: Engine

    @contextmanager
    def _prediction_write(self) -> Iterator[Session]:
        with Session(self._writer) as s, s.begin():
            yield s

    def put_predictions(self, endpoint: str, predictions: Sequence[StoredPrediction]) -> None:
        """Store these predictions of ``endpoint``; an id already stored keeps its first prediction."""
        if predictions:
            with self._prediction_write() as s:
                _insert_new(s, endpoint, predictions)

    def claim_predictions(
        self,
        endpoint: str,
        request_ids: Sequence[str],
        check: Callable[[Mapping[str, StoredPrediction]], None],
        local: Sequence[StoredPrediction] = (),
    ) -> dict[str, StoredPrediction]:
        """Mark every id judged, all or none, and return their predictions: ``local`` (this process's,
        perhaps not flushed yet) is stored first, then ``NotFound`` names an id stored by no process,
        ``Conflict`` one judged already (here or by another process, even concurrently), and
        ``check`` may refuse the call (raising) before anything is claimed."""
        if len(set(request_ids)) != len(request_ids):
            raise _judged(endpoint, next(i for i in request_ids if request_ids.count(i) > 1))
        with self._prediction_write() as s:
            wanted = set(request_ids)
            _insert_new(s, endpoint, [p for p in local if p.request_id in wanted])
            rows = s.scalars(
                select(RememberedPredictionRow).where(
                    RememberedPredictionRow.endpoint == endpoint,
                    RememberedPredictionRow.request_id.in_(request_ids),
                )
            ).all()
            found = {row.request_id: row for row in rows}
            for request_id in request_ids:
                row = found.get(request_id)
                if row is None:
                    raise NotFound(
                        f"endpoint {endpoint!r} remembers no prediction with request id {request_id!r}"
                    )
                if row.judged:
                    raise _judged(endpoint, request_id)
            stored = {request_id: _decoded(row) for request_id, row in found.items()}
            check(stored)
            claimed = s.execute(
                update(RememberedPredictionRow)
                .where(
                    RememberedPredictionRow.endpoint == endpoint,
                    RememberedPredictionRow.request_id.in_(request_ids),
                    RememberedPredictionRow.judged.is_(False),
                )
                .values(judged=True)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != len(request_ids):  # type: ignore[attr-defined]
                raise _judged(endpoint, None)  # another process claimed one meanwhile: roll back
            return stored

    def prune_predictions(self, endpoints: Sequence[str], keep: int, retention: timedelta) -> int:
        """Keep each of ``endpoints``' newest ``keep`` predictions younger than ``retention``, and
        none of endpoints that no longer exist. Returns how many rows went."""
        table = RememberedPredictionRow
        with self._prediction_write() as s:
            gone = s.execute(delete(table).where(table.endpoint.not_in(select(EndpointRow.name))))
            removed = int(gone.rowcount)  # type: ignore[attr-defined]
            for endpoint in endpoints:
                cutoff = utcnow() - retention
                oldest_kept = s.scalar(
                    select(table.created_at)
                    .where(table.endpoint == endpoint)
                    .order_by(table.created_at.desc())
                    .offset(keep - 1)
                    .limit(1)
                )
                if oldest_kept is not None and oldest_kept > cutoff:
                    cutoff = oldest_kept  # one flush's rows share a time: kept together
                old = s.execute(delete(table).where(table.endpoint == endpoint, table.created_at < cutoff))
                removed += int(old.rowcount)  # type: ignore[attr-defined]
            return removed


def _insert_new(s: Session, endpoint: str, predictions: Sequence[StoredPrediction]) -> None:
    if not predictions:
        return
    now = utcnow()
    values = [_encoded(endpoint, p, now) for p in predictions]
    dialect = s.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for start in range(0, len(values), _ROWS_PER_INSERT):
        chunk = values[start : start + _ROWS_PER_INSERT]
        s.execute(insert(RememberedPredictionRow).values(chunk).on_conflict_do_nothing())


def _encoded(endpoint: str, stored: StoredPrediction, now: object) -> dict[str, object]:
    prediction = stored.prediction
    if prediction.dtype.kind == "O":  # text, held as the str values it is judged by
        dtype, data = (
            _TEXT,
            json.dumps(prediction.ravel().tolist()).encode(),
        )  # ASCII, lone surrogates escaped
    else:
        dtype, data = prediction.dtype.str, np.ascontiguousarray(prediction).tobytes()
    return {
        "endpoint": endpoint,
        "request_id": stored.request_id,
        "variant": stored.variant,
        "revision": stored.revision,
        "dtype": dtype,
        "shape": list(prediction.shape),
        "data": data,
        "judged": False,
        "created_at": now,
    }


def _decoded(row: RememberedPredictionRow) -> StoredPrediction:
    shape = tuple(int(n) for n in row.shape)
    if row.dtype == _TEXT:
        prediction = np.empty(len(values := json.loads(row.data)), dtype=object)
        prediction[:] = values
    else:
        prediction = np.frombuffer(row.data, dtype=np.dtype(row.dtype)).copy()
    return StoredPrediction(row.request_id, row.variant, row.revision, prediction.reshape(shape))


def _judged(endpoint: str, request_id: str | None) -> Conflict:
    which = "a request" if request_id is None else f"request {request_id!r}"
    return Conflict(f"{which} already has feedback on endpoint {endpoint!r}; the first label stands")
