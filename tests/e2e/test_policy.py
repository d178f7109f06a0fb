"""``modelport policy set NAME specific:99`` for a version that does not exist (issue 10, point 15): refused
with the missing and the existing versions, locally, through ``--server`` and over the API, and the
policy stays as it was. The CLI's command runs in this process (``run_cli_in_process``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server, register, run_cli_in_process, running_server


@pytest.fixture(scope="module")
def server(home: Path, log_dir: Path, model_files: dict[str, Path]) -> Iterator[Server]:
    register(home, model_files["iris"], "iris")
    register(home, model_files["iris-v2"], "iris")
    with running_server(home, log_dir) as server:
        yield server


def policy_of(server: Server) -> object:
    return httpx.get(f"{server.url}/api/v1/models/iris").json()["policy"]


def assert_refused(output: str) -> None:
    assert "Traceback" not in output
    assert output.strip().splitlines() == [output.strip()], output
    assert "no version 99" in output and "its versions: 1, 2" in output, output


@pytest.mark.parametrize("where", ["local", "server"])
def test_policy_set_refuses_a_missing_version(server: Server, home: Path, where: str) -> None:
    before = policy_of(server)
    remote = ["--server", server.url] if where == "server" else []
    result = run_cli_in_process(home, *remote, "policy", "set", "iris", "specific:99", check=False)
    assert result.returncode == 1
    assert_refused(result.stderr)
    result = run_cli_in_process(home, *remote, "policy", "set", "iris", "specific:1,99", check=False)
    assert result.returncode == 1 and "no version 99" in result.stderr
    assert policy_of(server) == before


def test_the_api_refuses_a_missing_version_with_400(server: Server) -> None:
    before = policy_of(server)
    response = httpx.put(f"{server.url}/api/v1/models/iris/policy", json={"policy": "specific:99"})
    assert response.status_code == 400
    assert_refused(response.json()["error"])
    assert policy_of(server) == before


def test_existing_versions_are_accepted(server: Server, home: Path) -> None:
    run_cli_in_process(home, "--server", server.url, "policy", "set", "iris", "specific:1")
    assert policy_of(server) == {"kind": "specific", "versions": [1]}
    run_cli_in_process(home, "policy", "set", "iris", "latest")
    assert policy_of(server) == {"kind": "latest", "n": 1}
