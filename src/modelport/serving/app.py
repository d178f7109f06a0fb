"""The data-plane ASGI app: inference front-ends over one ``InferenceService``, on a lean router."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client.registry import Collector

from modelport.core.settings import Settings
from modelport.monitoring.stats import StageHistograms
from modelport.serving.auth import inference_token
from modelport.serving.explaining import Explanations, ReferenceInputs
from modelport.serving.invocations import Invocations
from modelport.serving.oip_explain import OipExplain
from modelport.serving.oip_repository import OipRepositoryRest
from modelport.serving.oip_rest import OipRest
from modelport.serving.reconciler import Reconciler
from modelport.serving.repository import ModelRepository, ServedFlags, management_token
from modelport.serving.routing import Route, Router
from modelport.serving.scrape import metrics_handler
from modelport.serving.service import InferenceService
from modelport.serving.v1_rest import V1Rest

__all__ = ["ServingServices", "create_inference_app"]


@dataclass(frozen=True)
class ServingServices:
    inference: InferenceService
    reconciler: Reconciler
    histograms: StageHistograms
    """The server's stage and batch-size histograms (every version without ``detailed_metrics``)."""
    flags: ServedFlags | None = None
    """Where the model repository extension stores what is served (the registry); none: no extension."""
    reference: ReferenceInputs | None = None
    """A version's reference data as checked model inputs; none: no explanation routes."""


def create_inference_app(
    settings: Settings, services: ServingServices, collectors: Sequence[Collector] = ()
) -> Router:
    """``collectors`` add to ``/metrics`` beside the per-version statistics and the process's own.

    With ``auth.protect_inference`` every route but the health probes (and KServe's liveness check
    at ``/``) asks for the token."""
    enabled = settings.metrics.enabled
    flags = services.flags
    oip = OipRest(services.inference, services.reconciler, settings.limits, enabled, flags is not None)
    routes = oip.routes()
    explain_rows = settings.serving.explain_max_rows
    explanations = None if services.reference is None else Explanations(services.reference, explain_rows)
    routes += V1Rest(services.inference, services.reconciler, settings.limits, explanations).routes()
    if explanations is not None:
        routes += OipExplain(services.inference, settings.limits, explanations).routes()
    routes += Invocations(services.inference, services.reconciler, settings).routes()
    if flags is not None:
        repository = ModelRepository(services.reconciler, flags)
        routes += OipRepositoryRest(repository, management_token(settings.auth)).routes()
    if enabled:
        metrics = metrics_handler(services.reconciler, services.histograms, collectors)
        routes.append(Route("GET", settings.metrics.path, metrics))
    return Router(routes, inference_token(settings.auth))
