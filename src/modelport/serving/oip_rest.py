"""Open Inference Protocol (KServe V2) REST front-end: decode, call the service, encode.

Nothing here decides routing, validation or limits beyond the wire format; the service does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from typing import Any

from modelport._version import __version__
from modelport.core.inference import InferenceRequest, InferenceResponse
from modelport.core.settings import LimitSettings
from modelport.serving.http import (
    HttpRequest,
    HttpResponse,
    header_text,
    json_response,
    read_body,
    trace_carrier,
)
from modelport.serving.metadata import ModelDescription, describe, is_ready, statistics_versions
from modelport.serving.oip_codec import (
    JSON_HEADERS,
    decode_infer_request,
    encode_infer_response,
    parse_header_length,
)
from modelport.serving.reconciler import Reconciler
from modelport.serving.routing import Route
from modelport.serving.service import SERVED_BY, FrontEnd, InferenceService

__all__ = ["EXTENSIONS", "OipRest", "read_infer_request"]

EXTENSIONS = ("binary_tensor_data", "classification", "statistics")
_HEADER_LENGTH = b"inference-header-content-length"
ROUTE_KEY_HEADER = b"x-modelport-route-key"
"""Requests with the same routing key reach the same variant of an endpoint."""
SERVED_BY_HEADER = b"x-modelport-served-by"


class OipRest:
    """The route handlers, bound to one service, one reconciler and the request limits."""

    def __init__(
        self,
        service: InferenceService,
        reconciler: Reconciler,
        limits: LimitSettings,
        statistics: bool = True,
        repository: bool = False,
    ) -> None:
        """``statistics``: serve the statistics extension (metrics on); ``repository``: the model
        repository extension is served (its routes are ``oip_repository``'s)."""
        self._service = service
        self._reconciler = reconciler
        self._limits = limits
        self._front = FrontEnd("rest", self._decode, encode_infer_answer, trace_carrier)
        self._statistics = statistics
        self._extensions = [e for e in EXTENSIONS if statistics or e != "statistics"]
        if repository:
            self._extensions.append("model_repository")

    def routes(self) -> list[Route]:
        model = "/v2/models/{model}"
        version = model + "/versions/{version}"
        routes = [
            Route("GET", "/v2/health/live", self.live, public=True),
            Route("GET", "/v2/health/ready", self.ready, public=True),
            Route("GET", "/v2", self.server_metadata),
            Route("GET", model, self.model_metadata),
            Route("GET", version, self.model_metadata),
            Route("GET", model + "/ready", self.model_ready),
            Route("GET", version + "/ready", self.model_ready),
            Route("POST", model + "/infer", self.infer),
            Route("POST", version + "/infer", self.infer),
        ]
        if self._statistics:
            routes += [
                Route("GET", "/v2/models/stats", self.statistics),
                Route("GET", model + "/stats", self.statistics),
                Route("GET", version + "/stats", self.statistics),
            ]
        return routes

    async def live(self, request: HttpRequest) -> HttpResponse:
        return json_response({"live": True})

    async def ready(self, request: HttpRequest) -> HttpResponse:
        reconciler = self._reconciler
        body = {
            "ready": reconciler.ready,
            "versions_loaded": reconciler.versions_loaded,
            "versions_wanted": reconciler.versions_wanted,
        }
        return json_response(body, 200 if reconciler.ready else 503)

    async def server_metadata(self, request: HttpRequest) -> HttpResponse:
        return json_response({"name": "modelport", "version": __version__, "extensions": self._extensions})

    async def model_metadata(self, request: HttpRequest) -> HttpResponse:
        params = request.path_params
        return json_response(
            _metadata_json(describe(self._reconciler.table, params["model"], params.get("version")))
        )

    async def model_ready(self, request: HttpRequest) -> HttpResponse:
        name, ref = request.path_params["model"], request.path_params.get("version")
        table = self._reconciler.table
        ready = is_ready(table, name, ref)
        body: dict[str, Any] = {"name": name, "ready": ready}
        if ready and table.endpoint(name) is None:
            body["version"] = str(table.resolve(name, ref).version)
        return json_response(body, 200 if ready else 503)

    def infer(self, request: HttpRequest) -> Awaitable[HttpResponse]:
        """The service's one entry point, as a route (no coroutine of its own on the hot path)."""
        params = request.path_params
        route_key = header_text(request.headers, ROUTE_KEY_HEADER)
        return self._service.serve(self._front, request, params["model"], params.get("version"), route_key)

    def _decode(self, request: HttpRequest) -> Awaitable[InferenceRequest]:
        return read_infer_request(request, self._limits)

    async def statistics(self, request: HttpRequest) -> HttpResponse:
        """The statistics extension: every served version, or those of one model (and version)."""
        params = request.path_params
        ordered = statistics_versions(self._reconciler.table, params.get("model"), params.get("version"))

        def answer() -> HttpResponse:  # hundreds of versions take milliseconds: not on the event loop
            return json_response({"model_stats": [v.stats.to_oip(v.model, str(v.version)) for v in ordered]})

        return await asyncio.to_thread(answer)


async def read_infer_request(request: HttpRequest, limits: LimitSettings) -> InferenceRequest:
    """An inference request's body, decoded: the one decoder of every OIP REST route taking one
    (``infer`` here, ``explain`` in ``oip_explain``)."""
    body = await read_body(request, limits.max_body_bytes)
    header = request.headers.get(_HEADER_LENGTH)
    json_length = parse_header_length(None if header is None else header.decode("latin-1"))
    return decode_infer_request(body, json_length, limits)


def encode_infer_answer(response: InferenceResponse, request: InferenceRequest) -> HttpResponse:
    """An OIP REST answer (JSON or binary tensors, as the request asked) naming the version that
    served it: every OIP REST route that infers (``infer`` here, ``explain`` in ``oip_explain``)."""
    payload, headers = encode_infer_response(response, request)
    served_by = (SERVED_BY_HEADER, response.parameters[SERVED_BY].encode())
    if headers is JSON_HEADERS:
        return HttpResponse(payload, 200, [*_RAW_JSON_HEADERS, served_by])
    return HttpResponse(payload, 200, [*_raw(headers), served_by])


def _raw(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode(), v.encode()) for k, v in headers.items()]


_RAW_JSON_HEADERS = _raw(JSON_HEADERS)


def _metadata_json(description: ModelDescription) -> dict[str, Any]:
    return {
        "name": description.name,
        "versions": description.versions,
        "platform": description.platform,
        "inputs": [spec.to_dict() for spec in description.inputs],
        "outputs": [spec.to_dict() for spec in description.outputs],
    }
