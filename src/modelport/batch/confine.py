"""Where a job run by the server may read and write: under ``jobs.allowed_roots``, symlinks resolved.

Every path is resolved with ``realpath`` (``..`` and symlinks followed) and must then lie inside a
resolved root: the input's every file (a directory or a glob is expanded first), the output
directory (not a root itself, which ``overwrite`` could empty) and the errors file. Standard input,
relative paths and ``s3://`` URIs (a server holds no bucket allow-list) are refused. The API checks
at submission and the job's worker again right before it opens anything, since the tree may change
in between.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from modelport.batch.s3 import SCHEME
from modelport.batch.sources import STDIN, open_source
from modelport.core.errors import Forbidden, InvalidInput

__all__ = ["Confined", "confine"]

OFF = "server jobs are off: name a directory in jobs.allowed_roots (MODELPORT_JOBS__ALLOWED_ROOTS)"


@dataclass(frozen=True)
class Confined:
    """The job's paths, resolved: what the worker hands to the engine."""

    input: str
    output: Path
    errors: Path | None


def confine(input: str, output: str, errors: str | None, roots: Sequence[Path]) -> Confined:
    """The resolved paths; Forbidden for a path outside every root, InvalidInput for one that is not a
    path on this machine."""
    if not roots:
        raise Forbidden(OFF)
    real_roots = [Path(os.path.realpath(root)) for root in roots]
    if input == STDIN:
        raise InvalidInput("a server job cannot read standard input ('-'): give a file, directory or glob")
    for name, path in (("input", input), ("output", output), ("errors", errors)):
        if path is not None and path.startswith(SCHEME):
            raise InvalidInput(
                f"{name} {path!r}: a server job reads and writes files under jobs.allowed_roots; "
                "run s3:// jobs with the modelport batch command"
            )
    for name, path in (("input", input), ("output", output), ("errors", errors)):
        if path is not None and not os.path.isabs(path):
            raise InvalidInput(f"{name} {path!r} is not an absolute path (paths are on the server)")
    magic = glob.has_magic(input)
    if magic:
        _inside(f"input {input!r}: the glob's directory", _static_prefix(input), real_roots)
    else:
        _inside("input", input, real_roots)
    for file in open_source(input).files:
        _inside("input file", file, real_roots)
    real_output = _inside("output", output, real_roots)
    if real_output in real_roots:
        raise Forbidden(f"output {output} is a root of jobs.allowed_roots; name a directory inside it")
    return Confined(
        input=input if magic else os.path.realpath(input),
        output=real_output,
        errors=None if errors is None else _inside("errors", errors, real_roots),
    )


def _inside(name: str, path: str, roots: list[Path]) -> Path:
    real = Path(os.path.realpath(path))
    if not any(real.is_relative_to(root) for root in roots):
        shown = f"{path} (resolved: {real})" if str(real) != path else path
        listed = ", ".join(map(str, roots))
        raise Forbidden(f"{name} {shown} is outside jobs.allowed_roots ({listed})")
    return real


def _static_prefix(pattern: str) -> str:
    """A glob's leading directories without a wildcard: where every match lies."""
    parts = Path(pattern).parts
    first_magic = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    return os.path.join(*parts[:first_magic])
