"""Prometheus metrics after known traffic: stages, endpoints, shadows, memory."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelport.core.settings import Settings
from modelport.registry.catalog import Registry
from tests.api.conftest import serving, wait_for

STAGES = ("decode", "queue", "inference", "encode")

ROW = [5.1, 3.5, 1.4, 0.2]
INFER = {"inputs": [{"name": "X", "datatype": "FP32", "shape": [1, 4], "data": ROW}]}


@pytest.fixture
async def iris(register, client: httpx.AsyncClient, model_files: dict[str, Path]) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    register(model_files["iris"], "iris", aliases=("production",))
    register(model_files["iris-v2"], "iris")
    await wait_for(client, "/v2/models/iris/versions/2/ready")
    return client


def sample(metrics: str, name: str, **labels: str) -> float:
    """The value of the one series of ``name`` with exactly ``labels``."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    series = f"{name}{{{wanted}}}" if wanted else name
    match = re.search(rf"^{re.escape(series)} (\S+)$", metrics, re.MULTILINE)
    assert match, f"no {name}{{{wanted}}} in /metrics"
    return float(match.group(1))


SERVER = {"model": "", "version": ""}
"""The labels of the server's stage and batch-size histograms (every version without detailed metrics)."""
SERIES_PER_VERSION = 17
"""docs/metrics.md: a loaded version answering one protocol without failures has 17 series."""


def series_of(metrics: str, **labels: str) -> list[str]:
    """The series (sample lines) carrying every one of ``labels``."""
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    return [
        line for line in metrics.splitlines() if not line.startswith("#") and all(w in line for w in wanted)
    ]


async def test_each_stage_has_a_server_histogram_counting_every_request(iris: httpx.AsyncClient) -> None:
    for _ in range(5):
        assert (await iris.post("/v2/models/iris/versions/1/infer", json=INFER)).status_code == 200
    metrics = (await iris.get("/metrics")).text
    for stage in ("decode", "queue", "inference", "encode"):
        labels = {**SERVER, "stage": stage}
        assert sample(metrics, "modelport_stage_duration_seconds_count", **labels) == 5
        assert sample(metrics, "modelport_stage_duration_seconds_bucket", **labels, le="+Inf") == 5
        assert sample(metrics, "modelport_stage_duration_seconds_sum", **labels) > 0
    # only iris:1 answered, so the server's stage sums are what the statistics extension reports for it
    stats = (await iris.get("/v2/models/iris/versions/1/stats")).json()["model_stats"][0]["inference_stats"]
    decode_s = sample(metrics, "modelport_stage_duration_seconds_sum", **SERVER, stage="decode")
    assert decode_s == pytest.approx(stats["compute_input"]["ns"] / 1e9)


async def test_a_loaded_version_has_few_series_by_default(iris: httpx.AsyncClient) -> None:
    assert (await iris.post("/v2/models/iris/versions/1/infer", json=INFER)).status_code == 200
    metrics = (await iris.get("/metrics")).text
    series = series_of(metrics, model="iris", version="1")
    assert len(series) == SERIES_PER_VERSION, "\n".join(series)
    assert not [s for s in series if s.startswith(("modelport_stage_", "modelport_batch"))]
    assert sample(metrics, "modelport_request_duration_seconds_count", model="iris", version="1") == 1
    families = [f.name for f in text_string_to_metric_families(metrics)]  # valid exposition, one group each
    assert len(families) == len(set(families))
    assert {"modelport_request_duration_seconds", "modelport_stage_duration_seconds"} <= set(families)


async def test_a_model_with_detailed_metrics_has_its_own_stage_and_batch_histograms(
    iris: httpx.AsyncClient,
) -> None:
    refused = await iris.patch("/api/v1/models/iris/serving", json={"detailed_metrics": "yes"})
    assert refused.status_code == 400 and "detailed_metrics must be true or false" in refused.text
    changed = await iris.patch("/api/v1/models/iris/serving", json={"detailed_metrics": True})
    assert changed.status_code == 200 and changed.json()["detailed_metrics"] is True
    own = {"model": "iris", "version": "1", "stage": "decode"}
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        assert (await iris.post("/v2/models/iris/versions/1/infer", json=INFER)).status_code == 200
        metrics = (await iris.get("/metrics")).text  # the server applies the setting within a poll
        if series_of(metrics, **own):
            break
        assert asyncio.get_running_loop().time() < deadline, "iris:1 never got its own stage histograms"
        await asyncio.sleep(0.05)
    before = {
        s: sample(metrics, "modelport_stage_duration_seconds_count", **{**own, "stage": s}) for s in STAGES
    }
    server_before = sample(metrics, "modelport_stage_duration_seconds_count", **SERVER, stage="decode")
    two_rows = {"inputs": [{"name": "X", "datatype": "FP32", "shape": [2, 4], "data": [ROW, ROW]}]}
    for body in (INFER, two_rows, two_rows):
        assert (await iris.post("/v2/models/iris/versions/1/infer", json=body)).status_code == 200
    metrics = (await iris.get("/metrics")).text
    for stage, count in before.items():
        assert (
            sample(metrics, "modelport_stage_duration_seconds_count", **{**own, "stage": stage}) == count + 3
        )
    assert (
        sample(metrics, "modelport_stage_duration_seconds_count", **SERVER, stage="decode") == server_before
    )
    assert sample(metrics, "modelport_batches_total", model="iris", version="1", batch_size="2") == 2
    # docs/metrics.md: 95 more series, and one modelport_batches_total per batch size (1 and 2 rows)
    assert len(series_of(metrics, model="iris", version="1")) == SERIES_PER_VERSION + 95 + 2
    assert sample(metrics, "modelport_batch_size_rows_bucket", model="iris", version="1", le="2.0") >= 2


async def test_loaded_versions_report_their_memory_and_the_process_its_own(iris: httpx.AsyncClient) -> None:
    metrics = (await iris.get("/metrics")).text
    for version in ("1", "2"):
        assert sample(metrics, "modelport_loaded_version_memory_bytes", model="iris", version=version) >= 0
    assert re.search(r"^process_resident_memory_bytes \d", metrics, re.MULTILINE)


async def test_endpoint_variants_count_their_requests_and_failures(iris: httpx.AsyncClient) -> None:
    created = await iris.post(
        "/api/v1/endpoints",
        json={
            "name": "flowers",
            "routes": [{"target": "iris:1", "weight": 1}, {"target": "iris:2", "weight": 1}],
        },
    )
    assert created.status_code == 201, created.text
    await wait_for(iris, "/v2/models/flowers/ready")
    served = {"iris:1": 0, "iris:2": 0}
    for _ in range(20):
        response = await iris.post("/v2/models/flowers/infer", json=INFER)
        served[response.headers["x-modelport-served-by"]] += 1
    metrics = (await iris.get("/metrics")).text
    for variant, count in served.items():
        assert (
            sample(metrics, "modelport_endpoint_requests_total", endpoint="flowers", variant=variant) == count
        )
        failures = sample(
            metrics, "modelport_endpoint_request_failures_total", endpoint="flowers", variant=variant
        )
        assert failures == 0


async def test_shadow_comparisons_are_counted(iris: httpx.AsyncClient) -> None:
    created = await iris.post(
        "/api/v1/endpoints",
        json={
            "name": "flowers",
            "routes": [{"target": "iris:1", "weight": 1}],
            "shadows": [{"target": "iris:2", "percent": 100}],
        },
    )
    assert created.status_code == 201, created.text
    await wait_for(iris, "/v2/models/flowers/ready")
    for _ in range(10):
        assert (await iris.post("/v2/models/flowers/infer", json=INFER)).status_code == 200
    labels = {"endpoint": "flowers", "shadow": "iris:2"}
    for _ in range(200):  # shadows run after the caller's answer
        metrics = (await iris.get("/metrics")).text
        if 'modelport_shadow_requests_total{endpoint="flowers",shadow="iris:2"} 10.0' in metrics:
            break
        await asyncio.sleep(0.02)
    assert sample(metrics, "modelport_shadow_requests_total", **labels) == 10
    assert sample(metrics, "modelport_shadow_errors_total", **labels, side="shadow") == 0
    compared = sample(metrics, "modelport_shadow_compared_rows_total", **labels, output="label")
    agreeing = sample(metrics, "modelport_shadow_agreeing_rows_total", **labels, output="label")
    assert compared == 10 and 0 <= agreeing <= 10
    probabilities = sample(metrics, "modelport_shadow_compared_rows_total", **labels, output="probabilities")
    assert probabilities == 30  # 3 classes per row
    assert sample(metrics, "modelport_shadow_abs_difference_total", **labels, output="probabilities") > 0
    assert sample(metrics, "modelport_shadow_dropped_total") == 0


async def test_metrics_off_counts_nothing_and_serves_neither_metrics_nor_statistics(  # type: ignore[no-untyped-def]
    settings: Settings, registry: Registry, register, model_files: dict[str, Path]
) -> None:
    settings.metrics.enabled = False
    register(model_files["iris"], "iris")
    async with serving(settings, registry) as client:
        await wait_for(client, "/v2/models/iris/ready")
        assert (await client.post("/v2/models/iris/infer", json=INFER)).status_code == 200
        assert (await client.get("/metrics")).status_code == 404
        assert (await client.get("/v2/models/stats")).status_code == 404
        assert "statistics" not in (await client.get("/v2")).json()["extensions"]


async def test_the_metrics_path_is_configurable(  # type: ignore[no-untyped-def]
    settings: Settings, registry: Registry, register, model_files: dict[str, Path]
) -> None:
    settings.metrics.path = "/internal/prometheus"
    register(model_files["iris"], "iris")
    async with serving(settings, registry) as client:
        await wait_for(client, "/v2/models/iris/ready")
        assert (await client.post("/v2/models/iris/infer", json=INFER)).status_code == 200
        metrics = (await client.get("/internal/prometheus")).text
        assert sample(metrics, "modelport_request_duration_seconds_count", model="iris", version="1") == 1
        assert (await client.get("/metrics")).status_code == 404


async def test_statistics_of_an_unknown_model_or_version_are_a_clear_404(iris: httpx.AsyncClient) -> None:
    for path, words in (
        ("/v2/models/nope/stats", "nope"),
        ("/v2/models/iris/versions/9/stats", "9"),
        ("/v2/models/iris/versions/nope/stats", "nope"),
    ):
        response = await iris.get(path)
        assert response.status_code == 404, path
        assert words in response.json()["error"]
    assert (await iris.get("/v2/models/iris/versions/1/stats")).status_code == 200


async def test_batch_sizes_form_a_server_histogram(iris: httpx.AsyncClient) -> None:
    two_rows = {"inputs": [{"name": "X", "datatype": "FP32", "shape": [2, 4], "data": [ROW, ROW]}]}
    for body in (INFER, INFER, two_rows):
        assert (await iris.post("/v2/models/iris/versions/1/infer", json=body)).status_code == 200
    metrics = (await iris.get("/metrics")).text
    assert sample(metrics, "modelport_batch_size_rows_bucket", **SERVER, le="1.0") == 2
    assert sample(metrics, "modelport_batch_size_rows_bucket", **SERVER, le="2.0") == 3
    assert sample(metrics, "modelport_batch_size_rows_bucket", **SERVER, le="+Inf") == 3
    assert sample(metrics, "modelport_batch_size_rows_sum", **SERVER) == 4
