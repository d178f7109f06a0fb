"""A local read-through cache of a remote artifact store, shared by the processes of one host.

An entry lives at ``<root>/<digest[:2]>/<digest>/<filename>``, like the local store, so the path
names its bytes. Filling it downloads to a temporary file in ``<root>/.tmp``, hashes on the way,
fsyncs and moves it in with one atomic rename; bytes that do not hash to the digest are refused and
the temporary file removed, so a wrong entry is never published.

Each entry has two lock files under ``<root>/.locks`` (``fcntl.flock``). ``.fill`` is held
exclusively while the entry is downloaded or re-checked: a second process asking for the same entry
waits and then finds it filled, so an artifact is downloaded once per host. ``.use`` is held shared
for the span of one ``use`` block (taken before the lookup, released when the caller has read the
file), on an fd of its own, so uses by threads of one process count separately. Eviction takes an
entry only if it can lock its ``.use`` exclusively without waiting, so no file is removed between
the lookup and the caller's open; removing a file a process already has open is harmless on POSIX.
Use refreshes the entry's mtime, and eviction (one process at a time, after each fill and each
release) removes the least recently used entries until the total is within ``max_bytes``: only
entries in use at that moment can keep the total above it, so one artifact larger than the bound
still loads, and is removed once released. An entry evicted is downloaded (and checked) again by its
next use.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from modelport.core.errors import StorageError
from modelport.core.private_files import private_dir

__all__ = ["ArtifactCache", "DigestMismatch"]

_CHUNK = 1024 * 1024
_DIGEST = re.compile(r"[0-9a-f]{64}")
_STALE_TMP_S = 24 * 3600.0

Download = Callable[[Callable[[bytes], object]], None]
"""Passes the remote bytes of one entry, chunk by chunk, to the given ``write``."""


class DigestMismatch(StorageError):
    """Downloaded bytes whose sha256 is not the digest they were asked for by."""


class ArtifactCache:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        try:
            for folder in (self.root, self.root / ".tmp", self.root / ".locks"):
                private_dir(folder)
        except OSError as error:
            raise StorageError(f"cannot create the artifact cache {self.root}: {error.strerror}") from None
        _remove_stale(self.root / ".tmp", older_than_s=_STALE_TMP_S)

    def entry(self, digest: str, filename: str) -> Path:
        return self.root / digest[:2] / digest / filename

    @contextlib.contextmanager
    def use(self, digest: str, filename: str, download: Download) -> Iterator[Path]:
        """The entry's path, for the with-block: downloaded first if absent, hashed again if present
        (and downloaded anew if its bytes changed); no process evicts it before the block ends."""
        path = self.entry(digest, filename)
        use = _lock(self._lock_path(path, "use"), fcntl.LOCK_SH)  # before the lookup, until released
        try:
            fill = _lock(self._lock_path(path, "fill"), fcntl.LOCK_EX)
            try:
                if path.is_file() and _sha256(path) != digest:
                    path.unlink()
                if not path.is_file():
                    self._fill(path, digest, download)
                os.utime(path)
            finally:
                os.close(fill)
            self._evict()
            yield path
        finally:
            os.close(use)
            self._evict()  # the entry released may be what keeps the total over the bound

    def drop(self, digest: str, filename: str) -> None:
        """Remove the entry (its remote copy was deleted); a process using it keeps its open file."""
        path = self.entry(digest, filename)
        fill = _lock(self._lock_path(path, "fill"), fcntl.LOCK_EX)
        try:
            _remove(path)
        finally:
            os.close(fill)

    def _fill(self, path: Path, digest: str, download: Download) -> None:
        fd, tmp_name = tempfile.mkstemp(dir=self.root / ".tmp", prefix="fill-")
        tmp = Path(tmp_name)
        try:
            sha = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:

                def write(chunk: bytes) -> None:
                    sha.update(chunk)
                    out.write(chunk)

                download(write)
                out.flush()
                os.fsync(out.fileno())
            actual = sha.hexdigest()
            if actual != digest:
                raise DigestMismatch(
                    f"artifact {digest[:12]}…/{path.name} was refused: the downloaded bytes hash to "
                    f"{actual[:12]}…, so the stored copy changed"
                )
            private_dir(path.parent)
            os.chmod(tmp, 0o400)
            os.replace(tmp, path)
        except OSError as error:
            raise StorageError(f"cannot write the artifact cache {self.root}: {error.strerror}") from None
        finally:
            tmp.unlink(missing_ok=True)

    def _lock_path(self, entry: Path, kind: str) -> Path:
        return self.root / ".locks" / f"{entry.parent.name}.{entry.name}.{kind}"

    def _entries(self) -> Iterator[tuple[Path, int, float]]:
        for path in self.root.glob("??/*/*"):
            if _DIGEST.fullmatch(path.parent.name):
                with contextlib.suppress(FileNotFoundError):
                    stat = path.stat()
                    yield path, stat.st_size, stat.st_mtime

    def _evict(self) -> None:
        """Remove least recently used entries that no process uses, until within ``max_bytes``."""
        guard = _lock(self.root / ".locks" / ".evict", fcntl.LOCK_EX)
        try:
            entries = sorted(self._entries(), key=lambda e: e[2])
            total = sum(size for _, size, _ in entries)
            for path, size, _ in entries:
                if total <= self.max_bytes:
                    return
                if self._evict_unused(path):
                    total -= size
        finally:
            os.close(guard)

    def _evict_unused(self, path: Path) -> bool:
        use = self._lock_path(path, "use")
        try:
            fd = _lock(use, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # in use (by this process too, through another fd)
        try:  # nobody can be filling it either: a filler holds .use first
            _remove(path)
            for lock in (use, self._lock_path(path, "fill")):
                lock.unlink(missing_ok=True)  # a waiter re-opens the new one: see _lock
        finally:
            os.close(fd)
        return True


def _lock(path: Path, mode: int) -> int:
    """An fd of ``path`` holding ``flock(mode)``; re-opened if the file was removed while waiting
    (by an evictor), so that every holder locks the same file."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, mode)
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                return fd
        except FileNotFoundError:
            pass
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def _remove_stale(tmp: Path, older_than_s: float) -> None:
    """Drop partial downloads a killed process left (old enough that no filler still writes them)."""
    cutoff = time.time() - older_than_s
    for leftover in tmp.glob("fill-*"):
        with contextlib.suppress(FileNotFoundError):
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        path.parent.rmdir()


def _sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            sha.update(chunk)
    return sha.hexdigest()
