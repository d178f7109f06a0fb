"""The payload log: a bounded buffer the request path offers records to, drained by one thread.

The request path does two things: a sampling draw and ``offer`` (an append to a deque, or a
counted drop when the buffer is full or the log is paused). It never waits, never copies an
array and never touches the disk. The writer thread converts, redacts and writes.

The writer drains the buffer every tick, but converts and writes only every flush interval:
then each name with new records is converted in one go and written as one part file (see
``segments``), so a flush costs what is new. Memory is bounded in bytes (``buffer_max_bytes``):
the tensors of the records not yet written, all names together. Past half of it the writer
flushes early; past all of it, new records are dropped.

A write that fails (a full disk, a directory that cannot be created, ...) pauses the log: what
was not yet on disk is dropped and counted, new records are dropped at once, and every flush
interval the thread enforces retention (aged segments may be what filled the disk) and tries a
real write into the folder of each name it dropped records of; it resumes once those succeed.
Inference is never affected.
"""

from __future__ import annotations

import itertools
import logging
import random
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from modelport.core.settings import PayloadSettings
from modelport.monitoring.payloads.columns import payload_tables, shadow_tables
from modelport.monitoring.payloads.records import PayloadRecord, ShadowRecord
from modelport.monitoring.payloads.segments import ROWS, SHADOW, SegmentWriter
from modelport.monitoring.payloads.shipping import SegmentShipper

__all__ = ["BUFFER_FULL", "PAUSED", "UNCONVERTIBLE", "WRITE_ERROR", "PayloadLog"]

log = logging.getLogger(__name__)

BUFFER_FULL, PAUSED, WRITE_ERROR, UNCONVERTIBLE = "buffer_full", "paused", "write_error", "unconvertible"
"""Why a record was dropped."""
_TICK_S = 0.2

Record = PayloadRecord | ShadowRecord


class PayloadLog:
    def __init__(
        self,
        directory: Path,
        settings: PayloadSettings,
        clock: Callable[[], float] = time.time,
        seed: int | None = None,
        shipper: SegmentShipper | None = None,
    ) -> None:
        self.directory = directory
        self.shipper = shipper
        """With ``payloads.url``: uploads each finished segment to the shared store, from its own
        thread (woken after each flush: the writer never waits for the store)."""
        self._settings = settings
        self._clock = clock
        self._writer = SegmentWriter(directory, settings, clock)
        self._random = random.Random(seed)
        self._id_prefix = secrets.token_hex(8) + "-"
        self._ids = itertools.count()
        self._buffer: deque[tuple[Record, int]] = deque()
        self._capacity = settings.buffer_size
        self._offered_bytes = 0
        """Bytes of records ever queued (written by the request path only)."""
        self._released_bytes = 0
        """Bytes of records ever written or dropped (written by the writer thread only)."""
        self._waiting: list[Record] = []
        """Drained records waiting for the next flush: converted then, a name at a time."""
        self._waiting_bytes = 0
        self._refused: dict[tuple[str, str], int] = {}
        """Drops counted on the request path (event loop thread)."""
        self._lost: dict[tuple[str, str], int] = {}
        """Drops counted by the writer thread."""
        self._bytes: dict[str, int] = {}
        self._paused_reason: str | None = None
        self._paused_names: set[str] = set()
        """Names that dropped records while paused: where a resume must be able to write."""
        self._flush_at = self._retry_at = self._retain_at = 0.0
        self._expired = 0
        """Segments local retention deleted, as last told to the shipper."""
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- the request path -----------------------------------------------------------------------

    def sampled(self, rate: float) -> bool:
        return rate >= 1 or self._random.random() < rate

    def record_id(self) -> str:
        """A new id, unique across processes and restarts (a random prefix and a counter; cheaper than
        a uuid)."""
        return f"{self._id_prefix}{next(self._ids):x}"

    def offer(self, record: Record) -> bool:
        """Queue ``record`` for writing, or count it as dropped; never blocks."""
        size = _record_bytes(record)
        held = self._offered_bytes - self._released_bytes
        if self._paused_reason is not None:
            reason = PAUSED
        elif len(self._buffer) >= self._capacity or held + size > self._settings.buffer_max_bytes:
            reason = BUFFER_FULL
        else:
            self._offered_bytes += size
            self._buffer.append((record, size))
            return True
        key = (record.name, reason)
        self._refused[key] = self._refused.get(key, 0) + 1
        return False

    # -- the writer -----------------------------------------------------------------------------

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="modelport-payload-log", daemon=True)
        self._thread.start()
        if self.shipper is not None:
            self.shipper.start()

    def stop(self) -> None:
        """Write what is buffered and stop the thread, then the shipper (after its last, bounded pass)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            thread.join()
        if self.shipper is not None:
            self.shipper.stop()

    def step(self, *, final: bool = False) -> None:
        """One round of the writer: drain the buffer; every flush interval (and when ``final``, or
        when half the memory is taken) convert what waits, enforce retention if its interval has
        passed, then write."""
        now = self._clock()
        batch, size = self._drain()
        if self._paused_reason is not None:
            self._count_lost(batch, PAUSED)
            self._released_bytes += size
            self._paused_names.update(record.name for record in batch)
            if now >= self._retry_at:
                self._retry_at = now + self._settings.flush_interval_s
                self._retain()
                self._try_resume()
            return
        self._waiting.extend(batch)
        self._waiting_bytes += size
        due = final or now >= self._flush_at
        if not due and self._waiting_bytes <= self._settings.buffer_max_bytes // 2:
            return
        if due:
            self._flush_at = now + self._settings.flush_interval_s
        waiting, self._waiting = self._waiting, []
        try:
            self._append(waiting)
            if final or now >= self._retain_at:
                self._retain_at = now + self._settings.retention_interval_s
                self._bytes = self._writer.enforce_retention()  # first: it may free what writing needs
                self._tell_expired()
            self._writer.flush(final=final)
        except Exception as error:
            self._pause(now, error)
        finally:
            self._released_bytes += self._waiting_bytes
            self._waiting_bytes = 0
        if self.shipper is not None:
            self.shipper.wake()
        if self._writer.grown:  # what this flush added, until the next retention counts it
            grown, self._writer.grown = self._writer.grown, {}
            counted = self._bytes.copy()  # a new dict: a scrape may be reading the old one
            for name, size in grown.items():
                counted[name] = counted.get(name, 0) + size
            self._bytes = counted

    # -- what it reports ------------------------------------------------------------------------

    @property
    def paused(self) -> bool:
        return self._paused_reason is not None

    def status(self) -> dict[str, Any]:
        return {"state": "paused" if self.paused else "ok", "reason": self._paused_reason}

    def records_total(self) -> dict[str, int]:
        """Records written, per name, by this process."""
        return self._writer.written.copy()

    def dropped_total(self) -> dict[tuple[str, str], int]:
        """Records dropped, per (name, reason), by this process."""
        dropped = self._refused.copy()
        for key, count in self._lost.copy().items():
            dropped[key] = dropped.get(key, 0) + count
        return dropped

    def bytes_on_disk(self) -> dict[str, int]:
        """Bytes of segments per name (every process's), as of the last flush."""
        return self._bytes

    # -- internals ------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.wait(_TICK_S):
            self.step()
        self.step(final=True)

    def _drain(self) -> tuple[list[Record], int]:
        batch = []
        buffer = self._buffer
        drained = 0
        while buffer:
            record, size = buffer.popleft()
            batch.append(record)
            drained += size
        return batch, drained

    def _append(self, batch: list[Record]) -> None:
        """Convert and redact ``batch`` into the open segments (memory only), name by name: a record
        that cannot be converted is dropped alone."""
        groups: dict[tuple[str, str], list[Record]] = {}
        for record in batch:
            kind = ROWS if isinstance(record, PayloadRecord) else SHADOW
            groups.setdefault((record.name, kind), []).append(record)
        for (name, kind), records in groups.items():
            for table, count in self._convert(kind, records):
                self._writer.append(name, kind, table, count)

    def _convert(self, kind: str, records: Sequence[Record]) -> list[tuple[pa.Table, int]]:
        """``records`` (one name's) as tables with the records each holds; all at once if they can
        be, else one by one, counting those that cannot be converted."""
        convert: Callable[[Sequence[Any]], dict[str, pa.Table]] = (
            payload_tables if kind == ROWS else shadow_tables
        )
        try:
            return [(table, len(records)) for table in convert(records).values()]
        except Exception:
            if len(records) == 1:
                log.exception("a payload record of %r cannot be converted; it is dropped", records[0].name)
                self._count_lost(records, UNCONVERTIBLE)
                return []
        return [part for record in records for part in self._convert(kind, [record])]

    def _pause(self, now: float, error: Exception) -> None:
        reason = f"{type(error).__name__}: {error}"
        log.error("payload log paused, records are dropped until it can write again: %s", reason)
        for name, count in self._writer.discard().items():
            self._lost[(name, WRITE_ERROR)] = self._lost.get((name, WRITE_ERROR), 0) + count
            self._paused_names.add(name)
        self._paused_reason = reason
        self._retry_at = now + self._settings.flush_interval_s

    def _retain(self) -> None:
        """Retention while paused: segments past their limits may be what fills the disk."""
        try:
            self._bytes = self._writer.enforce_retention()
        except OSError as error:
            log.warning("payload retention failed while paused: %s", error)
        self._tell_expired()

    def _tell_expired(self) -> None:
        """With a shipper, a finished segment on local disk is one not uploaded yet: the shipper counts
        those retention deleted."""
        new = self._writer.expired - self._expired
        self._expired = self._writer.expired
        if new and self.shipper is not None:
            self.shipper.note_deleted(new)

    def _try_resume(self) -> None:
        try:
            self._writer.probe(sorted(self._paused_names))
        except OSError as error:
            self._paused_reason = f"{type(error).__name__}: {error}"
            return
        log.info("payload log resumed")
        self._paused_reason = None
        self._paused_names.clear()

    def _count_lost(self, batch: Sequence[Record], reason: str) -> None:
        for record in batch:
            key = (record.name, reason)
            self._lost[key] = self._lost.get(key, 0) + 1


def _record_bytes(record: Record) -> int:
    """The memory a record holds on to: its tensors (and, for text, the text itself)."""
    tensors: list[Mapping[str, np.ndarray]] = [record.outputs]
    if isinstance(record, PayloadRecord):
        tensors.append(record.inputs)
    size = 0
    for arrays in tensors:
        for array in arrays.values():
            size += array.nbytes
            if array.dtype.kind == "O":
                size += sum(len(v) for v in array.flat if isinstance(v, bytes | str))
    return size
