"""Explanations over HTTP, in process: KServe v1's ``:explain`` and modelport's
``/v2/models/{m}/explain``. Each row's attributions plus the base value add up to what the model
answers, computed here independently (the server's own prediction for the sampled ONNX model,
XGBoost's ``output_margin`` for a trusted booster)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import xgboost
from sklearn.datasets import load_diabetes, load_iris

from tests.api.conftest import wait_for

IRIS = load_iris().data.astype(np.float32)
ROWS = IRIS[[0, 60, 120]].tolist()
FEATURES = ["X[0]", "X[1]", "X[2]", "X[3]"]


def oip_request(rows: list[list[float]], **extra: Any) -> dict[str, Any]:
    return {"inputs": [{"name": "X", "datatype": "FP32", "shape": [len(rows), 4], "data": rows}], **extra}


def tensors(body: dict[str, Any]) -> dict[str, np.ndarray]:
    return {o["name"]: np.asarray(o["data"]).reshape(o["shape"]) for o in body["outputs"]}


async def test_attributions_add_up_to_the_answer_on_both_routes(
    register, client: httpx.AsyncClient, model_files: dict[str, Path]
) -> None:  # type: ignore[no-untyped-def]
    register(model_files["iris"], "iris", aliases=("production",), reference_data=IRIS)
    await wait_for(client, "/v2/models/iris/ready")
    predicted = tensors((await client.post("/v2/models/iris/infer", json=oip_request(ROWS))).json())
    probabilities = predicted["probabilities"]

    response = await client.post("/v2/models/iris/versions/1/explain", json=oip_request(ROWS, id="e-1"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == "e-1" and body["model_version"] == "1"
    explained = tensors(body)
    assert explained["features"].tolist() == FEATURES
    keys = [name for name in explained if name not in ("base", "features")]
    assert len(keys) == 3 == len(explained["base"])
    for k, key in enumerate(keys):  # one tensor [rows, features] per class's probability
        assert explained[key].shape == (3, 4)
        sums = explained[key].sum(axis=1) + explained["base"][k]
        np.testing.assert_allclose(sums, probabilities[:, k], atol=1e-5)

    for path in ("/v1/models/iris:explain", "/v1/models/iris/labels/production:explain"):
        v1 = await client.post(path, json={"instances": ROWS})
        assert v1.status_code == 200, v1.text
        document = v1.json()
        assert document["features"] == FEATURES
        assert list(document["attributions"]) == keys
        for k, key in enumerate(keys):
            np.testing.assert_allclose(document["attributions"][key], explained[key], atol=1e-9)
            assert document["base"][key] == explained["base"][k]
    # accounted like inferences, under their own label: one v2 and two v1 explanations
    lines = (await client.get("/metrics")).text.splitlines()
    counted = [
        line for line in lines if line.startswith("modelport_requests_total") and 'protocol="explain"' in line
    ]
    assert [float(line.split()[-1]) for line in counted] == [3]


async def test_a_trusted_booster_is_explained_by_its_own_contributions(
    register, client: httpx.AsyncClient, model_files: dict[str, Path]
) -> None:  # type: ignore[no-untyped-def]
    register(model_files["diabetes"], "diabetes", trusted=True)
    await wait_for(client, "/v2/models/diabetes/ready")
    rows = load_diabetes().data[:4].astype(np.float32)
    response = await client.post("/v1/models/diabetes:explain", json={"inputs": rows.tolist()})
    assert response.status_code == 200, response.text
    body = response.json()
    (key,) = body["attributions"]
    booster = xgboost.Booster(model_file=str(model_files["diabetes"]))
    margins = booster.predict(xgboost.DMatrix(rows), output_margin=True)
    sums = np.asarray(body["attributions"][key]).sum(axis=1) + body["base"][key]
    np.testing.assert_allclose(sums, margins, rtol=1e-4)


async def test_what_cannot_be_explained_is_a_clean_4xx(
    register, client: httpx.AsyncClient, model_files: dict[str, Path]
) -> None:  # type: ignore[no-untyped-def]
    register(model_files["iris"], "iris")  # no reference data: an ONNX model is explained by sampling
    await wait_for(client, "/v2/models/iris/ready")
    cases = [
        ("/v1/models/iris:explain", {"instances": ROWS}, 400, "reference data"),
        ("/v2/models/iris/explain", oip_request(ROWS), 400, "reference data"),
        ("/v2/models/iris/explain", oip_request(ROWS, outputs=[{"name": "label"}]), 400, "'outputs'"),
        ("/v2/models/iris/explain", {"inputs": "no"}, 400, "inputs"),
        ("/v1/models/iris:explain", {"instances": [[1.0, 2.0]]}, 400, "[-1, 4]"),
        ("/v1/models/nope:explain", {"instances": ROWS}, 404, "'nope'"),
        ("/v2/models/iris/versions/7/explain", oip_request(ROWS), 404, "7"),
        ("/v1/models/iris:explain", {"instances": ROWS * 34}, 413, "102 rows to explain; at most 100"),
        ("/v2/models/iris/explain", oip_request(ROWS * 34), 413, "(serving.explain_max_rows)"),
    ]
    for path, body, status, words in cases:
        response = await client.post(path, json=body)
        assert response.status_code == status, (path, response.text)
        assert words in response.json()["error"], (path, response.text)
    assert (await client.post("/v2/models/iris/infer", json=oip_request(ROWS))).status_code == 200


async def test_explain_decodes_a_request_as_infer_does(
    register, client: httpx.AsyncClient, model_files: dict[str, Path]
) -> None:  # type: ignore[no-untyped-def]
    """One decoder for both routes: a body or header infer refuses, explain refuses in the same words."""
    register(model_files["iris"], "iris", reference_data=IRIS)
    await wait_for(client, "/v2/models/iris/ready")
    cases: list[tuple[bytes, dict[str, str]]] = [
        (b"[]", {}),
        (b'{"inputs": []}', {"inference-header-content-length": "x"}),
        (b'{"inputs": []}', {"inference-header-content-length": "99"}),
    ]
    for content, headers in cases:
        answers = [
            await client.post(f"/v2/models/iris/{route}", content=content, headers=headers)
            for route in ("infer", "explain")
        ]
        assert [a.status_code for a in answers] == [400, 400], [a.text for a in answers]
        assert answers[0].json() == answers[1].json()
