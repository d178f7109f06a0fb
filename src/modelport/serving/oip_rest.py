"""Open Inference Protocol (KServe V2) REST front-end: decode, call the service, encode.

Nothing here decides routing, validation or limits beyond the wire format; the service does.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelport import __version__
from modelport.core.settings import LimitSettings
from modelport.serving.body import read_body
from modelport.serving.loaded import LoadedVersion, ModelRoutes
from modelport.serving.oip_codec import (
    HEADER_LENGTH,
    decode_infer_request,
    encode_infer_response,
    encode_json,
    parse_header_length,
)
from modelport.serving.reconciler import Reconciler
from modelport.serving.service import InferenceService

__all__ = ["EXTENSIONS", "OipRest"]

EXTENSIONS = ("binary_tensor_data",)
PLATFORMS = {
    "onnx": "onnxruntime_onnx",
    "sklearn": "sklearn",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
}


def _json(payload: Any, status_code: int = 200) -> Response:
    return Response(encode_json(payload), status_code=status_code, media_type="application/json")


class OipRest:
    """The route handlers, bound to one service, one reconciler and the request limits."""

    def __init__(self, service: InferenceService, reconciler: Reconciler, limits: LimitSettings) -> None:
        self._service = service
        self._reconciler = reconciler
        self._limits = limits

    def routes(self) -> list[Route]:
        model = "/v2/models/{model}"
        version = model + "/versions/{version}"
        return [
            Route("/v2/health/live", self.live, methods=["GET"]),
            Route("/v2/health/ready", self.ready, methods=["GET"]),
            Route("/v2", self.server_metadata, methods=["GET"]),
            Route(model, self.model_metadata, methods=["GET"]),
            Route(version, self.model_metadata, methods=["GET"]),
            Route(model + "/ready", self.model_ready, methods=["GET"]),
            Route(version + "/ready", self.model_ready, methods=["GET"]),
            Route(model + "/infer", self.infer, methods=["POST"]),
            Route(version + "/infer", self.infer, methods=["POST"]),
        ]

    async def live(self, request: Request) -> Response:
        return _json({"live": True})

    async def ready(self, request: Request) -> Response:
        ready = self._reconciler.ready
        return _json({"ready": ready}, 200 if ready else 503)

    async def server_metadata(self, request: Request) -> Response:
        return _json({"name": "modelport", "version": __version__, "extensions": list(EXTENSIONS)})

    async def model_metadata(self, request: Request) -> Response:
        name, ref = request.path_params["model"], request.path_params.get("version")
        routes = self._reconciler.table.model(name)
        loaded = routes.resolve(ref)
        versions = [str(loaded.version)] if ref else _served_versions(routes)
        return _json(_metadata(loaded, versions))

    async def model_ready(self, request: Request) -> Response:
        name, ref = request.path_params["model"], request.path_params.get("version")
        loaded = self._reconciler.table.resolve(name, ref)
        return _json({"name": name, "version": str(loaded.version), "ready": True})

    async def infer(self, request: Request) -> Response:
        body = await read_body(request, self._limits.max_body_bytes)
        json_length = parse_header_length(request.headers.get(HEADER_LENGTH))
        decoded = decode_infer_request(body, json_length, self._limits)
        name, ref = request.path_params["model"], request.path_params.get("version")
        response = await self._service.infer(name, ref, decoded)
        payload, headers = encode_infer_response(response, decoded)
        return Response(payload, headers=headers)


def _served_versions(routes: ModelRoutes) -> list[str]:
    return [str(number) for number in sorted(routes.versions)]


def _metadata(loaded: LoadedVersion, versions: list[str]) -> dict[str, Any]:
    signature = loaded.signature
    return {
        "name": loaded.model,
        "versions": versions,
        "platform": PLATFORMS.get(loaded.framework, loaded.framework),
        "inputs": [spec.to_dict() for spec in signature.inputs],
        "outputs": [spec.to_dict() for spec in signature.outputs],
    }
