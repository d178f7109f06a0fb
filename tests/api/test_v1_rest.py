"""KServe v1 / TF Serving REST, in process, with bodies in the shapes of TF Serving's REST API docs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from tests import models
from tests.api.conftest import wait_for

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


@pytest.fixture
async def iris(register, client: httpx.AsyncClient, model_files: dict[str, Path]) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    register(model_files["iris"], "iris", aliases=("production",))
    await wait_for(client, "/v2/models/iris/ready")
    return client


async def predict(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body)
    assert response.status_code == 200, response.text
    assert response.headers["x-modelport-served-by"] == "iris:1"
    return response.json()  # type: ignore[no-any-return]


async def test_row_and_columnar_formats_on_each_target_form(iris: httpx.AsyncClient) -> None:
    oip = await iris.post(
        "/v2/models/iris/infer",
        json={"inputs": [{"name": "X", "datatype": "FP32", "shape": [2, 4], "data": ROWS}]},
    )
    expected = {o["name"]: o["data"] for o in oip.json()["outputs"]}
    probabilities = np.asarray(expected["probabilities"]).reshape(2, 3).tolist()
    for path in ("/v1/models/iris", "/v1/models/iris/versions/1", "/v1/models/iris/labels/production"):
        # the row format, unnamed (TF Serving's "instances": a list of rows) and with the default signature
        rows = await predict(
            iris, path + ":predict", {"signature_name": "serving_default", "instances": ROWS}
        )
        assert rows == {
            "predictions": [
                {"label": label, "probabilities": p}
                for label, p in zip(expected["label"], probabilities, strict=True)
            ]
        }
        # the row format with named inputs: one object per row
        named = await predict(iris, path + ":predict", {"instances": [{"X": row} for row in ROWS]})
        assert named == rows
        # the columnar format: one tensor, or an object of named tensors; several outputs by name
        columns = await predict(iris, path + ":predict", {"inputs": ROWS})
        assert columns == {"outputs": {"label": expected["label"], "probabilities": probabilities}}
        assert await predict(iris, path + ":predict", {"inputs": {"X": ROWS}}) == columns
    # accounted like any inference, under its own protocol label
    counted = [line for line in (await iris.get("/metrics")).text.splitlines() if 'protocol="v1"' in line]
    assert [float(line.split()[-1]) for line in counted if line.startswith("modelport_requests_total")] == [
        12
    ]


async def test_status_and_metadata_in_tf_servings_shapes(iris: httpx.AsyncClient) -> None:
    available = {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
    for path in ("/v1/models/iris", "/v1/models/iris/versions/1", "/v1/models/iris/labels/production"):
        status = (await iris.get(path)).json()
        assert status == {"name": "iris", "ready": True, "model_version_status": [available]}
        metadata = (await iris.get(path + "/metadata")).json()
        assert metadata["model_spec"] == {"name": "iris", "signature_name": "", "version": "1"}
        signature = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]
        assert signature["method_name"] == "tensorflow/serving/predict"
        assert signature["inputs"] == {
            "X": {
                "dtype": "DT_FLOAT",
                "tensor_shape": {
                    "dim": [{"size": "-1", "name": ""}, {"size": "4", "name": ""}],
                    "unknown_rank": False,
                },
                "name": "X",
            }
        }
        assert signature["outputs"]["label"]["dtype"] == "DT_INT64"
    assert (await iris.get("/")).json() == {"status": "alive"}


async def test_an_endpoint_is_a_target_by_name(iris: httpx.AsyncClient) -> None:
    routes = [{"target": "iris@production", "weight": 1}]
    created = await iris.post("/api/v1/endpoints", json={"name": "flowers", "routes": routes})
    assert created.status_code == 201, created.text
    await wait_for(iris, "/v2/models/flowers/ready")
    answer = await iris.post("/v1/models/flowers:predict", json={"instances": ROWS})
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-modelport-served-by"] == "iris:1"
    assert [p["label"] for p in answer.json()["predictions"]] == [0, 2]
    status = (await iris.get("/v1/models/flowers")).json()
    assert status["ready"] and [s["version"] for s in status["model_version_status"]] == ["1"]
    metadata = (await iris.get("/v1/models/flowers/metadata")).json()
    assert metadata["model_spec"]["version"] == ""
    assert "X" in metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]
    refused = await iris.post("/v1/models/flowers/versions/1:predict", json={"instances": ROWS})
    assert refused.status_code == 404 and "endpoint" in refused.json()["error"]


async def test_named_inputs_of_mixed_types_and_text_answers(
    register, client: httpx.AsyncClient, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    path, pipeline = models.customers_pipeline(tmp_path)
    register(path, "customers", trusted=True)
    await wait_for(client, "/v2/models/customers/ready")
    frame = {"age": [31.0, 58.0], "visits": [1.0, 7.0], "city": ["rome", "oslo"]}
    expected = pipeline.predict(pd.DataFrame(frame)).tolist()  # type: ignore[attr-defined]
    instances = [dict(zip(frame, values, strict=True)) for values in zip(*frame.values(), strict=True)]
    rows = (await client.post("/v1/models/customers:predict", json={"instances": instances})).json()
    assert [p["label"] for p in rows["predictions"]] == expected
    columns = (await client.post("/v1/models/customers:predict", json={"inputs": frame})).json()
    assert columns["outputs"]["label"] == expected
    unnamed = await client.post("/v1/models/customers:predict", json={"instances": [[31.0, 1.0, "rome"]]})
    assert unnamed.status_code == 400
    assert "name each input" in unnamed.json()["error"]


NESTED_40: Any = 1.0
for _ in range(40):
    NESTED_40 = [NESTED_40]

BAD: list[tuple[str, str, object, int, str]] = [
    ("malformed", ":predict", b'{"instances": [', 400, "not valid JSON"),
    ("not-an-object", ":predict", b"[[1, 2, 3, 4]]", 400, "JSON object"),
    ("neither", ":predict", {"rows": ROWS}, 400, "exactly one of"),
    ("both", ":predict", {"instances": ROWS, "inputs": ROWS}, 400, "exactly one of"),
    ("empty-rows", ":predict", {"instances": []}, 400, "non-empty"),
    ("unknown-signature", ":predict", {"signature_name": "classify", "instances": ROWS}, 400, "'classify'"),
    ("strings-for-floats", ":predict", {"instances": [["a", "b", "c", "d"]]}, 400, "must be numbers"),
    ("wrong-shape", ":predict", {"instances": [[1.0, 2.0, 3.0]]}, 400, "[-1, 4]"),
    ("ragged", ":predict", {"instances": [[1.0, 2.0, 3.0, 4.0], [1.0]]}, 400, "ragged"),
    ("unknown-name", ":predict", {"inputs": {"Z": ROWS}}, 400, "'Z'"),
    ("row-missing-name", ":predict", {"instances": [{"X": ROWS[0]}, {"Y": ROWS[1]}]}, 400, "instance 1"),
    ("deep", ":predict", {"instances": NESTED_40}, 400, "deep"),
    ("unknown-verb", ":classify", {"instances": ROWS}, 404, ":classify"),
]


UNKNOWN_TARGETS = [
    ("/v1/models/nope", 404, "'nope'"),
    ("/v1/models/iris/versions/9", 404, "9"),
    ("/v1/models/iris/labels/staging", 404, "staging"),
    ("/v1/models/iris/versions/production", 400, "labels/production"),
    ("/v1/models/iris/labels/1", 400, "versions/1"),
]


async def test_bad_requests_get_a_clean_error(iris: httpx.AsyncClient) -> None:
    """One server for every case (each would start its own): bodies, then targets, then no verb."""
    for case, verb, body, status, words in BAD:
        kwargs: dict[str, Any] = {"content": body} if isinstance(body, bytes) else {"json": body}
        response = await iris.post("/v1/models/iris" + verb, **kwargs)
        assert response.status_code == status, (case, response.text)
        assert words in response.json()["error"], case
    for path, status, words in UNKNOWN_TARGETS:
        for response in (
            await iris.get(path),
            await iris.get(path + "/metadata"),
            await iris.post(path + ":predict", json={"instances": ROWS}),
        ):
            assert response.status_code == status, (path, response.text)
            assert words in response.json()["error"], path
    response = await iris.post("/v1/models/iris", json={"instances": ROWS})
    assert response.status_code == 404
    assert ":predict" in response.json()["error"]
