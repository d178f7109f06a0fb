"""Open Inference Protocol (KServe V2) REST front-end: decode, call the service, encode.

Nothing here decides routing, validation or limits beyond the wire format; the service does.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from modelport import __version__
from modelport.core.errors import ModelportError
from modelport.core.settings import LimitSettings
from modelport.monitoring.stats import InferenceStats
from modelport.monitoring.tracing import RequestTrace, Tracing
from modelport.serving.http import HttpRequest, HttpResponse, json_response, read_body
from modelport.serving.metadata import ModelDescription, describe, is_ready
from modelport.serving.oip_codec import decode_infer_request, encode_infer_response, parse_header_length
from modelport.serving.reconciler import Reconciler
from modelport.serving.routing import Route
from modelport.serving.service import SERVED_BY, InferenceService

__all__ = ["EXTENSIONS", "OipRest"]

EXTENSIONS = ("binary_tensor_data", "statistics")
_HEADER_LENGTH = b"inference-header-content-length"
ROUTE_KEY_HEADER = b"x-modelport-route-key"
"""Requests with the same routing key reach the same variant of an endpoint."""
SERVED_BY_HEADER = b"x-modelport-served-by"


class OipRest:
    """The route handlers, bound to one service, one reconciler and the request limits."""

    def __init__(
        self, service: InferenceService, reconciler: Reconciler, limits: LimitSettings, tracing: Tracing
    ) -> None:
        self._service = service
        self._reconciler = reconciler
        self._limits = limits
        self._tracing = tracing

    def routes(self) -> list[Route]:
        model = "/v2/models/{model}"
        version = model + "/versions/{version}"
        return [
            Route("GET", "/v2/health/live", self.live),
            Route("GET", "/v2/health/ready", self.ready),
            Route("GET", "/v2", self.server_metadata),
            Route("GET", model, self.model_metadata),
            Route("GET", version, self.model_metadata),
            Route("GET", model + "/ready", self.model_ready),
            Route("GET", version + "/ready", self.model_ready),
            Route("POST", model + "/infer", self.infer),
            Route("POST", version + "/infer", self.infer),
            Route("GET", "/v2/models/stats", self.statistics),
            Route("GET", model + "/stats", self.statistics),
            Route("GET", version + "/stats", self.statistics),
        ]

    async def live(self, request: HttpRequest) -> HttpResponse:
        return json_response({"live": True})

    async def ready(self, request: HttpRequest) -> HttpResponse:
        ready = self._reconciler.ready
        return json_response({"ready": ready}, 200 if ready else 503)

    async def server_metadata(self, request: HttpRequest) -> HttpResponse:
        return json_response({"name": "modelport", "version": __version__, "extensions": list(EXTENSIONS)})

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

    async def infer(self, request: HttpRequest) -> HttpResponse:
        params = request.path_params
        route_key = request.headers.get(ROUTE_KEY_HEADER)
        # admitted before the body is read: a request to shed costs nothing more
        admission = self._service.admit(
            params["model"], params.get("version"), None if route_key is None else route_key.decode()
        )
        stats, started = admission.version.stats, time.perf_counter_ns()
        traced = self._trace_begin(request, started) if self._tracing.enabled else None
        try:
            body = await read_body(request, self._limits.max_body_bytes)
            header = request.headers.get(_HEADER_LENGTH)
            json_length = parse_header_length(None if header is None else header.decode("latin-1"))
            decoded = decode_infer_request(body, json_length, self._limits)
        except BaseException as error:
            admission.release()
            self._failed(stats, error, started, traced, params)
            raise
        decoded_at = time.perf_counter_ns()
        try:
            response = await self._service.run(admission, decoded)
        except BaseException as error:
            self._failed(stats, error, started, traced, params)
            raise
        encoding_at = time.perf_counter_ns()
        payload, headers = encode_infer_response(response, decoded)
        raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        raw_headers.append((SERVED_BY_HEADER, response.parameters[SERVED_BY].encode()))
        done = time.perf_counter_ns()
        stats.record_request("rest", done - started, decoded_at - started, done - encoding_at)
        if traced is not None:
            trace, offset = traced
            for stage, start, end in (("decode", started, decoded_at), ("predict", decoded_at, encoding_at)):
                trace.stage(stage, start + offset, end + offset)
            trace.stage("encode", encoding_at + offset, done + offset)
            attributes = {
                "modelport.target": params["model"],
                "modelport.served_by": response.parameters[SERVED_BY],
            }
            self._tracing.finish(trace, "infer", attributes, done + offset)
        return HttpResponse(payload, 200, raw_headers)

    def _trace_begin(self, request: HttpRequest, started: int) -> tuple[RequestTrace, int]:
        offset = time.time_ns() - time.perf_counter_ns()  # spans want wall-clock times
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers.items()}
        return self._tracing.begin(carrier, started + offset), offset

    def _failed(
        self,
        stats: InferenceStats,
        error: BaseException,
        started: int,
        traced: tuple[RequestTrace, int] | None,
        params: Mapping[str, str],
    ) -> None:
        kind = error.kind.value if isinstance(error, ModelportError) else "INTERNAL"
        now = time.perf_counter_ns()
        stats.record_failure("rest", kind, now - started)
        if traced is not None:
            trace, offset = traced
            self._tracing.finish(
                trace, "infer", {"modelport.target": params["model"]}, now + offset, error=kind
            )

    async def statistics(self, request: HttpRequest) -> HttpResponse:
        """The statistics extension: every served version, or those of one model (and version)."""
        table = self._reconciler.table
        name, ref = request.path_params.get("model"), request.path_params.get("version")
        if name is None:
            versions = table.loaded_versions()
        elif ref is None:
            versions = list(table.model(name).versions.values())
        else:
            versions = [table.resolve(name, ref)]
        stats = [v.stats.to_oip(v.model, str(v.version)) for v in sorted(versions, key=lambda v: v.target)]
        return json_response({"model_stats": stats})


def _metadata_json(description: ModelDescription) -> dict[str, Any]:
    return {
        "name": description.name,
        "versions": description.versions,
        "platform": description.platform,
        "inputs": [spec.to_dict() for spec in description.inputs],
        "outputs": [spec.to_dict() for spec in description.outputs],
    }
