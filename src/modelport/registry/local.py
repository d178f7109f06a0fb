"""The registry of a home (``settings.data_dir``): its database and its artifact store.

A module of its own so that CLI commands open the registry without importing the server.
"""

from __future__ import annotations

from modelport.core.errors import InvalidInput
from modelport.core.private_files import DIR_MODE, private_dir, tighten
from modelport.core.settings import Settings
from modelport.registry.artifacts import ArtifactStore, LocalArtifactStore
from modelport.registry.catalog import Registry

__all__ = ["open_artifact_store", "open_registry"]


def open_registry(settings: Settings) -> Registry:
    tighten(private_dir(settings.data_dir), DIR_MODE)  # an existing install's too: rows can be personal
    return Registry.open(settings.database_url, open_artifact_store(settings))


def open_artifact_store(settings: Settings) -> ArtifactStore:
    """``storage.artifacts_url``: unset, the folder ``<home>/artifacts``; ``s3://``, a bucket read
    through the local cache (obstore is imported only then)."""
    url = settings.storage.artifacts_url
    if not url:
        return LocalArtifactStore(settings.data_dir / "artifacts")
    if not url.startswith("s3://"):
        raise InvalidInput(f"storage.artifacts_url must be s3://bucket/prefix (or unset), got {url!r}")
    from modelport.registry.artifact_cache import ArtifactCache

    try:
        from modelport.registry.s3_store import S3ArtifactStore
    except ImportError:
        raise InvalidInput("an s3:// artifact store needs obstore: pip install 'modelport[s3]'") from None

    cache_dir = settings.storage.cache_dir or settings.data_dir / "cache" / "artifacts"
    cache = ArtifactCache(cache_dir.expanduser(), settings.storage.cache_max_bytes)
    return S3ArtifactStore(url, settings.storage, cache)
