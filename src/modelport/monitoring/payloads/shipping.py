"""The payload log on a shared S3 prefix (``payloads.url = s3://bucket/prefix``).

Each process still writes its live segment locally (parts, flocked writers: ``segments``). A
segment file, once merged, never changes; the shipper uploads it to ``<prefix>/<name>/<file>``, whose
name already holds the writer's pid and token, so processes on any host never write the same key.
Only after the upload succeeded is the local file deleted: a failed upload (S3 down, denied) keeps
it, is counted, and is tried again, by this process or any later one on the same home. Uploads run
on the log's writer thread, so after a failure the next try waits (1 s, doubling up to a minute)
rather than holding that thread on a dead endpoint at every flush. Retention applies to the
bucket's segments with the local rules: past the age limit (by upload time, which is after the
newest row), then the oldest past each name's size limit.

``RemoteSegments`` lists and reads the bucket's segments for ``PayloadStore``, through pyarrow's
S3 filesystem (footers for time ranges, then only the segments wanted), with the same
endpoint and credentials as the artifact store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from modelport.core.errors import InvalidInput
from modelport.core.settings import PayloadSettings, Settings, StorageSettings
from modelport.monitoring.payloads.segments import segment_of

__all__ = ["RemoteSegments", "SegmentShipper", "remote_segments", "shipper"]

log = logging.getLogger(__name__)

_FIRST_RETRY_S, _LAST_RETRY_S = 1.0, 60.0


class SegmentShipper:
    def __init__(
        self,
        directory: Path,
        url: str,
        storage: StorageSettings,
        settings: PayloadSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        from modelport.registry.s3_store import parse_s3_url, s3_client

        self._directory = directory
        self._url = url.rstrip("/")
        self._bucket, self._prefix = parse_s3_url(self._url)
        self._client = s3_client(self._bucket, storage)
        self._settings = settings
        self._clock = clock
        self.uploaded = 0
        """Segments uploaded by this process."""
        self.failures = 0
        """Uploads that failed (each is tried again at the next flush)."""
        self.bytes_remote: dict[str, int] = {}
        self._retry_s = 0.0
        self._next_try = 0.0

    def ship(self) -> None:
        """Upload every completed local segment, deleting each local copy once it is in the bucket;
        stops at the first failure (the rest wait for a later call, after the backoff)."""
        import obstore

        if self._clock() < self._next_try:
            return
        for path in self._completed():
            key = self._key(path.parent.name, path.name)
            try:
                obstore.put(self._client, key, path)
            except FileNotFoundError:  # another process of this home shipped it meanwhile
                continue
            except Exception as error:  # obstore's errors, whatever the cause: counted, retried
                self.failures += 1
                log.warning("cannot upload payload segment %s to %s: %s", path, self._url, _first_line(error))
                self._retry_s = min(max(self._retry_s * 2, _FIRST_RETRY_S), _LAST_RETRY_S)
                self._next_try = self._clock() + self._retry_s
                return
            self._retry_s = 0.0
            self.uploaded += 1
            path.unlink(missing_ok=True)

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


class RemoteSegments:
    """The segments in the bucket, read through pyarrow's S3 filesystem."""

    def __init__(self, url: str, storage: StorageSettings) -> None:
        from modelport.batch.s3 import s3_filesystem
        from modelport.registry.s3_store import parse_s3_url

        bucket, prefix = parse_s3_url(url.rstrip("/"))
        self.root = f"{bucket}/{prefix}" if prefix else bucket
        self.fs = s3_filesystem(storage)

    def names(self) -> list[str]:
        from pyarrow import fs as pafs

        infos = self.fs.get_file_info(pafs.FileSelector(self.root, allow_not_found=True))
        return [info.base_name for info in infos if info.type == pafs.FileType.Directory]

    def files(self, name: str, kind: str) -> list[str]:
        """``bucket/key`` of ``name``'s segments of ``kind``."""
        from pyarrow import fs as pafs

        infos = self.fs.get_file_info(pafs.FileSelector(f"{self.root}/{name}", allow_not_found=True))
        return sorted(i.path for i in infos if i.is_file and i.base_name.startswith(f"{kind}-"))

    def metadata(self, path: str) -> pq.FileMetaData:
        return pq.read_metadata(path, filesystem=self.fs)

    def read(self, path: str, filters: list[tuple[str, str, datetime]] | None) -> pa.Table:
        return pq.read_table(path, filesystem=self.fs, filters=filters)


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
