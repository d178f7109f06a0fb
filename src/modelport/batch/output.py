"""The output directory: refused when it exists (unless replaced or resumed), created otherwise,
and, on resume, cleared of any file the manifest does not list."""

from __future__ import annotations

import shutil
from pathlib import Path

from modelport.batch.manifest import MANIFEST_NAME, Manifest
from modelport.batch.parts import TEMPORARY_PREFIX
from modelport.core.errors import InvalidInput

__all__ = ["prepare_new", "prepare_resumed"]

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
