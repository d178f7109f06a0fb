"""Bad requests get the right status and a clean ``{"error": ...}`` body, and the server keeps serving."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import IRIS_LABELS, Server, iris_request, register, running_server

INFER = "/v2/models/iris/infer"
V1_PREDICT = "/v1/models/iris:predict"


def x_input(datatype: str = "FP32", shape: list[int] | None = None, data: Any = None) -> dict[str, Any]:
    shape = [1, 4] if shape is None else shape
    return {"inputs": [{"name": "X", "datatype": datatype, "shape": shape, "data": data or [1.0, 2, 3, 4]}]}


NESTED_40: Any = 1.0
for _ in range(40):
    NESTED_40 = [NESTED_40]

# (id, path, body bytes, expected status, words the message must contain)
CASES: list[tuple[str, str, bytes, int, tuple[str, ...]]] = [
    ("malformed-json", INFER, b'{"inputs": [', 400, ("not valid JSON",)),
    ("not-json", INFER, b"hello there", 400, ("not valid JSON",)),
    ("not-an-object", INFER, b"[1, 2, 3]", 400, ("JSON object",)),
    ("missing-inputs", INFER, b'{"outputs": []}', 400, ("inputs",)),
    ("empty-inputs", INFER, b'{"inputs": []}', 400, ("inputs",)),
    (
        "unknown-input",
        INFER,
        json.dumps({"inputs": [{"name": "Z", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]}),
        400,
        ("'Z'", "X"),
    ),
    (
        "missing-input-field",
        INFER,
        json.dumps({"inputs": [{"name": "X", "datatype": "FP32", "shape": [1, 4]}]}),
        400,
        ("data",),
    ),
    ("wrong-datatype", INFER, json.dumps(x_input("FP64")), 400, ("FP32", "FP64")),
    ("wrong-case", INFER, json.dumps(x_input("fp32")), 400, ("fp32", "FP32")),
    ("length-not-shape", INFER, json.dumps(x_input(shape=[1, 4], data=[1, 2, 3])), 400, ("[1, 4]", "3")),
    ("shape-not-taken", INFER, json.dumps(x_input(shape=[1, 5], data=[1, 2, 3, 4, 5])), 400, ("[1, 5]",)),
    ("negative-dimension", INFER, json.dumps(x_input(shape=[-1, 4])), 400, ("negative",)),
    ("unknown-output", INFER, json.dumps(iris_request(outputs=[{"name": "zz"}])), 400, ("'zz'",)),
    ("unknown-model", "/v2/models/nope/infer", json.dumps(iris_request()), 404, ("'nope'",)),
    ("unknown-version", "/v2/models/iris/versions/9/infer", json.dumps(iris_request()), 404, ("9",)),
    (
        "unknown-alias",
        "/v2/models/iris/versions/staging/infer",
        json.dumps(iris_request()),
        404,
        ("staging",),
    ),
    ("too-deep", INFER, json.dumps(x_input(shape=[1], data=[NESTED_40])), 400, ("deep", "32")),
    # KServe v1 / TF Serving REST: the same treatment, in the same {"error": ...} shape
    ("v1-malformed-json", V1_PREDICT, b'{"instances": [', 400, ("not valid JSON",)),
    ("v1-not-an-object", V1_PREDICT, b"[[1, 2, 3, 4]]", 400, ("JSON object",)),
    ("v1-wrong-type", V1_PREDICT, json.dumps({"instances": [["a", "b", "c", "d"]]}), 400, ("numbers",)),
    ("v1-wrong-shape", V1_PREDICT, json.dumps({"instances": [[1, 2, 3]]}), 400, ("[-1, 4]",)),
    ("v1-unknown-signature", V1_PREDICT, json.dumps({"signature_name": "x", "inputs": [[1]]}), 400, ("'x'",)),
    (
        "v1-unknown-model",
        "/v1/models/nope:predict",
        json.dumps({"instances": [[1, 2, 3, 4]]}),
        404,
        ("'nope'",),
    ),
    (
        "v1-unknown-label",
        "/v1/models/iris/labels/staging:predict",
        json.dumps({"inputs": [[1]]}),
        404,
        ("staging",),
    ),
    ("v1-too-deep", V1_PREDICT, json.dumps({"instances": NESTED_40}), 400, ("deep", "32")),
]


@pytest.fixture(scope="module")
def server(home: Path, log_dir: Path, model_files: dict[str, Path]) -> Iterator[Server]:
    register(home, model_files["iris"], "iris", "--alias", "production")
    with running_server(home, log_dir) as server:
        server.wait_until("/v2/models/iris/ready")
        yield server


@pytest.fixture(scope="module")
def connection(server: Server) -> Iterator[tuple[httpx.Client, set[int]]]:
    """One keep-alive client for the whole module, and the local ports its requests went out on."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client, set()


def send(connection: tuple[httpx.Client, set[int]], method: str, path: str, **kwargs: Any) -> httpx.Response:
    client, ports = connection
    response = client.request(method, path, **kwargs)
    stream = response.extensions.get("network_stream")
    if stream is not None:
        ports.add(stream.get_extra_info("client_addr")[1])
    return response


def assert_clean_error(response: httpx.Response, server: Server, status: int, *words: str) -> str:
    body = response.text
    assert response.status_code == status, body
    assert response.headers["content-type"].startswith("application/json")
    assert "Traceback" not in body
    assert str(server.home) not in body
    assert "/site-packages/" not in body and ".py" not in body
    message = response.json()["error"]
    assert isinstance(message, str)
    assert message
    for word in words:
        assert word in message, message
    return message


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_request_gets_a_clean_error(
    server: Server,
    connection: tuple[httpx.Client, set[int]],
    path: str,
    body: str | bytes,
    status: int,
    words: tuple[str, ...],
) -> None:
    response = send(connection, "POST", path, content=body, headers={"Content-Type": "application/json"})
    assert_clean_error(response, server, status, *words)


def test_declared_huge_shape_is_refused_before_allocating(
    server: Server, connection: tuple[httpx.Client, set[int]]
) -> None:
    body = json.dumps(x_input(shape=[1_000_000_000, 4]))
    response = send(connection, "POST", INFER, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 413), response.text
    assert_clean_error(response, server, response.status_code, "limit")


@pytest.mark.parametrize(
    ("header", "words"),
    [("99999", ("99999",)), ("abc", ("Inference-Header-Content-Length",))],
    ids=["longer-than-body", "not-a-number"],
)
def test_bad_binary_header_length(
    server: Server, connection: tuple[httpx.Client, set[int]], header: str, words: tuple[str, ...]
) -> None:
    response = send(
        connection,
        "POST",
        INFER,
        content=json.dumps(iris_request()),
        headers={"Inference-Header-Content-Length": header, "Content-Type": "application/octet-stream"},
    )
    assert_clean_error(response, server, 400, *words)


@pytest.mark.parametrize(
    "path", ["/v2/models/nope", "/v2/models/iris/versions/9", "/v2/models/nope/ready"], ids=str
)
def test_unknown_model_metadata_is_404(
    server: Server, connection: tuple[httpx.Client, set[int]], path: str
) -> None:
    assert_clean_error(send(connection, "GET", path), server, 404)


def test_the_same_connection_still_serves_afterwards(
    server: Server, connection: tuple[httpx.Client, set[int]]
) -> None:
    response = send(connection, "POST", INFER, json=iris_request())
    assert response.status_code == 200, response.text
    labels = next(o for o in response.json()["outputs"] if o["name"] == "label")["data"]
    assert labels == IRIS_LABELS
    response = send(connection, "POST", V1_PREDICT, json={"instances": [[5.1, 3.5, 1.4, 0.2]]})
    assert response.json()["predictions"][0]["label"] == 0, response.text
    assert send(connection, "GET", "/v2/health/ready").status_code == 200
    _, ports = connection
    assert len(ports) == 1, f"the server closed the keep-alive connection after an error: ports {ports}"


@pytest.fixture(scope="module")
def small_limit_server(server: Server, log_dir: Path) -> Iterator[Server]:
    """A second server on the same registry, accepting bodies of at most 1000 bytes."""
    with running_server(server.home, log_dir, MODELPORT_LIMITS__MAX_BODY_BYTES="1000") as small:
        small.wait_until("/v2/models/iris/ready")
        yield small


def test_a_body_over_the_limit_is_413(small_limit_server: Server) -> None:
    big = iris_request(rows=[[5.1, 3.5, 1.4, 0.2]] * 100)
    with httpx.Client(base_url=small_limit_server.url, timeout=30) as client:
        response = client.post(V1_PREDICT, json={"instances": [[5.1, 3.5, 1.4, 0.2]] * 100})
        assert_clean_error(response, small_limit_server, 413, "1000")
        response = client.post(INFER, json=big)
        assert_clean_error(response, small_limit_server, 413, "1000")
        # a chunked body (no Content-Length) is counted as it arrives
        chunks = (bytes([b]) * 1 for b in json.dumps(big).encode())
        response = client.post(INFER, content=chunks, headers={"Content-Type": "application/json"})
        assert_clean_error(response, small_limit_server, 413, "1000")
        # and a body under the limit is fine
        response = client.post(INFER, json=iris_request())
        assert response.status_code == 200, response.text
        assert client.get("/v2/health/ready").status_code == 200
