"""modelport's explanation extension of the Open Inference Protocol's REST API:
``POST /v2/models/{m}[/versions/{v}]/explain`` takes an inference request and answers, as an
inference response, one attribution tensor per explained output, the base values and the feature
names (docs/explanations.md)."""

from __future__ import annotations

from collections.abc import Awaitable

from modelport.core.errors import InvalidInput
from modelport.core.inference import InferenceRequest
from modelport.core.settings import LimitSettings
from modelport.serving.explaining import Explanations
from modelport.serving.http import HttpRequest, HttpResponse, header_text, trace_carrier
from modelport.serving.oip_rest import ROUTE_KEY_HEADER, encode_infer_answer, read_infer_request
from modelport.serving.routing import Route
from modelport.serving.service import FrontEnd, InferenceService

__all__ = ["OipExplain"]


class OipExplain:
    def __init__(self, service: InferenceService, limits: LimitSettings, explanations: Explanations) -> None:
        self._service = service
        self._limits = limits
        front = FrontEnd("explain", self._decode, encode_infer_answer, trace_carrier, explanations.explain)
        self._front = front

    def routes(self) -> list[Route]:
        model = "/v2/models/{model}"
        return [
            Route("POST", model + "/explain", self.explain),
            Route("POST", model + "/versions/{version}/explain", self.explain),
        ]

    def explain(self, request: HttpRequest) -> Awaitable[HttpResponse]:
        params = request.path_params
        route_key = header_text(request.headers, ROUTE_KEY_HEADER)
        return self._service.serve(self._front, request, params["model"], params.get("version"), route_key)

    async def _decode(self, request: HttpRequest) -> InferenceRequest:
        decoded = await read_infer_request(request, self._limits)
        if decoded.outputs is not None:
            raise InvalidInput("an explanation answers for every output it explains; leave out 'outputs'")
        return decoded
