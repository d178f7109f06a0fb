"""The Open Inference Protocol extensions: the model repository (index, load, unload) over REST
and gRPC, statistics over gRPC, and classification; the real app stack in process (its gRPC server on
a free port), called with httpx and tritonclient.grpc.aio, with the management token set."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton
import tritonclient.grpc.aio as triton_aio
from google.protobuf import json_format
from tritonclient.utils import InferenceServerException

from modelport.core.endpoints import EndpointConfig, RouteSpec
from modelport.core.settings import Settings
from modelport.core.targets import Target
from modelport.core.tensors import Datatype, Signature, TensorSpec
from modelport.registry.catalog import Registry
from modelport.server.app import build_app
from tests.api.conftest import quick_settings, wait_for

TOKEN = "s3cret-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}
ROWS = np.asarray([[5.1, 3.5, 1.4, 0.2]], dtype=np.float32)
IRIS_SIGNATURE = Signature(
    inputs=(TensorSpec("X", Datatype.FP32, (-1, 4)),),
    outputs=(
        TensorSpec("label", Datatype.INT64, (-1,)),
        TensorSpec("probabilities", Datatype.FP32, (-1, 3), labels=("setosa", "versicolor", "virginica")),
    ),
)
"""The model's own signature with class labels recorded at registration (its ONNX graph has none)."""
INFER = {"inputs": [{"name": "X", "datatype": "FP32", "shape": [1, 4], "data": ROWS.tolist()}]}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return quick_settings(tmp_path, auth={"token": TOKEN})


@dataclass
class Stack:
    http: httpx.AsyncClient
    grpc: triton_aio.InferenceServerClient


@pytest.fixture
async def stack(  # type: ignore[no-untyped-def]
    settings: Settings, registry: Registry, register, model_files: dict[str, Path]
) -> AsyncIterator[Stack]:
    app = build_app(settings, registry)
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            register(model_files["iris"], "iris", aliases=("production",), signature=IRIS_SIGNATURE)
            await wait_for(http, "/v2/models/iris/ready")
            client = triton_aio.InferenceServerClient(f"127.0.0.1:{app.grpc_port}")
            try:
                yield Stack(http, client)
            finally:
                await client.close()


async def index(http: httpx.AsyncClient, **body: object) -> list[dict[str, str]]:
    response = await http.post("/v2/repository/index", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    return list(response.json())


async def test_rest_index_unload_load_and_refusals(
    stack: Stack, registry: Registry, settings: Settings
) -> None:
    http = stack.http
    ready = [{"name": "iris", "version": "1", "state": "READY", "reason": ""}]
    assert await index(http) == ready
    before = registry.get_model("iris")

    unloaded = await http.post("/v2/repository/models/iris/unload", headers=AUTH)
    assert (unloaded.status_code, unloaded.json()) == (200, {})
    assert await index(http) == [
        {"name": "iris", "version": "", "state": "UNAVAILABLE", "reason": "unloaded"}
    ]
    assert await index(http, ready=True) == []
    for path in ("/v2/models/iris/infer", "/v2/models/iris/versions/production/infer"):
        refused = await http.post(path, json=INFER)
        assert refused.status_code == 404
        assert refused.json() == {"error": "model 'iris' is unloaded; load it to serve it again"}
    assert (await http.get("/v2/models/iris/ready")).status_code == 503
    listed = (await http.get("/api/v1/models", headers=AUTH)).json()
    assert [(m["name"], m["served"]) for m in listed] == [("iris", False)]
    after = registry.get_model("iris")
    assert (after.served, after.latest_version, after.aliases, after.policy) == (
        False,
        before.latest_version,
        before.aliases,
        before.policy,
    )

    # the flag is stored: another server on the same registry (a replica) agrees, then follows the load
    replica = build_app(settings, registry)
    async with replica.lifespan():
        transport = httpx.ASGITransport(app=replica)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as other:
            await wait_for(other, "/v2/health/ready")
            assert (await other.post("/v2/models/iris/infer", json=INFER)).status_code == 404

            loaded = await http.post("/v2/repository/models/iris/load", content=b"", headers=AUTH)
            assert (loaded.status_code, loaded.json()) == (200, {})  # once this server serves it again
            assert (await http.post("/v2/models/iris/infer", json=INFER)).status_code == 200
            assert await index(http, ready=True) == ready
            assert registry.get_model("iris").served
            await wait_for(other, "/v2/models/iris/ready")
            assert (await other.post("/v2/models/iris/infer", json=INFER)).status_code == 200

    # refusals, in the protocol's error shape
    bad = [
        ("/v2/repository/index", None, b"{}", 401, "a valid bearer token is required"),
        ("/v2/repository/models/iris/unload", {"authorization": "Bearer no"}, b"", 401, "bearer token"),
        ("/v2/repository/models/nope/load", AUTH, b"", 404, "'nope'"),
        ("/v2/repository/index", AUTH, b'{"ready": "yes"}', 400, "'ready' must be true or false"),
        ("/v2/repository/index", AUTH, b"[1", 400, "not valid JSON"),
        ("/v2/repository/models/iris/load", AUTH, b'{"parameters": {"config": "{}"}}', 400, "'config'"),
        ("/v2/repository/models/iris/load", AUTH, b'{"parameters": []}', 400, "'parameters' must be"),
    ]
    for path, headers, body, status, words in bad:
        response = await http.post(path, content=body, headers=headers)
        assert response.status_code == status, (path, response.text)
        assert words in response.json()["error"], (path, response.text)
    twice = [("authorization", f"Bearer {TOKEN}"), ("authorization", f"Bearer {TOKEN}")]
    assert (await http.post("/v2/repository/index", headers=twice)).status_code == 401
    assert (await http.get("/v2/repository/index", headers=AUTH)).status_code == 405
    assert (await http.post("/v2/models/iris/infer", json=INFER)).status_code == 200  # nothing changed

    # an endpoint is listed, cannot be unloaded, and keeps the versions of an unloaded model it routes to
    registry.create_endpoint("ep", EndpointConfig((RouteSpec(Target.parse("iris@production"), 1),)))
    await wait_for(http, "/v2/models/ep/ready")
    assert {"name": "ep", "version": "", "state": "READY", "reason": ""} in await index(http)
    refused = await http.post("/v2/repository/models/ep/unload", headers=AUTH)
    assert (refused.status_code, refused.json()) == (
        400,
        {"error": "'ep' is an endpoint; load and unload apply to models"},
    )
    assert (await http.post("/v2/repository/models/iris/unload", headers=AUTH)).status_code == 200
    assert (await http.post("/v2/models/iris/infer", json=INFER)).status_code == 404
    assert (await http.post("/v2/models/ep/infer", json=INFER)).status_code == 200


async def test_grpc_repository_rpcs_statistics_and_extensions(stack: Stack) -> None:
    client = stack.grpc
    index = await client.get_model_repository_index(headers=AUTH, as_json=True)
    assert index == {"models": [{"name": "iris", "version": "1", "state": "READY"}]}
    await client.unload_model("iris", headers=AUTH)
    assert not await client.is_model_ready("iris", headers=AUTH)
    index = await client.get_model_repository_index(headers=AUTH, as_json=True)
    assert index == {"models": [{"name": "iris", "state": "UNAVAILABLE", "reason": "unloaded"}]}
    assert (await stack.http.post("/v2/repository/index", json={"ready": True}, headers=AUTH)).json() == []
    await client.load_model("iris", headers=AUTH)
    assert await client.is_model_ready("iris", headers=AUTH)

    refusals = [
        (client.get_model_repository_index(), "StatusCode.UNAUTHENTICATED", "bearer token"),
        (
            client.unload_model("iris", headers={"authorization": "Bearer no"}),
            "StatusCode.UNAUTHENTICATED",
            "",
        ),
        (client.load_model("nope", headers=AUTH), "StatusCode.NOT_FOUND", "'nope'"),
        (client.load_model("iris", headers=AUTH, config="{}"), "StatusCode.INVALID_ARGUMENT", "'config'"),
    ]
    for call, status, words in refusals:
        with pytest.raises(InferenceServerException) as error:
            await call
        assert error.value.status() == status
        assert words in (error.value.message() or "")
    assert await client.is_model_ready("iris", headers=AUTH)

    # statistics: the REST numbers; every extension advertised on both
    infer_input = triton.InferInput("X", [1, 4], "FP32")
    infer_input.set_data_from_numpy(ROWS)
    await stack.grpc.infer("iris", [infer_input])
    assert (await stack.http.post("/v2/models/iris/infer", json=INFER)).status_code == 200
    rest = (await stack.http.get("/v2/models/stats")).json()
    message = await stack.grpc.get_inference_statistics()
    assert rest["model_stats"][0]["inference_stats"]["success"]["count"] == 2
    # proto3 JSON writes 64-bit integers as strings: compare as numbers
    grpc_stats = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    for entry in grpc_stats["model_stats"]:  # fields of Triton's message that modelport does not send
        assert (entry.pop("memory_usage"), entry.pop("response_stats")) == ([], {})
    assert _numbers(grpc_stats) == _numbers(rest)
    one = await stack.grpc.get_inference_statistics("iris", "production")
    assert [(s.name, s.version) for s in one.model_stats] == [("iris", "1")]
    with pytest.raises(InferenceServerException) as error:
        await stack.grpc.get_inference_statistics("nope")
    assert error.value.status() == "StatusCode.NOT_FOUND"

    expected = ["binary_tensor_data", "classification", "statistics", "model_repository"]
    assert (await stack.http.get("/v2")).json()["extensions"] == expected
    assert (await stack.grpc.get_server_metadata(as_json=True))["extensions"] == expected


async def test_a_load_that_fails_says_why(stack: Stack, registry: Registry) -> None:
    await stack.grpc.unload_model("iris", headers=AUTH)
    version = registry.get_version("iris", 1)
    stored = registry.artifacts.path(version.digest, version.filename)  # type: ignore[attr-defined]  # local store
    stored.chmod(0o600)
    stored.write_bytes(b"damaged on disk")
    with pytest.raises(InferenceServerException) as error:
        await stack.grpc.load_model("iris", headers=AUTH)
    assert error.value.status() == "StatusCode.UNAVAILABLE"
    assert "model 'iris' could not be loaded: version 1: artifact" in (error.value.message() or "")
    (entry,) = (await stack.http.post("/v2/repository/index", headers=AUTH)).json()
    assert (entry["version"], entry["state"]) == ("1", "UNAVAILABLE") and "corrupt" in entry["reason"]


def _numbers(value: object) -> object:
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


async def test_classification_over_rest_and_grpc(stack: Stack) -> None:
    rows = np.asarray([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32)
    body = {"inputs": [{"name": "X", "datatype": "FP32", "shape": [2, 4], "data": rows.tolist()}]}
    plain = (await stack.http.post("/v2/models/iris/infer", json=body)).json()
    scores = np.asarray(next(o for o in plain["outputs"] if o["name"] == "probabilities")["data"]).reshape(
        2, 3
    )
    labels = IRIS_SIGNATURE.outputs[1].labels
    want = [[f"{row[i]:f}:{i}:{labels[i]}" for i in np.argsort(-row)[:2]] for row in scores]
    assert [w[0].split(":")[1] for w in want] == ["0", "2"]  # setosa, then virginica: the best first

    asked = {**body, "outputs": [{"name": "probabilities", "parameters": {"classification": 2}}]}
    rest = (await stack.http.post("/v2/models/iris/infer", json=asked)).json()["outputs"]
    assert rest == [
        {
            "name": "probabilities",
            "datatype": "BYTES",
            "shape": [2, 2],
            "data": [v for row in want for v in row],
        }
    ]

    infer_input = triton.InferInput("X", [2, 4], "FP32")
    infer_input.set_data_from_numpy(rows)
    result = await stack.grpc.infer(
        "iris", [infer_input], outputs=[triton.InferRequestedOutput("probabilities", class_count=2)]
    )
    top = result.as_numpy("probabilities")
    assert top is not None and [[v.decode() for v in row] for row in top] == want

    bad = [
        ({"name": "probabilities", "parameters": {"classification": 0}}, "must be an integer >= 1"),
        ({"name": "probabilities", "parameters": {"classification": "2"}}, "must be an integer >= 1"),
        ({"name": "label", "parameters": {"classification": 1}}, "'label' holds no class scores"),
    ]
    for output, words in bad:
        response = await stack.http.post("/v2/models/iris/infer", json={**body, "outputs": [output]})
        assert response.status_code == 400 and words in response.json()["error"], response.text
    with pytest.raises(InferenceServerException) as error:
        await stack.grpc.infer(
            "iris", [infer_input], outputs=[triton.InferRequestedOutput("label", class_count=1)]
        )
    assert error.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "it applies to ['probabilities']" in (error.value.message() or "")
