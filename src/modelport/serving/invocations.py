"""MLflow's scoring protocol and SageMaker's container contract: ``POST /invocations``, ``GET /ping``,
``/health`` and ``/version``.

These routes carry no model name, so the target is the ``x-modelport-target`` header
(``NAME[:VERSION|@ALIAS]``, a model or an endpoint), else ``serving.invocations_target`` (SageMaker
runs one model per container). Errors come back as MLflow's ``{"error_code", "message"}``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from modelport._version import __version__
from modelport.core.errors import ErrorKind, InvalidInput, ModelportError
from modelport.core.inference import InferenceRequest, InferenceResponse
from modelport.core.settings import Settings
from modelport.core.targets import Target
from modelport.core.tensors import TensorSpec
from modelport.serving.http import HttpRequest, HttpResponse, header_text, read_body, trace_carrier
from modelport.serving.http_errors import HTTP_STATUS, error_headers
from modelport.serving.invocations_codec import decode_csv, decode_json, encode_predictions
from modelport.serving.metadata import is_ready
from modelport.serving.oip_rest import ROUTE_KEY_HEADER, SERVED_BY_HEADER
from modelport.serving.reconciler import Reconciler
from modelport.serving.routing import Route
from modelport.serving.service import SERVED_BY, FrontEnd, InferenceService
from modelport.serving.table import RoutingTable

__all__ = ["TARGET_HEADER", "Invocations", "mlflow_error"]

TARGET_HEADER = b"x-modelport-target"
_JSON = (b"content-type", b"application/json")
_CSV, _JSON_TYPE = "text/csv", "application/json"
ERROR_CODES = {
    ErrorKind.NOT_FOUND: "RESOURCE_DOES_NOT_EXIST",
    ErrorKind.INVALID_INPUT: "BAD_REQUEST",
    ErrorKind.TOO_LARGE: "BAD_REQUEST",
    ErrorKind.CONFLICT: "RESOURCE_CONFLICT",
    ErrorKind.FORBIDDEN: "PERMISSION_DENIED",
    ErrorKind.UNAUTHORIZED: "UNAUTHENTICATED",
    ErrorKind.NOT_READY: "TEMPORARILY_UNAVAILABLE",
    ErrorKind.OVERLOADED: "TEMPORARILY_UNAVAILABLE",
    ErrorKind.TIMEOUT: "DEADLINE_EXCEEDED",
    ErrorKind.INTERNAL: "INTERNAL_ERROR",
}
"""MLflow's error code per error kind; the status is the data plane's (``HTTP_STATUS``)."""


@dataclass(frozen=True, slots=True)
class _Call:
    """A request with the input specs of the target it names (read before admission: the service
    validates against the version that answers, so a signature changed meanwhile is still caught)."""

    request: HttpRequest
    inputs: tuple[TensorSpec, ...]
    csv: bool


class Invocations:
    """The routes, bound to one service, one reconciler and the settings they read."""

    def __init__(self, service: InferenceService, reconciler: Reconciler, settings: Settings) -> None:
        self._service = service
        self._reconciler = reconciler
        self._limits = settings.limits
        self._default = _configured(settings.serving.invocations_target)
        self._front = FrontEnd("mlflow", self._decode, _encode, _carrier)

    def routes(self) -> list[Route]:
        return [
            Route("POST", "/invocations", self.invocations, errors=mlflow_error),
            Route("GET", "/ping", self.ping, public=True, errors=mlflow_error),
            Route("GET", "/health", self.ping, public=True, errors=mlflow_error),
            Route("GET", "/version", self.version, errors=mlflow_error),
        ]

    async def invocations(self, request: HttpRequest) -> HttpResponse:
        target = self._target(request.headers, required=True)
        assert target is not None
        csv = _is_csv(header_text(request.headers, b"content-type"))
        if csv is None:
            return _unsupported(request.headers.get(b"content-type", b"").decode("latin-1"))
        inputs = _inputs(self._reconciler.table, target)
        route_key = header_text(request.headers, ROUTE_KEY_HEADER)
        call = _Call(request, inputs, csv)
        return await self._service.serve(self._front, call, target.model, target.ref, route_key)

    async def ping(self, request: HttpRequest) -> HttpResponse:
        """200 when the target (if one is named) can answer, else when every wanted version is loaded."""
        target = self._target(request.headers, required=False)
        if target is None:
            ready = self._reconciler.ready
        else:
            ready = is_ready(self._reconciler.table, target.model, target.ref)
        if ready:
            return HttpResponse(b"\n", 200, [_JSON])
        return mlflow_error(InvalidInput("not ready"), 503, "TEMPORARILY_UNAVAILABLE")

    async def version(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse(__version__.encode(), 200, [(b"content-type", b"text/plain")])

    def _target(self, headers: Mapping[bytes, bytes], required: bool) -> Target | None:
        named = header_text(headers, TARGET_HEADER)
        if named is not None:
            return _parse_target(named)
        if self._default is None and required:
            raise InvalidInput(
                "name the model to call: send the header x-modelport-target: NAME[:VERSION|@ALIAS], "
                "or start the server with serving.invocations_target set "
                "(MODELPORT_SERVING__INVOCATIONS_TARGET)"
            )
        return self._default

    async def _decode(self, call: _Call) -> InferenceRequest:
        body = await read_body(call.request, self._limits.max_body_bytes)
        if call.csv:
            return InferenceRequest(decode_csv(body, call.inputs))
        limits = self._limits
        return InferenceRequest(
            decode_json(body, call.inputs, limits.max_json_depth, limits.max_tensor_bytes)
        )


def _inputs(table: RoutingTable, target: Target) -> tuple[TensorSpec, ...]:
    """The input specs of what ``target`` names (``NotFound``, ``NotReady`` as admission says them;
    an endpoint with a version is admission's to refuse)."""
    endpoint = table.endpoint(target.model)
    if endpoint is None:
        return table.resolve(target.model, target.ref).signature.inputs
    return endpoint.signature.inputs


@functools.lru_cache(maxsize=1024)
def _parse_target(named: str) -> Target:
    """The header's target; callers name the same few again and again (a failure is not kept)."""
    return Target.parse(named.strip())


def _configured(target: str | None) -> Target | None:
    try:
        return None if target is None else Target.parse(target)
    except InvalidInput as error:
        raise InvalidInput(f"serving.invocations_target: {error.message}") from None


def mlflow_error(error: ModelportError, status: int | None = None, code: str | None = None) -> HttpResponse:
    """MLflow's error body for ``error``: ``{"error_code": ..., "message": ...}``."""
    body = orjson.dumps({"error_code": code or ERROR_CODES[error.kind], "message": error.message})
    headers = [_JSON, *((k.lower().encode(), v.encode()) for k, v in error_headers(error).items())]
    return HttpResponse(body, status or HTTP_STATUS[error.kind], headers)


@functools.lru_cache(maxsize=256)
def _is_csv(content_type: str | None) -> bool | None:
    """Whether the body is CSV (else JSON); ``None`` for a type (or charset) that is neither."""
    if content_type is None:
        return False
    kind, *parameters = (part.strip().lower() for part in content_type.split(";"))
    if kind not in (_CSV, _JSON_TYPE) or any(p not in ("charset=utf-8", "") for p in parameters):
        return None
    return kind == _CSV


def _unsupported(content_type: str) -> HttpResponse:
    message = f"content type {content_type!r} is not supported: send {_JSON_TYPE} or {_CSV} (UTF-8)"
    return mlflow_error(InvalidInput(message), 415, "BAD_REQUEST")


def _encode(response: InferenceResponse, request: InferenceRequest) -> HttpResponse:
    served_by = (SERVED_BY_HEADER, response.parameters[SERVED_BY].encode())
    return HttpResponse(encode_predictions(response.outputs), 200, [_JSON, served_by])


def _carrier(call: _Call) -> dict[str, str]:
    return trace_carrier(call.request)
