"""``/invocations`` on a real server: MLflow's own scoring client, and raw requests as SageMaker sends
them to a container whose one model is ``serving.invocations_target``."""

from __future__ import annotations

import json
import socket
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.e2e.conftest import IRIS_LABELS, IRIS_ROWS, Server, register, running_server

LIMIT = 4000
"""The server's body limit here (bytes)."""
COLUMNS = ["X[0]", "X[1]", "X[2]", "X[3]"]


@pytest.fixture(scope="module")
def server(home: Path, log_dir: Path, model_files: dict[str, Path]) -> Iterator[Server]:
    register(home, model_files["iris"], "iris", "--alias", "production")
    env = {
        "MODELPORT_SERVING__INVOCATIONS_TARGET": "iris@production",
        "MODELPORT_LIMITS__MAX_BODY_BYTES": str(LIMIT),
    }
    with running_server(home, log_dir, **env) as server:
        server.wait_until("/v2/models/iris/ready")
        yield server


def test_mlflows_scoring_client(server: Server) -> None:
    with warnings.catch_warnings():  # importing mlflow warns about its own type hints
        warnings.simplefilter("ignore", UserWarning)
        from mlflow.pyfunc.scoring_server.client import ScoringServerClient
    client = ScoringServerClient("127.0.0.1", server.port)
    client.wait_server_ready(timeout=30)
    assert client.get_version()
    for data in (
        pd.DataFrame(IRIS_ROWS, columns=COLUMNS),
        np.array(IRIS_ROWS, dtype=np.float32),
        {"X": np.array(IRIS_ROWS)},
    ):
        predictions = client.invoke(data).get_predictions()
        assert list(predictions["label"]) == IRIS_LABELS, data


def test_sagemaker_requests_on_one_connection(server: Server) -> None:
    """SageMaker's health check and invocations (CSV without a header, JSON), no target named; bad
    requests get MLflow's error shape and the keep-alive connection keeps serving."""
    csv = "".join(",".join(map(str, row)) + "\n" for row in IRIS_ROWS)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        ping = client.get("/ping")
        assert ping.status_code == 200
        answer = client.post("/invocations", content=csv, headers={"Content-Type": "text/csv"})
        assert answer.json()["predictions"]["label"] == IRIS_LABELS
        answer = client.post("/invocations", json={"instances": IRIS_ROWS})
        assert answer.json()["predictions"]["label"] == IRIS_LABELS
        bad = [
            (b'{"inputs": [', "application/json", 400, "not valid JSON"),
            (b"1,2,3,4\n1,2\n", "text/csv", 400, "line 2"),
            (json.dumps({"inputs": [["a"] * 4]}).encode(), "application/json", 400, "numbers"),
            (b'{"inputs": ' + b"[" * 40 + b"1" + b"]" * 40 + b"}", "application/json", 400, "deep"),
            (b"<rows/>", "application/xml", 415, "text/csv"),
        ]
        for body, kind, status, word in bad:
            response = client.post("/invocations", content=body, headers={"Content-Type": kind})
            assert response.status_code == status, response.text
            assert word in response.json()["message"] and response.json()["error_code"], response.text
        unknown = client.post(
            "/invocations", json={"inputs": IRIS_ROWS}, headers={"x-modelport-target": "nope"}
        )
        assert unknown.status_code == 404 and unknown.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        answer = client.post("/invocations", json={"inputs": IRIS_ROWS})
        assert answer.json()["predictions"]["label"] == IRIS_LABELS
        ports = {r.extensions["network_stream"].get_extra_info("client_addr")[1] for r in (ping, answer)}
    assert len(ports) == 1, "the server closed the keep-alive connection after an error"


def test_a_body_over_the_limit_is_refused_before_it_is_read(server: Server) -> None:
    """Declared too large: answered at once (the fast lane does not read it), in MLflow's shape."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
            b"Content-Length: %d\r\n\r\n1,2" % (LIMIT * 10)
        )
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert json.loads(body)["error_code"] == "BAD_REQUEST"
