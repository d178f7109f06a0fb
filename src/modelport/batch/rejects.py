"""The errors file: one JSON line per bad row (its index, its id columns, the reason), appended in
part order. Its size after each part is in the manifest, so a resumed job cuts off the lines of
parts that were never recorded and writes them again, once."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import orjson

from modelport.batch.scoring import RowError

__all__ = ["ErrorsFile"]


class ErrorsFile:
    def __init__(self, path: Path, keep_bytes: int) -> None:
        self.path = path
        with path.open("ab") as handle:
            handle.truncate(keep_bytes)
        self._handle = path.open("ab")

    def append(self, index: int, errors: Iterable[RowError]) -> int:
        """Write part ``index``'s ``errors`` (one file: the index only orders them); returns the
        file's size after them."""
        data = b"".join(orjson.dumps(e.to_dict(), default=str) + b"\n" for e in errors)
        if data:
            self._handle.write(data)
            self._handle.flush()
        return os.fstat(self._handle.fileno()).st_size

    def close(self) -> None:
        self._handle.close()
