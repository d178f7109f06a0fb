"""Content-addressed, immutable artifact storage.

A stored file lives at ``<digest[:2]>/<digest>/<filename>`` where ``digest`` is the sha256 of its
bytes. A file is written to a temporary name inside the store, fsynced, then moved into place with
one atomic ``os.replace``: a reader sees the whole file or none, and a crash leaves at most a stray
temporary file. A failed write (disk full, read-only, over a file-size limit) removes its temporary
file and raises ``StorageError`` naming the cause. Storing the same bytes again keeps the stored file
when it still hashes to its digest, and replaces it when it does not: storing a file repairs a copy
damaged on disk. Folders are ``0700`` and stored files ``0400``: only the server's user reads them,
and nobody rewrites them.

``ArtifactStore`` is the protocol the catalogue needs; ``LocalArtifactStore`` implements it on a
local folder, and ``S3ArtifactStore`` (``s3_store.py``) on a bucket. A file is read through
``local_copy``, a with-block: a remote store's cached copy may be evicted once no block holds it. Only the
catalogue's garbage collection (``registry/deletion.py``) removes a stored file.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable

from modelport.core import InternalError, InvalidInput, NotFound
from modelport.core.errors import StorageError
from modelport.core.private_files import DIR_MODE, private_dir, tighten
from modelport.registry.names import check_filename

__all__ = ["ArtifactStore", "LocalArtifactStore", "StoredArtifact"]

_CHUNK = 1024 * 1024
_DIGEST = re.compile(r"[0-9a-f]{64}")
_STALE_TMP_S = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class StoredArtifact:
    digest: str
    """sha256 of the bytes, lowercase hex."""
    filename: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {"digest": self.digest, "filename": self.filename, "size": self.size}


@runtime_checkable
class ArtifactStore(Protocol):
    def put_file(self, src: Path, filename: str) -> StoredArtifact: ...

    def put_bytes(self, data: bytes, filename: str) -> StoredArtifact: ...

    def exists(self, digest: str, filename: str) -> bool: ...

    def local_copy(self, digest: str, filename: str) -> AbstractContextManager[Path]:
        """The file's local path for the with-block, after re-hashing it (InternalError if its bytes
        changed); read it inside the block, where a remote store's cached copy cannot be evicted."""
        ...

    def stored(self) -> Iterator[tuple[str, str]]:
        """``(digest, filename)`` of every stored file."""
        ...

    def remove(self, digest: str, filename: str) -> int | None:
        """Delete the file; its size in bytes, or None if it was not there."""
        ...


class LocalArtifactStore:
    """An ``ArtifactStore`` on a local folder (by default ``<data dir>/artifacts``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._tmp = self.root / ".tmp"
        try:
            private_dir(self._tmp)
        except OSError as error:
            raise StorageError(f"cannot create the artifact store {self.root}: {error.strerror}") from None
        tighten(self.root, DIR_MODE)
        _remove_stale(self._tmp, older_than_s=_STALE_TMP_S)

    def __repr__(self) -> str:
        return f"LocalArtifactStore({str(self.root)!r})"

    def put_file(self, src: Path, filename: str) -> StoredArtifact:
        check_filename(filename)
        try:
            with open(src, "rb") as source:
                return self._put(source, filename)
        except FileNotFoundError:
            raise NotFound(f"artifact file {str(src)!r} does not exist") from None
        except IsADirectoryError:
            raise InvalidInput(f"artifact {str(src)!r} is a directory; pack it into one file") from None
        except OSError as error:  # opening or reading the source (the store's own failures: StorageError)
            raise InvalidInput(f"cannot read artifact file {str(src)!r}: {error.strerror}") from None

    def put_bytes(self, data: bytes, filename: str) -> StoredArtifact:
        check_filename(filename)
        digest = hashlib.sha256(data).hexdigest()
        if _holds(self.path(digest, filename), digest):
            return StoredArtifact(digest, filename, len(data))
        return self._put(io.BytesIO(data), filename)

    def exists(self, digest: str, filename: str) -> bool:
        return self.path(digest, filename).is_file()

    def path(self, digest: str, filename: str) -> Path:
        if not _DIGEST.fullmatch(digest):
            raise InvalidInput(f"invalid artifact digest {digest!r}: expected 64 lowercase hex digits")
        return self.root / digest[:2] / digest / check_filename(filename)

    @contextlib.contextmanager
    def local_copy(self, digest: str, filename: str) -> Iterator[Path]:
        yield self.verify(digest, filename)  # the store's own file: nothing to hold

    def verify(self, digest: str, filename: str) -> Path:
        path = self.path(digest, filename)
        try:
            with open(path, "rb") as f:
                actual, _ = _hash_copy(f, None)
        except FileNotFoundError:
            raise NotFound(f"artifact {digest[:12]}…/{filename} is missing from {self.root}") from None
        except OSError as error:
            raise StorageError(f"cannot read artifact {path}: {error.strerror}") from None
        if actual != digest:
            raise InternalError(
                f"artifact {digest[:12]}…/{filename} is corrupt: its sha256 is now {actual[:12]}…"
            )
        return path

    def stored(self) -> Iterator[tuple[str, str]]:
        for path in self.root.glob("??/*/*"):
            if _DIGEST.fullmatch(path.parent.name) and path.parent.parent.name == path.parent.name[:2]:
                yield path.parent.name, path.name

    def remove(self, digest: str, filename: str) -> int | None:
        path = self.path(digest, filename)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise StorageError(f"cannot remove artifact {path}: {error.strerror}") from None
        with contextlib.suppress(OSError):  # still holds another file of the same bytes
            path.parent.rmdir()
        return size

    def _put(self, source: BinaryIO, filename: str) -> StoredArtifact:
        """Copy ``source`` in; on any failure the temporary file is gone and nothing is published."""
        tmp: Path | None = None
        try:
            fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="put-")
            tmp = Path(tmp_name)
            with os.fdopen(fd, "wb") as out:
                digest, size = _hash_copy(source, out)
                out.flush()
                os.fsync(out.fileno())
            return self._publish(tmp, digest, filename, size)
        except BaseException as error:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
            if isinstance(error, OSError) and not isinstance(error, _SourceUnreadable):
                raise StorageError(f"cannot store {filename} in {self.root}: {error.strerror}") from None
            raise

    def _publish(self, tmp: Path, digest: str, filename: str, size: int) -> StoredArtifact:
        final = self.path(digest, filename)
        if _holds(final, digest):
            tmp.unlink(missing_ok=True)
        else:  # absent, or damaged on disk: these bytes (the right ones) take its place
            private_dir(final.parent)
            os.chmod(tmp, 0o400)
            os.replace(tmp, final)
            _fsync_dir(final.parent)
            _fsync_dir(final.parent.parent)
        return StoredArtifact(digest, filename, size)


class _SourceUnreadable(OSError):
    """Reading the file being stored failed: the caller's file, not the store, is at fault."""


def _hash_copy(source: BinaryIO, out: BinaryIO | None) -> tuple[str, int]:
    sha = hashlib.sha256()
    size = 0
    while True:
        try:
            chunk = source.read(_CHUNK)
        except OSError as error:
            raise _SourceUnreadable(error.errno, error.strerror) from None
        if not chunk:
            return sha.hexdigest(), size
        sha.update(chunk)
        size += len(chunk)
        if out is not None:
            out.write(chunk)


def _holds(path: Path, digest: str) -> bool:
    """``path`` is a readable file whose sha256 is ``digest``."""
    try:
        with open(path, "rb") as f:
            return _hash_copy(f, None)[0] == digest
    except OSError:  # missing, a folder, unreadable: not a good copy either
        return False


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale(tmp: Path, older_than_s: float) -> None:
    """Drop temporary files a crashed writer left behind (old enough that no writer still owns them)."""
    cutoff = time.time() - older_than_s
    for leftover in tmp.glob("put-*"):
        try:
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()
        except FileNotFoundError:
            pass
