"""The Open Inference Protocol over gRPC against a real server subprocess, with tritonclient.grpc."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton
from tritonclient.utils import InferenceServerException

from tests.e2e.conftest import (
    IRIS_LABELS,
    IRIS_ROWS,
    Server,
    free_port,
    iris_request,
    register,
    running_server,
)


@pytest.fixture(scope="module")
def server(home: Path, log_dir: Path, model_files: dict[str, Path]) -> Iterator[tuple[Server, int]]:
    register(home, model_files["iris"], "iris", "--alias", "production")
    grpc_port = free_port()
    with running_server(home, log_dir, MODELPORT_GRPC__PORT=str(grpc_port)) as server:
        server.wait_until("/v2/models/iris/ready")
        yield server, grpc_port


@pytest.fixture(scope="module")
def client(server: tuple[Server, int]) -> Iterator[triton.InferenceServerClient]:
    client = triton.InferenceServerClient(f"127.0.0.1:{server[1]}")
    yield client
    client.close()


def iris_input(rows: np.ndarray) -> triton.InferInput:
    infer_input = triton.InferInput("X", list(rows.shape), "FP32")
    infer_input.set_data_from_numpy(rows)
    return infer_input


def test_the_server_logs_its_grpc_port(server: tuple[Server, int]) -> None:
    process, port = server
    assert f"gRPC listening on 127.0.0.1:{port}" in process.log()


def test_health_metadata_and_readiness(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live() and client.is_server_ready()
    assert client.get_server_metadata().name == "modelport"
    metadata = client.get_model_metadata("iris", as_json=True)
    assert metadata["versions"] == ["1"] and metadata["platform"] == "onnxruntime_onnx"
    assert client.is_model_ready("iris", model_version="production")
    assert not client.is_model_ready("iris", model_version="4")


@pytest.mark.parametrize("version", ["1", "production"])
def test_infer_equals_rest(
    server: tuple[Server, int], client: triton.InferenceServerClient, version: str
) -> None:
    rows = np.asarray(IRIS_ROWS, dtype=np.float32)
    rest = httpx.post(
        f"{server[0].url}/v2/models/iris/versions/{version}/infer", json=iris_request(), timeout=10
    )
    assert rest.status_code == 200, rest.text
    want = {o["name"]: np.asarray(o["data"]).reshape(o["shape"]) for o in rest.json()["outputs"]}
    outputs = [triton.InferRequestedOutput("probabilities"), triton.InferRequestedOutput("label")]
    result = client.infer(
        "iris", [iris_input(rows)], model_version=version, outputs=outputs, request_id="e2e"
    )
    assert result.get_response().id == "e2e" and result.get_response().model_version == "1"
    assert [o.name for o in result.get_response().outputs] == ["probabilities", "label"]
    np.testing.assert_array_equal(result.as_numpy("label"), want["label"])
    np.testing.assert_allclose(result.as_numpy("probabilities"), want["probabilities"], rtol=1e-6)


def test_errors_then_the_channel_still_works(client: triton.InferenceServerClient) -> None:
    rows = np.asarray(IRIS_ROWS, dtype=np.float32)
    with pytest.raises(InferenceServerException) as missing:
        client.infer("no-such-model", [iris_input(rows)])
    assert missing.value.status() == "StatusCode.NOT_FOUND"
    assert "no-such-model" in (missing.value.message() or "")
    with pytest.raises(InferenceServerException) as narrow:
        client.infer("iris", [iris_input(rows[:, :2].copy())])
    assert narrow.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "takes shape [-1, 4]" in (narrow.value.message() or "")
    result = client.infer("iris", [iris_input(rows)])
    label = result.as_numpy("label")
    assert label is not None and label.tolist() == [0, 1, 2]


def test_one_stream_carries_many_requests(client: triton.InferenceServerClient) -> None:
    outcomes: queue.Queue[tuple[triton.InferResult | None, InferenceServerException | None]] = queue.Queue()
    client.start_stream(lambda result, error: outcomes.put((result, error)))
    rows = np.asarray(IRIS_ROWS, dtype=np.float32)
    try:
        for number in range(32):
            client.async_stream_infer("iris", [iris_input(rows)], request_id=str(number))
        answers = [outcomes.get(timeout=30) for _ in range(32)]
    finally:
        client.stop_stream()
    assert [error for _, error in answers] == [None] * 32
    results = [result for result, _ in answers if result is not None]
    assert sorted(int(result.get_response().id) for result in results) == list(range(32))
    assert all(result.as_numpy("label").tolist() == IRIS_LABELS for result in results)
