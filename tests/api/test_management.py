"""The management API, in process: listing, upload, aliases, version policy, status, auth."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from modelport.core import Forbidden
from modelport.core.settings import Settings
from modelport.registry.catalog import Registry
from modelport.server.app import build_app, check_exposure
from tests.api.conftest import ON_BOTH_BACKENDS, wait_for


async def upload(client: httpx.AsyncClient, name: str, path: Path, **form: object) -> httpx.Response:
    with path.open("rb") as handle:
        return await client.post(
            f"/api/v1/models/{name}/versions", files={"file": (path.name, handle)}, data=form
        )


@ON_BOTH_BACKENDS
async def test_upload_list_alias_and_policy(client: httpx.AsyncClient, model_files: dict[str, Path]) -> None:
    created = await upload(client, "iris", model_files["iris"], description="first", tags='{"team": "ml"}')
    assert created.status_code == 201, created.text
    assert created.json()["framework"] == "onnx"
    assert (await upload(client, "iris", model_files["iris-v2"])).status_code == 201

    models = (await client.get("/api/v1/models")).json()
    assert [(m["name"], m["latest_version"], m["version_count"]) for m in models] == [("iris", 2, 2)]
    versions = (await client.get("/api/v1/models/iris/versions")).json()
    assert [v["tags"] for v in versions] == [{"team": "ml"}, {}]

    moved = await client.put("/api/v1/models/iris/aliases/production", json={"version": 1})
    assert moved.json()["aliases"] == {"production": 1}
    await wait_for(client, "/v2/models/iris/versions/production/ready")
    assert (await client.get("/api/v1/models/iris/versions/production")).json()["digest"] == versions[0][
        "digest"
    ]

    assert (await client.put("/api/v1/models/iris/policy", json={"policy": "all"})).status_code == 200
    assert (await client.delete("/api/v1/models/iris/aliases/production")).status_code == 200
    await wait_for(client, "/v2/models/iris/versions/1/ready")
    status = (await client.get("/api/v1/status")).json()
    assert status["ready"] and {v["target"] for v in status["loaded"]} >= {"iris:1", "iris:2"}


@ON_BOTH_BACKENDS
async def test_errors_use_the_protocol_body(client: httpx.AsyncClient, tmp_path: Path) -> None:
    missing = await client.get("/api/v1/models/nope")
    assert missing.status_code == 404 and "nope" in missing.json()["error"]
    bad_alias = await client.put("/api/v1/models/nope/aliases/production", json={"version": "x"})
    assert bad_alias.status_code == 400 and "version" in bad_alias.json()["error"]
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model at all")
    refused = await upload(client, "junk", garbage)
    assert refused.status_code == 400 and "not a valid onnx model" in refused.json()["error"]
    assert str(tmp_path) not in refused.text
    assert (await client.get("/api/v1/models/junk")).status_code == 404


async def test_trusted_uploads_are_refused_unless_the_server_allows_them(
    client: httpx.AsyncClient, model_files: dict[str, Path]
) -> None:
    refused = await upload(client, "iris", model_files["iris"], trusted="true")
    assert refused.status_code == 403 and "ALLOW_UNTRUSTED_UPLOADS" in refused.json()["error"]


async def test_openapi_document_describes_the_routes(client: httpx.AsyncClient) -> None:
    document = (await client.get("/api/openapi.json")).json()
    assert "/v1/models/{name}/versions" in document["paths"]


@pytest.fixture
async def guarded_client(tmp_path: Path, registry: Registry) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(home=tmp_path / "home", auth={"token": "s3cret"})
    app = build_app(settings, registry)
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            yield client


async def test_token_protects_management_but_not_inference(guarded_client: httpx.AsyncClient) -> None:
    assert (await guarded_client.get("/api/v1/models")).status_code == 401
    wrong = await guarded_client.get("/api/v1/models", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    ok = await guarded_client.get("/api/v1/models", headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200
    assert (await guarded_client.get("/v2/health/live")).status_code == 200


def test_listening_beyond_loopback_needs_a_token() -> None:
    with pytest.raises(Forbidden, match="token"):
        check_exposure(Settings(host="0.0.0.0"))
    check_exposure(Settings(host="0.0.0.0", auth={"token": "t"}))
    check_exposure(Settings(host="::1"))
