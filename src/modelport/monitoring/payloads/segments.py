"""Append-only Parquet segments per name, durable flush by flush, that readers only ever see whole.

A segment is written in parts: every flush writes the rows that arrived since the last one as a new
immutable part file (``rows-<stamp>-<pid>-<token>-<seq>.p000003.parquet``), made durable under a
hidden temporary name and renamed into place, all of a flush's parts together (``durable.py``). So a
flush costs what is new, only names with new rows do any work, and a power cut loses at most what
was not yet flushed. When the segment
reaches its row, byte, age or part limit, its parts are merged into one segment file (the same name
without ``.pNNNNNN``), written the same durable way, and the parts deleted. A part whose segment
file exists is superseded: readers and retention ignore it (``segment_files``), and it is deleted.

Each writer holds an ``flock`` on ``.writers/<pid>-<token>.lock`` while it lives; retention, whoever
runs it, never deletes the parts of a live writer's open segment (``--workers N`` run retention over
each other's files). A writer that dies loses its lock with its process; its parts are then ordinary
files, read, aged and deleted like any segment, but never merged.

Each file's modification time is set to its newest row's time, which is what age retention reads.
Rows can hold personal data: folders are created ``0700`` and files ``0600``.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from modelport.core.private_files import create_private, private_dir
from modelport.core.settings import PayloadSettings
from modelport.monitoring.payloads import durable
from modelport.monitoring.payloads.columns import concat
from modelport.monitoring.payloads.durable import MAX_TIME_KEY, MIN_TIME_KEY

__all__ = ["MAX_TIME_KEY", "MIN_TIME_KEY", "ROWS", "SHADOW", "SegmentWriter", "segment_files", "segment_of"]

ROWS, SHADOW = "rows", "shadow"
"""Segment kinds: what callers got, and what shadows answered (joined on read)."""
MAX_PARTS = 120
"""Parts of one segment before it is merged (a minute at 2 flushes a second, 10 minutes at 5 s)."""
_WRITERS = ".writers"
_STALE_S = 3600.0
_PROBE_BYTES = 64 * 1024
_PART = ".p"


def segment_of(path: Path) -> Path | None:
    """The segment file a part file belongs to, or None if ``path`` is not a part."""
    stem = path.name.removesuffix(".parquet")
    base, dot, number = stem.rpartition(_PART)
    if not dot or not number.isdigit():
        return None
    return path.with_name(f"{base}.parquet")


def segment_files(folder: Path, kind: str) -> list[Path]:
    """``folder``'s segment and part files of ``kind``, without the parts a segment file supersedes."""
    paths = sorted(folder.glob(f"{kind}-*.parquet"))
    present = set(paths)
    return [p for p in paths if segment_of(p) not in present]


def _writer_of(path: Path) -> str:
    """``<pid>-<token>`` of the writer that named ``path`` (``<kind>-<stamp>-<pid>-<token>-<seq>``)."""
    return "-".join(path.name.split("-")[2:4])


@dataclass
class _Segment:
    name: str
    path: Path
    opened: float
    pending: list[pa.Table] = field(default_factory=list)
    """Rows not yet on disk."""
    pending_records: int = 0
    pending_bytes: int = 0
    rows: int = 0
    nbytes: int = 0
    parts: list[Path] = field(default_factory=list)
    part_bytes: int = 0
    """On disk, all parts together."""


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
        self._lock: int | None = None
        self.written: dict[str, int] = {}
        """Records on disk per name, since this writer started."""
        self.grown: dict[str, int] = {}
        """Bytes on disk added per name since the caller last cleared it (retention's count is older)."""
        self.expired = 0
        """Finished segments (and dead writers' parts) retention deleted, since this writer started."""

    def append(self, name: str, kind: str, table: pa.Table, records: int) -> None:
        """Add rows to ``name``'s open segment of ``kind`` (in memory; ``flush`` writes)."""
        if table.num_rows == 0:  # requests with no rows: logged, with nothing to write
            self.written[name] = self.written.get(name, 0) + records
            return
        key = (name, kind)
        segment = self._open.get(key)
        if segment is None:
            segment = self._open[key] = self._new_segment(name, kind)
        size = table.nbytes
        segment.pending.append(table)
        segment.pending_records += records
        segment.pending_bytes += size
        segment.rows += table.num_rows
        segment.nbytes += size

    def flush(self, *, final: bool = False) -> None:
        """Write a part of each segment with rows not yet on disk, then merge the finished ones: full,
        past their age, with too many parts (all of them if ``final``)."""
        now = self._clock()
        finished = [
            key
            for key, segment in self._open.items()
            if final
            or segment.rows >= self._settings.segment_max_rows
            or segment.nbytes >= self._settings.segment_max_bytes
            or now - segment.opened >= self._settings.segment_max_age_s
            or len(segment.parts) >= MAX_PARTS
        ]
        self._write_parts([segment for segment in self._open.values() if segment.pending])
        for key in finished:
            self._merge(self._open.pop(key))
        if final and not self._open:
            self._unlock()

    def discard(self) -> dict[str, int]:
        """Forget the rows not yet on disk (after a write failed): the records per name they came from.
        Parts already written stay, and are merged when their segment finishes."""
        lost: dict[str, int] = {}
        for segment in self._open.values():
            if segment.pending_records:
                lost[segment.name] = lost.get(segment.name, 0) + segment.pending_records
            segment.rows -= sum(t.num_rows for t in segment.pending)
            segment.nbytes -= segment.pending_bytes
            segment.pending, segment.pending_records, segment.pending_bytes = [], 0, 0
        return lost

    def probe(self, names: Iterable[str]) -> None:
        """Raise ``OSError`` unless a real write (data, fsynced) succeeds now in each of ``names``'
        folders (the payload directory itself if there are none)."""
        folders = [self._directory / name for name in names] or [self._directory]
        for folder in folders:
            private_dir(folder)
            probe = folder / f".probe-{self._pid}-{self._token}.tmp"
            try:
                with create_private(probe) as sink:
                    sink.write(bytes(_PROBE_BYTES))
                    sink.flush()
                    os.fsync(sink.fileno())
            finally:
                with contextlib.suppress(OSError):
                    probe.unlink(missing_ok=True)

    def enforce_retention(self) -> dict[str, int]:
        """Delete segments past the age limit, then the oldest past each name's size limit.

        Applies to every process's files, except the parts of a segment a live writer still writes
        (a file another process just deleted is skipped); returns the bytes kept per name.
        """
        if not self._directory.is_dir():
            return {}
        live = self._live_writers()
        return {
            child.name: self._retain(child, live)
            for child in sorted(self._directory.iterdir())
            if child.is_dir() and not child.name.startswith(".")
        }

    def _retain(self, directory: Path, live: set[str]) -> int:
        now = self._clock()
        kept: list[tuple[float, Path, int]] = []
        protected = 0
        paths = list(directory.iterdir())
        present = set(paths)
        for path in paths:
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            age = now - stat.st_mtime
            if path.name.startswith("."):  # a temporary file a crashed writer left behind
                if path.name.endswith(".tmp") and age > _STALE_S:
                    path.unlink(missing_ok=True)
            elif path.suffix == ".parquet":
                segment = segment_of(path)
                if segment is not None and segment in present:  # merged: the part is a duplicate
                    path.unlink(missing_ok=True)
                elif segment is not None and _writer_of(path) in live:  # still being written
                    protected += stat.st_size
                elif age > self._settings.retention_max_age_s:
                    self._expire(path)
                else:
                    kept.append((stat.st_mtime, path, stat.st_size))
        total = sum(size for _, _, size in kept)
        for _, path, size in sorted(kept):
            if total + protected <= self._settings.retention_max_bytes:
                break
            self._expire(path)
            total -= size
        return total + protected

    def _expire(self, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):  # another process deleted or shipped it first
            path.unlink()
            self.expired += 1

    def _live_writers(self) -> set[str]:
        """The writers whose lock is held: the processes (this one too) writing segments now."""
        live = set()
        folder = self._directory / _WRITERS
        for path in folder.glob("*.lock") if folder.is_dir() else ():
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                live.add(path.stem)
                continue
            finally:
                os.close(fd)
            with contextlib.suppress(OSError):
                if self._clock() - path.stat().st_mtime > _STALE_S:  # a dead writer's, long ago
                    path.unlink()
        return live

    def _new_segment(self, name: str, kind: str) -> _Segment:
        now = self._clock()
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
        filename = f"{kind}-{stamp}-{self._pid}-{self._token}-{next(self._sequence):06d}.parquet"
        return _Segment(name, self._directory / name / filename, now)

    def _write_parts(self, segments: list[_Segment]) -> None:
        """A new part for each of ``segments``, made durable together. If one cannot be written (a
        full disk), those staged before it are still committed, then the error is raised."""
        if not segments:
            return
        self._hold_lock()
        staged: list[tuple[_Segment, durable.Staged]] = []
        try:
            for segment in segments:
                path = segment.path.with_name(f"{segment.path.stem}{_PART}{len(segment.parts):06d}.parquet")
                staged.append((segment, durable.stage(concat(segment.pending), path)))
        except BaseException:
            with contextlib.suppress(OSError):
                self._commit(staged)
            raise
        self._commit(staged)

    def _commit(self, staged: list[tuple[_Segment, durable.Staged]]) -> None:
        try:
            durable.commit(self._directory, [item for _, item in staged])
        except BaseException:
            durable.discard(item for _, item in staged)
            raise
        for segment, item in staged:
            segment.parts.append(item.path)
            segment.part_bytes += item.size
            self._grow(segment.name, item.size)
            self.written[segment.name] = self.written.get(segment.name, 0) + segment.pending_records
            segment.pending, segment.pending_records, segment.pending_bytes = [], 0, 0

    def _merge(self, segment: _Segment) -> None:
        """The segment's parts as one file; parts retention deleted meanwhile are left out."""
        if len(segment.parts) == 1 and segment.parts[0].exists():
            durable.rename(segment.parts[0], segment.path, self._directory)  # already whole and durable
        elif not segment.path.exists():  # (it does when a merge failed after writing it)
            tables = []
            for part in segment.parts:
                with contextlib.suppress(FileNotFoundError):
                    tables.append(pq.read_table(part).replace_schema_metadata(None))
            if tables:
                self._grow(
                    segment.name,
                    durable.write_durably(concat(tables), segment.path, self._directory) - segment.part_bytes,
                )
        for part in segment.parts:
            part.unlink(missing_ok=True)

    def _grow(self, name: str, size: int) -> None:
        self.grown[name] = self.grown.get(name, 0) + size

    def _hold_lock(self) -> None:
        if self._lock is not None:
            return
        folder = private_dir(self._directory / _WRITERS)
        fd = os.open(folder / f"{self._pid}-{self._token}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BaseException:
            os.close(fd)
            raise
        self._lock = fd

    def _unlock(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None
