"""The registry of a home (``settings.data_dir``): its SQLite database and its artifacts folder.

A module of its own so that CLI commands open the registry without importing the server.
"""

from __future__ import annotations

from modelport.core.private_files import DIR_MODE, private_dir, tighten
from modelport.core.settings import Settings
from modelport.registry.artifacts import LocalArtifactStore
from modelport.registry.catalog import Registry

__all__ = ["open_registry"]


def open_registry(settings: Settings) -> Registry:
    tighten(private_dir(settings.data_dir), DIR_MODE)  # an existing install's too: rows can be personal
    return Registry.open(settings.database_url, LocalArtifactStore(settings.data_dir / "artifacts"))
