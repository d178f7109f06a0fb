"""Endpoints through the management API and the data plane, in process, over real models."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import ON_BOTH_BACKENDS, wait_for

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
INFER = {"inputs": [{"name": "X", "datatype": "FP32", "shape": [2, 4], "data": ROWS}]}


@pytest.fixture
async def iris(register, client: httpx.AsyncClient, model_files: dict[str, Path]) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    register(model_files["iris"], "iris", aliases=("production",))
    register(model_files["iris-v2"], "iris", aliases=("candidate",))
    await wait_for(client, "/v2/models/iris/versions/2/ready")
    return client


async def create(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post("/api/v1/endpoints", json={"name": "flowers", **body})


async def served_by(client: httpx.AsyncClient, path: str = "/v2/models/flowers/infer", **headers: str) -> str:
    response = await client.post(path, json=INFER, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["parameters"]["served_by"] == response.headers["x-modelport-served-by"]
    return response.headers["x-modelport-served-by"]


async def until_served_by(client: httpx.AsyncClient, expected: set[str], tries: int = 200) -> None:
    """Poll until the endpoint's answers come only from ``expected`` (the server applies changes async)."""
    for _ in range(tries):
        seen = {await served_by(client) for _ in range(10)}
        if seen <= expected:
            return
        await wait_for(client, "/v2/health/ready")
    raise AssertionError(f"still served by {seen}, expected {expected}")


async def test_an_endpoint_is_called_like_a_model_and_says_who_answered(iris: httpx.AsyncClient) -> None:
    created = await create(iris, routes=[{"target": "iris@production", "weight": 1}])
    assert created.status_code == 201, created.text
    await wait_for(iris, "/v2/models/flowers/ready")
    assert await served_by(iris) == "iris:1"
    metadata = (await iris.get("/v2/models/flowers")).json()
    assert metadata["platform"] == "modelport_endpoint" and metadata["inputs"][0]["name"] == "X"


@ON_BOTH_BACKENDS
async def test_weights_promotion_rollback_and_history(iris: httpx.AsyncClient) -> None:
    await create(
        iris, routes=[{"target": "iris:1", "weight": 50}, {"target": "iris@candidate", "weight": 50}]
    )
    await wait_for(iris, "/v2/models/flowers/ready")
    seen = {await served_by(iris) for _ in range(60)}
    assert seen == {"iris:1", "iris:2"}
    sticky = {await served_by(iris, **{"x-modelport-route-key": "user-42"}) for _ in range(20)}
    assert len(sticky) == 1

    promoted = await iris.post("/api/v1/endpoints/flowers/promote", json={"target": "iris@candidate"})
    assert promoted.json()["revision"] == 2
    await until_served_by(iris, {"iris:2"})
    rolled_back = await iris.post("/api/v1/endpoints/flowers/rollback")
    assert rolled_back.json()["revision"] == 3
    await until_served_by(iris, {"iris:1", "iris:2"})
    history = (await iris.get("/api/v1/endpoints/flowers/history")).json()
    assert [h["revision"] for h in history] == [1, 2, 3] and history[2]["restored_from"] is not None


@ON_BOTH_BACKENDS
async def test_moving_an_alias_retargets_the_endpoint(iris: httpx.AsyncClient) -> None:
    await create(iris, routes=[{"target": "iris@production", "weight": 1}])
    await wait_for(iris, "/v2/models/flowers/ready")
    assert await served_by(iris) == "iris:1"
    await iris.put("/api/v1/models/iris/aliases/production", json={"version": 2})
    await until_served_by(iris, {"iris:2"})


async def test_shadow_traffic_is_compared_and_reported(iris: httpx.AsyncClient) -> None:
    await create(
        iris, routes=[{"target": "iris:1", "weight": 1}], shadows=[{"target": "iris:2", "percent": 100}]
    )
    await wait_for(iris, "/v2/models/flowers/ready")
    for _ in range(30):
        assert await served_by(iris) == "iris:1"
    for _ in range(100):
        report = (await iris.get("/api/v1/endpoints/flowers/shadow-report")).json()
        if report["shadows"].get("iris:2", {}).get("window", {}).get("count", 0) >= 30:
            break
        await wait_for(iris, "/v2/health/ready")
    window = report["shadows"]["iris:2"]["window"]
    assert window["count"] == 30 and window["shadow_errors"] == 0
    assert 0 <= window["outputs"]["label"]["agreement_rate"] <= 1
    assert window["outputs"]["probabilities"]["mean_abs_diff"] > 0


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"routes": [{"target": "iris:1", "weight": 0}]}, 400, "more than 0"),
        ({"routes": [{"target": "iris:7", "weight": 1}]}, 404, "iris"),
        ({"routes": [{"target": "iris@nope", "weight": 1}]}, 404, "nope"),
        (
            {"routes": [{"target": "iris:1", "weight": 1}], "shadows": [{"target": "iris:1", "percent": 5}]},
            400,
            "shadow",
        ),
        ({"routes": [{"target": "iris", "weight": 1}]}, 400, "version or an alias"),
    ],
)
async def test_bad_endpoint_configs_are_refused_and_change_nothing(
    iris: httpx.AsyncClient, body: dict[str, Any], status: int, words: str
) -> None:
    response = await create(iris, **body)
    assert response.status_code == status, response.text
    assert words in response.json()["error"]
    assert (await iris.get("/api/v1/endpoints")).json() == []


@ON_BOTH_BACKENDS
async def test_names_are_shared_with_models_and_stale_revisions_conflict(iris: httpx.AsyncClient) -> None:
    clash = await iris.post(
        "/api/v1/endpoints", json={"name": "iris", "routes": [{"target": "iris:1", "weight": 1}]}
    )
    assert clash.status_code == 409
    await create(iris, routes=[{"target": "iris:1", "weight": 1}])
    first = await iris.put(
        "/api/v1/endpoints/flowers/routes",
        json={"routes": [{"target": "iris:2", "weight": 1}], "expected_revision": 1},
    )
    assert first.status_code == 200
    stale = await iris.put(
        "/api/v1/endpoints/flowers/routes",
        json={"routes": [{"target": "iris:1", "weight": 1}], "expected_revision": 1},
    )
    assert stale.status_code == 409 and "revision 2" in stale.json()["error"]


async def test_a_healthy_rollout_runs_to_the_end_and_moves_the_alias(iris: httpx.AsyncClient) -> None:
    await create(iris, routes=[{"target": "iris@production", "weight": 1}])
    await wait_for(iris, "/v2/models/flowers/ready")
    started = await iris.post(
        "/api/v1/endpoints/flowers/rollout",
        json={
            "candidate": "iris:2",
            "steps": [50, 100],
            "min_requests": 5,
            "min_seconds": 0,
            "promote_alias": "production",
        },
    )
    assert started.status_code == 200, started.text
    deadline = asyncio.get_running_loop().time() + 60  # judged once a second; passing needs evidence
    while asyncio.get_running_loop().time() < deadline:
        await asyncio.gather(*(served_by(iris) for _ in range(10)))
        plan = (await iris.get("/api/v1/endpoints/flowers/rollout")).json()["plan"]
        if plan["status"] != "running":
            break
        await asyncio.sleep(0.02)
    assert plan["status"] == "passed", plan
    assert (await iris.get("/api/v1/models/iris")).json()["aliases"]["production"] == 2
    await until_served_by(iris, {"iris:2"})


async def test_a_rollout_takes_its_error_chances_and_limits(iris: httpx.AsyncClient) -> None:
    await create(iris, routes=[{"target": "iris:1", "weight": 1}])
    refused = await iris.post("/api/v1/endpoints/flowers/rollout", json={"candidate": "iris:2", "beta": 0.7})
    assert refused.status_code == 400 and "beta" in refused.json()["error"]
    limits = {"alpha": 0.1, "beta": 0.02, "max_seconds": 600.0, "max_requests": 5_000}
    started = await iris.post("/api/v1/endpoints/flowers/rollout", json={"candidate": "iris:2", **limits})
    assert started.status_code == 200, started.text
    plan = (await iris.get("/api/v1/endpoints/flowers/rollout")).json()["plan"]
    assert {name: plan["guardrails"][name] for name in limits} == limits


async def test_feedback_by_request_id_and_the_ab_report(iris: httpx.AsyncClient) -> None:
    await create(iris, routes=[{"target": "iris:1", "weight": 1}, {"target": "iris:2", "weight": 1}])
    await wait_for(iris, "/v2/models/flowers/ready")
    ids = []
    for _ in range(20):
        response = await iris.post("/v2/models/flowers/infer", json=INFER)
        ids.append(response.json()["id"])
    unknown = await iris.post(
        "/api/v1/endpoints/flowers/feedback",
        json={"items": [{"id": ids[0], "label": [0, 2]}, {"id": "nope", "label": 1}]},
    )
    assert unknown.status_code == 404 and "nope" in unknown.json()["error"]
    too_long = "x" * 5_000_000
    refused = await iris.post(
        "/api/v1/endpoints/flowers/feedback", json={"items": [{"id": too_long, "label": 1}]}
    )
    assert refused.status_code == 400 and "at most 256" in refused.json()["error"]
    assert len(refused.content) < 1000  # the id is not echoed back
    judged = await iris.post(
        "/api/v1/endpoints/flowers/feedback", json={"items": [{"id": i, "label": [0, 2]} for i in ids]}
    )
    assert judged.status_code == 200 and len(judged.json()["judged"]) == 20
    report = (await iris.get("/api/v1/endpoints/flowers/report")).json()
    assert sum(v["feedback_rows"] for v in report["variants"].values()) == 40
    assert {c["a"] for c in report["comparisons"]} <= {"iris:1", "iris:2"}
