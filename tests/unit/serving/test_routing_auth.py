"""The data plane's token check lives in the router: wrapped around the guarded routes once, so
with ``protect_inference`` off the routes are the handlers themselves and cost nothing more."""

from __future__ import annotations

import orjson
import pytest

from modelport.core.errors import InvalidInput
from modelport.core.settings import AuthSettings
from modelport.serving.auth import bearer_matches, inference_token
from modelport.serving.http import HttpRequest, HttpResponse
from modelport.serving.routing import Route, Router


async def answer(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"{}")


async def no_body() -> dict[str, object]:
    return {"type": "http.request", "body": b"", "more_body": False}


ROUTES = [Route("GET", "/v2/health/live", answer, public=True), Route("GET", "/v2/models/{model}", answer)]


def test_without_a_token_the_routes_are_the_handlers_themselves() -> None:
    router = Router(ROUTES)
    assert all(route.handler is answer for routes in router._by_length.values() for route in routes)


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 401),
        (b"Bearer nope", 401),
        (b"Basic t0k", 401),
        (b"t0k", 401),
        (b"Bearer t0k", 200),
        (b"bearer  t0k", 200),
    ],
)
async def test_with_a_token_guarded_routes_ask_for_it(authorization: bytes | None, status: int) -> None:
    router = Router(ROUTES, b"t0k")
    headers = {} if authorization is None else {b"authorization": authorization}
    response = await router.dispatch("GET", "/v2/models/iris", headers, no_body)
    assert response.status == status
    if status == 401:
        assert (b"www-authenticate", b"Bearer") in response.headers
        assert "token" in orjson.loads(response.body)["error"]
    assert (await router.dispatch("GET", "/v2/health/live", {}, no_body)).status == 200


def test_bearer_matches_only_the_exact_token() -> None:
    assert bearer_matches(b"Bearer t0k", b"t0k")
    assert not bearer_matches(b"Bearer t0k2", b"t0k") and not bearer_matches(b"Bearer ", b"t0k")
    assert not bearer_matches(None, b"t0k")


def test_protect_inference_without_a_token_is_refused() -> None:
    assert inference_token(AuthSettings()) is None
    assert inference_token(AuthSettings(token="t", protect_inference=True)) == b"t"
    with pytest.raises(InvalidInput, match="protect_inference"):
        inference_token(AuthSettings(protect_inference=True))
