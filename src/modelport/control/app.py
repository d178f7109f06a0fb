"""The management ASGI app: register, list, alias and version-policy operations, server status, and
the batch jobs the servers run.

Served under ``/api`` beside the data plane; described by the OpenAPI document at ``/api/openapi.json``.
Every request, the document's included, passes the Host and cross-site gate, the token gate, then
the body limit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from modelport._version import __version__
from modelport.control.auth import BearerGate, HostAllowList, SiteGate
from modelport.control.body_limit import BodyLimit
from modelport.control.drift import DriftService
from modelport.control.drift_routes import build_drift_router
from modelport.control.endpoint_routes import build_endpoint_router
from modelport.control.jobs_routes import build_jobs_router
from modelport.control.monitor_routes import build_monitor_router
from modelport.control.registration import Registrar
from modelport.control.rollout_routes import build_rollout_router
from modelport.control.routes import build_router
from modelport.core.errors import ModelportError
from modelport.core.settings import Settings
from modelport.monitoring.book import OutcomeBook
from modelport.monitoring.payloads import PayloadLog, PayloadStore
from modelport.registry.catalog import Registry
from modelport.serving.http_errors import error_response, internal_error_response

__all__ = ["ControlServices", "create_management_app"]


@dataclass(frozen=True)
class ControlServices:
    registry: Registry
    registrar: Registrar
    status: Callable[[], dict[str, Any]]
    """What the data plane reports about itself (loaded versions, failures, readiness)."""
    shadow_report: Callable[[str], dict[str, Any]]
    """An endpoint's shadow comparisons, merged over every server process."""
    outcomes: OutcomeBook
    """What each endpoint variant did here: the predictions feedback judges."""
    ab_report: Callable[[str], dict[str, Any]]
    """An endpoint's A/B report, merged over every server process."""
    rollout_status: Callable[[str], dict[str, Any] | None]
    """A running rollout's guardrails, as the process that judges it sees them."""
    payload_log: PayloadLog
    """This process's payload-log writer: its state and counters."""
    payload_store: PayloadStore
    """Every process's logged payloads, read back."""
    drift: DriftService
    """Drift reports over the payload log."""


def create_management_app(settings: Settings, services: ControlServices) -> FastAPI:
    app = FastAPI(
        title="modelport management API",
        version=__version__,
        docs_url=None,  # the interactive page would fetch scripts from a CDN; the document itself is served
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.add_middleware(BodyLimit, limit=settings.limits.max_body_bytes)
    app.add_middleware(BearerGate, token=settings.auth.token)
    app.add_middleware(SiteGate, hosts=HostAllowList.of(settings))  # the outermost: added last
    app.include_router(build_router(settings, services), prefix="/v1")
    app.include_router(build_endpoint_router(services.registry, services.shadow_report), prefix="/v1")
    app.include_router(
        build_rollout_router(
            services.registry, services.outcomes, services.ab_report, services.rollout_status
        ),
        prefix="/v1",
    )
    app.include_router(
        build_monitor_router(services.registry, services.payload_log, services.payload_store), prefix="/v1"
    )
    app.include_router(build_drift_router(services.drift), prefix="/v1")
    app.include_router(build_jobs_router(settings, services.registry), prefix="/v1")
    app.add_exception_handler(ModelportError, _modelport_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    return app


async def _modelport_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ModelportError)
    return error_response(exc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', 'invalid')}" for err in exc.errors()
    )
    return JSONResponse({"error": f"invalid request: {problems}"}, status_code=400)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    return internal_error_response(exc)
