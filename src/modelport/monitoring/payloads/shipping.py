"""Shipping the payload log to a shared S3 prefix (``payloads.url = s3://bucket/prefix``).

Each process still writes its live segment locally (parts, flocked writers: ``segments``). A
segment file, once merged, never changes; the shipper uploads it to ``<prefix>/<name>/<file>``, whose
name already holds the writer's pid and token, so processes on any host never write the same key.

Uploads run on the shipper's own thread, never on the log's writer: a slow or unreachable store
delays uploads only, never a flush. The writer wakes the shipper after each flush; finished
segments wait as files on local disk (the backlog) until their upload succeeded, and only then is
the local file deleted. A failed upload (S3 down, denied) is counted and logged, with the backlog's
size, and tried again after a backoff (1 s, doubling up to a minute). The backlog is bounded by the
local retention limits: segments retention deletes before their upload are counted and logged as a
full backlog. A stop makes one last pass, for at most ``FINAL_S``; what it leaves stays on disk, and
every start first ships what waits, so the next process on this home uploads it.

Retention applies to the bucket's segments with the local rules, on the shipper's thread too: past
the age limit (by upload time, which is after the newest row), then the oldest past each name's
size limit. Reading the bucket is ``remote``'s job.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from modelport.core.errors import InvalidInput
from modelport.core.settings import PayloadSettings, Settings, StorageSettings
from modelport.monitoring.payloads.remote import RemoteSegments
from modelport.monitoring.payloads.segments import segment_of

__all__ = ["FINAL_S", "SegmentShipper", "remote_segments", "shipper"]

log = logging.getLogger(__name__)

_FIRST_RETRY_S, _LAST_RETRY_S = 1.0, 60.0
FINAL_S = 10.0
"""How long a stop waits for the last uploads."""


class SegmentShipper:
    def __init__(
        self,
        directory: Path,
        url: str,
        storage: StorageSettings,
        settings: PayloadSettings,
        clock: Callable[[], float] = time.time,
        final_s: float = FINAL_S,
    ) -> None:
        from modelport.registry.s3_store import parse_s3_url, s3_client

        self._directory = directory
        self._url = url.rstrip("/")
        self._bucket, self._prefix = parse_s3_url(self._url)
        self._client = s3_client(self._bucket, storage)
        self._settings = settings
        self._clock = clock
        self._final_s = final_s
        self.uploaded = 0
        """Segments uploaded by this process."""
        self.failures = 0
        """Uploads (and bucket listings) that failed; each upload is tried again after the backoff."""
        self.deleted_unshipped = 0
        """Segments local retention deleted before they could be uploaded (the backlog was full)."""
        self.bytes_remote: dict[str, int] = {}
        self._retry_s = 0.0
        self._next_try = self._retain_at = 0.0
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Ship from a thread of its own: at once (what a previous process left), then when woken."""
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="modelport-payload-shipper", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """A flush happened: segments may have finished. Never blocks."""
        self._wake.set()

    def stop(self) -> None:
        """One last pass, for at most ``final_s``; what it does not upload stays on local disk, for the
        next process started on this home."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        self._wake.set()
        thread.join(self._final_s)
        if thread.is_alive():  # a daemon: it ends with the process, or its upload fails first
            log.warning(
                "payload segments not uploaded to %s within %g s of stopping stay in %s; the next start "
                "on this home uploads them",
                self._url,
                self._final_s,
                self._directory,
            )

    def ship(self, *, final: bool = False) -> None:
        """Upload every finished local segment, deleting each local copy once it is in the bucket;
        stops at the first failure (the rest wait for the next pass, after the backoff)."""
        import obstore

        for path in self._completed():
            if self._stopping.is_set() and not final:
                return
            key = self._key(path.parent.name, path.name)
            try:
                obstore.put(self._client, key, path)
            except FileNotFoundError:  # another process of this home shipped it, or retention deleted it
                continue
            except Exception as error:  # obstore's errors, whatever the cause: counted, retried
                self.failures += 1
                self._retry_s = min(max(self._retry_s * 2, _FIRST_RETRY_S), _LAST_RETRY_S)
                self._next_try = self._clock() + self._retry_s
                waiting, size = self.backlog()
                log.warning(
                    "cannot upload payload segment %s to %s: %s; %d segments (%d bytes) wait on local "
                    "disk, next try in %.0f s",
                    path,
                    self._url,
                    _first_line(error),
                    waiting,
                    size,
                    self._retry_s,
                )
                return
            self._retry_s = self._next_try = 0.0
            self.uploaded += 1
            path.unlink(missing_ok=True)

    def backlog(self) -> tuple[int, int]:
        """The finished segments on this home's disk that wait for their upload, and their bytes."""
        sizes = []
        for path in self._completed():
            with contextlib.suppress(FileNotFoundError):
                sizes.append(path.stat().st_size)
        return len(sizes), sum(sizes)

    def note_deleted(self, count: int) -> None:
        """Local retention deleted ``count`` finished segments: none of them was uploaded yet."""
        self.deleted_unshipped += count
        log.warning(
            "the payload upload backlog is full: local retention (payloads.retention_max_bytes, "
            "retention_max_age_s) deleted %d segments not yet uploaded to %s",
            count,
            self._url,
        )

    def enforce_retention(self) -> None:
        """The local retention rules, applied to the bucket's segments."""
        import obstore

        try:
            listed = obstore.list(self._client, f"{self._prefix}/" if self._prefix else None).collect()
        except Exception as error:
            self.failures += 1
            log.warning("cannot list payload segments in %s: %s", self._url, _first_line(error))
            return
        by_name: dict[str, list[tuple[datetime, str, int]]] = {}
        for meta in listed:
            name = meta["path"].removeprefix(f"{self._prefix}/").split("/")[0]
            by_name.setdefault(name, []).append((meta["last_modified"], meta["path"], int(meta["size"])))
        now = datetime.fromtimestamp(self._clock(), UTC)
        doomed: list[str] = []
        sizes: dict[str, int] = {}
        for name, objects in by_name.items():
            kept = []
            for modified, key, size in sorted(objects):
                if (now - modified).total_seconds() > self._settings.retention_max_age_s:
                    doomed.append(key)
                else:
                    kept.append((key, size))
            total = sum(size for _, size in kept)
            for key, size in kept:
                if total <= self._settings.retention_max_bytes:
                    break
                doomed.append(key)
                total -= size
            sizes[name] = total
        self.bytes_remote = sizes
        if doomed:
            try:
                obstore.delete(self._client, doomed)
            except Exception as error:
                log.warning("cannot delete payload segments in %s: %s", self._url, _first_line(error))

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()  # before the pass: a wake during it means another pass
            now = self._clock()
            if now >= self._next_try:
                self.ship()
            if now >= self._retain_at:
                self._retain_at = now + self._settings.retention_interval_s
                self.enforce_retention()
            waits = [self._retain_at] + ([self._next_try] if self._next_try > now else [])
            self._wake.wait(max(min(waits) - self._clock(), 0.0))
        self.ship(final=True)

    def _completed(self) -> list[Path]:
        if not self._directory.is_dir():
            return []
        return sorted(
            path
            for folder in self._directory.iterdir()
            if folder.is_dir() and not folder.name.startswith(".")
            for path in folder.glob("*-*.parquet")
            if segment_of(path) is None
        )

    def _key(self, name: str, filename: str) -> str:
        return f"{self._prefix}/{name}/{filename}" if self._prefix else f"{name}/{filename}"


def shipper(settings: Settings) -> SegmentShipper | None:
    """The shipper ``payloads.url`` asks for (``None`` when unset)."""
    url = _checked_url(settings)
    if url is None:
        return None
    return SegmentShipper(settings.payload_dir, url, settings.storage, settings.payloads)


def remote_segments(settings: Settings) -> RemoteSegments | None:
    url = _checked_url(settings)
    return None if url is None else RemoteSegments(url, settings.storage)


def _checked_url(settings: Settings) -> str | None:
    url = settings.payloads.url
    if url is None:
        return None
    if not url.startswith("s3://"):
        raise InvalidInput(f"payloads.url must be s3://bucket/prefix (or unset), got {url!r}")
    try:
        import obstore  # noqa: F401
    except ImportError:
        raise InvalidInput("a payload log on s3:// needs obstore: pip install 'modelport[s3]'") from None
    return url


def _first_line(error: Exception) -> str:
    text = str(error)
    return text.splitlines()[0][:300] if text else type(error).__name__
