"""The data-plane ASGI app: inference front-ends over one ``InferenceService``, on a lean router."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from modelport.core.settings import Settings
from modelport.monitoring.payloads import PayloadLog
from modelport.monitoring.prometheus import ModelportCollector, PayloadCollector, VersionView
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
    payloads: PayloadLog


def create_inference_app(settings: Settings, services: ServingServices) -> Router:
    oip = OipRest(services.inference, services.reconciler, settings.limits, services.tracing)
    return Router(
        [*oip.routes(), Route("GET", "/metrics", metrics_handler(services.reconciler, services.payloads))]
    )


def metrics_handler(reconciler: Reconciler, payloads: PayloadLog) -> Handler:
    """Prometheus exposition of every loaded version's statistics and the payload log, rendered per scrape."""
    registry = CollectorRegistry(auto_describe=False)

    def views() -> list[VersionView]:
        return [
            VersionView(v.model, str(v.version), v.stats, v.predictor.queue_depth if v.predictor else 0)
            for v in reconciler.table.loaded_versions()
        ]

    registry.register(ModelportCollector(views))
    registry.register(PayloadCollector(payloads))

    async def metrics(request: HttpRequest) -> HttpResponse:
        return HttpResponse(generate_latest(registry), 200, [(b"content-type", CONTENT_TYPE_LATEST.encode())])

    return metrics
