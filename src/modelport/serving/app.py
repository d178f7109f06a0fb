"""The data-plane ASGI app: inference front-ends over one ``InferenceService``, on a lean router."""

from __future__ import annotations

from dataclasses import dataclass

from modelport.core.settings import Settings
from modelport.serving.oip_rest import OipRest
from modelport.serving.reconciler import Reconciler
from modelport.serving.routing import Router
from modelport.serving.service import InferenceService

__all__ = ["ServingServices", "create_inference_app"]


@dataclass(frozen=True)
class ServingServices:
    inference: InferenceService
    reconciler: Reconciler


def create_inference_app(settings: Settings, services: ServingServices) -> Router:
    oip = OipRest(services.inference, services.reconciler, settings.limits)
    return Router(oip.routes())
