"""The output directory: refused when it exists (unless replaced or resumed), created otherwise,
and, on resume, cleared of any file the manifest does not list.

``Output`` is what the job and the ``Recorder`` write through: ``LocalOutput`` here, ``S3Output``
(``s3_output``) for an ``s3://`` prefix.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import pyarrow as pa

from modelport.batch.manifest import MANIFEST_NAME, Manifest
from modelport.batch.parts import TEMPORARY_PREFIX, write_part
from modelport.batch.rejects import ErrorsFile
from modelport.batch.scoring import RowError
from modelport.core.errors import InvalidInput

__all__ = ["ErrorsSink", "LocalOutput", "Output", "prepare_new", "prepare_resumed"]

ERRORS_NAME = "_errors.jsonl"


def prepare_new(output: Path, overwrite: bool) -> None:
    """An empty directory at ``output``; ``overwrite`` removes an earlier job's output or a file."""
    if output.exists() or output.is_symlink():
        if not overwrite:
            raise InvalidInput(
                f"output {output} exists: --overwrite replaces it, --resume continues the job that wrote it"
            )
        if output.is_dir() and not output.is_symlink():
            if (output / MANIFEST_NAME).exists():
                shutil.rmtree(output)
            elif any(output.iterdir()):
                raise InvalidInput(
                    f"output {output} is a directory that no batch job wrote; choose another path"
                )
        else:
            output.unlink()
    output.mkdir(parents=True, exist_ok=True)


def prepare_resumed(output: Path, manifest: Manifest) -> None:
    """Remove parts the manifest does not list (written after its last update) and temporary files."""
    listed = {part.file for part in manifest.parts}
    for path in output.iterdir():
        stray_part = path.name.startswith("part-") and path.name not in listed
        if stray_part or path.name.startswith(TEMPORARY_PREFIX):
            path.unlink()
    expected = list(range(len(manifest.parts)))
    if [part.index for part in manifest.parts] != expected:
        raise InvalidInput(f"{output / MANIFEST_NAME} lists parts out of order; start again with --overwrite")


class ErrorsSink(Protocol):
    def append(self, index: int, errors: Iterable[RowError]) -> int:
        """Write part ``index``'s bad rows; returns what the manifest's ``errors_end`` records."""

    def close(self) -> None: ...


class Output(Protocol):
    """Where a job's parts, errors and manifest go."""

    url: str
    """As the manifest and the summary show it."""

    def default_errors(self) -> str: ...

    def prepare_new(self, overwrite: bool) -> None: ...

    def prepare_resumed(self, manifest: Manifest) -> None: ...

    def load_manifest(self) -> Manifest: ...

    def save_manifest(self, manifest: Manifest) -> None: ...

    def write_part(self, index: int, table: pa.Table, fmt: str) -> str: ...

    def errors(self, manifest: Manifest) -> ErrorsSink: ...


class LocalOutput:
    """A directory on this machine."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.url = str(directory.resolve())

    def default_errors(self) -> str:
        return str((self.directory / ERRORS_NAME).resolve())

    def prepare_new(self, overwrite: bool) -> None:
        prepare_new(self.directory, overwrite)

    def prepare_resumed(self, manifest: Manifest) -> None:
        prepare_resumed(self.directory, manifest)

    def load_manifest(self) -> Manifest:
        return Manifest.load(self.directory)

    def save_manifest(self, manifest: Manifest) -> None:
        manifest.save(self.directory)

    def write_part(self, index: int, table: pa.Table, fmt: str) -> str:
        return write_part(self.directory, index, table, fmt)

    def errors(self, manifest: Manifest) -> ErrorsSink:
        end = manifest.parts[-1].errors_end if manifest.parts else 0
        return ErrorsFile(Path(manifest.errors_file), end)
