"""Where ``register`` takes an artifact from: a local path, ``s3://bucket/key``, or an ``https://`` URL.

A remote artifact is downloaded into a caller's temporary folder, streamed and hashed on the way and
cut off past ``max_bytes``; registration then stores that copy, so the registry never depends on the
source staying there. ``http://`` is allowed only to a loopback host (a test server, a local
mirror): over a network it would let anyone on the path swap the model. Redirects are followed up to
``_MAX_REDIRECTS`` times, each target checked by the same rules. Any other scheme is refused.

Only the CLI and the Python API fetch: the management API takes uploads and never fetches a URL
(a server that fetches what a client names can be pointed at its own network).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from urllib.parse import urljoin, urlsplit

import httpx

from modelport.core import InvalidInput, TooLarge
from modelport.core.errors import StorageError
from modelport.core.hosts import is_loopback
from modelport.core.settings import StorageSettings

__all__ = ["fetch_artifact", "is_uri"]

_MAX_REDIRECTS = 5
_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_ALLOWED = "https://, s3://, http:// to a loopback host, or a local path"


def is_uri(source: str | Path) -> bool:
    return isinstance(source, str) and _SCHEME.match(source) is not None


def fetch_artifact(
    source: str | Path, into: Path, *, storage: StorageSettings, sha256: str | None = None
) -> Path:
    """The local file to register for ``source``: the path itself, or a download into ``into``.
    With ``sha256``, the bytes must hash to it (InvalidInput otherwise, the download removed)."""
    expected = _check_sha256(sha256)
    if not is_uri(source):
        path = Path(source)
        if expected is not None and path.is_file() and _hash(path) != expected:
            raise InvalidInput(f"{path.name!r} does not match --sha256 {expected[:12]}…")
        return path
    url = str(source)
    scheme = url.split("://", 1)[0].lower()
    if scheme == "s3":
        chunks = _s3_chunks(url, storage)
    elif scheme in ("https", "http"):
        chunks = _http_chunks(url, storage.fetch_max_bytes)
    else:
        raise InvalidInput(f"cannot register from {scheme}:// URLs: use {_ALLOWED}")
    target = into / ("model" + PurePosixPath(urlsplit(url).path).suffix.lower())
    _save(chunks, target, url, storage.fetch_max_bytes, expected)
    return target


def _save(chunks: Iterator[bytes], target: Path, url: str, max_bytes: int, expected: str | None) -> None:
    sha = hashlib.sha256()
    size = 0
    try:
        with open(target, "wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"{url} is larger than storage.fetch_max_bytes ({max_bytes} bytes)")
                sha.update(chunk)
                out.write(chunk)
        if expected is not None and sha.hexdigest() != expected:
            raise InvalidInput(
                f"{url} does not match --sha256 {expected[:12]}…: its bytes hash to {sha.hexdigest()[:12]}…"
            )
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def _http_chunks(url: str, max_bytes: int) -> Iterator[bytes]:
    with httpx.Client(timeout=_TIMEOUT, follow_redirects=False, trust_env=False) as client:
        for _ in range(_MAX_REDIRECTS + 1):
            _check_http_url(url)
            try:
                with client.stream("GET", url) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    if response.status_code != 200:
                        raise InvalidInput(f"cannot download {url}: HTTP {response.status_code}")
                    length = response.headers.get("content-length", "")
                    if length.isdigit() and int(length) > max_bytes:
                        raise TooLarge(f"{url} is larger than storage.fetch_max_bytes ({max_bytes} bytes)")
                    yield from response.iter_bytes(1024 * 1024)
                    return
            except httpx.HTTPError as error:
                raise StorageError(f"cannot download {url}: {type(error).__name__} {error}") from None
        raise InvalidInput(f"cannot download {url}: more than {_MAX_REDIRECTS} redirects")


def _check_http_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and is_loopback(parts.hostname or ""):
        return
    if parts.scheme == "http":
        raise InvalidInput(f"cannot register from {url}: http:// only to a loopback host; use https://")
    raise InvalidInput(f"cannot register from {url}: use {_ALLOWED}")


def _s3_chunks(url: str, storage: StorageSettings) -> Iterator[bytes]:
    try:
        import obstore
        from obstore.exceptions import BaseError

        from modelport.registry.s3_store import describe, parse_s3_url, s3_client
    except ImportError:
        raise InvalidInput("registering from s3:// needs obstore: pip install 'modelport[s3]'") from None
    bucket, key = parse_s3_url(url)
    try:
        yield from obstore.get(s3_client(bucket, storage), key).stream(min_chunk_size=1024 * 1024)
    except FileNotFoundError as error:
        if "NoSuchBucket" in str(error):
            raise StorageError(describe(error, url)) from None
        raise InvalidInput(f"no object at {url}") from None
    except BaseError as error:
        raise StorageError(describe(error, url)) from None


def _check_sha256(sha256: str | None) -> str | None:
    if sha256 is None:
        return None
    value = sha256.strip().lower()
    if not _SHA256.fullmatch(value):
        raise InvalidInput(f"--sha256 must be 64 hex digits, got {sha256!r}")
    return value


def _hash(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            sha.update(chunk)
    return sha.hexdigest()
