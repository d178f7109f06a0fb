"""The management API over HTTP: uploads, what it refuses, OpenAPI, the token, and exposure refusal."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import (
    IRIS_LABELS,
    MODELPORT,
    Server,
    base_env,
    free_port,
    iris_request,
    register,
    run_cli,
    running_server,
)

TOKEN = "secret"


def version_identity(document: dict[str, Any]) -> tuple[str, int]:
    """(model name, version number) of a registered version."""
    name, number = document["name"], document["version"]
    assert isinstance(name, str) and isinstance(number, int), document
    return name, number


@pytest.fixture(scope="module")
def server(home: Path, log_dir: Path, model_files: dict[str, Path]) -> Iterator[Server]:
    register(home, model_files["iris"], "iris")
    with running_server(home, log_dir) as server:
        yield server


@pytest.fixture
def api(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url + "/api/v1", timeout=60) as client:
        yield client


def upload(
    api: httpx.Client, name: str, path: Path, filename: str | None = None, **form: Any
) -> httpx.Response:
    with path.open("rb") as handle:
        return api.post(
            f"/models/{name}/versions", files={"file": (filename or path.name, handle)}, data=form or None
        )


def assert_clean_error(response: httpx.Response, status: int, home: Path, *words: str) -> None:
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text
    assert str(home) not in response.text
    message = response.json()["error"]
    for word in words:
        assert word in message, message


def test_an_uploaded_model_becomes_servable(
    server: Server, api: httpx.Client, model_files: dict[str, Path]
) -> None:
    response = upload(
        api,
        "uploaded",
        model_files["iris-v2"],
        aliases=["production", "staging"],
        tags=json.dumps({"team": "e2e"}),
        description="uploaded over HTTP",
    )
    assert response.status_code == 201, response.text
    assert version_identity(response.json()) == ("uploaded", 1)
    assert sorted(response.json()["aliases"]) == ["production", "staging"]
    assert response.json()["tags"] == {"team": "e2e"}

    # The version and its aliases are two registry changes: the server may load the first before it
    # reads the second (within its poll interval), so wait for the alias too.
    server.wait_until("/v2/models/uploaded/ready")
    server.wait_until("/v2/models/uploaded/versions/staging/ready")
    with httpx.Client(base_url=server.url) as client:
        for path in ("/v2/models/uploaded/infer", "/v2/models/uploaded/versions/staging/infer"):
            answer = client.post(path, json=iris_request())
            assert answer.status_code == 200, answer.text
            labels = next(o for o in answer.json()["outputs"] if o["name"] == "label")["data"]
            assert labels == IRIS_LABELS

    listed = api.get("/models/uploaded/versions").json()
    assert [version_identity(v) for v in listed] == [("uploaded", 1)]
    assert api.get("/models/uploaded").json()["aliases"] == {"production": 1, "staging": 1}
    assert "uploaded" in {m["name"] for m in api.get("/models").json()}


def test_a_trusted_pickle_upload_is_forbidden_and_nothing_is_stored(
    server: Server, api: httpx.Client, model_files: dict[str, Path]
) -> None:
    response = upload(api, "pickled", model_files["pickle"], trusted="true")
    assert_clean_error(response, 403, server.home, "ALLOW_UNTRUSTED_UPLOADS")
    assert api.get("/models/pickled").status_code == 404
    # onto an existing model: its versions do not change
    response = upload(api, "iris", model_files["pickle"], trusted="true")
    assert_clean_error(response, 403, server.home)
    assert [version_identity(v) for v in api.get("/models/iris/versions").json()] == [("iris", 1)]


def test_an_untrusted_pickle_upload_is_refused(
    server: Server, api: httpx.Client, model_files: dict[str, Path]
) -> None:
    response = upload(api, "pickled", model_files["pickle"])
    assert response.status_code in (400, 403), response.text
    assert_clean_error(response, response.status_code, server.home, "pickle")
    assert api.get("/models/pickled").status_code == 404


def test_garbage_named_onnx_is_400_and_nothing_is_stored(
    server: Server, api: httpx.Client, tmp_path: Path
) -> None:
    garbage = tmp_path / "x.onnx"
    garbage.write_bytes(b"\x00\x01 definitely not a protobuf \xff" * 10)
    response = upload(api, "garbage", garbage)
    assert_clean_error(response, 400, server.home, "onnx")
    assert api.get("/models/garbage").status_code == 404
    response = upload(api, "iris", garbage)
    assert_clean_error(response, 400, server.home)
    assert [version_identity(v) for v in api.get("/models/iris/versions").json()] == [("iris", 1)]


def test_management_errors_are_clean(server: Server, api: httpx.Client) -> None:
    assert_clean_error(api.get("/models/nope"), 404, server.home, "'nope'")
    assert_clean_error(api.put("/models/iris/aliases/production", json={"version": 9}), 404, server.home, "9")
    response = api.put("/models/iris/aliases/production", json={"version": 0})
    assert response.status_code in (400, 422), response.text
    assert "Traceback" not in response.text


def test_status_lists_what_is_loaded(server: Server, api: httpx.Client) -> None:
    status = api.get("/status").json()
    assert status["ready"] is True
    assert "iris:1" in {loaded["target"] for loaded in status["loaded"]}


def test_openapi_is_valid_json_with_paths(server: Server) -> None:
    response = httpx.get(server.url + "/api/openapi.json")
    assert response.status_code == 200
    document = json.loads(response.text)
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    assert any(path.endswith("/models/{name}/versions") for path in paths), sorted(paths)
    assert any("/aliases/{alias}" in path for path in paths), sorted(paths)


@pytest.fixture(scope="module")
def token_server(
    tmp_path_factory: pytest.TempPathFactory, log_dir: Path, model_files: dict[str, Path]
) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("token-home")
    register(home, model_files["iris"], "iris")
    with running_server(home, log_dir, MODELPORT_AUTH__TOKEN=TOKEN) as server:
        yield server


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}, {"Authorization": TOKEN}],
    ids=["no-token", "wrong-token", "wrong-scheme", "no-scheme"],
)
def test_the_token_is_required(token_server: Server, headers: dict[str, str]) -> None:
    for path in ("/api/v1/models", "/api/v1/status"):
        response = httpx.get(token_server.url + path, headers=headers)
        assert response.status_code == 401, response.text
        assert "token" in response.json()["error"]
        assert TOKEN not in response.text


def test_the_token_opens_the_management_api(token_server: Server) -> None:
    response = httpx.get(token_server.url + "/api/v1/models", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    assert [m["name"] for m in response.json()] == ["iris"]
    # inference stays open unless protect_inference is set
    assert httpx.post(token_server.url + "/v2/models/iris/infer", json=iris_request()).status_code == 200


def test_the_cli_talks_to_a_protected_server(token_server: Server, tmp_path: Path) -> None:
    elsewhere = tmp_path / "no-local-registry"  # the CLI must not fall back to a local registry
    result = run_cli(
        elsewhere, "--server", token_server.url, "models", "--json", env={"MODELPORT_TOKEN": TOKEN}
    )
    assert [m["name"] for m in json.loads(result.stdout)] == ["iris"]
    refused = run_cli(elsewhere, "--server", token_server.url, "models", "--json", check=False)
    assert refused.returncode == 1
    assert "error:" in refused.stderr and "token" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_listening_beyond_loopback_without_a_token_is_refused(tmp_path: Path) -> None:
    port = free_port()
    try:
        result = subprocess.run(
            [str(MODELPORT), "serve", "--host", "0.0.0.0", "--port", str(port)],
            capture_output=True,
            text=True,
            env=base_env(tmp_path / "home"),
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:  # subprocess.run has killed it by then
        pytest.fail(f"serve --host 0.0.0.0 without a token kept running: {exc.stdout!r} {exc.stderr!r}")
    assert result.returncode != 0
    assert "refusing to listen on 0.0.0.0" in result.stderr
    assert "MODELPORT_AUTH__TOKEN" in result.stderr
    assert "Traceback" not in result.stderr
    assert "Uvicorn running" not in result.stdout + result.stderr
