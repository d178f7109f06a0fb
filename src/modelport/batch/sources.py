"""Where a batch job's rows come from: Parquet, CSV or JSONL files, a directory or glob of them,
or JSONL on stdin (``-``), read as a stream of record batches through ``pyarrow.dataset``. An
``s3://`` input (an object, a prefix or a glob) is read the same way through pyarrow's
``S3FileSystem`` (``batch.s3``).

CSV is read as text and converted by the column map (``convert``), as the online path converts
JSON: a cell that is not a number becomes one bad row, not a failed file. A malformed CSV or JSONL
line is a bad row too (``text_sources``).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.dataset as ds
from pyarrow import fs as pafs

from modelport.batch.s3 import is_s3, list_input, s3_error, url_of
from modelport.batch.text_sources import csv_batches, jsonl_batches
from modelport.core.errors import InvalidInput

__all__ = ["FORMATS", "Source", "format_of", "open_source"]

FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
"""File extension → format, for inputs and outputs."""

STDIN = "-"


def format_of(path: str) -> str | None:
    return FORMATS.get(os.path.splitext(path)[1].lower())


@dataclass
class Source:
    """The input of a job: its files (none for stdin) and how to stream their rows."""

    name: str
    format: str
    files: tuple[str, ...]
    stdin: IO[bytes] | None = None
    filesystem: pafs.FileSystem | None = None
    """S3's, for an ``s3://`` input (``files`` are then ``bucket/key``); ``None``: local files."""

    def fingerprint(self) -> list[dict[str, Any]]:
        """Each file's path, size and modification time: a resumed job checks that none changed."""
        if self.filesystem is None:
            stats = [(f, os.stat(f).st_size, os.stat(f).st_mtime_ns) for f in self.files]
        else:
            try:
                infos = self.filesystem.get_file_info(list(self.files))
            except OSError as error:
                raise s3_error(error, self.name) from None
            stats = [(url_of(i.path), i.size, i.mtime_ns) for i in infos]
        return [{"path": path, "size": size, "mtime_ns": mtime} for path, size, mtime in stats]

    def count_rows(self) -> int | None:
        """The number of rows when the files say it cheaply (Parquet footers), else ``None``."""
        if self.format != "parquet":
            return None
        return int(self._dataset().count_rows())

    def batches(self, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """The rows in file order; ``InvalidInput`` names a file that cannot be read or parsed."""
        try:
            if self.stdin is not None:
                yield from jsonl_batches(self.stdin, self.name)
            elif self.format == "parquet":
                yield from self._scan(batch_rows)
            else:
                yield from self._text_files()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as error:
            raise InvalidInput(self._describe(error)) from None
        except OSError as error:
            if self.filesystem is None:
                raise
            raise s3_error(error, self.name) from None

    def _scan(self, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """Parquet one row group at a time: a whole-dataset scan reads ahead as far as it can while
        the model is slower than the disk, and held the whole decoded file (630 MB for 4M rows of 20
        floats, against 19 MB by row group)."""
        for fragment in self._dataset().get_fragments():
            for row_group in fragment.split_by_row_group():
                yield from row_group.to_batches(
                    batch_size=batch_rows, batch_readahead=2, fragment_readahead=1
                )

    def _text_files(self) -> Iterator[pa.RecordBatch]:
        for file in self.files:
            if self.format == "csv":
                yield from csv_batches(
                    file, file if self.filesystem is None else url_of(file), self.filesystem
                )
            elif self.filesystem is not None:
                with self.filesystem.open_input_stream(file) as stream:
                    yield from jsonl_batches(stream, url_of(file))
            else:
                with open(file, "rb") as handle:
                    yield from jsonl_batches(handle, file)

    def _describe(self, error: Exception) -> str:
        text = str(error).split("\n")[0]
        return f"cannot read {self.name}: {text}"

    def _dataset(self) -> ds.Dataset:
        try:
            return ds.dataset(list(self.files), format=ds.ParquetFileFormat(), filesystem=self.filesystem)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise InvalidInput(self._describe(error)) from None
        except OSError as error:
            if self.filesystem is None:
                raise
            raise s3_error(error, self.name) from None


def open_source(spec: str, stdin: IO[bytes] | None = None, s3: pafs.FileSystem | None = None) -> Source:
    """The source ``spec`` names: ``-`` (JSONL on ``stdin``), a file, a directory or a glob, here or,
    for ``s3://bucket/key``, on ``s3``."""
    if spec == STDIN:
        if stdin is None:
            raise InvalidInput("'-' reads JSONL from standard input, which this caller does not have")
        return Source("standard input", "jsonl", (), stdin=stdin)
    if is_s3(spec):
        if s3 is None:
            raise InvalidInput(f"input {spec!r}: this caller reads local files only")
        return _checked(spec, list_input(s3, spec), s3)
    path = Path(spec)
    if path.is_dir():
        files = sorted(
            str(p)
            for p in path.rglob("*")
            if p.is_file() and format_of(p.name) and not p.name.startswith(("_", "."))
        )
    elif glob.has_magic(spec):
        files = sorted(f for f in glob.glob(spec, recursive=True) if os.path.isfile(f))
    elif path.is_file():
        files = [spec]
    else:
        raise InvalidInput(f"input {spec!r} does not exist")
    return _checked(spec, [os.path.abspath(f) for f in files], None)


def _checked(spec: str, files: list[str], filesystem: pafs.FileSystem | None) -> Source:
    if not files:
        raise InvalidInput(f"input {spec!r} holds no .parquet, .csv or .jsonl file")
    formats = {format_of(f) for f in files}
    if None in formats or len(formats) != 1:
        raise InvalidInput(f"input {spec!r}: give files of one format: .parquet, .csv or .jsonl")
    return Source(spec, str(formats.pop()), tuple(files), filesystem=filesystem)
