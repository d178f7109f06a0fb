"""Three ``modelport serve`` processes on one PostgreSQL registry share their deployment evidence
(issue 12, point 6): every report is the sum over the processes, a guardrail breach that only the
merged traffic shows rolls the rollout back once, and when the process judging rollouts is killed,
another takes over without taking a step twice."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelport.control.rollout_judge import guardrail_tests
from modelport.core.rollout import Guardrails
from tests.e2e.conftest import IRIS_ROWS, Server, iris_request, run_cli_in_process, start_server, wait_for
from tests.postgres import Cluster

DATABASE_URL = "MODELPORT_STORAGE__DATABASE_URL"
JUDGE_TIMEOUT_S = 60.0
"""Bounds how long the tests wait for the servers to converge or judge; not a latency assertion."""


@pytest.fixture(scope="module")
def servers(
    home: Path, log_dir: Path, postgres: Cluster, model_files: dict[str, Path]
) -> Iterator[list[Server]]:
    """f:1 and f:2, served by three processes on one registry."""
    database = postgres.create_database("e2e_shared_state")
    for artifact in ("iris", "iris-v2"):
        run_cli_in_process(
            home, "register", model_files[artifact], "--name", "f", env={DATABASE_URL: database}
        )
    with ThreadPoolExecutor(3) as pool:  # started together: each takes seconds to be ready
        servers = list(pool.map(lambda _: start_server(home, log_dir, **{DATABASE_URL: database}), range(3)))
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()
        for server in servers:  # shown by pytest only when a test failed
            print(
                f"----- server log ({server.log_path}) -----\n{server.log_path.read_text(errors='replace')}"
            )


def create_endpoint(servers: list[Server], name: str, routes: dict[str, int], **extra: Any) -> None:
    body = {"name": name, "routes": [{"target": t, "weight": w} for t, w in routes.items()], **extra}
    response = httpx.post(f"{servers[0].url}/api/v1/endpoints", json=body)
    assert response.status_code == 201, response.text
    for server in servers:
        server.wait_until(f"/v2/models/{name}/ready")


def infer(client: httpx.Client, endpoint: str, **extra: Any) -> dict[str, Any]:
    response = client.post(f"/v2/models/{endpoint}/infer", json=iris_request([IRIS_ROWS[0]], **extra))
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_reports_are_the_sum_over_the_processes(servers: list[Server]) -> None:
    create_endpoint(servers, "ab", {"f:1": 50, "f:2": 50})
    create_endpoint(servers, "sh", {"f:1": 100}, shadows=[{"target": "f:2", "percent": 100}])
    served: Counter[str] = Counter()
    for server, n in zip(servers, (5, 7, 11), strict=True):
        with httpx.Client(base_url=server.url, timeout=10) as client:
            served.update(infer(client, "ab")["parameters"]["served_by"] for _ in range(n))
            for _ in range(n - 1):
                infer(client, "sh")
    assert served.total() == 23 and len(served) == 2  # both variants served

    def ab_sums(response: httpx.Response) -> bool:
        variants = response.json()["variants"]
        return {label: v["requests"] for label, v in variants.items()} == dict(served)

    def shadow_sums(response: httpx.Response) -> bool:
        total = response.json()["shadows"].get("f:2", {}).get("total", {})
        return total.get("count") == 20 and total["outputs"]["label"]["rows"] == 20

    for server in servers:  # each process reports what all three served
        ab = wait_for(server, "/api/v1/endpoints/ab/report", ab_sums, timeout_s=JUDGE_TIMEOUT_S).json()
        assert ab["comparisons"][0]["a"] == "f:1"
        shadow = wait_for(
            server, "/api/v1/endpoints/sh/shadow-report", shadow_sums, timeout_s=JUDGE_TIMEOUT_S
        )
        assert shadow.json()["shadows"]["f:2"]["total"]["outputs"]["label"]["agreement_rate"] == 1.0


def pairs_to_reject_an_always_wrong_candidate() -> int:
    """Pairs of (baseline right, candidate wrong) the wrong-predictions guardrail needs to reject."""
    test = guardrail_tests(Guardrails())["wrong predictions"]
    for pairs in range(1, 1000):
        test.observe("baseline", 0.0)
        if test.observe("canary", 1.0) == "reject":
            return pairs
    raise AssertionError("never rejected")


def history(server: Server, endpoint: str) -> list[str]:
    return [str(h["summary"]) for h in httpx.get(f"{server.url}/api/v1/endpoints/{endpoint}/history").json()]


def test_a_breach_only_the_merged_traffic_shows_rolls_back_once(servers: list[Server]) -> None:
    needed = pairs_to_reject_an_always_wrong_candidate()
    per_process = math.ceil(needed / 2)  # one process alone has too few pairs; the three together enough
    assert per_process < needed <= 3 * per_process
    create_endpoint(servers, "guard", {"f:1": 100})
    start = {"candidate": "f:2", "steps": [50, 100], "min_requests": 100_000, "min_seconds": 0}
    assert httpx.post(f"{servers[0].url}/api/v1/endpoints/guard/rollout", json=start).status_code == 200
    for server in servers:  # only what is served under the rollout is its evidence
        wait_for(
            server, "/api/v1/status", lambda r: r.json()["registry_revision"] == r.json()["registry_head"]
        )
    sent: list[list[dict[str, Any]]] = []
    for server in servers:
        ids: dict[str, list[str]] = {"f:1": [], "f:2": []}
        with httpx.Client(base_url=server.url, timeout=10) as client:
            while min(len(v) for v in ids.values()) < per_process:
                answer = infer(client, "guard")
                ids[answer["parameters"]["served_by"]].append(answer["id"])
            # setosa is class 0: the baseline is told it was right, the candidate that it was wrong
            items = [{"id": i, "label": 0} for i in ids["f:1"][:per_process]]
            items += [{"id": i, "label": 2} for i in ids["f:2"][:per_process]]
            judged = client.post("/api/v1/endpoints/guard/feedback", json={"items": items}).json()["judged"]
            sent.append(items)
        assert Counter((j["variant"], j["correct"]) for j in judged) == {
            ("f:1", 1): per_process,
            ("f:2", 0): per_process,
        }
    plan = wait_for(
        servers[1],
        "/api/v1/endpoints/guard/rollout",
        lambda r: r.json()["plan"]["status"] != "running",
        timeout_s=JUDGE_TIMEOUT_S,
    ).json()["plan"]
    assert plan["status"] == "rolled_back" and "wrong predictions" in plan["reason"], plan
    rollbacks = [s for s in history(servers[2], "guard") if s.startswith("rollout rolled back")]
    assert len(rollbacks) == 1, history(servers[2], "guard")
    for index, server in enumerate(servers):  # feedback judged on one process is refused on the others
        again = {"items": sent[(index + 1) % len(servers)][:1]}
        refused = httpx.post(f"{server.url}/api/v1/endpoints/guard/feedback", json=again)
        assert refused.status_code == 409 and "already has feedback" in refused.json()["error"], refused.text


def test_when_the_judge_is_killed_another_takes_over_without_a_double_step(servers: list[Server]) -> None:
    create_endpoint(servers, "lead", {"f:1": 100})
    steps = [10, 20, 30, 40, 100]
    start = {"candidate": "f:2", "steps": steps, "min_requests": 3, "min_seconds": 0}
    assert httpx.post(f"{servers[0].url}/api/v1/endpoints/lead/rollout", json=start).status_code == 200

    def drive_until(live: list[Server], done: Any) -> dict[str, Any]:
        deadline = time.monotonic() + JUDGE_TIMEOUT_S
        with httpx.Client(timeout=10) as client:
            while time.monotonic() < deadline:
                for server in live:
                    client.post(f"{server.url}/v2/models/lead/infer", json=iris_request())
                status = dict(client.get(f"{live[-1].url}/api/v1/endpoints/lead/rollout").json())
                if done(status):
                    return status
        pytest.fail(f"the rollout never got there:\n{live[-1].log()}")

    status = drive_until(servers, lambda s: s["plan"]["step"] >= 1 and s["guardrails"] is not None)
    judge_pid = status["guardrails"]["judged_by"]["pid"]
    leader = next(s for s in servers if s.process.pid == judge_pid)
    leader.process.kill()  # kill -9: no clean hand-over, the lease has to expire
    leader.process.wait()
    rest = [s for s in servers if s is not leader]
    status = drive_until(
        rest,
        lambda s: (
            s["plan"]["step"] >= 3 and (s["guardrails"] or {}).get("judged_by", {}).get("pid") != judge_pid
        ),
    )
    assert status["guardrails"]["judged_by"]["pid"] in {s.process.pid for s in rest}
    assert httpx.delete(f"{rest[0].url}/api/v1/endpoints/lead/rollout").status_code == 200
    taken = [s for s in history(rest[0], "lead") if s.startswith("rollout at")]
    assert taken == ["rollout at 20%", "rollout at 30%", "rollout at 40%"]  # each step once, in order
