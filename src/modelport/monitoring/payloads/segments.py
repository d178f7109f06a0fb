"""Append-only Parquet segments per name, written so that readers only ever see whole files.

A segment is built in memory and written (to a hidden temporary name, then renamed over its final
name) every flush while rows keep arriving, so recent rows are readable within one flush interval
and a reader never sees half a file. It is finished when it reaches its row, byte or age limit, and
a new segment starts. File names carry the process id (and a random token), so ``--workers N``
never collide.

Each file's modification time is set to its newest row's time, which is what age retention reads.
Rows can hold personal data: folders are created ``0700`` and files ``0600``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from modelport.core.private_files import create_private, private_dir
from modelport.core.settings import PayloadSettings
from modelport.monitoring.payloads.columns import concat

__all__ = ["MAX_TIME_KEY", "MIN_TIME_KEY", "ROWS", "SHADOW", "SegmentWriter"]

ROWS, SHADOW = "rows", "shadow"
"""Segment kinds: what callers got, and what shadows answered (joined on read)."""
MIN_TIME_KEY, MAX_TIME_KEY = b"modelport.min_time_us", b"modelport.max_time_us"
"""Footer metadata: the segment's time range, so a reader can skip files without reading them."""
_STALE_TEMP_S = 3600.0


@dataclass
class _Segment:
    name: str
    path: Path
    opened: float
    tables: list[pa.Table] = field(default_factory=list)
    rows: int = 0
    nbytes: int = 0
    unwritten: int = 0
    """Records appended since the last write."""


class SegmentWriter:
    def __init__(
        self, directory: Path, settings: PayloadSettings, clock: Callable[[], float] = time.time
    ) -> None:
        self._directory = directory
        self._settings = settings
        self._clock = clock
        self._pid = os.getpid()
        self._token = secrets.token_hex(3)
        """Tells apart writers that share a pid: a restart that reused it, or two writers in one process."""
        self._sequence = itertools.count()
        self._open: dict[tuple[str, str], _Segment] = {}
        self.written: dict[str, int] = {}
        """Records on disk per name, since this writer started."""

    def append(self, name: str, kind: str, table: pa.Table, records: int) -> None:
        """Add rows to ``name``'s open segment of ``kind`` (in memory; ``flush`` writes)."""
        if table.num_rows == 0:  # requests with no rows: logged, with nothing to write
            self.written[name] = self.written.get(name, 0) + records
            return
        key = (name, kind)
        segment = self._open.get(key)
        if segment is None:
            segment = self._open[key] = self._new_segment(name, kind)
        segment.tables.append(table)
        segment.rows += table.num_rows
        segment.nbytes += table.nbytes
        segment.unwritten += records

    def flush(self, *, due: bool = True, final: bool = False) -> None:
        """Write and finish the segments that are full or past their age (all of them if ``final``);
        when ``due``, also write the others that have new rows, so that they are readable."""
        now = self._clock()
        for key, segment in list(self._open.items()):
            full = (
                segment.rows >= self._settings.segment_max_rows
                or segment.nbytes >= self._settings.segment_max_bytes
            )
            finished = final or full or now - segment.opened >= self._settings.segment_max_age_s
            if segment.unwritten and (due or finished):
                self._write(segment)
            if finished:
                del self._open[key]

    def discard(self) -> dict[str, int]:
        """Forget the open segments (after a write failed): the records per name that never reached disk."""
        lost: dict[str, int] = {}
        for segment in self._open.values():
            if segment.unwritten:
                lost[segment.name] = lost.get(segment.name, 0) + segment.unwritten
        self._open.clear()
        return lost

    def probe(self) -> None:
        """Raise ``OSError`` unless a file can be created in the payload directory now."""
        private_dir(self._directory)
        probe = self._directory / f".probe-{self._pid}.tmp"
        probe.unlink(missing_ok=True)
        create_private(probe, exclusive=True).close()
        probe.unlink()

    def enforce_retention(self) -> dict[str, int]:
        """Delete segments past the age limit, then the oldest past each name's size limit.

        Applies to every process's segments (a file another process just deleted is skipped);
        returns the bytes kept per name.
        """
        if not self._directory.is_dir():
            return {}
        mine = {segment.path for segment in self._open.values()}
        return {
            child.name: self._retain(child, mine)
            for child in sorted(self._directory.iterdir())
            if child.is_dir() and not child.name.startswith(".")
        }

    def _retain(self, directory: Path, mine: set[Path]) -> int:
        now = self._clock()
        kept: list[tuple[float, Path, int]] = []
        for path in directory.iterdir():
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            age = now - stat.st_mtime
            if path.name.startswith("."):  # a temporary file a crashed writer left behind
                if path.name.endswith(".tmp") and age > _STALE_TEMP_S:
                    path.unlink(missing_ok=True)
            elif path.suffix == ".parquet":
                if age > self._settings.retention_max_age_s and path not in mine:
                    path.unlink(missing_ok=True)
                else:
                    kept.append((stat.st_mtime, path, stat.st_size))
        total = sum(size for _, _, size in kept)
        for _, path, size in sorted(kept):
            if total <= self._settings.retention_max_bytes:
                break
            if path not in mine:
                path.unlink(missing_ok=True)
                total -= size
        return total

    def _new_segment(self, name: str, kind: str) -> _Segment:
        now = self._clock()
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
        filename = f"{kind}-{stamp}-{self._pid}-{self._token}-{next(self._sequence):06d}.parquet"
        return _Segment(name, self._directory / name / filename, now)

    def _write(self, segment: _Segment) -> None:
        table = concat(segment.tables)
        segment.tables = [table]
        extremes = pc.min_max(table["time"])
        low, high = int(extremes["min"].value), int(extremes["max"].value)
        table = table.replace_schema_metadata(
            {MIN_TIME_KEY: str(low).encode(), MAX_TIME_KEY: str(high).encode()}
        )
        private_dir(segment.path.parent)
        temporary = segment.path.with_name(f".{segment.path.name}.tmp")
        try:
            with create_private(temporary) as sink:
                pq.write_table(table, sink, compression="zstd")
            os.utime(temporary, (high / 1e6, high / 1e6))
            os.replace(temporary, segment.path)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
            raise
        self.written[segment.name] = self.written.get(segment.name, 0) + segment.unwritten
        segment.unwritten = 0
