"""The data-plane ASGI app: inference front-ends over one ``InferenceService``, on a lean router."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.registry import Collector

from modelport.core.settings import Settings
from modelport.monitoring.prometheus import ModelportCollector, VersionView
from modelport.monitoring.prometheus_loading import LoadStateCollector
from modelport.monitoring.tracing import Tracing
from modelport.serving.auth import inference_token
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


def create_inference_app(
    settings: Settings, services: ServingServices, collectors: Sequence[Collector] = ()
) -> Router:
    """``collectors`` add to ``/metrics`` beside the per-version statistics and the process's own.

    With ``auth.protect_inference`` every route but the two health probes asks for the token."""
    enabled = settings.metrics.enabled
    oip = OipRest(services.inference, services.reconciler, settings.limits, services.tracing, enabled)
    routes = oip.routes()
    if enabled:
        routes.append(Route("GET", settings.metrics.path, metrics_handler(services.reconciler, collectors)))
    return Router(routes, inference_token(settings.auth))


def metrics_handler(reconciler: Reconciler, collectors: Sequence[Collector] = ()) -> Handler:
    """Prometheus exposition, rendered per scrape."""
    registry = CollectorRegistry(auto_describe=False)

    def views() -> list[VersionView]:
        return [
            VersionView(
                v.model,
                str(v.version),
                v.stats,
                v.predictor.queue_depth if v.predictor else 0,
                v.memory_bytes,
            )
            for v in reconciler.table.loaded_versions()
        ]

    registry.register(ModelportCollector(views))
    registry.register(
        LoadStateCollector(
            lambda: {target: f.message for target, f in reconciler.failures.items()},
            lambda: reconciler.table.held_aliases(),
        )
    )
    ProcessCollector(registry=registry)
    for collector in collectors:
        registry.register(collector)

    async def metrics(request: HttpRequest) -> HttpResponse:
        return HttpResponse(generate_latest(registry), 200, [(b"content-type", CONTENT_TYPE_LATEST.encode())])

    return metrics
