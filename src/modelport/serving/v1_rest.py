"""KServe v1 / TF Serving REST front-end: model status, metadata and ``:predict`` on the data-plane port.

A target is a model (or an endpoint) by name, ``versions/{v}`` a version number, ``labels/{alias}``
an alias. Errors leave through the router as ``{"error": "..."}``, the shape both protocols use.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from modelport.core.errors import InvalidInput, NotFound
from modelport.core.inference import InferenceRequest, InferenceResponse
from modelport.core.settings import LimitSettings
from modelport.core.tensors import Signature
from modelport.serving.explaining import Explanations
from modelport.serving.http import (
    HttpRequest,
    HttpResponse,
    header_text,
    json_response,
    read_body,
    trace_carrier,
)
from modelport.serving.oip_rest import ROUTE_KEY_HEADER, SERVED_BY_HEADER
from modelport.serving.reconciler import Reconciler
from modelport.serving.routing import Route
from modelport.serving.service import SERVED_BY, FrontEnd, InferenceService
from modelport.serving.v1_codec import (
    decode_predict_body,
    encode_explanation,
    encode_predict,
    signature_def,
)

__all__ = ["V1Call", "V1Rest", "split_verb", "target"]

_JSON = (b"content-type", b"application/json")


@dataclass(slots=True)
class V1Call:
    """A v1 request with its target read from the path."""

    request: HttpRequest
    name: str
    ref: str | None


def split_verb(segment: str) -> tuple[str, str]:
    """``iris:predict`` -> (``iris``, ``predict``); ``NotFound`` without a verb."""
    target, _, verb = segment.rpartition(":")
    if not target:
        raise NotFound(f"no route for POST on {segment!r}: add :predict or :explain")
    return target, verb


class V1Rest:
    """The v1 route handlers, bound to one service, one reconciler and the request limits.

    ``explanations``: serve ``:explain`` too (docs/explanations.md)."""

    def __init__(
        self,
        service: InferenceService,
        reconciler: Reconciler,
        limits: LimitSettings,
        explanations: Explanations | None = None,
    ) -> None:
        self._service = service
        self._reconciler = reconciler
        self._limits = limits
        self._fronts = {"predict": FrontEnd("v1", self.decode, _encode, _carrier)}
        if explanations is not None:
            explain = FrontEnd("explain", self.decode, _encode_explanation, _carrier, explanations.explain)
            self._fronts["explain"] = explain

    def routes(self) -> list[Route]:
        model = "/v1/models/{model}"
        forms = (model, model + "/versions/{version}", model + "/labels/{alias}")
        routes = [Route("GET", "/", self.live, public=True)]
        for path in forms:
            routes += [
                Route("GET", path, self.status),
                Route("GET", path + "/metadata", self.metadata),
                Route("POST", path, self.post),
            ]
        return routes

    async def live(self, request: HttpRequest) -> HttpResponse:
        """KServe v1's liveness answer at the root."""
        return json_response({"status": "alive"})

    def post(self, request: HttpRequest) -> Awaitable[HttpResponse]:
        """``...:predict`` (or ``:explain``) on any of the three target forms."""
        params = request.path_params
        last = "alias" if "alias" in params else "version" if "version" in params else "model"
        segment, verb = split_verb(params[last])
        front = self._fronts.get(verb)
        if front is None:
            verbs = ", ".join(":" + v for v in self._fronts)
            raise NotFound(f"unknown verb :{verb}; this server answers {verbs}")
        call = target(request, {**params, last: segment})
        route_key = header_text(request.headers, ROUTE_KEY_HEADER)
        return self._service.serve(front, call, call.name, call.ref, route_key)

    async def status(self, request: HttpRequest) -> HttpResponse:
        call = target(request, request.path_params)
        table = self._reconciler.table
        endpoint = table.endpoint(call.name)
        if endpoint is not None:
            if call.ref is not None:
                raise NotFound(f"{call.name!r} is an endpoint; it has no version {call.ref!r}")
            entries = [_entry(str(v.version.version), "AVAILABLE") for v in endpoint.variants]
            return json_response({"name": call.name, "ready": True, "model_version_status": entries})
        routes = table.model(call.name)
        if call.ref is None:
            entries = [_entry(str(n), "AVAILABLE") for n in sorted(routes.versions)]
            entries += [_entry(str(n), "LOADING") for n in sorted(routes.pending - set(routes.failed))]
            entries += [_entry(str(n), "END", why) for n, why in sorted(routes.failed.items())]
            ready = bool(routes.versions)
        else:
            loaded = routes.resolve(call.ref)  # NotReady (503) while it loads or after it failed
            entries, ready = [_entry(str(loaded.version), "AVAILABLE")], True
        return json_response({"name": call.name, "ready": ready, "model_version_status": entries})

    async def metadata(self, request: HttpRequest) -> HttpResponse:
        call = target(request, request.path_params)
        version, signature = self.signature(call.name, call.ref)
        spec = {"name": call.name, "signature_name": "", "version": version}
        return json_response({"model_spec": spec, "metadata": {"signature_def": signature_def(signature)}})

    def signature(self, name: str, ref: str | None) -> tuple[str, Signature]:
        """The version a target resolves to now, and its signature (an endpoint's: its variants')."""
        table = self._reconciler.table
        endpoint = table.endpoint(name)
        if endpoint is None:
            loaded = table.resolve(name, ref)
            return str(loaded.version), loaded.signature
        if ref is not None:
            raise NotFound(f"{name!r} is an endpoint; call it without a version")
        return "", endpoint.signature

    async def decode(self, call: V1Call) -> InferenceRequest:
        body = await read_body(call.request, self._limits.max_body_bytes)
        return decode_predict_body(body, self.signature(call.name, call.ref)[1], self._limits)


def target(request: HttpRequest, params: dict[str, str] | Any) -> V1Call:
    """The model and version reference a v1 path names; a version must be a number, a label not one."""
    version, alias = params.get("version"), params.get("alias")
    if version is not None and not version.isdigit():
        raise InvalidInput(f"version {version!r} is not a number; name an alias as labels/{version}")
    if alias is not None and alias.isdigit():
        raise InvalidInput(f"label {alias!r} is a number; name a version as versions/{alias}")
    return V1Call(request, params["model"], version if version is not None else alias)


def _entry(version: str, state: str, why: str = "") -> dict[str, Any]:
    code = "UNKNOWN" if why else "OK"
    return {"version": version, "state": state, "status": {"error_code": code, "error_message": why}}


def _encode(response: InferenceResponse, request: InferenceRequest) -> HttpResponse:
    served_by = (SERVED_BY_HEADER, response.parameters[SERVED_BY].encode())
    return HttpResponse(encode_predict(response, request), 200, [_JSON, served_by])


def _encode_explanation(response: InferenceResponse, request: InferenceRequest) -> HttpResponse:
    served_by = (SERVED_BY_HEADER, response.parameters[SERVED_BY].encode())
    return HttpResponse(encode_explanation(response), 200, [_JSON, served_by])


def _carrier(call: V1Call) -> dict[str, str]:
    return trace_carrier(call.request)
