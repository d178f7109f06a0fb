"""Folders and files only their owner can read: the registry, artifacts, payload rows, exports.

Payload rows and reference data can hold personal data, so everything modelport writes under its
data directory is created ``0700`` (folders) or ``0600`` (files) explicitly, whatever the process
umask, and the data directory of an existing install is tightened when it is opened.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import BinaryIO

__all__ = ["DIR_MODE", "FILE_MODE", "create_private", "private_dir", "tighten"]

DIR_MODE, FILE_MODE = 0o700, 0o600


def private_dir(path: Path) -> Path:
    """``path`` as a folder, created ``0700`` (its missing parents too) if it did not exist."""
    missing = []
    current = path
    while not current.exists() and current.parent != current:
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            folder.mkdir(DIR_MODE)
    if not path.is_dir():
        path.mkdir(DIR_MODE)  # raises the error that says why it is not a folder
    return path


def create_private(path: Path, *, exclusive: bool = False) -> BinaryIO:
    """``path`` opened for writing (truncated), mode ``0600`` from its creation on; never follows a
    symlink at ``path``. ``exclusive``: fail if it already exists."""
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    flags |= os.O_EXCL if exclusive else os.O_TRUNC
    fd = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # an existing file keeps its mode through os.open
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


def tighten(path: Path, mode: int) -> None:
    """Set ``path``'s mode to ``mode`` if it exists and is ours to change (best effort: a file another
    user owns stays as it is)."""
    with contextlib.suppress(FileNotFoundError, PermissionError):
        if (path.stat().st_mode & 0o777) & ~mode:
            os.chmod(path, mode)
