"""Reading the payload log back: one name's rows, ordered by time, with shadows' answers joined on.

Any process may read while writers write: segments only ever appear whole (renamed into place),
one deleted by retention between listing and reading is skipped, and a part merged into its
segment meanwhile is read from the segment. A segment that cannot be read (truncated, or damaged
inside) is skipped with a warning and counted in ``unreadable``: one bad file never hides the rest.

With ``payloads.url`` set, the completed segments of every process are in the bucket
(``shipping``): they are read from there, along with this home's local files (live parts, and
segments not uploaded yet); a segment in both places is read once, from the bucket. The bucket's
footers are kept between reads (``remote``), so a read fetches only those of new segments.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from modelport.core.errors import InvalidInput
from modelport.monitoring.payloads.columns import FIXED_SCHEMA, SHADOW_PREFIX, SHADOW_SCHEMA, concat
from modelport.monitoring.payloads.remote import RemoteFile, RemoteSegments
from modelport.monitoring.payloads.segments import (
    MAX_TIME_KEY,
    MIN_TIME_KEY,
    ROWS,
    SHADOW,
    segment_files,
    segment_of,
)

__all__ = ["PayloadStore", "as_utc"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_SHADOW_FIXED = ("shadow_model", "shadow_version")
_JOIN = ("record_id", "row")


@dataclass(frozen=True, slots=True)
class _Segment:
    path: Path | RemoteFile
    """A local file, or one in the shared store."""
    rows: int
    first_us: int
    last_us: int


class PayloadStore:
    def __init__(self, directory: Path, remote: RemoteSegments | None = None) -> None:
        self.directory = directory
        self.remote = remote
        self.unreadable_files: set[Path | RemoteFile] = set()
        """Segments skipped because they could not be read, since this store was made."""

    @property
    def unreadable(self) -> int:
        return len(self.unreadable_files)

    def names(self) -> list[str]:
        """The names that have logged rows."""
        remote = set(self._remote_call(self.remote.names)) if self.remote else set()
        if not self.directory.is_dir():
            return sorted(remote)
        local = {p.name for p in self.directory.iterdir() if p.is_dir() and any(p.glob(f"{ROWS}-*.parquet"))}
        return sorted(local | remote)

    def read(
        self,
        name: str,
        *,
        last_rows: int | None = None,
        first_rows: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> pa.Table:
        """``name``'s logged rows with ``since <= time < until``, ordered by time, cut to the first or
        last so many rows (rows, not requests); an empty table with the fixed columns if none."""
        for what, count in (("last_rows", last_rows), ("first_rows", first_rows)):
            if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
                raise InvalidInput(f"{what} must be a whole number >= 0, got {count!r}")
        low, high = _micros(since), _micros(until)
        segments = [s for s in self._segments(name, ROWS) if _overlaps(s, low, high)]
        if since is None and until is None:  # a segment's row count is only known unfiltered
            if last_rows is not None:
                segments = _enough(segments, last_rows, newest=True)
            if first_rows is not None:
                segments = _enough(segments, first_rows, newest=False)
        table = self._read(segments, since, until)
        if table is None:
            return _empty()
        table = table.sort_by([("time", "ascending")])
        if last_rows is not None:
            table = table.slice(max(table.num_rows - last_rows, 0))
        if first_rows is not None:
            table = table.slice(0, first_rows)
        if "record_id" not in table.column_names:  # a segment written by another tool: nothing to join on
            return _without_shadows(table)
        return self._with_shadows(name, table).drop_columns(["record_id"])

    def _segments(self, name: str, kind: str) -> list[_Segment]:
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise InvalidInput(f"invalid model or endpoint name {name!r}")
        found = []
        remote: list[RemoteFile] = []
        if self.remote is not None:
            remote = self._remote_call(lambda: self.remote.files(name, kind) if self.remote else [])
        shipped = {file.path.rsplit("/", 1)[-1] for file in remote}
        local = [path for path in segment_files(self.directory / name, kind) if path.name not in shipped]
        paths: list[Path | RemoteFile] = [*local, *remote]
        for path in paths:
            try:
                meta = pq.read_metadata(path) if isinstance(path, Path) else self._remote_metadata(path)
            except FileNotFoundError:
                continue
            except (OSError, pa.ArrowException):
                self._skip(path)
                continue
            times = meta.metadata or {}
            first, last = int(times.get(MIN_TIME_KEY, 0)), int(times.get(MAX_TIME_KEY, 2**62))
            found.append(_Segment(path, meta.num_rows, first, last))
        return found

    def _with_shadows(self, name: str, table: pa.Table) -> pa.Table:
        """Add each row's shadow answer (the first to arrive, if several shadows answered)."""
        start = _micros_of(table)
        shadows = (
            None
            if start is None
            else self._read([s for s in self._segments(name, SHADOW) if s.last_us >= start])
        )
        if shadows is None:
            return _without_shadows(table)
        shadows = shadows.sort_by([("time", "ascending")])
        position: dict[tuple[str, int], int] = {}
        for index, key in enumerate(zip(*(shadows[c].to_pylist() for c in _JOIN), strict=True)):
            position.setdefault(key, index)
        wanted = [position.get(key) for key in zip(*(table[c].to_pylist() for c in _JOIN), strict=True)]
        columns = [c for c in shadows.column_names if c in _SHADOW_FIXED or c.startswith(SHADOW_PREFIX)]
        matched = shadows.select(columns).take(pa.array(wanted, pa.int64()))
        for column in columns:
            table = table.append_column(column, matched[column])
        return table

    def _read(
        self, segments: list[_Segment], since: datetime | None = None, until: datetime | None = None
    ) -> pa.Table | None:
        filters = []
        if since is not None:
            filters.append(("time", ">=", as_utc(since)))
        if until is not None:
            filters.append(("time", "<", as_utc(until)))
        tables = []
        paths = [segment.path for segment in segments]
        done = set(paths)
        for path in paths:
            try:
                if isinstance(path, RemoteFile):
                    table = self._remote_table(path, filters or None)
                else:
                    table = pq.read_table(path, filters=filters or None)
                tables.append(table.replace_schema_metadata(None))
            except FileNotFoundError:
                if isinstance(path, RemoteFile):  # deleted by retention since the listing
                    continue
                merged = segment_of(path)  # a part merged since the listing: read its segment instead
                if merged is not None and merged not in done:
                    done.add(merged)
                    paths.append(merged)
                elif merged is None and self.remote is not None:  # shipped since the listing
                    shipped = RemoteFile(f"{self.remote.root}/{path.parent.name}/{path.name}")
                    if shipped not in done:
                        done.add(shipped)
                        paths.append(shipped)
            except (OSError, pa.ArrowException):
                self._skip(path)
        return concat(tables) if tables else None

    def _remote_metadata(self, path: RemoteFile) -> pq.FileMetaData:
        assert self.remote is not None
        return self.remote.metadata(path)

    def _remote_table(self, path: RemoteFile, filters: list[tuple[str, str, datetime]] | None) -> pa.Table:
        assert self.remote is not None
        return self.remote.read(path, filters)

    def _remote_call(self, call: Callable[[], list[_T]]) -> list[_T]:
        """A listing of the bucket; an S3 failure is the caller's as a ``StorageError`` of one line."""
        try:
            return call()
        except OSError as error:
            from modelport.batch.s3 import s3_error

            assert self.remote is not None
            raise s3_error(error, f"s3://{self.remote.root}") from None

    def _skip(self, path: Path | RemoteFile) -> None:
        if path not in self.unreadable_files:  # warned once: every read would skip it again
            log.warning("skipping unreadable payload segment %s", getattr(path, "path", path))
            self.unreadable_files.add(path)


def _without_shadows(table: pa.Table) -> pa.Table:
    return table.append_column("shadow_model", pa.nulls(table.num_rows, pa.string())).append_column(
        "shadow_version", pa.nulls(table.num_rows, pa.int64())
    )


def _enough(segments: list[_Segment], rows: int, *, newest: bool) -> list[_Segment]:
    """The segments that can hold the newest (or oldest) ``rows`` rows: enough of them by row count,
    plus any other whose time range reaches into theirs."""
    ordered = sorted(segments, key=lambda s: s.last_us if newest else -s.first_us, reverse=True)
    taken, count = [], 0
    for segment in ordered:
        if count >= rows:
            break
        taken.append(segment)
        count += segment.rows
    if not taken:
        return []
    if newest:
        bound = min(s.first_us for s in taken)
        return [s for s in segments if s in taken or s.last_us >= bound]
    bound = max(s.last_us for s in taken)
    return [s for s in segments if s in taken or s.first_us <= bound]


def _overlaps(segment: _Segment, low: int | None, high: int | None) -> bool:
    return (low is None or segment.last_us >= low) and (high is None or segment.first_us < high)


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive time is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _micros(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    return round(as_utc(moment).timestamp() * 1e6)


def _micros_of(table: pa.Table) -> int | None:
    if table.num_rows == 0:
        return None
    return int(table["time"][0].value)


def _empty() -> pa.Table:
    fixed = FIXED_SCHEMA.empty_table()
    shadow = pa.schema([SHADOW_SCHEMA.field(c) for c in _SHADOW_FIXED]).empty_table()
    return pa.Table.from_arrays(
        [*fixed.columns, *shadow.columns], [*fixed.column_names, *_SHADOW_FIXED]
    ).drop_columns(["record_id"])
