"""DNS rebinding and cross-site requests against a real server with no token on loopback.

A web page the user visits can send requests to ``127.0.0.1`` (a cross-site request: the browser adds
``Origin`` and ``Sec-Fetch-Site``) or rebind its own name to it (the request names its own ``Host``).
Neither may read or change the management API; the CLI and programs keep working."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import tritonclient.http as triton

from tests.e2e.conftest import Server, iris_request, register, run_cli, running_server

ALIAS = "/api/v1/models/iris/aliases/production"
CROSS_SITE = [
    {"Origin": "http://evil.example"},
    {"Origin": "null"},  # a sandboxed frame or a file: page
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},  # another port of the same host is another origin
]


@pytest.fixture(scope="module")
def server(home: Path, log_dir: Path, model_files: dict[str, Path]) -> Iterator[Server]:
    register(home, model_files["iris"], "iris", "--alias", "production")
    with running_server(home, log_dir) as server:
        server.wait_until("/v2/models/iris/ready")
        yield server


def _aliases(server: Server) -> dict[str, int]:
    return dict(httpx.get(server.url + "/api/v1/models/iris").raise_for_status().json()["aliases"])


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_a_rebound_host_name_is_refused(server: Server, method: str) -> None:
    response = httpx.request(method, server.url + ALIAS, headers={"Host": "evil.example"})
    assert response.status_code == 400, response.text
    assert "http.allowed_hosts" in response.json()["error"]
    assert httpx.get(server.url + "/api/v1/status", headers={"Host": "evil.example"}).status_code == 400
    assert _aliases(server) == {"production": 1}


@pytest.mark.parametrize("headers", CROSS_SITE, ids=["origin", "null-origin", "cross-site", "same-site"])
def test_a_cross_site_delete_changes_nothing(server: Server, headers: dict[str, str]) -> None:
    response = httpx.delete(server.url + ALIAS, headers=headers)
    assert response.status_code == 403, response.text
    assert "another site" in response.json()["error"]
    put = httpx.put(server.url + "/api/v1/models/iris/aliases/staging", json={"version": 1}, headers=headers)
    assert put.status_code == 403, put.text
    assert _aliases(server) == {"production": 1}


def test_another_port_of_localhost_is_another_site(server: Server) -> None:
    response = httpx.delete(server.url + ALIAS, headers={"Origin": "http://localhost:3000"})
    assert response.status_code == 403 and _aliases(server) == {"production": 1}


def test_the_cli_and_programs_still_work(server: Server) -> None:
    for url in (server.url, f"http://localhost:{server.port}"):
        run_cli(server.home, "--server", url, "alias", "set", "iris", "staging", "1")
        assert _aliases(server) == {"production": 1, "staging": 1}
        run_cli(server.home, "--server", url, "alias", "rm", "iris", "staging")
    # the page's own requests: same origin
    same = {"Origin": server.url, "Sec-Fetch-Site": "same-origin"}
    staging = server.url + "/api/v1/models/iris/aliases/staging"
    assert httpx.put(staging, json={"version": 1}, headers=same).is_success
    assert httpx.delete(staging, headers=same).is_success
    assert _aliases(server) == {"production": 1}
    client = triton.InferenceServerClient(server.address)
    try:
        assert client.is_model_ready("iris")
    finally:
        client.close()


def test_the_data_plane_does_not_check_host_or_origin(server: Server) -> None:
    """For programs: with ``auth.protect_inference`` the token is the control there (docs/protocol.md)."""
    headers = {"Host": "evil.example", "Origin": "http://evil.example"}
    response = httpx.post(server.url + "/v2/models/iris/infer", json=iris_request(), headers=headers)
    assert response.status_code == 200, response.text
