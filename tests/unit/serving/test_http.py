"""The data plane's raw ASGI pieces: routing, error bodies, body limits."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from modelport.core import Overloaded, TooLarge
from modelport.serving.http import HttpRequest, HttpResponse, error_response, json_response, read_body
from modelport.serving.routing import Route, Router


async def call(app: Router, method: str, path: str, body: bytes = b"") -> tuple[int, dict[bytes, bytes], Any]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "http", "method": method, "path": path, "headers": []}, receive, send)
    return sent[0]["status"], dict(sent[0]["headers"]), orjson.loads(sent[1]["body"])


async def echo(request: HttpRequest) -> HttpResponse:
    return json_response(dict(request.path_params))


async def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("/secret/path/model.onnx exploded")


ROUTER = Router(
    [
        Route("GET", "/v2/models/{model}", echo),
        Route("GET", "/v2/models/{model}/versions/{version}", echo),
        Route("POST", "/v2/models/{model}/infer", echo),
        Route("GET", "/v2/boom", boom),
    ]
)


async def test_parameters_are_taken_from_their_segments() -> None:
    status, headers, body = await call(ROUTER, "GET", "/v2/models/iris/versions/production")
    assert (status, body) == (200, {"model": "iris", "version": "production"})
    assert headers[b"content-type"] == b"application/json"


async def test_unknown_paths_and_methods_answer_in_the_protocol_format() -> None:
    status, _, body = await call(ROUTER, "GET", "/v2/nowhere/at/all")
    assert status == 404 and "no route" in body["error"]
    status, headers, body = await call(ROUTER, "GET", "/v2/models/iris/infer")
    assert status == 405 and headers[b"allow"] == b"POST" and "POST" in body["error"]


async def test_remembered_matches_answer_the_same_and_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("modelport.serving.routing._REMEMBERED_PATHS", 3)
    router = Router(
        [Route("GET", "/v2/models/{model}", echo), Route("POST", "/v2/models/{model}/infer", echo)]
    )
    for _ in range(2):
        for name in ("a", "b", "c", "d", "e"):
            status, _, body = await call(router, "GET", f"/v2/models/{name}")
            assert (status, body) == (200, {"model": name})
            assert (await call(router, "GET", f"/v2/models/{name}/infer"))[0] == 405
            assert (await call(router, "POST", f"/v2/models/{name}/infer"))[2] == {"model": name}
    assert len(router._matched) <= 3


async def test_a_remembered_parameter_mapping_cannot_be_changed() -> None:
    seen: list[Any] = []

    async def keep(request: HttpRequest) -> HttpResponse:
        seen.append(request.path_params)
        return json_response({})

    router = Router([Route("GET", "/v2/models/{model}", keep)])
    await call(router, "GET", "/v2/models/a")
    with pytest.raises(TypeError):
        seen[0]["model"] = "b"  # type: ignore[index]


async def test_unexpected_errors_leave_only_an_error_id() -> None:
    status, _, body = await call(ROUTER, "GET", "/v2/boom")
    assert status == 500 and "error id" in body["error"] and "secret" not in body["error"]


def test_overloaded_carries_retry_after() -> None:
    response = error_response(Overloaded("busy", retry_after_s=2))
    assert response.status == 503 and (b"retry-after", b"2") in response.headers


@pytest.mark.parametrize("declared", [b"100", None])
async def test_bodies_over_the_limit_are_refused(declared: bytes | None) -> None:
    chunks = [b"x" * 40, b"x" * 40, b"x" * 40]

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": chunks.pop(0), "more_body": bool(chunks)}

    headers = {b"content-length": declared} if declared else {}
    with pytest.raises(TooLarge, match="limit of 64 bytes"):
        await read_body(HttpRequest("POST", {}, headers, receive), 64)
