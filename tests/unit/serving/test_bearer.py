"""The bearer check's pure logic: a repeated ``Authorization`` is never read as one token, and the
data-plane router refuses it whichever value comes first."""

from __future__ import annotations

import httpx
import pytest

from modelport.serving.auth import request_headers, single_bearer_matches
from modelport.serving.http import HttpRequest, HttpResponse, json_response
from modelport.serving.routing import Route, Router

TOKEN = b"s3cret"
RIGHT = b"Bearer s3cret"
WRONG = b"Bearer wrong"


def test_one_right_value_matches() -> None:
    assert single_bearer_matches([RIGHT], TOKEN)
    assert single_bearer_matches([b"bearer s3cret"], TOKEN)


@pytest.mark.parametrize("values", [[], [WRONG], [RIGHT, WRONG], [WRONG, RIGHT], [RIGHT, RIGHT]])
def test_no_value_a_wrong_one_or_two_do_not_match(values: list[bytes]) -> None:
    assert not single_bearer_matches(values, TOKEN)


@pytest.mark.parametrize("pair", [[RIGHT, WRONG], [WRONG, RIGHT], [RIGHT, RIGHT], [RIGHT, b""]])
def test_a_repeated_authorization_is_kept_whole(pair: list[bytes]) -> None:
    pairs = [(b"content-type", b"application/json"), *((b"authorization", value) for value in pair)]
    headers = request_headers(pairs)
    assert headers[b"authorization"] == b", ".join(pair)
    assert headers[b"content-type"] == b"application/json"
    assert not single_bearer_matches([headers[b"authorization"]], TOKEN)


def test_other_repeated_headers_keep_the_last_value() -> None:
    pairs = [(b"accept", b"text/plain"), (b"accept", b"application/json"), (b"authorization", RIGHT)]
    assert request_headers(pairs) == {b"accept": b"application/json", b"authorization": RIGHT}


async def _ok(request: HttpRequest) -> HttpResponse:
    return json_response({"ok": True})


@pytest.mark.parametrize("pair", [[RIGHT, WRONG], [WRONG, RIGHT]], ids=["right-first", "wrong-first"])
async def test_the_router_refuses_two_authorizations(pair: list[bytes]) -> None:
    router = Router([Route("GET", "/v2/models/{model}", _ok)], token=TOKEN)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=router), base_url="http://test") as client:
        refused = await client.get("/v2/models/iris", headers=[(b"authorization", value) for value in pair])
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        accepted = await client.get("/v2/models/iris", headers={"authorization": RIGHT.decode()})
        assert accepted.json() == {"ok": True}
