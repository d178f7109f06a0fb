"""The data-plane ASGI app: inference front-ends over one ``InferenceService``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from modelport.core.errors import ModelportError
from modelport.core.settings import Settings
from modelport.serving.http_errors import error_response, internal_error_response
from modelport.serving.oip_rest import OipRest
from modelport.serving.reconciler import Reconciler
from modelport.serving.service import InferenceService

__all__ = ["ServingServices", "create_inference_app", "guarded"]

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class ServingServices:
    inference: InferenceService
    reconciler: Reconciler


def guarded(handler: Handler) -> Handler:
    """Turn errors into the protocol's error body; unexpected ones get an error id and a log line."""

    @wraps(handler)
    async def call(request: Request) -> Response:
        try:
            return await handler(request)
        except ModelportError as error:
            return error_response(error)
        except Exception as exc:
            return internal_error_response(exc)

    return call


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def create_inference_app(settings: Settings, services: ServingServices) -> Starlette:
    oip = OipRest(services.inference, services.reconciler, settings.limits)
    routes = [Route(r.path, guarded(r.endpoint), methods=r.methods) for r in oip.routes()]
    return Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
