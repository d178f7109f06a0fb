"""The manifest beside a job's parts: what was scored, with which version, and how far it got.

It is replaced atomically (at least every second while parts are written, see ``record.py``, and at
the job's end), so a reader (or ``--resume``) always finds a whole manifest that lists only complete
parts. ``state`` is ``running`` while a job writes (and after it
was killed), then ``complete`` (every row scored), ``partial`` (done, with bad rows in the errors
file), ``failed`` or ``cancelled``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from modelport.core.errors import InvalidInput

__all__ = ["MANIFEST_NAME", "Manifest", "Part"]

MANIFEST_NAME = "_manifest.json"
"""Leading ``_``: Parquet readers of the output directory (pyarrow, pandas, Spark) skip it."""


@dataclass
class Part:
    index: int
    file: str | None
    """``None`` when no row of the chunk could be scored."""
    start: int
    rows_in: int
    rows_scored: int
    rows_failed: int
    errors_end: int
    """The errors file's size once this part's bad rows were written (a resume truncates to it)."""


@dataclass
class Manifest:
    target: str
    model: str
    version: int
    sha256: str
    input: str
    input_files: list[dict[str, Any]]
    output: str
    format: str
    errors_file: str
    chunk_rows: int
    id_columns: list[str]
    features: list[str]
    max_errors: int
    explain: bool = False
    """Attribution columns follow the outputs (``--explain``)."""
    state: str = "running"
    message: str | None = None
    rows_in: int = 0
    rows_scored: int = 0
    rows_failed: int = 0
    duration_s: float = 0.0
    started_at: str = ""
    finished_at: str | None = None
    engine: str = "local"
    """The engine of the latest run: ``local`` or ``ray``."""
    workers: int | None = None
    """Ray: the actors asked for."""
    actors: list[dict[str, Any]] = field(default_factory=list)
    """Ray: each actor that scored chunks in the latest run (node, pid, chunks, model loads)."""
    parts: list[Part] = field(default_factory=list)

    def add(self, part: Part) -> None:
        self.parts.append(part)
        self.rows_in += part.rows_in
        self.rows_scored += part.rows_scored
        self.rows_failed += part.rows_failed

    def to_json(self) -> bytes:
        """Indented for people; orjson, since ``json`` falls back to pure Python when indenting (a
        manifest of 1,000 parts took milliseconds)."""
        return orjson.dumps(self, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)

    def save(self, directory: Path) -> None:
        temporary = directory / f".tmp-{MANIFEST_NAME}"
        temporary.write_bytes(self.to_json())
        os.replace(temporary, directory / MANIFEST_NAME)

    @classmethod
    def load(cls, directory: Path) -> Manifest:
        path = directory / MANIFEST_NAME
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise InvalidInput(
                f"{directory} has no {MANIFEST_NAME}: there is no batch job to resume"
            ) from None
        return cls.parse(text, str(path))

    @classmethod
    def parse(cls, text: str, where: str) -> Manifest:
        try:
            data = json.loads(text)
            parts = [Part(**p) for p in data.pop("parts")]
            return cls(**data, parts=parts)
        except (ValueError, TypeError, KeyError, AttributeError):
            raise InvalidInput(f"{where} is not a batch manifest; start again with --overwrite") from None
