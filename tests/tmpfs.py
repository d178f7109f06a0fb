"""A small tmpfs mounted for one test: a real full disk (ENOSPC) or a real read-only file system.

Mounting needs root (as here and in CI); where it is not permitted the test is skipped with the reason.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["remount_read_only", "tmpfs"]


@contextlib.contextmanager
def tmpfs(path: Path, size_kib: int, *, read_only: bool = False) -> Iterator[Path]:
    """``path`` as a fresh tmpfs of ``size_kib``, unmounted on the way out."""
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size_kib}k" + (",ro" if read_only else "")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=True)


def remount_read_only(path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
