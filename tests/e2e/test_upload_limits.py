"""Management bodies are bounded while they arrive: a 20 MB upload against a 200 kB limit is refused
from its declared length before it is sent, and cut off when it comes without one (chunked), with
nothing stored and no temporary file left behind."""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server, running_server

LIMIT = 200_000
UPLOAD = 20_000_000
BOUNDARY = "modelport-test-boundary"
PART_HEAD = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.onnx"\r\n'
    "Content-Type: application/octet-stream\r\n\r\n"
).encode()


@pytest.fixture(scope="module")
def upload_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The server's TMPDIR: where an upload would be spooled."""
    return tmp_path_factory.mktemp("server-tmp")


@pytest.fixture(scope="module")
def server(home: Path, log_dir: Path, upload_tmp: Path) -> Iterator[Server]:
    with running_server(
        home, log_dir, MODELPORT_LIMITS__MAX_BODY_BYTES=str(LIMIT), TMPDIR=str(upload_tmp)
    ) as server:
        yield server


def _connect(server: Server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.settimeout(30)  # only bounds how long a broken server can hang the suite
    return sock


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    """Status and body of the response, read until the server closes the connection."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:  # the rest of a cut-off body reached a closed socket
        pass
    assert data, "no response before the connection closed"
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def _request_head(path: str, framing: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n{framing}\r\n\r\n"
    ).encode()


def _nothing_stored(server: Server, upload_tmp: Path, name: str) -> None:
    assert httpx.get(f"{server.url}/api/v1/models/{name}").status_code == 404
    assert list(upload_tmp.iterdir()) == []


def test_a_declared_length_over_the_limit_is_refused_before_the_body(
    server: Server, upload_tmp: Path
) -> None:
    with _connect(server) as sock:
        sock.sendall(_request_head("/api/v1/models/declared/versions", f"Content-Length: {UPLOAD}"))
        sock.sendall(PART_HEAD)  # and nothing more: the answer must come without the rest
        status, body = _read_response(sock)
    assert status == 413, body
    assert b'"error"' in body and str(LIMIT).encode() in body
    _nothing_stored(server, upload_tmp, "declared")


def test_a_refusal_before_the_body_closes_the_connection(server: Server, upload_tmp: Path) -> None:
    """A request refused before its body is read (here by the Host gate) gets its answer at once,
    and the unread body is never taken for the next request: the connection closes."""
    head = _request_head("/api/v1/models/early/versions", f"Content-Length: {UPLOAD}")
    with _connect(server) as sock:
        sock.sendall(head.replace(b"Host: 127.0.0.1", b"Host: evil.example") + PART_HEAD)
        status, body = _read_response(sock)
    assert status == 400 and b"allowed_hosts" in body, body
    _nothing_stored(server, upload_tmp, "early")


def test_a_chunked_body_over_the_limit_is_cut_off(server: Server, upload_tmp: Path) -> None:
    chunk = b"\0" * 65536
    sent = 0
    with _connect(server) as sock:
        sock.sendall(_request_head("/api/v1/models/chunked/versions", "Transfer-Encoding: chunked"))
        sock.sendall(b"%x\r\n%s\r\n" % (len(PART_HEAD), PART_HEAD))
        while sent < UPLOAD and not select.select([sock], [], [], 0)[0]:
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        status, body = _read_response(sock)
    assert status == 413, body
    assert b'"error"' in body
    assert sent < UPLOAD  # the server answered (and stopped reading) long before the end
    _nothing_stored(server, upload_tmp, "chunked")


def test_a_body_within_the_limit_still_registers(
    server: Server, upload_tmp: Path, model_files: dict[str, Path]
) -> None:
    with model_files["iris"].open("rb") as artifact:
        response = httpx.post(
            f"{server.url}/api/v1/models/small/versions", files={"file": ("iris.onnx", artifact)}, timeout=60
        )
    assert response.status_code == 201, response.text
    assert list(upload_tmp.iterdir()) == []
