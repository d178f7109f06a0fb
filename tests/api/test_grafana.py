"""The Grafana dashboard in deploy/grafana queries only series a real server exposes.

The server here has traffic on a model and on an endpoint with a shadow, a failed request, a
payload log that logs and drops (its buffer holds one record), and a drift report computed over
logged traffic whose petal length moved: every metric a panel queries then has series.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.datasets import load_iris

from modelport.core.settings import Settings
from modelport.registry.catalog import Registry
from tests.api.conftest import quick_settings, wait_for
from tests.api.test_drift_traffic import applied

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy/grafana/modelport-dashboard.json"
X = load_iris(return_X_y=True)[0].astype(np.float32)
ONLY_ON_FAULTS = {"modelport_shadow_errors_total"}
"""Queried, declared, but with series only when a shadow fails: checked as declared only."""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return quick_settings(
        tmp_path,
        payloads={"flush_interval_s": 0.05, "buffer_size": 1},
        drift={"interval_s": 0.05, "window": 300},
    )


def infer(rows: np.ndarray[Any, Any]) -> dict[str, Any]:
    tensor = {"name": "X", "datatype": "FP32", "shape": list(rows.shape), "data": rows.ravel().tolist()}
    return {"inputs": [tensor]}


async def scrape_until(client: httpx.AsyncClient, line: str, timeout_s: float = 10.0) -> str:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while line not in (text := (await client.get("/metrics")).text):
        assert asyncio.get_running_loop().time() < deadline, f"{line!r} never appeared:\n{text}"
        await asyncio.sleep(0.05)
    return text


def queried_metrics() -> set[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return {m for expr in exprs for m in re.findall(r"modelport_\w+", expr)}


async def test_every_metric_the_dashboard_queries_has_series(
    client: httpx.AsyncClient, registry: Registry, register: Any, model_files: dict[str, Path]
) -> None:
    register(model_files["iris"], "iris", aliases=("production",), reference_data=X)
    register(model_files["iris-v2"], "iris", aliases=("candidate",))
    endpoint = {
        "name": "flowers",
        "routes": [{"target": "iris@production", "weight": 1}],
        "shadows": [{"target": "iris@candidate", "percent": 100}],
    }
    assert (await client.post("/api/v1/endpoints", json=endpoint)).status_code == 201
    assert (await client.put("/api/v1/monitoring/iris", json={"sample_rate": 1.0})).status_code == 200
    await wait_for(client, "/v2/models/iris/versions/2/ready")
    await wait_for(client, "/v2/models/flowers/ready")
    await applied(client, registry)

    shifted = X.copy()
    shifted[:, 2] += 2.0
    for written, batch in enumerate(np.array_split(shifted, 2), start=1):
        # one record at a time: the log's buffer holds one
        assert (await client.post("/v2/models/iris/infer", json=infer(batch))).status_code == 200
        await scrape_until(client, f'modelport_payload_records_total{{name="iris"}} {written}.0')
    await scrape_until(client, 'modelport_drift_status{feature="X[2]",name="iris"} 2.0')
    for _ in range(3):
        assert (await client.post("/v2/models/flowers/infer", json=infer(X[:5]))).status_code == 200
    assert (await client.post("/v2/models/iris/infer", json=infer(X[:2, :3]))).status_code == 400
    assert (await client.post("/v2/models/flowers/infer", json=infer(X[:2, :3]))).status_code == 400
    # Several records at once, faster than the writer drains a buffer of one: some are dropped.
    deadline = asyncio.get_running_loop().time() + 10
    while "modelport_payload_records_dropped_total{" not in (await client.get("/metrics")).text:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.gather(*(client.post("/v2/models/iris/infer", json=infer(X[:1])) for _ in range(10)))
    await scrape_until(client, 'modelport_shadow_compared_rows_total{endpoint="flowers"')

    text = (await client.get("/metrics")).text
    declared = set(re.findall(r"^# TYPE (\w+) (\w+)", text, re.MULTILINE))
    names = {name for name, _ in declared}
    names |= {f"{name}_total" for name, kind in declared if kind == "counter"}
    names |= {f"{name}_bucket" for name, kind in declared if kind == "histogram"}
    with_series = set(re.findall(r"^(modelport_\w+)[{ ]", text, re.MULTILINE))
    queried = queried_metrics()
    assert {"modelport_drift_status", "modelport_drift_score", "modelport_payload_log_paused"} <= queried
    assert queried <= names, queried - names
    assert queried - ONLY_ON_FAULTS <= with_series, queried - ONLY_ON_FAULTS - with_series
