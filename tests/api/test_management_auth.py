"""With a token set, the management app answers nothing without it: its OpenAPI document and
interactive pages included. The dashboard's static files hold no data and stay open."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from modelport.core.settings import Settings
from modelport.registry.catalog import Registry
from tests.api.conftest import quick_settings, serving

TOKEN = "s3cret"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:  # also the registry fixture's
    return quick_settings(tmp_path, auth={"token": TOKEN})


@pytest.fixture
async def guarded(settings: Settings, registry: Registry) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(settings, registry) as client:
        yield client


@pytest.mark.parametrize("path", ["/api/openapi.json", "/api/docs", "/api/redoc", "/api/v1/nothing-here"])
async def test_the_openapi_document_and_pages_need_the_token(guarded: httpx.AsyncClient, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = await guarded.get(path, headers=headers)
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == "Bearer" and "token" in response.json()["error"]


async def test_the_token_opens_the_openapi_document(guarded: httpx.AsyncClient) -> None:
    response = await guarded.get("/api/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert "/v1/models/{name}/versions" in response.json()["paths"]


async def test_the_dashboard_files_stay_open_and_hold_no_data(guarded: httpx.AsyncClient) -> None:
    page = await guarded.get("/ui/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert TOKEN not in page.text
    assert (await guarded.get("/api/v1/status")).status_code == 401  # what the page asks for is not
