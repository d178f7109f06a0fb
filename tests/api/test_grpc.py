"""The Open Inference Protocol gRPC front-end, in process: the real app stack (its lifespan starts the gRPC
server on 127.0.0.1:0 in the test's event loop) called with tritonclient.grpc.aio (and
tritonclient.grpc's streaming API for ModelStreamInfer)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton
import tritonclient.grpc.aio as triton_aio
from tritonclient.grpc import InferResult
from tritonclient.utils import InferenceServerException

from modelport.core.settings import Settings
from modelport.registry.catalog import Registry
from modelport.server.app import build_app
from modelport.serving.grpc import grpc_predict_v2_pb2 as pb
from modelport.serving.grpc.grpc_predict_v2_pb2_grpc import (
    GRPCInferenceServiceStub,
    add_GRPCInferenceServiceServicer_to_server,
)
from modelport.serving.grpc.servicer import InferenceServicer, guarded
from tests.api.conftest import wait_for

IRIS_ROWS = np.asarray([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32)


@dataclass
class Stack:
    http: httpx.AsyncClient
    grpc: triton_aio.InferenceServerClient
    address: str


@pytest.fixture
async def stack(  # type: ignore[no-untyped-def]
    settings: Settings, registry: Registry, register, model_files: dict[str, Path]
) -> AsyncIterator[Stack]:
    app = build_app(settings, registry)
    async with app.lifespan():
        address = f"127.0.0.1:{app.grpc_port}"
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            register(model_files["iris"], "iris", aliases=("production",))
            await wait_for(http, "/v2/models/iris/ready")
            client = triton_aio.InferenceServerClient(address)
            try:
                yield Stack(http, client, address)
            finally:
                await client.close()


def iris_inputs(rows: np.ndarray = IRIS_ROWS) -> list[triton.InferInput]:
    infer_input = triton.InferInput("X", list(rows.shape), "FP32")
    infer_input.set_data_from_numpy(rows)
    return [infer_input]


async def rest_outputs(http: httpx.AsyncClient, rows: np.ndarray) -> dict[str, np.ndarray]:
    body = {"inputs": [{"name": "X", "datatype": "FP32", "shape": list(rows.shape), "data": rows.tolist()}]}
    response = await http.post("/v2/models/iris/infer", json=body)
    assert response.status_code == 200, response.text
    return {o["name"]: np.asarray(o["data"]).reshape(o["shape"]) for o in response.json()["outputs"]}


async def test_health_and_server_metadata(stack: Stack) -> None:
    assert await stack.grpc.is_server_live()
    assert await stack.grpc.is_server_ready()
    metadata = await stack.grpc.get_server_metadata(as_json=True)
    assert metadata["name"] == "modelport"
    assert metadata["version"]
    assert metadata["extensions"] == [
        "binary_tensor_data",
        "classification",
        "statistics",
        "model_repository",
    ]


async def test_model_metadata_matches_rest(stack: Stack) -> None:
    rest = (await stack.http.get("/v2/models/iris")).json()
    metadata = await stack.grpc.get_model_metadata("iris", as_json=True)
    # as_json renders int64 shapes as strings (proto3 JSON); compare them as ints.
    for tensor in (*metadata["inputs"], *metadata["outputs"]):
        tensor["shape"] = [int(d) for d in tensor["shape"]]
    assert metadata == rest
    message = await stack.grpc.get_model_metadata("iris", model_version="production")
    assert message.name == "iris" and list(message.versions) == ["1"]
    assert message.platform == "onnxruntime_onnx"
    assert [(t.name, t.datatype, list(t.shape)) for t in message.inputs] == [("X", "FP32", [-1, 4])]


async def test_model_readiness(stack: Stack) -> None:
    for version in ("", "1", "production"):
        assert await stack.grpc.is_model_ready("iris", model_version=version)
    assert not await stack.grpc.is_model_ready("iris", model_version="7")
    assert not await stack.grpc.is_model_ready("iris", model_version="staging")
    with pytest.raises(InferenceServerException) as error:
        await stack.grpc.is_model_ready("no-such-model")
    assert error.value.status() == "StatusCode.NOT_FOUND"


@pytest.mark.parametrize("version", ["", "1", "production"], ids=["default", "number", "alias"])
async def test_infer_matches_rest(stack: Stack, version: str) -> None:
    want = await rest_outputs(stack.http, IRIS_ROWS)
    result = await stack.grpc.infer("iris", iris_inputs(), model_version=version, request_id="req-9")
    response = result.get_response()
    assert response.model_name == "iris" and response.model_version == "1" and response.id == "req-9"
    assert [o.name for o in response.outputs] == list(want)
    label, probabilities = result.as_numpy("label"), result.as_numpy("probabilities")
    assert label is not None and probabilities is not None
    np.testing.assert_array_equal(label, want["label"])
    assert label.tolist() == [0, 2]
    np.testing.assert_allclose(probabilities, want["probabilities"], rtol=1e-6)


async def test_requested_outputs_select_and_order(stack: Stack) -> None:
    wanted = [triton.InferRequestedOutput("probabilities"), triton.InferRequestedOutput("label")]
    result = await stack.grpc.infer("iris", iris_inputs(), outputs=wanted)
    assert [o.name for o in result.get_response().outputs] == ["probabilities", "label"]
    only = await stack.grpc.infer("iris", iris_inputs(), outputs=[triton.InferRequestedOutput("label")])
    assert [o.name for o in only.get_response().outputs] == ["label"]


async def expect_error(call: object, status: str, match: str) -> None:
    with pytest.raises(InferenceServerException) as error:
        await call  # type: ignore[misc]
    assert error.value.status() == status
    assert match in (error.value.message() or "")


async def test_errors_map_to_status_codes_and_the_channel_survives(stack: Stack) -> None:
    client = stack.grpc
    await expect_error(client.infer("no-such-model", iris_inputs()), "StatusCode.NOT_FOUND", "no-such-model")
    await expect_error(client.infer("iris", iris_inputs(), model_version="9"), "StatusCode.NOT_FOUND", "9")
    as_int = triton.InferInput("X", [2, 4], "INT64")
    as_int.set_data_from_numpy(IRIS_ROWS.astype(np.int64))
    await expect_error(
        client.infer("iris", [as_int]), "StatusCode.INVALID_ARGUMENT", "must be FP32, got INT64"
    )
    narrow = iris_inputs(IRIS_ROWS[:, :3].copy())
    await expect_error(client.infer("iris", narrow), "StatusCode.INVALID_ARGUMENT", "takes shape [-1, 4]")
    lying = iris_inputs()[0]
    lying.set_shape([3, 4])  # 2 rows of data under a declared shape of 3
    await expect_error(client.infer("iris", [lying]), "StatusCode.INVALID_ARGUMENT", "needs 48 bytes")
    unknown_output = [triton.InferRequestedOutput("nope")]
    await expect_error(
        client.infer("iris", iris_inputs(), outputs=unknown_output), "StatusCode.INVALID_ARGUMENT", "'nope'"
    )
    result = await client.infer("iris", iris_inputs())
    assert result.as_numpy("label") is not None
    assert await client.is_server_live()


async def test_typed_contents_reach_the_model(stack: Stack) -> None:
    async with grpc.aio.insecure_channel(stack.address) as channel:
        stub = GRPCInferenceServiceStub(channel)
        request = pb.ModelInferRequest(model_name="iris", model_version="production", id="t")
        tensor = request.inputs.add(name="X", datatype="FP32", shape=IRIS_ROWS.shape)
        tensor.contents.fp32_contents.extend(IRIS_ROWS.reshape(-1).tolist())
        response = await stub.ModelInfer(request)
        assert response.id == "t" and response.model_version == "1"
        labels = dict(zip((o.name for o in response.outputs), response.raw_output_contents, strict=True))
        assert np.frombuffer(labels["label"], "<i8").tolist() == [0, 2]
        fp16 = pb.ModelInferRequest(model_name="iris")
        fp16.inputs.add(name="X", datatype="FP16", shape=[1]).contents.fp32_contents.append(1.0)
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.ModelInfer(fp16)
        assert error.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "FP16 has no typed contents field" in (error.value.details() or "")


class Exploding(InferenceServicer):
    @guarded
    async def ModelInfer(
        self, request: pb.ModelInferRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelInferResponse:
        raise RuntimeError("secret internals")


async def test_an_unexpected_error_is_internal_with_an_error_id_only(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    server = grpc.aio.server()
    add_GRPCInferenceServiceServicer_to_server(Exploding(None, None, None), server)  # type: ignore[arg-type]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await GRPCInferenceServiceStub(channel).ModelInfer(pb.ModelInferRequest(model_name="m"))
    finally:
        await server.stop(None)
    assert error.value.code() is grpc.StatusCode.INTERNAL
    details = error.value.details() or ""
    assert "error id" in details and "secret" not in details
    assert "secret internals" in caplog.text


async def test_endpoints_over_grpc_route_by_key_and_name_who_answered(stack: Stack) -> None:
    created = await stack.http.post(
        "/api/v1/endpoints", json={"name": "flowers", "routes": [{"target": "iris@production", "weight": 1}]}
    )
    assert created.status_code == 201, created.text
    await wait_for(stack.http, "/v2/models/flowers/ready")
    result = await stack.grpc.infer("flowers", iris_inputs(), headers={"x-modelport-route-key": "user-1"})
    response = result.get_response(as_json=True)
    assert response["model_name"] == "flowers"
    assert response["parameters"]["served_by"]["string_param"] == "iris:1"


# --- ModelStreamInfer, with tritonclient.grpc's streaming API (start_stream, async_stream_infer) ---

Outcome = tuple[InferResult | None, InferenceServerException | None]


class Callbacks:
    """tritonclient calls back on its own thread: hand each outcome to the test's event loop."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._outcomes: asyncio.Queue[Outcome] = asyncio.Queue()

    def __call__(self, result: InferResult | None, error: InferenceServerException | None) -> None:
        self._loop.call_soon_threadsafe(self._outcomes.put_nowait, (result, error))

    async def take(self, count: int) -> list[Outcome]:
        return [await self._outcomes.get() for _ in range(count)]


def rows(number: int) -> np.ndarray:
    return np.asarray([[4.5 + number * 0.1, 3.0, 1.0 + number * 0.25, 0.1 + number * 0.1]], dtype=np.float32)


async def test_many_requests_on_one_stream_match_unary_answers_and_a_failure_stays_alone(
    stack: Stack,
) -> None:
    client = triton.InferenceServerClient(stack.address)
    callbacks = Callbacks()
    client.start_stream(callbacks)
    try:
        for number in range(16):
            client.async_stream_infer("iris", iris_inputs(rows(number)), request_id=f"r{number}")
            if number == 7:  # a request the model cannot take, in the middle of the stream
                bad = triton.InferInput("X", [1, 3], "FP32")
                bad.set_data_from_numpy(np.zeros((1, 3), dtype=np.float32))
                client.async_stream_infer("iris", [bad], request_id="bad")
        outcomes = await callbacks.take(17)
        errors = [error for _, error in outcomes if error is not None]
        assert len(errors) == 1 and "shape" in errors[0].message()
        answers = {result.get_response().id: result for result, _ in outcomes if result is not None}
        assert sorted(answers) == sorted(f"r{number}" for number in range(16))
        for number in range(16):
            unary = await stack.grpc.infer("iris", iris_inputs(rows(number)))
            streamed = answers[f"r{number}"]
            np.testing.assert_array_equal(streamed.as_numpy("label"), unary.as_numpy("label"))
            # rows of concurrent requests may have run as one batch: float rounding may differ
            np.testing.assert_allclose(
                streamed.as_numpy("probabilities"), unary.as_numpy("probabilities"), rtol=1e-5
            )
        assert answers["r0"].get_response().parameters["served_by"].string_param == "iris:1"

        client.async_stream_infer("iris", iris_inputs(rows(0)), model_version="9", request_id="gone")
        client.async_stream_infer("iris", iris_inputs(rows(1)), request_id="after")  # the stream goes on
        late = await callbacks.take(2)
        assert {result.get_response().id for result, _ in late if result is not None} == {"after"}
        assert [str(error) for _, error in late if error is not None] == [
            "version 9 of model 'iris' is not served here"
        ]
    finally:
        await asyncio.to_thread(client.stop_stream)  # waits for the server to end the stream
        client.close()
    # tritonclient shows a failure's message only; the answer itself carries the request's id
    async with grpc.aio.insecure_channel(stack.address) as channel:
        stub = GRPCInferenceServiceStub(channel)  # type: ignore[no-untyped-call]
        request = pb.ModelInferRequest(model_name="nope", model_version="2", id="q-1")
        failed = [answer async for answer in stub.ModelStreamInfer(iter([request]))]
    assert len(failed) == 1
    assert "nope" in failed[0].error_message
    assert (failed[0].infer_response.id, failed[0].infer_response.model_name) == ("q-1", "nope")
    assert failed[0].infer_response.model_version == "2"
    metrics = (await stack.http.get("/metrics")).text
    assert 'protocol="grpc-stream"' in metrics
