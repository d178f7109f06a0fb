"""A job's output under an ``s3://bucket/prefix``: the local layout, made of whole objects.

Each part is encoded in memory (one chunk) and stored by one PUT (multipart for a large one), which
S3 completes atomically: a part is complete or absent, with no temporary name. ``_manifest.json`` is
one object, replaced whole after each part. S3 has no append, so bad rows go to one object per part,
``_errors/part-000003.jsonl`` (only for parts with bad rows), and ``--errors`` is refused. A resumed
job deletes the parts and errors objects its manifest does not list. ``--overwrite`` empties the
prefix only when it holds a ``_manifest.json`` (an earlier job's output).

Deletes go through the artifact store's obstore client: pyarrow's leave an empty "directory" object
behind to keep the parent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TypeVar

import obstore
import orjson
import pyarrow as pa
from obstore.exceptions import BaseError
from obstore.store import S3Store
from pyarrow import fs as pafs

from modelport.batch.manifest import MANIFEST_NAME, Manifest
from modelport.batch.output import ErrorsSink
from modelport.batch.parts import encode, part_name
from modelport.batch.s3 import check_bucket, s3_error, url_of
from modelport.batch.scoring import RowError
from modelport.core.errors import InvalidInput, StorageError
from modelport.registry.s3_store import describe, parse_s3_url

__all__ = ["ERRORS_PREFIX", "S3Output"]

T = TypeVar("T")

ERRORS_PREFIX = "_errors"
_INDEX = re.compile(r"part-(\d+)\.")


class S3Output:
    def __init__(self, url: str, filesystem: pafs.FileSystem, client: S3Store) -> None:
        bucket, key = parse_s3_url(url)
        if not key:
            raise InvalidInput(f"output {url!r}: name a prefix inside the bucket, not the bucket")
        self.path = f"{bucket}/{key}"
        self.url = url_of(self.path)
        self.fs = filesystem
        self._client = client

    def default_errors(self) -> str:
        return f"{self.url}/{ERRORS_PREFIX}/"

    def prepare_new(self, overwrite: bool) -> None:
        check_bucket(self.fs, self.path.split("/", 1)[0], self.url)
        if self._is_object(self.path):
            raise InvalidInput(f"output {self.url} is an object; name a prefix for the job's parts")
        if not self._listed():
            return
        if not overwrite:
            raise InvalidInput(
                f"output {self.url} exists: --overwrite replaces it, --resume continues the job that wrote it"
            )
        if not self._is_object(f"{self.path}/{MANIFEST_NAME}"):
            raise InvalidInput(
                f"output {self.url} holds objects that no batch job wrote; choose another prefix"
            )
        self._delete([info.path for info in self._listed()])

    def prepare_resumed(self, manifest: Manifest) -> None:
        listed = {part.index for part in manifest.parts}
        stray = []
        for info in self._listed():
            name = info.path[len(self.path) + 1 :]
            match = _INDEX.match(name.removeprefix(f"{ERRORS_PREFIX}/"))
            if match and int(match.group(1)) not in listed:
                stray.append(info.path)
        self._delete(stray)
        if [part.index for part in manifest.parts] != list(range(len(manifest.parts))):
            raise InvalidInput(
                f"{self.url}/{MANIFEST_NAME} lists parts out of order; start again with --overwrite"
            )

    def load_manifest(self) -> Manifest:
        key = f"{self.path}/{MANIFEST_NAME}"
        check_bucket(self.fs, self.path.split("/", 1)[0], self.url)
        if not self._is_object(key):
            raise InvalidInput(f"{self.url} has no {MANIFEST_NAME}: there is no batch job to resume")
        return Manifest.parse(self._read(key).decode(), url_of(key))

    def save_manifest(self, manifest: Manifest) -> None:
        self.put_object(f"{self.path}/{MANIFEST_NAME}", manifest.to_json())

    def write_part(self, index: int, table: pa.Table, fmt: str) -> str:
        name = part_name(index, fmt)
        sink = pa.BufferOutputStream()
        encode(table, fmt, sink)
        self.put_object(f"{self.path}/{name}", sink.getvalue())
        return name

    def errors(self, manifest: Manifest) -> ErrorsSink:
        return _ErrorObjects(self)

    def put_object(self, path: str, data: bytes | pa.Buffer) -> None:
        def put() -> None:
            with self.fs.open_output_stream(path) as stream:
                stream.write(data)

        self._call(put, url_of(path))

    def _delete(self, paths: list[str]) -> None:
        """``paths`` (``bucket/key``, in this bucket) deleted."""
        if not paths:
            return
        bucket = self.path.split("/", 1)[0]
        try:
            obstore.delete(self._client, [path.removeprefix(f"{bucket}/") for path in paths])
        except BaseError as error:
            raise StorageError(describe(error, self.url)) from None

    def _read(self, path: str) -> bytes:
        def read() -> bytes:
            with self.fs.open_input_stream(path) as stream:
                return bytes(stream.read())

        return self._call(read, url_of(path))

    def _is_object(self, path: str) -> bool:
        info = self._call(lambda: self.fs.get_file_info(path), url_of(path))
        return bool(info.is_file)

    def _listed(self) -> list[pafs.FileInfo]:
        selector = pafs.FileSelector(self.path, recursive=True, allow_not_found=True)
        infos = self._call(lambda: self.fs.get_file_info(selector), self.url)
        return [info for info in infos if info.is_file]

    @staticmethod
    def _call(call: Callable[[], T], url: str) -> T:
        try:
            return call()
        except OSError as error:
            raise s3_error(error, url) from None


class _ErrorObjects:
    """Bad rows as ``_errors/part-N.jsonl``, one object per part that has any."""

    def __init__(self, output: S3Output) -> None:
        self._output = output

    def append(self, index: int, errors: Iterable[RowError]) -> int:
        data = b"".join(orjson.dumps(e.to_dict(), default=str) + b"\n" for e in errors)
        if data:
            self._output.put_object(f"{self._output.path}/{ERRORS_PREFIX}/part-{index:06d}.jsonl", data)
        return 0

    def close(self) -> None:
        pass
