"""SLO mode against clients that send again at once after a refusal: their refusals are paced.

Issue 14's refusal state: clients that retried at once (wrk) turned shedding into a flood of
refusals that took the event loop from the admitted requests, so the limit stayed at its floor and
nearly everything was refused, fast, for whole load runs. Now, once refusals outnumber admissions,
each refusal is held for ``REFUSAL_PAUSE_S`` before it is sent, on REST and gRPC alike.

The test pins the version at its limit deterministically: on the ASGI path a request is admitted
before its body is read, so heads sent without their bodies stay in flight for as long as the test
wants, and nothing completes to move the limit (8 at start).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton
from tritonclient.utils import InferenceServerException

from modelport.serving.batching.slo import REFUSAL_PAUSE_S
from tests.e2e.conftest import Server, free_port, iris_request, register, run_cli, running_server

BODY = json.dumps(iris_request([[5.1, 3.5, 1.4, 0.2]])).encode()
HEAD = (
    b"POST /v2/models/iris/infer HTTP/1.1\r\nHost: modelport\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n" % len(BODY)
)
INITIAL_LIMIT = 8
RETRIES = 90
"""Requests sent back to back by the impatient client: more than ``FLOOD_RATIO`` x 8 refusals, so a
flood; the last ``PACED`` must all be held."""
PACED = 5


@pytest.fixture(scope="module")
def server(home: Path, log_dir: Path, model_files: dict[str, Path]) -> Iterator[tuple[Server, int]]:
    register(home, model_files["iris"], "iris")
    run_cli(home, "config", "set", "iris", "--latency-target-ms", "20")
    grpc_port = free_port()
    env = {"MODELPORT_SERVING__FAST_LANE": "false", "MODELPORT_GRPC__PORT": str(grpc_port)}
    with running_server(home, log_dir, **env) as server:
        server.wait_until("/v2/models/iris/ready")
        yield server, grpc_port


def status_of(sock: socket.socket) -> int:
    """Read one whole answer from ``sock`` (the connection stays usable); its status."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next(int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(65536)
    return int(lines[0].split(b" ")[1])


def test_refusals_to_clients_that_retry_at_once_are_paced(server: tuple[Server, int]) -> None:
    http, grpc_port = server
    with ExitStack() as stack:
        held = [
            stack.enter_context(socket.create_connection(("127.0.0.1", http.port), timeout=30))
            for _ in range(INITIAL_LIMIT)
        ]
        for sock in held:  # admitted, then waiting for a body: the version is at its limit
            sock.sendall(HEAD)
        answers = []  # (seconds to the answer, status) of each retry, sent as soon as the last one came back
        with httpx.Client(base_url=http.url, timeout=30) as client:
            for _ in range(RETRIES):
                started = time.perf_counter()
                status = client.post("/v2/models/iris/infer", content=BODY).status_code
                answers.append((time.perf_counter() - started, status))
        assert {status for _, status in answers} == {503}
        held_for = [seconds for seconds, _ in answers[-PACED:]]
        assert min(held_for) >= REFUSAL_PAUSE_S, answers  # answered at once before: the flood fed itself

        grpc = triton.InferenceServerClient(f"127.0.0.1:{grpc_port}")
        request = triton.InferInput("X", [1, 4], "FP32")
        request.set_data_from_numpy(np.array([[5.1, 3.5, 1.4, 0.2]], dtype=np.float32))
        started = time.perf_counter()
        with pytest.raises(InferenceServerException, match="concurrency limit") as refused:
            grpc.infer("iris", [request])
        assert time.perf_counter() - started >= REFUSAL_PAUSE_S
        assert refused.value.status() == "StatusCode.RESOURCE_EXHAUSTED"
        grpc.close()

        for sock in held:  # the admitted requests were never disturbed
            sock.sendall(BODY)
        assert [status_of(sock) for sock in held] == [200] * INITIAL_LIMIT
