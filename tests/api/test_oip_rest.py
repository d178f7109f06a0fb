"""The Open Inference Protocol REST API, in process, over real models."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.api.conftest import ON_BOTH_BACKENDS, wait_for

IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


def iris_request(rows: list[list[float]] = IRIS_ROWS, **extra: object) -> dict[str, object]:
    return {"inputs": [{"name": "X", "datatype": "FP32", "shape": [len(rows), 4], "data": rows}], **extra}


@pytest.fixture
async def iris(register, client: httpx.AsyncClient, model_files: dict[str, Path]) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    register(model_files["iris"], "iris", aliases=("production",))
    await wait_for(client, "/v2/models/iris/ready")
    return client


async def test_health_and_server_metadata(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v2/health/live")).status_code == 200
    await wait_for(client, "/v2/health/ready")
    metadata = (await client.get("/v2")).json()
    assert metadata["name"] == "modelport"
    assert "binary_tensor_data" in metadata["extensions"]


async def test_model_metadata_describes_the_signature(iris: httpx.AsyncClient) -> None:
    metadata = (await iris.get("/v2/models/iris")).json()
    assert metadata["name"] == "iris"
    assert metadata["versions"] == ["1"]
    assert metadata["platform"] == "onnxruntime_onnx"
    assert metadata["inputs"] == [{"name": "X", "datatype": "FP32", "shape": [-1, 4]}]
    assert {o["name"] for o in metadata["outputs"]} == {"label", "probabilities"}


@ON_BOTH_BACKENDS
async def test_infer_json_by_name_version_and_alias(iris: httpx.AsyncClient) -> None:
    for path in ("/v2/models/iris", "/v2/models/iris/versions/1", "/v2/models/iris/versions/production"):
        response = await iris.post(path + "/infer", json=iris_request(id="req-7"))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["id"] == "req-7"
        assert body["model_name"] == "iris" and body["model_version"] == "1"
        outputs = {o["name"]: o for o in body["outputs"]}
        assert outputs["label"]["data"] == [0, 2]
        assert outputs["probabilities"]["shape"] == [2, 3]


async def test_named_outputs_return_exactly_those(iris: httpx.AsyncClient) -> None:
    body = (
        await iris.post("/v2/models/iris/infer", json=iris_request(outputs=[{"name": "probabilities"}]))
    ).json()
    assert [o["name"] for o in body["outputs"]] == ["probabilities"]


async def test_binary_request_and_response(iris: httpx.AsyncClient) -> None:
    rows = np.asarray(IRIS_ROWS, dtype=np.float32)
    header = (
        b'{"inputs":[{"name":"X","datatype":"FP32","shape":[2,4],"parameters":{"binary_data_size":32}}],'
        b'"outputs":[{"name":"probabilities","parameters":{"binary_data":true}}]}'
    )
    response = await iris.post(
        "/v2/models/iris/infer",
        content=header + rows.tobytes(),
        headers={
            "Inference-Header-Content-Length": str(len(header)),
            "Content-Type": "application/octet-stream",
        },
    )
    assert response.status_code == 200, response.text
    json_length = int(response.headers["inference-header-content-length"])
    probabilities = np.frombuffer(response.content[json_length:], dtype=np.float32).reshape(2, 3)
    assert probabilities.argmax(axis=1).tolist() == [0, 2]
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


async def test_sklearn_and_xgboost_models_serve(
    register, client: httpx.AsyncClient, model_files: dict[str, Path]
) -> None:  # type: ignore[no-untyped-def]
    register(model_files["cancer"], "cancer")
    register(model_files["diabetes"], "diabetes")
    await wait_for(client, "/v2/models/cancer/ready")
    await wait_for(client, "/v2/models/diabetes/ready")
    cancer = (await client.get("/v2/models/cancer")).json()["inputs"][0]
    rows = np.random.default_rng(0).random((3, 30)).tolist()
    response = await client.post(
        "/v2/models/cancer/infer",
        json={
            "inputs": [
                {"name": cancer["name"], "datatype": cancer["datatype"], "shape": [3, 30], "data": rows}
            ]
        },
    )
    assert response.status_code == 200, response.text
    diabetes = (await client.get("/v2/models/diabetes")).json()["inputs"][0]
    response = await client.post(
        "/v2/models/diabetes/infer",
        json={
            "inputs": [
                {
                    "name": diabetes["name"],
                    "datatype": diabetes["datatype"],
                    "shape": [1, 10],
                    "data": [0.01] * 10,
                }
            ]
        },
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["outputs"][0]["data"]) == 1


@ON_BOTH_BACKENDS
async def test_a_new_version_is_served_without_restart(
    register, iris: httpx.AsyncClient, model_files: dict[str, Path]
) -> None:  # type: ignore[no-untyped-def]
    register(model_files["iris-v2"], "iris")
    await wait_for(iris, "/v2/models/iris/versions/2/ready")
    body = (await iris.post("/v2/models/iris/versions/2/infer", json=iris_request())).json()
    assert body["model_version"] == "2"
    # production still points at version 1, and it is the default
    assert (await iris.post("/v2/models/iris/infer", json=iris_request())).json()["model_version"] == "1"


async def test_statistics_extension_and_prometheus_metrics_count_what_was_served(
    iris: httpx.AsyncClient,
) -> None:
    for _ in range(3):
        assert (await iris.post("/v2/models/iris/infer", json=iris_request())).status_code == 200
    bad = await iris.post(
        "/v2/models/iris/infer",
        json={"inputs": [{"name": "X", "datatype": "FP64", "shape": [1, 4], "data": [1, 2, 3, 4]}]},
    )
    assert bad.status_code == 400
    assert "statistics" in (await iris.get("/v2")).json()["extensions"]
    stats = (await iris.get("/v2/models/iris/stats")).json()["model_stats"]
    assert [(s["name"], s["version"]) for s in stats] == [("iris", "1")]
    inference = stats[0]["inference_stats"]
    assert inference["success"]["count"] == 3 and inference["fail"]["count"] == 1
    assert stats[0]["inference_count"] == 6  # rows
    assert inference["compute_infer"]["count"] == 3 and inference["compute_infer"]["ns"] > 0
    assert (await iris.get("/v2/models/stats")).json()["model_stats"] == stats
    metrics = (await iris.get("/metrics")).text
    assert 'modelport_requests_total{model="iris",protocol="rest",version="1"} 4.0' in metrics  # failures too
    assert 'modelport_request_failures_total{kind="INVALID_INPUT",model="iris",version="1"} 1.0' in metrics
    assert 'modelport_request_duration_seconds_count{model="iris",version="1"} 3.0' in metrics
    assert "modelport_loaded_versions 1.0" in metrics


async def test_requests_that_fail_give_their_version_back(iris: httpx.AsyncClient) -> None:
    """A request counted in on a version is counted out whether it fails decoding, validation or not."""
    bad_json = await iris.post("/v2/models/iris/infer", content=b'{"inputs": [')
    wrong_input = await iris.post(
        "/v2/models/iris/infer", json={"inputs": [{**iris_request()["inputs"][0], "name": "Z"}]}
    )  # type: ignore[index]
    good = await iris.post("/v2/models/iris/infer", json=iris_request())
    assert (bad_json.status_code, wrong_input.status_code, good.status_code) == (400, 400, 200)
    loaded = (await iris.get("/api/v1/status")).json()["loaded"]
    assert [v["in_flight"] for v in loaded if v["target"] == "iris:1"] == [0]
