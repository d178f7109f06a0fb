"""BYTES tensors survive byte-exact through a real server (issue 10, point 8): ``"a\\u0000"`` once came
back as ``"a"`` and ``"\\u0000"`` as ``""``, silently.

An ONNX model echoes a string tensor (one Identity node). Elements with trailing, lone and inner
NULs and the empty string go over JSON (httpx and tritonclient), the binary tensor data extension
(tritonclient http) and gRPC (tritonclient grpc, and typed ``bytes_contents``), alone and in a batch
the server merges from two requests. Bytes that are not UTF-8 have no text form for an ONNX string
input: they are refused with an error naming the input, never changed, and the server keeps serving.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from onnx import TensorProto, helper
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

from tests.e2e.conftest import Server, free_port, register, run_cli, run_cli_in_process, running_server

TEXTS = ["a\x00", "\x00", "ab\x00\x00", "", "x\x00y", "\u00e9\x00"]
ENCODED = [text.encode() for text in TEXTS]
NOT_UTF8 = b"\xff\x00"
OTHER = ["\x00\x00", "z\x00", "", "\x00q"]
"""A second request's elements, for the merged batch (4 + 6 rows)."""


def echo_onnx(path: Path) -> Path:
    """An ONNX model whose string output ``echo`` is its string input ``text``, any number of rows."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["text"], ["echo"])],
        "echo",
        [helper.make_tensor_value_info("text", TensorProto.STRING, [None])],
        [helper.make_tensor_value_info("echo", TensorProto.STRING, [None])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path.write_bytes(model.SerializeToString())
    return path


@pytest.fixture(scope="module")
def server(
    home: Path, log_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, int]]:
    model = echo_onnx(tmp_path_factory.mktemp("echo") / "echo.onnx")
    register(home, model, "echo")
    register(home, model, "echo-batched")
    # a batch leaves when it holds both requests' rows; the long delay only bounds a broken run
    rows = str(len(TEXTS) + len(OTHER))
    run_cli_in_process(
        home,
        "config",
        "set",
        "echo-batched",
        "--max-queue-delay-us",
        "60000000",
        "--preferred-batch-size",
        rows,
    )
    grpc_port = free_port()
    with running_server(home, log_dir, MODELPORT_GRPC__PORT=str(grpc_port)) as server:
        for name in ("echo", "echo-batched"):
            server.wait_until(f"/v2/models/{name}/ready")
        yield server, grpc_port


def objects(values: list[bytes] | list[str]) -> np.ndarray:
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def json_infer(server: Server, model: str, texts: list[str]) -> httpx.Response:
    body = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [len(texts)], "data": texts}]}
    return httpx.post(f"{server.url}/v2/models/{model}/infer", json=body, timeout=90)


def test_json_strings_with_nul_come_back_exact(server: tuple[Server, int]) -> None:
    response = json_infer(server[0], "echo", TEXTS)
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == TEXTS


@pytest.mark.parametrize("binary_in", [False, True], ids=["json-in", "binary-in"])
@pytest.mark.parametrize("binary_out", [False, True], ids=["json-out", "binary-out"])
def test_tritonclient_http_round_trip_is_byte_exact(
    server: tuple[Server, int], binary_in: bool, binary_out: bool
) -> None:
    with triton_http.InferenceServerClient(server[0].address, network_timeout=90) as client:
        infer_input = triton_http.InferInput("text", [len(ENCODED)], "BYTES")
        infer_input.set_data_from_numpy(objects(ENCODED), binary_data=binary_in)
        output = triton_http.InferRequestedOutput("echo", binary_data=binary_out)
        result = client.infer("echo", [infer_input], outputs=[output]).as_numpy("echo")
    assert result is not None
    assert result.tolist() == (ENCODED if binary_out else TEXTS)  # JSON answers come back as str


@pytest.mark.parametrize("typed", [False, True], ids=["raw_input_contents", "bytes_contents"])
def test_grpc_round_trip_is_byte_exact(server: tuple[Server, int], typed: bool) -> None:
    if typed:
        request = service_pb2.ModelInferRequest(model_name="echo")
        tensor = request.inputs.add(name="text", datatype="BYTES", shape=[len(ENCODED)])
        tensor.contents.bytes_contents.extend(ENCODED)
        with grpc.insecure_channel(f"127.0.0.1:{server[1]}") as channel:
            answer = service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=90)
        result = triton_grpc.InferResult(answer).as_numpy("echo")
    else:
        with triton_grpc.InferenceServerClient(f"127.0.0.1:{server[1]}") as client:
            infer_input = triton_grpc.InferInput("text", [len(ENCODED)], "BYTES")
            infer_input.set_data_from_numpy(objects(ENCODED))
            result = client.infer("echo", [infer_input], client_timeout=90).as_numpy("echo")
    assert result is not None
    assert result.tolist() == ENCODED


def test_bytes_that_are_not_utf8_are_refused_never_changed(server: tuple[Server, int]) -> None:
    values = [b"ok", NOT_UTF8]
    with triton_http.InferenceServerClient(server[0].address, network_timeout=90) as client:
        infer_input = triton_http.InferInput("text", [2], "BYTES")
        infer_input.set_data_from_numpy(objects(values), binary_data=True)
        with pytest.raises(InferenceServerException) as refused:
            client.infer("echo", [infer_input])
    assert refused.value.status() == "400"
    assert re.search(r"input 'text'.*not valid UTF-8", refused.value.message() or ""), refused.value

    with triton_grpc.InferenceServerClient(f"127.0.0.1:{server[1]}") as client:
        infer_input = triton_grpc.InferInput("text", [2], "BYTES")
        infer_input.set_data_from_numpy(objects(values))
        with pytest.raises(InferenceServerException) as refused_grpc:
            client.infer("echo", [infer_input], client_timeout=90)
    assert refused_grpc.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "not valid UTF-8" in (refused_grpc.value.message() or "")

    assert "Traceback" not in server[0].log()
    test_json_strings_with_nul_come_back_exact(server)  # the server keeps serving


def test_a_batch_merged_from_two_requests_answers_each_exactly(server: tuple[Server, int]) -> None:
    http, grpc_port = server

    def over_grpc() -> list[bytes]:
        with triton_grpc.InferenceServerClient(f"127.0.0.1:{grpc_port}") as client:
            infer_input = triton_grpc.InferInput("text", [len(OTHER)], "BYTES")
            infer_input.set_data_from_numpy(objects([text.encode() for text in OTHER]))
            result = client.infer("echo-batched", [infer_input], client_timeout=90).as_numpy("echo")
        assert result is not None
        return list(result.tolist())

    with ThreadPoolExecutor(2) as pool:
        json_answer = pool.submit(json_infer, http, "echo-batched", TEXTS)
        grpc_answer = pool.submit(over_grpc)
        response = json_answer.result()
        assert response.status_code == 200, response.text
        assert response.json()["outputs"][0]["data"] == TEXTS
        assert grpc_answer.result() == [text.encode() for text in OTHER]
    stats = httpx.get(f"{http.url}/v2/models/echo-batched/stats", timeout=10).json()["model_stats"][0]
    sizes = [batch["batch_size"] for batch in stats["batch_stats"]]
    assert len(TEXTS) + len(OTHER) in sizes, stats  # one model call answered both


def test_modelport_predict_keeps_nul(server: tuple[Server, int]) -> None:
    result = run_cli(server[0].home, "predict", "echo", "--input", "-", "--json", input=json.dumps(TEXTS))
    assert json.loads(result.stdout)["outputs"][0]["data"] == TEXTS


def test_an_endpoint_answers_and_judges_non_ascii_text_labels(server: tuple[Server, int]) -> None:
    """Remembering a text prediction for feedback decoded it as ASCII: "été" via an endpoint was a 500."""
    url = server[0].url
    created = httpx.post(
        f"{url}/api/v1/endpoints", json={"name": "echo-api", "routes": [{"target": "echo:1", "weight": 1}]}
    )
    assert created.status_code in (200, 201), created.text
    server[0].wait_until("/v2/models/echo-api/ready")
    response = json_infer(server[0], "echo-api", ["été", "a\u0000"])
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == ["été", "a\u0000"]
    judged = httpx.post(
        f"{url}/api/v1/endpoints/echo-api/feedback",
        json={"items": [{"id": response.json()["id"], "label": ["été", "a"]}]},
    )
    assert judged.status_code == 200, judged.text
    assert judged.json()["judged"][0]["correct"] == 1  # "a" is not "a\0"
    assert "Traceback" not in server[0].log()
