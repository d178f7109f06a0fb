"""The fast lane (data-plane requests answered without ASGI) keeps HTTP/1.1 right on a real server:
keep-alive, pipelining mixed with ASGI requests, chunked bodies, ``Expect: 100-continue``, the body
limit, HTTP/1.0, and a client that goes away. The same requests with the lane off give the same answers.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import IRIS_LABELS, Server, iris_request, register, running_server

INFER = "/v2/models/iris/infer"
BODY = json.dumps(iris_request()).encode()
BODY_LIMIT = 4096


@pytest.fixture(scope="module", params=["lane", "asgi"])
def server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    log_dir: Path,
    model_files: dict[str, Path],
) -> Iterator[Server]:
    home = tmp_path_factory.mktemp(f"home-{request.param}")
    register(home, model_files["iris"], "iris")
    lane = "true" if request.param == "lane" else "false"
    with running_server(
        home, log_dir, MODELPORT_SERVING__FAST_LANE=lane, MODELPORT_LIMITS__MAX_BODY_BYTES=str(BODY_LIMIT)
    ) as running:
        running.wait_until(INFER, method="POST", content=BODY)
        yield running


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, object]:
        return dict(json.loads(self.body))


def post(path: str, body: bytes, *extra: str, version: str = "1.1") -> bytes:
    head = [f"POST {path} HTTP/{version}", "Host: 127.0.0.1", "Content-Type: application/json", *extra]
    if not any(h.lower().startswith("transfer-encoding") for h in extra):
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


class Connection:
    """One raw keep-alive connection: write bytes, read whole responses (content-length framed)."""

    def __init__(self, server: Server) -> None:
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def reply(self) -> Reply:
        while b"\r\n\r\n" not in self.buffer:
            assert self._fill(), f"connection closed before a response; got {self.buffer!r}"
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            assert self._fill(), "connection closed inside a response body"
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return Reply(int(status_line.split()[1]), headers, body)

    def closed_by_server(self) -> bool:
        return self.buffer == b"" and not self._fill()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def conn(server: Server) -> Iterator[Connection]:
    connection = Connection(server)
    yield connection
    connection.close()


def labels(reply: Reply) -> list[int]:
    assert reply.status == 200, reply.body
    outputs = reply.json()["outputs"]
    assert isinstance(outputs, list)
    label = next(o for o in outputs if o["name"] == "label")
    return list(label["data"])


def test_keep_alive_mixes_data_plane_and_management_requests(conn: Connection) -> None:
    for _ in range(3):
        conn.send(post(INFER, BODY))
        reply = conn.reply()
        assert labels(reply) == IRIS_LABELS
        assert reply.headers["content-type"] == "application/json"
        assert reply.headers["x-modelport-served-by"] == "iris:1"
        assert "date" in reply.headers
        conn.send(get("/api/v1/models"))
        assert conn.reply().status == 200


def test_pipelined_requests_are_answered_in_order(conn: Connection) -> None:
    """Five requests in one write: lane, management (ASGI), lane, unknown route, ready."""
    one_row = json.dumps(iris_request([[6.7, 3.0, 5.2, 2.3]])).encode()
    conn.send(
        post(INFER, BODY)
        + get("/api/v1/models")
        + post(INFER, one_row)
        + get("/v2/nowhere")
        + get("/v2/health/ready")
    )
    assert labels(conn.reply()) == IRIS_LABELS
    models = conn.reply()
    assert models.status == 200 and b"iris" in models.body
    assert labels(conn.reply()) == [2]
    missing = conn.reply()
    assert missing.status == 404 and "error" in missing.json()
    assert conn.reply().json()["ready"] is True


@pytest.mark.parametrize("first", ["prediction", "management"])
def test_hundreds_of_pipelined_requests_behind_a_waiting_one_are_all_answered(
    conn: Connection, first: str
) -> None:
    """A request that waits holds back the ones pipelined behind it: the second prediction of one
    turn (it queues for a batch), or a management request (uvicorn's ASGI path). When it is answered,
    each of those answered at once starts the next: they must not nest one inside the other."""
    one_row = json.dumps(iris_request([[6.7, 3.0, 5.2, 2.3]])).encode()
    waiting = post(INFER, one_row) * 2 if first == "prediction" else get("/api/v1/models")
    conn.send(waiting + get("/v2/models/iris/ready") * 600 + post(INFER, one_row))
    for _ in range(2 if first == "prediction" else 1):
        assert conn.reply().status == 200
    for _ in range(600):
        assert conn.reply().status == 200
    assert labels(conn.reply()) == [2]


def test_chunked_request_body(conn: Connection) -> None:
    middle = len(BODY) // 2
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (BODY[:middle], BODY[middle:]))
    conn.send(post(INFER, chunks + b"0\r\n\r\n", "Transfer-Encoding: chunked"))
    assert labels(conn.reply()) == IRIS_LABELS


def test_expect_100_continue(conn: Connection) -> None:
    head, body = post(INFER, BODY, "Expect: 100-continue").split(b"\r\n\r\n", 1)
    conn.send(head + b"\r\n\r\n")
    interim = conn.reply()
    assert interim.status == 100
    conn.send(body)
    assert labels(conn.reply()) == IRIS_LABELS


def test_declared_body_over_the_limit_is_refused_and_the_connection_closed(conn: Connection) -> None:
    conn.send(post(INFER, b"x" * 10)[:-10].replace(b"Content-Length: 10", b"Content-Length: 100000"))
    reply = conn.reply()
    assert reply.status == 413
    assert "limit" in str(reply.json()["error"])
    assert conn.closed_by_server()


def test_chunked_body_over_the_limit_is_refused(conn: Connection) -> None:
    chunk = b"x" * 1000
    conn.send(post(INFER, b"", "Transfer-Encoding: chunked"))
    for _ in range(BODY_LIMIT // len(chunk) + 1):
        conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    reply = conn.reply()
    assert reply.status == 413
    assert conn.closed_by_server()


def test_http_1_0_is_answered_and_closed(conn: Connection) -> None:
    conn.send(post(INFER, BODY, version="1.0"))
    reply = conn.reply()
    assert labels(reply) == IRIS_LABELS
    assert reply.headers.get("connection") == "close"
    assert conn.closed_by_server()


def test_client_gone_mid_request_leaves_the_server_serving(server: Server, conn: Connection) -> None:
    conn.send(post(INFER, BODY)[:-5])
    conn.close()
    other = Connection(server)
    try:
        other.send(post(INFER, BODY))
        assert labels(other.reply()) == IRIS_LABELS
    finally:
        other.close()


def test_bad_json_gets_the_protocol_error_and_the_connection_stays(conn: Connection) -> None:
    conn.send(post(INFER, b'{"inputs": ['))
    reply = conn.reply()
    assert reply.status == 400 and "not valid JSON" in str(reply.json()["error"])
    conn.send(post(INFER, BODY))
    assert labels(conn.reply()) == IRIS_LABELS
