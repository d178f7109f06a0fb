"""Slow and greedy clients against a real server: hundreds of connections trickling a request, heads
and bodies that stop half-way (fast lane and ASGI path), idle keep-alive connections that begin a
request and stall, and more connections than the cap. Callers keep being served meanwhile.

The server runs with short deadlines so that the whole module takes a few seconds; the deadlines
are long against the time the test takes to open its connections (a few hundredths of a second).
"""

from __future__ import annotations

import contextlib
import json
import resource
import selectors
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server, iris_request, register, running_server

HEAD_TIMEOUT_S = 2.0
BODY_TIMEOUT_S = 2.0
MAX_CONNECTIONS = 300
GRPC_MAX_CONNECTIONS = 20
GRPC_IDLE_S = 2.0
TRICKLERS = 250
INFER = "/v2/models/iris/infer"
HANG_GUARD_S = 30.0
"""Only stops a broken server from hanging the suite; nothing is asserted about time."""


@pytest.fixture(scope="module")
def server(home: Path, log_dir: Path, model_files: dict[str, Path]) -> Iterator[Server]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * MAX_CONNECTIONS  # this process's sockets, and the server's (which inherits the limit)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    register(home, model_files["iris"], "iris")
    with running_server(
        home,
        log_dir,
        MODELPORT_HTTP__HEAD_TIMEOUT_S=str(HEAD_TIMEOUT_S),
        MODELPORT_HTTP__BODY_TIMEOUT_S=str(BODY_TIMEOUT_S),
        MODELPORT_HTTP__MAX_CONNECTIONS=str(MAX_CONNECTIONS),
        MODELPORT_GRPC__MAX_CONNECTIONS=str(GRPC_MAX_CONNECTIONS),
        MODELPORT_GRPC__MAX_CONNECTION_IDLE_S=str(GRPC_IDLE_S),
    ) as running:
        running.wait_until(INFER, method="POST", json=iris_request())
        yield running


@pytest.fixture
def connect(server: Server) -> Iterator[Callable[[], Client]]:
    """Opens raw connections to the server, and closes those the test left open."""
    clients: list[Client] = []

    def opened() -> Client:
        clients.append(Client(server))
        return clients[-1]

    yield opened
    for client in clients:
        client.sock.close()


def request_bytes(server: Server, method: str, path: str, body: bytes, length: int | None = None) -> bytes:
    """A whole request; ``length`` declares more body than ``body`` holds."""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body) if length is None else length}\r\n\r\n"
    )
    return head.encode() + body


class Client:
    """One raw connection that sends what it is given and records what the server sends back."""

    def __init__(self, server: Server) -> None:
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=HANG_GUARD_S)
        self.received = b""
        self.closed = False

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):  # closed by the server: keep what it sent
            self.read_to_end()

    def read_to_end(self) -> bytes:
        """Everything the server sends until it closes the connection."""
        try:
            while chunk := self.sock.recv(65536):
                self.received += chunk
        except ConnectionResetError:
            pass
        self.closed = True
        self.sock.close()
        return self.received

    def ask(self, data: bytes) -> dict[str, object]:
        """Send a request on this keep-alive connection and read its (content-length framed) answer."""
        self.sock.sendall(data)
        while b"\r\n\r\n" not in self.received:
            chunk = self.sock.recv(65536)
            assert chunk, f"closed before an answer: {self.received!r}"
            self.received += chunk
        head, rest = self.received.split(b"\r\n\r\n", 1)
        length = int(
            next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[1]
        )
        while len(rest) < length:
            rest += self.sock.recv(65536)
        self.received = rest[length:]
        assert head.startswith(b"HTTP/1.1 200"), head
        return dict(json.loads(rest[:length]))


def status_and_error(received: bytes) -> tuple[int, str]:
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"connection: close" in head.lower(), head
    return int(head.split()[1]), str(json.loads(body)["error"])


def test_trickling_connections_are_closed_while_callers_are_served(
    server: Server, connect: Callable[[], Client]
) -> None:
    """Each trickler sends one more byte of its head per round and never finishes; after the head
    deadline the server has answered each 408 and closed it. Bodies that trickle or stop (fast lane,
    ASGI path, pipelined) and a keep-alive connection that stalls in its next head end the same way.
    Between rounds, a keep-alive caller and new callers get their predictions."""
    served = connect()
    prediction = request_bytes(server, "POST", INFER, json.dumps(iris_request()).encode())
    served.ask(prediction)
    stalled_keep_alive = connect()
    stalled_keep_alive.ask(prediction)
    stalled_keep_alive.send(prediction[:20])  # the next request begins, then nothing more comes
    lane_body = connect()
    lane_body.send(request_bytes(server, "POST", INFER, b"{", length=100))
    asgi_body = connect()
    asgi_body.send(request_bytes(server, "POST", "/api/v1/endpoints", b"{", length=100))
    pipelined_body = connect()  # its body is awaited from its turn: once the first one is answered
    pipelined_body.ask(prediction + request_bytes(server, "POST", INFER, b"{", length=100))
    silent = connect()
    endless_head = b"POST " + INFER.encode() + b"?" + b"a" * 100_000
    tricklers = [connect() for _ in range(TRICKLERS)]

    selector = selectors.DefaultSelector()
    slow_bodies = (lane_body, asgi_body, pipelined_body)
    for client in (*tricklers, *slow_bodies, stalled_keep_alive, silent):
        selector.register(client.sock, selectors.EVENT_READ, client)
    open_clients = len(selector.get_map())
    guard = time.monotonic() + HANG_GUARD_S
    sent = 0
    with httpx.Client(base_url=server.url) as fresh:
        while open_clients:
            assert time.monotonic() < guard, f"{open_clients} slow connections still open"
            for key, _ in selector.select(timeout=0):
                selector.unregister(key.fileobj)
                key.data.read_to_end()
                open_clients -= 1
            for client in tricklers:
                if not client.closed:
                    client.send(endless_head[sent : sent + 1])
            for client in (lane_body, asgi_body):
                if not client.closed:
                    client.send(b" ")
            sent += 1
            served.ask(prediction)  # callers are served while the slow connections are open
            assert fresh.post(INFER, json=iris_request(), headers={"Connection": "close"}).status_code == 200
            time.sleep(0.1)

    for client in tricklers:
        assert status_and_error(client.received) == (
            408,
            f"the request's head did not arrive within {HEAD_TIMEOUT_S:g} s",
        )
    assert status_and_error(stalled_keep_alive.received) == (
        408,
        f"the request's head did not arrive within {HEAD_TIMEOUT_S:g} s",
    )
    for client in slow_bodies:
        assert status_and_error(client.received) == (
            408,
            f"the request's body did not arrive within {BODY_TIMEOUT_S:g} s",
        )
    assert silent.received == b""  # nothing began: closed without an answer
    served.ask(prediction)


def test_connections_beyond_the_cap_are_refused_and_served_ones_keep_working(
    server: Server, connect: Callable[[], Client]
) -> None:
    served = connect()
    prediction = request_bytes(server, "POST", INFER, json.dumps(iris_request()).encode())
    served.ask(prediction)
    extra = 5
    idle = [connect() for _ in range(MAX_CONNECTIONS - 1 + extra)]
    served.ask(prediction)  # the cap is reached: a connection it holds keeps its service

    refused = [client for client in idle if client.read_to_end()]  # held ones close at the head deadline
    assert len(refused) >= extra
    assert len(idle) - len(refused) <= MAX_CONNECTIONS - 1
    for client in refused:
        assert status_and_error(client.received) == (
            503,
            f"the server has {MAX_CONNECTIONS} open connections, its limit; retry later",
        )
    assert b"retry-after: 1" in refused[0].received.lower()
    with httpx.Client(base_url=server.url) as fresh:  # the held connections are gone: room again
        assert fresh.post(INFER, json=iris_request()).status_code == 200


HTTP2_SETUP = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
"""The client's connection preface and an empty SETTINGS frame: an HTTP/2 connection, set up."""
HEADERS_FRAME = b"\x00\x03\xe8\x01\x04\x00\x00\x00\x01" + b"\x00" * 1000
"""A HEADERS frame that announces 1000 bytes; sent a byte at a time, it never opens its call."""


def test_grpc_refuses_connections_beyond_its_cap_and_closes_trickling_ones(server: Server) -> None:
    """gRPC's own framing is grpcio's: its cap closes extra connections at once, and its idle limit
    closes a connection that trickles a frame without ever starting a call."""
    import numpy as np
    import tritonclient.grpc as triton

    port = int(httpx.get(f"{server.url}/api/v1/status").json()["grpc_port"])
    client = triton.InferenceServerClient(f"127.0.0.1:{port}")
    rows = np.asarray([[5.1, 3.5, 1.4, 0.2]], dtype=np.float32)
    infer_input = triton.InferInput("X", list(rows.shape), "FP32")
    infer_input.set_data_from_numpy(rows)
    assert client.infer("iris", [infer_input]).as_numpy("label") is not None

    extra = 3
    raw = [
        socket.create_connection(("127.0.0.1", port), timeout=HANG_GUARD_S)
        for _ in range(GRPC_MAX_CONNECTIONS + extra)
    ]
    try:
        for sock in raw:
            sock.sendall(HTTP2_SETUP)
        assert client.infer("iris", [infer_input]).as_numpy("label") is not None  # its connection holds
        selector = selectors.DefaultSelector()
        for sock in raw:
            selector.register(sock, selectors.EVENT_READ, [b""])
        closed: list[bytes] = []
        guard = time.monotonic() + HANG_GUARD_S
        sent = 0
        while len(closed) < len(raw):
            assert time.monotonic() < guard, f"{len(raw) - len(closed)} trickling gRPC connections still open"
            for key, _ in selector.select(timeout=0.1):
                received: list[bytes] = key.data
                try:
                    chunk = key.fileobj.recv(65536)  # type: ignore[union-attr]
                except ConnectionResetError:
                    chunk = b""
                if chunk:
                    received[0] += chunk
                else:
                    selector.unregister(key.fileobj)
                    closed.append(received[0])
            for key in selector.get_map().values():
                with contextlib.suppress(OSError):
                    key.fileobj.send(HEADERS_FRAME[sent : sent + 1])  # type: ignore[union-attr]
            sent += 1
    finally:
        for sock in raw:
            sock.close()
        client.close()
    refused = [received for received in closed if not received]  # closed before the server's SETTINGS
    assert len(refused) >= extra
    assert len(closed) - len(refused) <= GRPC_MAX_CONNECTIONS - 1
