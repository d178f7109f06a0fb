"""Reading the payload segments in the shared S3 prefix, for ``PayloadStore``.

Through pyarrow's S3 filesystem, with the artifact store's endpoint and credentials. A shipped
segment never changes (``shipping``), so its footer (row count, time range, row groups) is kept
after the first read, for as long as the listing shows the same key with the same size and time:
a later read asks the store only for the listing and the rows it wants, and fetches the footers
of new segments alone. The footers kept are bounded (``FOOTERS``, least recently used first out):
a few KB each.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from modelport.core.settings import StorageSettings

__all__ = ["FOOTERS", "RemoteFile", "RemoteSegments"]

FOOTERS = 4096
"""Footers kept per reader."""
_FORMAT = ds.ParquetFileFormat()


@dataclass(frozen=True, slots=True)
class RemoteFile:
    path: str
    """``bucket/key``."""
    size: int | None = None
    modified_ns: int | None = None
    """As listed; ``None`` for a file known by name only (its footer is not kept)."""


class RemoteSegments:
    def __init__(self, url: str, storage: StorageSettings) -> None:
        from modelport.batch.s3 import s3_filesystem
        from modelport.registry.s3_store import parse_s3_url

        bucket, prefix = parse_s3_url(url.rstrip("/"))
        self.root = f"{bucket}/{prefix}" if prefix else bucket
        self.fs = s3_filesystem(storage)
        self._footers: OrderedDict[RemoteFile, ds.ParquetFileFragment] = OrderedDict()
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        infos = self.fs.get_file_info(pafs.FileSelector(self.root, allow_not_found=True))
        return [info.base_name for info in infos if info.type == pafs.FileType.Directory]

    def files(self, name: str, kind: str) -> list[RemoteFile]:
        """``name``'s segments of ``kind``, as listed now."""
        infos = self.fs.get_file_info(pafs.FileSelector(f"{self.root}/{name}", allow_not_found=True))
        return sorted(
            (
                RemoteFile(i.path, i.size, i.mtime_ns)
                for i in infos
                if i.is_file and i.base_name.startswith(f"{kind}-")
            ),
            key=lambda file: file.path,
        )

    def metadata(self, file: RemoteFile) -> pq.FileMetaData:
        return self._fragment(file).metadata

    def read(self, file: RemoteFile, filters: list[tuple[str, str, datetime]] | None) -> pa.Table:
        fragment = self._fragment(file)
        return fragment.to_table(filter=pq.filters_to_expression(filters) if filters else None)

    def _fragment(self, file: RemoteFile) -> ds.ParquetFileFragment:
        """``file`` with its footer read: kept, or fetched (and kept, if ``file`` was listed)."""
        with self._lock:
            fragment = self._footers.get(file)
            if fragment is not None:
                self._footers.move_to_end(file)
                return fragment
        fragment = _FORMAT.make_fragment(file.path, self.fs, file_size=file.size)
        fragment.ensure_complete_metadata()
        if file.size is not None:
            with self._lock:
                self._footers[file] = fragment
                while len(self._footers) > FOOTERS:
                    self._footers.popitem(last=False)
        return fragment
