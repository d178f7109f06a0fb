"""Stock clients against a real server subprocess: NVIDIA's tritonclient (Open Inference Protocol)
and KServe's Python SDK (its v1 REST client), sharing the one server."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.http as triton

from tests.e2e.conftest import IRIS_LABELS, IRIS_ROWS, Server, register, running_server


@pytest.fixture(scope="module")
def server(home: Path, log_dir: Path, model_files: dict[str, Path]) -> Iterator[Server]:
    register(home, model_files["iris"], "iris", "--alias", "production")
    register(home, model_files["diabetes"], "diabetes")
    register(home, model_files["cancer"], "cancer")
    with running_server(home, log_dir) as server:
        for model in ("iris", "diabetes", "cancer"):
            server.wait_until(f"/v2/models/{model}/ready")
        yield server


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[triton.InferenceServerClient]:
    client = triton.InferenceServerClient(server.address, network_timeout=30)
    yield client
    client.close()


@pytest.fixture(scope="module")
def iris_probabilities() -> np.ndarray:
    """What scikit-learn itself predicts for IRIS_ROWS, trained as tests.models.iris_onnx trains."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    model = LogisticRegression(C=1.0, max_iter=500).fit(x.astype(np.float32), y)
    return np.asarray(model.predict_proba(np.asarray(IRIS_ROWS, dtype=np.float32)))


def iris_input(binary: bool) -> triton.InferInput:
    rows = np.asarray(IRIS_ROWS, dtype=np.float32)
    infer_input = triton.InferInput("X", list(rows.shape), "FP32")
    infer_input.set_data_from_numpy(rows, binary_data=binary)
    return infer_input


def test_server_health_and_metadata(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    metadata = client.get_server_metadata()
    assert metadata["name"] == "modelport"
    assert "binary_tensor_data" in metadata["extensions"]


def test_model_metadata_and_readiness(client: triton.InferenceServerClient) -> None:
    metadata = client.get_model_metadata("iris")
    assert metadata["name"] == "iris"
    assert metadata["versions"] == ["1"]
    assert metadata["inputs"] == [{"name": "X", "datatype": "FP32", "shape": [-1, 4]}]
    assert {o["name"] for o in metadata["outputs"]} == {"label", "probabilities"}
    for version in ("1", "production"):
        by_version = client.get_model_metadata("iris", model_version=version)
        assert by_version["name"] == "iris"
        assert by_version["versions"] == ["1"]
        assert by_version["inputs"] == metadata["inputs"]
        assert client.is_model_ready("iris", model_version=version)
    assert client.is_model_ready("iris")
    assert not client.is_model_ready("iris", model_version="7")
    assert not client.is_model_ready("no-such-model")


@pytest.mark.parametrize("binary_input", [False, True], ids=["json-in", "binary-in"])
@pytest.mark.parametrize("binary_output", [False, True], ids=["json-out", "binary-out"])
@pytest.mark.parametrize("version", ["", "1", "production"], ids=["default", "number", "alias"])
def test_iris_infer_matches_sklearn(
    client: triton.InferenceServerClient,
    iris_probabilities: np.ndarray,
    binary_input: bool,
    binary_output: bool,
    version: str,
) -> None:
    outputs = [
        triton.InferRequestedOutput("label", binary_data=binary_output),
        triton.InferRequestedOutput("probabilities", binary_data=binary_output),
    ]
    result = client.infer(
        "iris", [iris_input(binary_input)], model_version=version, outputs=outputs, request_id="req-1"
    )
    response = result.get_response()
    assert response["model_name"] == "iris"
    assert response["model_version"] == "1"
    assert response["id"] == "req-1"
    assert result.as_numpy("label").tolist() == IRIS_LABELS
    probabilities = result.as_numpy("probabilities")
    assert probabilities.dtype == np.float32
    assert probabilities.shape == (3, 3)
    np.testing.assert_allclose(probabilities, iris_probabilities, atol=1e-4)


def test_only_the_requested_output_comes_back(client: triton.InferenceServerClient) -> None:
    result = client.infer(
        "iris", [iris_input(True)], outputs=[triton.InferRequestedOutput("label", binary_data=True)]
    )
    assert [o["name"] for o in result.get_response()["outputs"]] == ["label"]
    assert result.as_numpy("probabilities") is None
    assert result.as_numpy("label").tolist() == IRIS_LABELS


def test_all_outputs_without_asking(client: triton.InferenceServerClient) -> None:
    result = client.infer("iris", [iris_input(False)])
    assert {o["name"] for o in result.get_response()["outputs"]} == {"label", "probabilities"}
    assert result.as_numpy("label").tolist() == IRIS_LABELS


def test_unknown_model_is_an_inference_error(client: triton.InferenceServerClient) -> None:
    with pytest.raises(triton.InferenceServerException, match="no-such-model"):
        client.infer("no-such-model", [iris_input(False)])


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_xgboost_matches_its_booster(
    client: triton.InferenceServerClient, model_files: dict[str, Path], binary: bool
) -> None:
    import xgboost
    from sklearn.datasets import load_diabetes

    metadata = client.get_model_metadata("diabetes")
    assert metadata["platform"] == "xgboost"
    (spec,) = metadata["inputs"]
    (output,) = metadata["outputs"]
    rows = load_diabetes(return_X_y=True)[0][:5].astype(np.float32)
    infer_input = triton.InferInput(spec["name"], list(rows.shape), spec["datatype"])
    infer_input.set_data_from_numpy(rows, binary_data=binary)
    result = client.infer(
        "diabetes", [infer_input], outputs=[triton.InferRequestedOutput(output["name"], binary_data=binary)]
    )
    booster = xgboost.Booster()
    booster.load_model(str(model_files["diabetes"]))
    expected = booster.predict(xgboost.DMatrix(rows))
    np.testing.assert_allclose(result.as_numpy(output["name"]).reshape(-1), expected, rtol=1e-5)


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_skops_matches_its_estimator(
    client: triton.InferenceServerClient, model_files: dict[str, Path], binary: bool
) -> None:
    import skops.io
    from sklearn.datasets import load_breast_cancer

    metadata = client.get_model_metadata("cancer")
    assert metadata["platform"] == "sklearn"
    (spec,) = metadata["inputs"]
    x = load_breast_cancer(return_X_y=True)[0]
    rows = (x / x.max(axis=0))[:8].astype(np.float64)
    infer_input = triton.InferInput(spec["name"], list(rows.shape), spec["datatype"])
    infer_input.set_data_from_numpy(rows, binary_data=binary)
    outputs = [
        triton.InferRequestedOutput("label", binary_data=binary),
        triton.InferRequestedOutput("probabilities", binary_data=binary),
    ]
    result = client.infer("cancer", [infer_input], outputs=outputs)
    path = model_files["cancer"]
    estimator = skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))
    assert result.as_numpy("label").tolist() == estimator.predict(rows).tolist()
    np.testing.assert_allclose(result.as_numpy("probabilities"), estimator.predict_proba(rows), rtol=1e-6)


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_classification_by_class_count(
    client: triton.InferenceServerClient, model_files: dict[str, Path], binary: bool
) -> None:
    """tritonclient.http's class_count: each row's best class as score:index:label, as the estimator says."""
    import skops.io
    from sklearn.datasets import load_breast_cancer

    x = load_breast_cancer(return_X_y=True)[0]
    rows = (x / x.max(axis=0))[:4].astype(np.float64)
    infer_input = triton.InferInput(client.get_model_metadata("cancer")["inputs"][0]["name"], [4, 30], "FP64")
    infer_input.set_data_from_numpy(rows)
    asked = [triton.InferRequestedOutput("probabilities", binary_data=binary, class_count=1)]
    top = client.infer("cancer", [infer_input], outputs=asked).as_numpy("probabilities")
    path = model_files["cancer"]
    estimator = skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))
    scores = estimator.predict_proba(rows)
    want = [[f"{row.max():f}:{row.argmax()}:{estimator.classes_[row.argmax()]}"] for row in scores]
    assert top is not None  # binary BYTES come back as bytes, JSON ones as str
    assert [[v.decode() if isinstance(v, bytes) else v for v in row] for row in top] == want


def test_statistics_read_by_tritonclient(client: triton.InferenceServerClient) -> None:
    before = client.get_inference_statistics("cancer")["model_stats"][0]["inference_stats"]["success"][
        "count"
    ]
    (spec,) = client.get_model_metadata("cancer")["inputs"]
    rows = np.zeros((3, 30), dtype=np.float64)
    for _ in range(2):
        x = triton.InferInput(spec["name"], list(rows.shape), spec["datatype"])
        x.set_data_from_numpy(rows)
        client.infer("cancer", [x])
    with pytest.raises(triton.InferenceServerException):
        client.get_inference_statistics("no-such-model")
    stats = client.get_inference_statistics("cancer")["model_stats"]
    assert [(s["name"], s["version"]) for s in stats] == [("cancer", "1")]
    inference = stats[0]["inference_stats"]
    assert inference["success"]["count"] == before + 2
    for stage in ("queue", "compute_input", "compute_infer", "compute_output"):
        assert inference[stage]["count"] >= 2 and inference[stage]["ns"] > 0
    everything = client.get_inference_statistics()["model_stats"]
    assert {s["name"] for s in everything} >= {"iris", "diabetes", "cancer"}


KSERVE_CALLS = """
import asyncio, json, sys

import httpx
import kserve

url, rows, labels = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])


async def calls():
    client = kserve.InferenceRESTClient(kserve.RESTConfig(protocol="v1", timeout=30))
    try:
        assert await client.is_server_live(url)
        assert await client.is_model_ready(url, "iris")
        answer = await client.infer(url, {"instances": rows}, model_name="iris")
        assert [row["label"] for row in answer["predictions"]] == labels, answer
        answer = await client.infer(url, {"inputs": {"X": rows}}, model_name="iris")
        assert answer["outputs"]["label"] == labels, answer
        for call, words in (
            (client.infer(url, {"instances": rows}, model_name="nope"), "model 'nope' is not served here"),
            # iris was registered without reference data: its explanation is refused, saying why
            (client.explain(url, "iris", {"instances": rows}), "reference data"),
        ):
            try:
                await call
            except httpx.HTTPStatusError as error:
                assert words in str(error), str(error)
            else:
                raise AssertionError("not refused: " + words)
    finally:
        await client.close()


asyncio.run(calls())
print("ok")
"""


def test_kserve_sdk_v1_rest_client(server: Server) -> None:
    """KServe's SDK speaks protocol v1 to the same port: liveness, readiness, predict, explain, clean
    errors.

    The SDK is not in the test extra: it declares pandas < 3 (docs/protocols.md); `make test`
    installs it without its dependencies. It runs in a process of its own: its generated protobuf
    module registers the same ``inference.*`` names as tritonclient's in protobuf's default pool, so
    the two cannot be imported into one process."""
    argv = [sys.executable, "-c", KSERVE_CALLS, server.url, json.dumps(IRIS_ROWS), json.dumps(IRIS_LABELS)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr


def test_model_repository_read_and_changed_by_tritonclient(
    client: triton.InferenceServerClient, server: Server
) -> None:
    """Index, unload and load through tritonclient.http (this server has no token: a loopback one)."""
    index = client.get_model_repository_index()
    assert {"name": "diabetes", "version": "1", "state": "READY", "reason": ""} in index
    client.unload_model("diabetes")
    assert not client.is_model_ready("diabetes")
    assert {"name": "diabetes", "version": "", "state": "UNAVAILABLE", "reason": "unloaded"} in (
        client.get_model_repository_index()
    )
    with pytest.raises(triton.InferenceServerException, match="'diabetes' is unloaded"):
        client.get_model_metadata("diabetes")
    client.load_model("diabetes")
    assert client.is_model_ready("diabetes")
    with pytest.raises(triton.InferenceServerException, match="'nope'"):
        client.load_model("nope")
    # without a token, a request a web page sends is refused: it could unload models on 127.0.0.1
    page = httpx.post(
        f"{server.url}/v2/repository/models/iris/unload", headers={"Origin": "https://x.example"}
    )
    assert (page.status_code, page.json()) == (
        403,
        {"error": "the model repository does not take requests from web pages"},
    )
    assert client.is_model_ready("iris")
