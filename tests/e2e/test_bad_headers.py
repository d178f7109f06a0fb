"""Header and path values that are not text (bytes that are not UTF-8, percent-escapes of such bytes)
are the caller's error: a 4xx with ``{"error": ...}``, never a 500 and never a traceback in the log,
on the fast lane and the ASGI path alike. Sent over a raw socket: clients refuse to send them."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server, iris_request, register, running_server

BODY = json.dumps(iris_request()).encode()


@pytest.fixture(scope="module")
def iris_home(home: Path, model_files: dict[str, Path]) -> Path:
    register(home, model_files["iris"], "iris")
    return home


@pytest.fixture(scope="module", params=["fast-lane", "asgi"])
def server(request: pytest.FixtureRequest, iris_home: Path, log_dir: Path) -> Iterator[Server]:
    lane = "true" if request.param == "fast-lane" else "false"
    with running_server(iris_home, log_dir, MODELPORT_SERVING__FAST_LANE=lane) as server:
        server.wait_until("/v2/models/iris/ready")
        yield server


def raw_request(
    server: Server, method: str, path: bytes, headers: bytes = b"", body: bytes = b""
) -> tuple[int, bytes]:
    """Send one request as bytes; the status and body of the answer."""
    head = b"%s %s HTTP/1.1\r\nHost: modelport\r\nConnection: close\r\n" % (method.encode(), path)
    if body:
        head += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head + headers + b"\r\n" + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split(b" ")[1]), rest.partition(b"\r\n\r\n")[2]


INFER = b"/v2/models/iris/infer"


def test_a_route_key_that_is_not_utf8_is_a_400(server: Server) -> None:
    status, body = raw_request(server, "POST", INFER, b"x-modelport-route-key: \xff\xfe\r\n", BODY)
    assert status == 400, body
    assert "x-modelport-route-key" in json.loads(body)["error"]


@pytest.mark.parametrize(
    "header",
    [
        b"inference-header-content-length: \xb2\r\n",  # a digit in latin-1, not an ASCII one
        b"content-encoding: \xff\r\n",
    ],
    ids=["header-length", "content-encoding"],
)
def test_other_request_headers_that_are_not_text_are_a_400(server: Server, header: bytes) -> None:
    status, body = raw_request(server, "POST", INFER, header, BODY)
    assert status == 400, body
    assert json.loads(body)["error"]


@pytest.mark.parametrize(
    "header", [b"traceparent: \xff\xfe\r\n", b"content-type: \xff\r\n", b"x-anything: \xc3\x28\r\n"]
)
def test_headers_the_data_plane_does_not_read_change_nothing(server: Server, header: bytes) -> None:
    status, body = raw_request(server, "POST", INFER, header, BODY)
    assert status == 200, body


@pytest.mark.parametrize("path", [b"/v2/models/ir%ffis/ready", b"/v2/models/%c3%28/infer", b"/v2/models/%00"])
def test_model_names_with_bad_escapes_are_not_found(server: Server, path: bytes) -> None:
    status, body = raw_request(server, "POST" if path.endswith(b"infer") else "GET", path, body=BODY)
    assert status == 404, body
    assert json.loads(body)["error"]


def test_no_traceback_and_the_server_keeps_serving(server: Server) -> None:
    raw_request(server, "POST", INFER, b"x-modelport-route-key: \xff\r\n", BODY)
    assert httpx.post(server.url + INFER.decode(), json=iris_request()).status_code == 200
    assert "Traceback" not in server.log()
