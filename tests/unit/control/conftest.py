"""The drift service over a fresh registry; each module gives its own ``settings``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelport.control.drift import DriftService
from modelport.core.settings import Settings
from modelport.monitoring.payloads.store import PayloadStore
from modelport.registry.catalog import Registry
from modelport.registry.local import open_registry


@pytest.fixture
def registry(settings: Settings) -> Iterator[Registry]:
    registry = open_registry(settings)
    yield registry
    registry.close()


@pytest.fixture
def service(registry: Registry, settings: Settings) -> DriftService:
    return DriftService(registry, PayloadStore(settings.data_dir / "payloads"), settings.drift)
