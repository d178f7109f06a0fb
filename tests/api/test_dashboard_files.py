"""The dashboard's files under /ui: served by the control app, with headers that keep the page local."""

from __future__ import annotations

import re

import httpx

from modelport.control.dashboard import UI_DIRECTORY
from modelport.core.settings import Settings
from modelport.registry.catalog import Registry
from modelport.server.app import build_app


async def test_ui_redirects_to_the_index_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/ui")
    assert response.status_code in (307, 308)
    assert response.headers["location"].endswith("/ui/")


async def test_the_index_page_and_its_assets_are_served_with_a_local_only_policy(
    client: httpx.AsyncClient,
) -> None:
    index = await client.get("/ui/")
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("text/html")
    policy = index.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert index.headers["x-content-type-options"] == "nosniff"
    assets = re.findall(r'(?:src|href)="([^"#:]+)"', index.text)
    assert "app.js" in assets and "vendor/uPlot.iife.min.js" in assets
    for asset in assets:
        response = await client.get(f"/ui/{asset}")
        assert response.status_code == 200, asset
        assert response.content == (UI_DIRECTORY / asset).read_bytes()


async def test_every_script_module_the_page_imports_is_served(client: httpx.AsyncClient) -> None:
    scripts = sorted(p.relative_to(UI_DIRECTORY).as_posix() for p in UI_DIRECTORY.rglob("*.js"))
    for script in scripts:
        response = await client.get(f"/ui/{script}")
        assert response.status_code == 200, script
        assert "javascript" in response.headers["content-type"], script
        for imported in re.findall(r'from "(\.[^"]+)"', response.text):
            base = (UI_DIRECTORY / script).parent
            assert (base / imported).resolve().is_file(), f"{script} imports a missing {imported}"


async def test_unknown_files_and_paths_out_of_the_folder_are_not_found(client: httpx.AsyncClient) -> None:
    assert (await client.get("/ui/missing.js")).status_code == 404
    escaped = await client.get("/ui/%2e%2e/dashboard.py")
    assert escaped.status_code == 404
    assert "create_dashboard_app" not in escaped.text


async def test_a_token_protects_the_data_not_the_page(settings: Settings, registry: Registry) -> None:
    guarded = settings.model_copy(update={"auth": settings.auth.model_copy(update={"token": "secret"})})
    app = build_app(guarded, registry)
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            assert (await client.get("/ui/")).status_code == 200
            refused = await client.get("/api/v1/models")
            assert refused.status_code == 401
            assert "bearer token" in refused.json()["error"]
