"""An ``ArtifactStore`` on an S3-compatible bucket (``storage.artifacts_url = s3://bucket/prefix``).

Objects are keyed like the local store's files, ``<prefix>/<digest[:2]>/<digest>/<filename>``, and
are immutable: storing the same bytes again re-uploads them, which repairs a copy changed in the
bucket. Uploads are multipart in ``_PART_BYTES`` parts (at most ``_PARTS_IN_FLIGHT`` at once) and
downloads stream in chunks, so no artifact is ever held whole in memory. Reads go through the local
``ArtifactCache``: ``local_copy`` gives a cached file, its sha256 checked when it was downloaded and
again now, kept in the cache for the with-block (and evictable after it).

The client is obstore (docs/storage.md says why). Endpoint, region and credentials come from the
settings or, when unset there, from the standard ``AWS_*`` variables; the secret is never logged.
Every client failure is a ``StorageError`` of one line naming the object and the cause.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import obstore
from obstore.exceptions import BaseError, PermissionDeniedError, UnauthenticatedError
from obstore.store import S3Store

from modelport.core import InvalidInput, NotFound
from modelport.core.errors import StorageError
from modelport.core.settings import StorageSettings
from modelport.registry.artifact_cache import ArtifactCache
from modelport.registry.artifacts import StoredArtifact
from modelport.registry.names import check_filename

if TYPE_CHECKING:
    from obstore.store import ClientConfig, RetryConfig, S3Config

__all__ = ["S3ArtifactStore", "S3Settings", "parse_s3_url", "s3_client"]

_CHUNK = 1024 * 1024
_PART_BYTES = 5 * 1024 * 1024  # S3's smallest part
_PARTS_IN_FLIGHT = 2  # peak memory of an upload: about 20 MB whatever its size
_DIGEST = re.compile(r"[0-9a-f]{64}")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_NO_BUCKET = "NoSuchBucket"
_RETRY: RetryConfig = {"max_retries": 2, "retry_timeout": timedelta(seconds=20)}


def parse_s3_url(url: str) -> tuple[str, str]:
    """``(bucket, key)`` of ``s3://bucket/key``; InvalidInput naming the URL's fault otherwise."""
    rest = url.removeprefix("s3://")
    bucket, _, key = rest.partition("/")
    if rest == url or not _BUCKET.fullmatch(bucket):
        raise InvalidInput(f"{url!r} is not an S3 URL: expected s3://bucket/key with a valid bucket name")
    return bucket, key.strip("/")


@dataclass(frozen=True)
class S3Settings:
    """The S3 endpoint, region and credentials in force: the settings first, then ``AWS_*``.

    The one place that resolves them, for the artifact store's client and batch's filesystem."""

    endpoint: str | None
    region: str | None
    access_key_id: str | None
    secret_access_key: str | None = field(repr=False)

    @classmethod
    def of(cls, settings: StorageSettings) -> S3Settings:
        env = os.environ.get
        return cls(
            settings.s3_endpoint_url or env("AWS_ENDPOINT_URL"),
            settings.s3_region or env("AWS_REGION") or env("AWS_DEFAULT_REGION"),
            settings.s3_access_key_id or env("AWS_ACCESS_KEY_ID"),
            settings.s3_secret_access_key or env("AWS_SECRET_ACCESS_KEY"),
        )


def s3_client(bucket: str, settings: StorageSettings) -> S3Store:
    """A client for ``bucket``: settings first, then the ``AWS_*`` variables."""
    resolved = S3Settings.of(settings)
    config: S3Config = {}
    if resolved.endpoint:
        config["endpoint"] = resolved.endpoint
    if resolved.region:
        config["region"] = resolved.region
    if resolved.access_key_id:
        config["access_key_id"] = resolved.access_key_id
    if resolved.secret_access_key:
        config["secret_access_key"] = resolved.secret_access_key
    endpoint = resolved.endpoint
    client: ClientConfig = {
        "connect_timeout": timedelta(seconds=5),
        "allow_http": bool(endpoint and endpoint.startswith("http://")),
    }
    return S3Store(bucket, config=config, client_options=client, retry_config=_RETRY)


def describe(error: Exception, what: str) -> str:
    """One line for a failed S3 call on ``what``, without the client's multi-line detail."""
    text = str(error)
    if isinstance(error, UnauthenticatedError | PermissionDeniedError) or any(
        code in text for code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied")
    ):
        cause = "access denied: check the S3 credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
    elif _NO_BUCKET in text:
        cause = "the bucket does not exist"
    elif "error sending request" in text or "connect" in text.lower():
        cause = "the S3 endpoint does not answer"
    else:  # the client's first line (its detail runs over many)
        cause = text.splitlines()[0][:300] if text else type(error).__name__
    return f"cannot reach {what}: {cause}"


class S3ArtifactStore:
    """An ``ArtifactStore`` on ``s3://bucket/prefix``, read through a local ``ArtifactCache``."""

    def __init__(self, url: str, settings: StorageSettings, cache: ArtifactCache) -> None:
        self.url = url.rstrip("/")
        self.bucket, self.prefix = parse_s3_url(self.url)
        self.cache = cache
        self._client = s3_client(self.bucket, settings)

    def __repr__(self) -> str:
        return f"S3ArtifactStore({self.url!r})"

    def put_file(self, src: Path, filename: str) -> StoredArtifact:
        check_filename(filename)
        try:
            digest, size = _hash_file(src)
        except FileNotFoundError:
            raise NotFound(f"artifact file {str(src)!r} does not exist") from None
        except IsADirectoryError:
            raise InvalidInput(f"artifact {str(src)!r} is a directory; pack it into one file") from None
        except OSError as error:
            raise InvalidInput(f"cannot read artifact file {str(src)!r}: {error.strerror}") from None
        self._put(digest, filename, src)
        return StoredArtifact(digest, filename, size)

    def put_bytes(self, data: bytes, filename: str) -> StoredArtifact:
        check_filename(filename)
        digest = hashlib.sha256(data).hexdigest()
        self._put(digest, filename, data)
        return StoredArtifact(digest, filename, len(data))

    def exists(self, digest: str, filename: str) -> bool:
        key = self._key(digest, filename)
        try:
            obstore.head(self._client, key)
        except FileNotFoundError:  # obstore's "not found"; a missing bucket too (HEAD has no body)
            return False
        except BaseError as error:
            raise StorageError(describe(error, self._url_of(key))) from None
        return True

    def local_copy(self, digest: str, filename: str) -> AbstractContextManager[Path]:
        key = self._key(digest, filename)

        def download(write: Callable[[bytes], object]) -> None:
            try:
                for chunk in obstore.get(self._client, key).stream(min_chunk_size=_CHUNK):
                    write(chunk)
            except FileNotFoundError as error:
                if _NO_BUCKET in str(error):
                    raise StorageError(describe(error, self._url_of(key))) from None
                raise NotFound(f"artifact {digest[:12]}…/{filename} is missing from {self.url}") from None
            except BaseError as error:
                raise StorageError(describe(error, self._url_of(key))) from None

        return self.cache.use(digest, filename, download)

    def stored(self) -> Iterator[tuple[str, str]]:
        prefix = f"{self.prefix}/" if self.prefix else None
        try:
            for batch in obstore.list(self._client, prefix):
                for meta in batch:
                    parts = meta["path"].removeprefix(prefix or "").split("/")
                    if len(parts) == 3 and _DIGEST.fullmatch(parts[1]) and parts[0] == parts[1][:2]:
                        yield parts[1], parts[2]
        except BaseError as error:
            raise StorageError(describe(error, self.url)) from None

    def remove(self, digest: str, filename: str) -> int | None:
        key = self._key(digest, filename)
        try:
            size = obstore.head(self._client, key)["size"]
            obstore.delete(self._client, key)
        except FileNotFoundError:
            return None
        except BaseError as error:
            raise StorageError(describe(error, self._url_of(key))) from None
        finally:
            self.cache.drop(digest, filename)
        return int(size)

    def _put(self, digest: str, filename: str, source: Path | bytes) -> None:
        key = self._key(digest, filename)
        try:
            obstore.put(self._client, key, source, chunk_size=_PART_BYTES, max_concurrency=_PARTS_IN_FLIGHT)
        except (BaseError, FileNotFoundError) as error:  # a missing bucket is obstore's "not found"
            raise StorageError(describe(error, self._url_of(key))) from None

    def _key(self, digest: str, filename: str) -> str:
        if not _DIGEST.fullmatch(digest):
            raise InvalidInput(f"invalid artifact digest {digest!r}: expected 64 lowercase hex digits")
        name = f"{digest[:2]}/{digest}/{check_filename(filename)}"
        return f"{self.prefix}/{name}" if self.prefix else name

    def _url_of(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


def _hash_file(src: Path) -> tuple[str, int]:
    sha = hashlib.sha256()
    size = 0
    with open(src, "rb") as f:
        while chunk := f.read(_CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), size
