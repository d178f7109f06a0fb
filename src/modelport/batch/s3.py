"""Batch input and output on S3 (``s3://bucket/key``), through ``pyarrow.fs.S3FileSystem``.

pyarrow's own filesystem, because ``pyarrow.dataset`` reads Parquet through it a row group at a
time with ranged GETs, exactly as it reads a local file, so the sources need no second code path.
Its endpoint, region and credentials are the artifact store's (``S3Settings``). A failed call is a
``StorageError`` of one line naming the URL and the cause.
"""

from __future__ import annotations

import fnmatch
import glob
from pathlib import Path

from pyarrow import fs as pafs

from modelport.core.errors import InvalidInput, StorageError
from modelport.core.settings import StorageSettings

__all__ = ["SCHEME", "check_bucket", "is_s3", "list_input", "s3_error", "s3_filesystem", "url_of"]

SCHEME = "s3://"


def is_s3(spec: str | Path) -> bool:
    return isinstance(spec, str) and spec.startswith(SCHEME)


def s3_filesystem(settings: StorageSettings) -> pafs.S3FileSystem:
    """The filesystem of the artifact store's endpoint and credentials; first of the S3 calls (the
    others import ``s3_store``, which needs obstore, once this succeeded)."""
    try:
        from modelport.registry.s3_store import S3Settings
    except ImportError:
        raise InvalidInput("s3:// input or output needs obstore: pip install 'modelport[s3]'") from None
    resolved = S3Settings.of(settings)
    endpoint = resolved.endpoint
    scheme = "http" if endpoint and endpoint.startswith("http://") else "https"
    return pafs.S3FileSystem(
        access_key=resolved.access_key_id,
        secret_key=resolved.secret_access_key,
        region=resolved.region or "us-east-1",
        endpoint_override=endpoint.split("://", 1)[-1] if endpoint else None,
        scheme=scheme,
        connect_timeout=5,
        request_timeout=30,
        retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=3),
    )


def url_of(path: str) -> str:
    """``bucket/key`` (pyarrow's path) as ``s3://bucket/key``."""
    return SCHEME + path


def s3_error(error: OSError, url: str) -> StorageError:
    """One line for a failed S3 call on ``url``, without the client's request id."""
    text = str(error)
    if "ACCESS_DENIED" in text or "InvalidAccessKeyId" in text or "SignatureDoesNotMatch" in text:
        cause = "access denied: check the S3 credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
    elif "NO_SUCH_BUCKET" in text:
        cause = "the bucket does not exist"
    elif "NETWORK_CONNECTION" in text or "connect" in text.lower():
        cause = "the S3 endpoint does not answer"
    else:
        cause = text.split(" (Request ID")[0].splitlines()[0][:300]
    return StorageError(f"cannot reach {url}: {cause}")


def list_input(fs: pafs.FileSystem, spec: str) -> list[str]:
    """The objects ``spec`` names, as ``bucket/key``: one object, every object under a prefix (but
    ``_`` and ``.`` names), or the objects a glob matches (``*``, ``?``, ``[…]`` within a segment)."""
    from modelport.registry.s3_store import parse_s3_url

    bucket, key = parse_s3_url(spec)
    path = f"{bucket}/{key}" if key else bucket
    try:
        if glob.has_magic(key):
            base = path[: path.rfind("/", 0, _first_magic(path))]
            pattern = path
            listed = fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
            return sorted(i.path for i in listed if i.is_file and _matches(i.path, pattern))
        info = fs.get_file_info(path)
        if info.is_file:
            return [path]
        listed = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
        if not listed:
            check_bucket(fs, bucket, spec)
            raise InvalidInput(f"input {spec!r} does not exist")
    except OSError as error:
        raise s3_error(error, spec) from None
    return sorted(
        i.path
        for i in listed
        if i.is_file and not any(p.startswith(("_", ".")) for p in i.path[len(path) :].split("/"))
    )


def check_bucket(fs: pafs.FileSystem, bucket: str, url: str) -> None:
    """StorageError when ``bucket`` does not exist (a listing there is merely empty)."""
    try:
        missing = fs.get_file_info(bucket).type == pafs.FileType.NotFound
    except OSError as error:
        raise s3_error(error, url) from None
    if missing:
        raise StorageError(f"cannot reach {url}: the bucket does not exist")


def _matches(path: str, pattern: str) -> bool:
    """A glob's match, as a local one: a wildcard stays within one path segment."""
    names, wanted = path.split("/"), pattern.split("/")
    return len(names) == len(wanted) and all(map(fnmatch.fnmatchcase, names, wanted))


def _first_magic(path: str) -> int:
    return min(path.index(c) for c in "*?[" if c in path)
