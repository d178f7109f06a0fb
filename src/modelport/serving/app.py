"""The data-plane ASGI app: inference front-ends over one ``InferenceService``, on a lean router."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from modelport.core.settings import Settings
from modelport.monitoring.prometheus import DriftCollector, ModelportCollector, VersionView
from modelport.monitoring.tracing import Tracing
from modelport.serving.http import Handler, HttpRequest, HttpResponse
from modelport.serving.oip_rest import OipRest
from modelport.serving.reconciler import Reconciler
from modelport.serving.routing import Route, Router
from modelport.serving.service import InferenceService

__all__ = ["ServingServices", "create_inference_app"]


@dataclass(frozen=True)
class ServingServices:
    inference: InferenceService
    reconciler: Reconciler
    tracing: Tracing
    drift_reports: Callable[[], Mapping[str, Mapping[str, Any]]] | None = None
    """The last drift reports, rendered as ``modelport_drift_*`` at scrape time."""


def create_inference_app(settings: Settings, services: ServingServices) -> Router:
    oip = OipRest(services.inference, services.reconciler, settings.limits, services.tracing)
    return Router(
        [
            *oip.routes(),
            Route("GET", "/metrics", metrics_handler(services.reconciler, services.drift_reports)),
        ]
    )


def metrics_handler(
    reconciler: Reconciler, drift_reports: Callable[[], Mapping[str, Mapping[str, Any]]] | None = None
) -> Handler:
    """Prometheus exposition of every loaded version's statistics, rendered per scrape."""
    registry = CollectorRegistry(auto_describe=False)

    def views() -> list[VersionView]:
        return [
            VersionView(v.model, str(v.version), v.stats, v.predictor.queue_depth if v.predictor else 0)
            for v in reconciler.table.loaded_versions()
        ]

    registry.register(ModelportCollector(views))
    if drift_reports is not None:
        registry.register(DriftCollector(drift_reports))

    async def metrics(request: HttpRequest) -> HttpResponse:
        return HttpResponse(generate_latest(registry), 200, [(b"content-type", CONTENT_TYPE_LATEST.encode())])

    return metrics
