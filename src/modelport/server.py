"""Assembles one modelport server: registry, reconciler, data plane and management plane.

``build_app`` is pure wiring; everything that starts or stops happens in the app's lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount

from modelport.control.app import ControlServices, create_management_app
from modelport.control.auth import is_loopback
from modelport.control.registration import Registrar
from modelport.core.errors import Forbidden
from modelport.core.settings import Settings
from modelport.registry.artifacts import LocalArtifactStore
from modelport.registry.catalog import Registry
from modelport.serving.app import ServingServices, create_inference_app
from modelport.serving.loader import VersionLoader
from modelport.serving.reconciler import Reconciler
from modelport.serving.service import InferenceService

__all__ = ["build_app", "check_exposure", "open_registry"]

log = logging.getLogger(__name__)


def open_registry(settings: Settings) -> Registry:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Registry.open(settings.database_url, LocalArtifactStore(settings.data_dir / "artifacts"))


def check_exposure(settings: Settings) -> None:
    """Refuse to run an open management API on a non-loopback address."""
    if not is_loopback(settings.host) and not settings.auth.token:
        raise Forbidden(
            f"refusing to listen on {settings.host} without a management token: "
            "set MODELPORT_AUTH__TOKEN (or --token), or listen on 127.0.0.1"
        )


def build_app(settings: Settings, registry: Registry) -> Starlette:
    """The whole server as one ASGI app: management under ``/api``, inference everywhere else."""
    loader = VersionLoader(registry.artifact_path, threads=settings.serving.model_threads)
    reconciler = Reconciler(
        registry, loader, settings.serving.poll_interval_s, settings.serving.drain_timeout_s
    )
    inference = InferenceService(lambda: reconciler.table, threads=settings.serving.inference_threads)
    registrar = Registrar(registry, settings.serving.probe_timeout_s)
    started = time.time()

    def status() -> dict[str, Any]:
        table = reconciler.table
        return {
            "ready": reconciler.ready,
            "registry_revision": table.revision,
            "uptime_s": round(time.time() - started, 3),
            "loaded": [
                {"target": v.target, "framework": v.framework, "digest": v.digest, "in_flight": v.in_flight}
                for v in table.loaded_versions()
            ],
            "failures": {target: f.message for target, f in reconciler.failures.items()},
        }

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(reconciler.run())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await reconciler.close()
            inference.close()

    management = create_management_app(settings, ControlServices(registry, registrar, status))
    data_plane = create_inference_app(settings, ServingServices(inference, reconciler))
    return Starlette(routes=[Mount("/api", app=management), Mount("/", app=data_plane)], lifespan=lifespan)
