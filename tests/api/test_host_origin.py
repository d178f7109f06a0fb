"""The management API's and the dashboard's ``Host`` allow-list and cross-site check, in process:
which names each setting admits, which requests count as another site's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelport.control.auth import HostAllowList
from modelport.control.dashboard import create_dashboard_app
from modelport.core.settings import Settings
from modelport.registry.catalog import Registry
from modelport.server.app import build_app
from tests.api.conftest import quick_settings


def _hosts(**settings: Any) -> HostAllowList:
    return HostAllowList.of(Settings(**settings))


@pytest.mark.parametrize(
    "host", ["localhost", "localhost:9000", "127.0.0.1:8080", "[::1]:8080", "LOCALHOST:1", "127.0.0.1"]
)
def test_the_loopback_names_are_allowed_on_any_port(host: str) -> None:
    assert _hosts().allows(host)


@pytest.mark.parametrize(
    "host",
    ["evil.example", "evil.example:8080", "127.0.0.1.evil.example", "localhost.evil.example:80", "[::2]"],
)
def test_other_names_are_not(host: str) -> None:
    assert not _hosts().allows(host)


def test_the_bound_address_is_allowed_with_its_port() -> None:
    hosts = _hosts(host="10.1.2.3", port=9000, auth={"token": "t"})
    assert hosts.allows("10.1.2.3:9000") and not hosts.allows("10.1.2.3:9001")
    assert _hosts(host="fd00::5", port=9000).allows("[fd00::5]:9000")
    assert _hosts(host="10.1.2.3", port=0).allows("10.1.2.3:41000")  # port 0: whichever was picked


def test_allowed_hosts_add_names_behind_a_proxy() -> None:
    hosts = _hosts(http={"allowed_hosts": ["models.example.com", "gw.example.com:8443"]})
    assert hosts.allows("models.example.com") and hosts.allows("models.example.com:443")
    assert hosts.allows("gw.example.com:8443") and not hosts.allows("gw.example.com:80")
    assert hosts.allows("localhost:8080") and not hosts.allows("evil.example")
    assert _hosts(http={"allowed_hosts": ["*"]}).allows("evil.example")


def test_a_wildcard_address_answers_any_name_unless_a_list_is_set() -> None:
    assert _hosts(host="0.0.0.0", auth={"token": "t"}).allows("203.0.113.9:8080")
    narrowed = _hosts(host="0.0.0.0", http={"allowed_hosts": ["models.example.com"]})
    assert narrowed.allows("models.example.com") and not narrowed.allows("203.0.113.9")


def test_allowed_hosts_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELPORT_HTTP__ALLOWED_HOSTS", '["models.example.com"]')
    assert Settings().http.allowed_hosts == ["models.example.com"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:  # also the registry fixture's
    return quick_settings(tmp_path)


@pytest.fixture
async def local(settings: Settings, registry: Registry) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(settings, registry)
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as client:
            yield client


async def test_every_management_route_checks_the_host(local: httpx.AsyncClient) -> None:
    for path in ("/api/v1/status", "/api/openapi.json", "/api/v1/nothing-here"):
        refused = await local.get(path, headers={"Host": "evil.example"})
        assert refused.status_code == 400 and "MODELPORT_HTTP__ALLOWED_HOSTS" in refused.json()["error"]
        assert (await local.get(path, headers={"Host": "localhost:8080"})).status_code != 400


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "http://127.0.0.1:8081"},  # another port is another origin
        {"Origin": "http://127.0.0.1"},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1:8080", "Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_state_changing_requests_from_another_site_are_forbidden(
    local: httpx.AsyncClient, method: str, headers: dict[str, str]
) -> None:
    response = await local.request(method, "/api/v1/models/iris/aliases/production", headers=headers)
    assert response.status_code == 403 and "another site" in response.json()["error"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Origin": "http://127.0.0.1:8080"},
        {"Origin": "https://127.0.0.1:8080"},  # the page behind a TLS proxy that keeps the Host
        {"Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},
    ],
)
async def test_same_origin_and_programs_pass(local: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await local.delete("/api/v1/models/iris/aliases/production", headers=headers)
    assert response.status_code == 404, response.text  # reached the route: there is no model iris


async def test_reads_from_another_site_are_not_forbidden(local: httpx.AsyncClient) -> None:
    """The browser keeps another site's page from reading the answer (no CORS headers are sent)."""
    response = await local.get("/api/v1/models", headers={"Origin": "http://evil.example"})
    assert response.status_code == 200 and "access-control-allow-origin" not in response.headers


async def test_the_dashboard_answers_only_allowed_hosts(settings: Settings) -> None:
    dashboard = create_dashboard_app(hosts=HostAllowList.of(settings))
    transport = httpx.ASGITransport(app=dashboard)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as client:
        assert (await client.get("/")).status_code == 200
        refused = await client.get("/", headers={"Host": "evil.example"})
        assert refused.status_code == 400 and "http.allowed_hosts" in refused.json()["error"]
