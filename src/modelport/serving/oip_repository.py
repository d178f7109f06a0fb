"""The model repository extension's REST routes: ``POST /v2/repository/index`` and
``POST /v2/repository/models/{model}/load|unload``, behind the management token.

Without a token (a loopback server), a request a web page sends (``Origin``, or a cross-site
``Sec-Fetch-Site``) is refused: a page the user visits could otherwise unload models on 127.0.0.1.
"""

from __future__ import annotations

from typing import Any

from modelport.core.errors import Forbidden, InvalidInput
from modelport.serving.http import HttpRequest, HttpResponse, json_response, read_body
from modelport.serving.json_body import json_object
from modelport.serving.repository import ModelRepository, check_management_token
from modelport.serving.routing import Route

__all__ = ["OipRepositoryRest"]

MAX_BODY_BYTES = 64 * 1024
_PAGE_FETCHES = frozenset({b"cross-site", b"same-site"})
_UNSUPPORTED = "modelport loads registered versions; register new ones with `modelport register`"


class OipRepositoryRest:
    def __init__(self, repository: ModelRepository, token: bytes | None) -> None:
        self._repository = repository
        self._token = token

    def routes(self) -> list[Route]:
        model = "/v2/repository/models/{model}"
        return [
            Route("POST", "/v2/repository/index", self.index),
            Route("POST", model + "/load", self.load),
            Route("POST", model + "/unload", self.unload),
        ]

    async def index(self, request: HttpRequest) -> HttpResponse:
        body = await self._body(request)
        ready = body.get("ready", False)
        if not isinstance(ready, bool):
            raise InvalidInput("'ready' must be true or false")
        entries = self._repository.index(ready_only=ready)
        return json_response(
            [{"name": e.name, "version": e.version, "state": e.state, "reason": e.reason} for e in entries]
        )

    async def load(self, request: HttpRequest) -> HttpResponse:
        parameters = _parameters(await self._body(request))
        refused = sorted(key for key in parameters if key == "config" or key.startswith("file:"))
        if refused:
            raise InvalidInput(f"load parameter {refused[0]!r} is not supported: {_UNSUPPORTED}")
        await self._repository.load(request.path_params["model"])
        return json_response({})

    async def unload(self, request: HttpRequest) -> HttpResponse:
        _parameters(await self._body(request))  # unload_dependents: modelport models have none
        await self._repository.unload(request.path_params["model"])
        return json_response({})

    async def _body(self, request: HttpRequest) -> dict[str, Any]:
        """The checked caller's JSON object body (an empty body is ``{}``)."""
        self._check_caller(request)
        raw = await read_body(request, MAX_BODY_BYTES)
        return json_object(raw) if raw.strip() else {}

    def _check_caller(self, request: HttpRequest) -> None:
        headers = request.headers
        authorization = headers.get(b"authorization")
        check_management_token(
            [] if authorization is None else [authorization],
            self._token,
            "Authorization: Bearer <management token>",
        )
        if self._token is None and (b"origin" in headers or headers.get(b"sec-fetch-site") in _PAGE_FETCHES):
            raise Forbidden("the model repository does not take requests from web pages")


def _parameters(body: dict[str, Any]) -> dict[str, Any]:
    parameters = body.get("parameters", {})
    if not isinstance(parameters, dict):
        raise InvalidInput("'parameters' must be a JSON object")
    return parameters
