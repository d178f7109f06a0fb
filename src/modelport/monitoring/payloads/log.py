"""The payload log: a bounded buffer the request path offers records to, drained by one thread.

The request path does two things: a sampling draw and ``offer`` (an append to a deque, or a
counted drop when the buffer is full or the log is paused). It never waits, never copies an
array and never touches the disk. The writer thread converts, redacts and writes.

A write that fails (a full disk, a directory that cannot be created, ...) pauses the log: what
was not yet on disk is dropped and counted, new records are dropped at once, and every flush
interval the thread tries again. Inference is never affected.
"""

from __future__ import annotations

import itertools
import logging
import random
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from modelport.core.settings import PayloadSettings
from modelport.monitoring.payloads.columns import payload_tables, shadow_tables
from modelport.monitoring.payloads.records import PayloadRecord, ShadowRecord
from modelport.monitoring.payloads.segments import ROWS, SHADOW, SegmentWriter

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
    ) -> None:
        self.directory = directory
        self._settings = settings
        self._clock = clock
        self._writer = SegmentWriter(directory, settings, clock)
        self._random = random.Random(seed)
        self._id_prefix = secrets.token_hex(8) + "-"
        self._ids = itertools.count()
        self._buffer: deque[Record] = deque()
        self._capacity = settings.buffer_size
        self._refused: dict[tuple[str, str], int] = {}
        """Drops counted on the request path (event loop thread)."""
        self._lost: dict[tuple[str, str], int] = {}
        """Drops counted by the writer thread."""
        self._bytes: dict[str, int] = {}
        self._paused_reason: str | None = None
        self._flush_at = self._retry_at = 0.0
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
        if self._paused_reason is not None:
            reason = PAUSED
        elif len(self._buffer) >= self._capacity:
            reason = BUFFER_FULL
        else:
            self._buffer.append(record)
            return True
        key = (record.name, reason)
        self._refused[key] = self._refused.get(key, 0) + 1
        return False

    # -- the writer -----------------------------------------------------------------------------

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="modelport-payload-log", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Write what is buffered and stop the thread."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            thread.join()

    def step(self, *, final: bool = False) -> None:
        """One round of the writer: drain the buffer; every flush interval (and when ``final``), write
        what is new and enforce retention."""
        now = self._clock()
        batch = self._drain()
        if self._paused_reason is not None:
            self._count_lost(batch, PAUSED)
            if now >= self._retry_at:
                self._try_resume(now)
            return
        self._append(batch)
        try:
            due = final or now >= self._flush_at
            if due:
                self._flush_at = now + self._settings.flush_interval_s
            self._writer.flush(due=due, final=final)
            if due:
                self._bytes = self._writer.enforce_retention()
        except Exception as error:
            self._pause(now, error)

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

    def _drain(self) -> list[Record]:
        batch = []
        buffer = self._buffer
        while buffer:
            batch.append(buffer.popleft())
        return batch

    def _append(self, batch: list[Record]) -> None:
        """Convert and redact ``batch`` into the open segments (memory only)."""
        primaries = [r for r in batch if isinstance(r, PayloadRecord)]
        shadows = [r for r in batch if isinstance(r, ShadowRecord)]
        try:
            converted: list[tuple[str, Sequence[Record], dict[str, pa.Table]]] = [
                (ROWS, primaries, payload_tables(primaries)),
                (SHADOW, shadows, shadow_tables(shadows)),
            ]
        except Exception:
            log.exception("payload records that cannot be converted are dropped")
            self._count_lost(batch, UNCONVERTIBLE)
            return
        for kind, records, tables in converted:
            counts: dict[str, int] = {}
            for record in records:
                counts[record.name] = counts.get(record.name, 0) + 1
            for name, table in tables.items():
                self._writer.append(name, kind, table, counts[name])

    def _pause(self, now: float, error: Exception) -> None:
        reason = f"{type(error).__name__}: {error}"
        log.error("payload log paused, records are dropped until it can write again: %s", reason)
        for name, count in self._writer.discard().items():
            self._lost[(name, WRITE_ERROR)] = self._lost.get((name, WRITE_ERROR), 0) + count
        self._paused_reason = reason
        self._retry_at = now + self._settings.flush_interval_s

    def _try_resume(self, now: float) -> None:
        try:
            self._writer.probe()
        except OSError as error:
            self._paused_reason = f"{type(error).__name__}: {error}"
            self._retry_at = now + self._settings.flush_interval_s
            return
        log.info("payload log resumed")
        self._paused_reason = None

    def _count_lost(self, batch: Sequence[Record], reason: str) -> None:
        for record in batch:
            key = (record.name, reason)
            self._lost[key] = self._lost.get(key, 0) + 1
