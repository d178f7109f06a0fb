"""Drift over real logged traffic: register with a reference, turn the payload log on, send
requests through the inference API, then read the drift report and the drift gauges."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import load_iris

from modelport.core.settings import Settings
from modelport.registry.catalog import Registry
from tests.api.conftest import quick_settings, wait_for

X = load_iris(return_X_y=True)[0].astype(np.float32)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return quick_settings(
        tmp_path,
        payloads={"flush_interval_s": 0.05},
        drift={"interval_s": 0.05, "window": 300, "reference_rows": 150},
    )


async def _send(client: httpx.AsyncClient, rows: np.ndarray[Any, Any]) -> None:
    for batch in np.array_split(rows, 10):
        body = {
            "inputs": [
                {"name": "X", "datatype": "FP32", "shape": list(batch.shape), "data": batch.ravel().tolist()}
            ]
        }
        response = await client.post("/v2/models/iris/infer", json=body)
        assert response.status_code == 200, response.text


async def _logged(client: httpx.AsyncClient, rows: int, timeout_s: float = 10.0) -> None:
    """Wait until ``rows`` rows are readable: the log flushes every 0.05 s here."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while len((await client.get("/api/v1/payloads/iris?format=jsonl")).text.splitlines()) < rows:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)


async def _report(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/api/v1/drift/iris")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def applied(client: httpx.AsyncClient, registry: Registry) -> None:
    """Wait until the server serves the registry's current revision (the monitor setting with it)."""
    wanted = registry.revision()
    deadline = asyncio.get_running_loop().time() + 10
    while (await client.get("/api/v1/status")).json()["registry_revision"] < wanted:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.025)


async def test_drift_over_logged_traffic(
    client: httpx.AsyncClient, registry: Registry, model_files: dict[str, Path]
) -> None:
    buffer = io.BytesIO()
    pq.write_table(pa.table({f"c{i}": X[:, i] for i in range(4)}), buffer)
    with model_files["iris"].open("rb") as handle:
        files = {"file": ("iris.onnx", handle), "reference": ("reference.parquet", buffer.getvalue())}
        assert (await client.post("/api/v1/models/iris/versions", files=files)).status_code == 201
    assert (await client.put("/api/v1/monitoring/iris", json={"sample_rate": 1.0})).status_code == 200
    await wait_for(client, "/v2/models/iris/ready")
    await applied(client, registry)

    rng = np.random.default_rng(1)
    await _send(client, X[rng.permutation(len(X))[:150]])
    await _send(client, X[rng.permutation(len(X))[:150]])
    await _logged(client, 300)
    quiet = await _report(client)
    assert quiet["reference"] == {"source": "registration", "rows": 150}
    assert quiet["status"] == "ok", quiet
    assert [o["feature"] for o in quiet["outputs"]] == [
        "label",
        "probabilities[0]",
        "probabilities[1]",
        "probabilities[2]",
    ]

    shifted = X[rng.integers(0, len(X), 300)].copy()
    shifted[:, 2] += 2.0
    await _send(client, shifted)
    await _logged(client, 600)
    loud = await _report(client)
    statuses = {f["feature"]: f["status"] for f in loud["features"]}
    assert statuses == {"X[0]": "ok", "X[1]": "ok", "X[2]": "alert", "X[3]": "ok"}
    assert loud["status"] == "alert"

    deadline = asyncio.get_running_loop().time() + 10
    while 'modelport_drift_status{feature="X[2]",name="iris"} 2.0' not in (await client.get("/metrics")).text:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
