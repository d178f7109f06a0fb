"""Deployments never bypass their own gates (issue 10, points 1-4), against a real server and the CLI
(its commands run in this process, ``run_cli_in_process``):

- a passed rollout of ``f@candidate`` leaves the endpoint on the version it judged, so a new version
  registered as ``candidate`` gets no traffic without a rollout;
- a new rollout starts with no evidence, whatever its target was called before;
- feedback for one request id counts once;
- an alias moved to a version that cannot be loaded keeps answering with the version it had, with no
  failed request; ``alias set`` says so and fails; status and metrics show it; a rollout to such a
  version is rolled back.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import modelport
from modelport.core.settings import Settings
from modelport.registry.local import open_registry
from tests import models
from tests.e2e.conftest import Server, iris_request, register, run_cli_in_process, running_server, wait_for

JUDGE_TIMEOUT_S = 90.0
"""Bounds how long a rollout may take to be judged (it needs a few thousand requests of evidence)."""


@pytest.fixture(scope="module")
def server(
    home: Path, log_dir: Path, model_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """f:1 (production), f:2 (candidate); g:1 (production), g:2 whose stored file is then damaged.
    Set up through the Python API (a CLI start each would cost seconds)."""
    modelport.register(model_files["iris"], "f", alias="production", home=home)
    modelport.register(model_files["iris-v2"], "f", alias="candidate", home=home)
    modelport.register(model_files["iris"], "g", alias="production", home=home)
    damaged = modelport.register(models.iris_onnx(tmp_path_factory.mktemp("g2"), c=0.5), "g", home=home)
    stored = next((home / "artifacts").glob(f"*/{damaged.digest}/*"))
    stored.write_bytes(stored.read_bytes()[:-64])  # a disk fault after registration
    with running_server(home, log_dir) as server:
        yield server


def served_by(client: httpx.Client, name: str) -> str:
    response = client.post(f"/v2/models/{name}/infer", json=iris_request())
    assert response.status_code == 200, response.text
    return str(response.json()["parameters"]["served_by"])


def rollout(home: Path, *args: str) -> dict[str, Any]:
    return dict(json.loads(run_cli_in_process(home, "rollout", *args).stdout))


def routes(server: Server, endpoint: str) -> dict[str, int]:
    config = httpx.get(f"{server.url}/api/v1/endpoints/{endpoint}").json()
    return {r["target"]: r["weight"] for r in config["config"]["routes"]}


def drive_until_the_rollout_ends(server: Server, endpoint: str) -> dict[str, Any]:
    """Call ``endpoint`` until its rollout is judged; the deadline only bounds a broken server."""
    server.wait_until(f"/v2/models/{endpoint}/ready")  # a new endpoint: the server reads it within a poll
    deadline = time.monotonic() + JUDGE_TIMEOUT_S
    with httpx.Client(base_url=server.url, timeout=10) as client:
        while time.monotonic() < deadline:
            for _ in range(200):
                served_by(client, endpoint)
            plan = dict(client.get(f"/api/v1/endpoints/{endpoint}/rollout").json()["plan"])
            if plan["status"] != "running":
                return plan
    pytest.fail(f"the rollout of {endpoint} was not judged in {JUDGE_TIMEOUT_S} s:\n{server.log()}")


def guardrails(server: Server, endpoint: str) -> dict[str, Any]:
    """The rollout's evidence, once the controller has looked at it."""
    response = wait_for(
        server, f"/api/v1/endpoints/{endpoint}/rollout", lambda r: r.json()["guardrails"] is not None
    )
    return dict(response.json()["guardrails"]["guardrails"])


def test_a_passed_rollout_of_a_moving_alias_never_lets_the_next_version_in(
    server: Server, home: Path, model_files: dict[str, Path]
) -> None:
    run_cli_in_process(home, "endpoint", "create", "ep", "--route", "f@production=1")
    started = rollout(
        home,
        "start",
        "ep",
        "--candidate",
        "f@candidate",
        "--steps",
        "50,100",
        "--min-requests",
        "20",
        "--min-seconds",
        "0",
    )
    assert started["config"]["rollout"]["candidate"] == "f:2"  # pinned while it runs
    assert routes(server, "ep") == {"f:1": 50, "f:2": 50}
    plan = drive_until_the_rollout_ends(server, "ep")
    assert plan["status"] == "passed", plan
    assert routes(server, "ep") == {"f:2": 100}  # the version judged, not f@candidate

    register(home, model_files["iris"], "f", "--alias", "candidate")  # f:3, unjudged
    with httpx.Client(base_url=server.url, timeout=10) as client:
        wait_for(server, "/v2/models/f/versions/3/ready", lambda r: r.status_code == 200)
        assert Counter(served_by(client, "ep") for _ in range(50)) == {"f:2": 50}

    again = rollout(home, "start", "ep", "--candidate", "f@candidate", "--steps", "50,100")
    assert again["config"]["rollout"]["candidate"] == "f:3"
    for name, test in guardrails(server, "ep").items():  # nothing carried over from f:2's rollout
        assert test["baseline"]["observations"] == test["canary"]["observations"] == 0, (name, test)
    rollout(home, "abort", "ep")
    assert routes(server, "ep") == {"f:2": 100}


def test_feedback_for_one_request_counts_once(server: Server, home: Path) -> None:
    run_cli_in_process(home, "endpoint", "create", "fb", "--route", "f:1=1")
    wait_for(server, "/v2/models/fb/ready", lambda r: r.status_code == 200)
    answer = httpx.post(f"{server.url}/v2/models/fb/infer", json=iris_request(id="order-7")).json()
    assert answer["id"] == "order-7"
    first = run_cli_in_process(home, "feedback", "fb", "--id", "order-7", "--label", "[0, 1, 2]")
    assert json.loads(first.stdout)["judged"][0]["correct"] == 3
    again = ("feedback", "fb", "--id", "order-7", "--label", "[2, 2, 2]")
    second = run_cli_in_process(home, *again, check=False)
    assert second.returncode == 1
    assert "already has feedback" in second.stderr and "Traceback" not in second.stderr
    report = httpx.get(f"{server.url}/api/v1/endpoints/fb/report").json()
    assert report["variants"]["f:1"]["feedback_rows"] == 3 and report["variants"]["f:1"]["accuracy"] == 1.0


def test_an_alias_moved_to_a_version_that_cannot_load_keeps_answering(server: Server, home: Path) -> None:
    wait_for(server, "/api/v1/status", lambda r: "g:2" in r.json()["failures"])  # "latest" wants g:2
    failed: list[int] = []
    stop = threading.Event()

    def callers() -> None:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            while not stop.is_set():
                response = client.post("/v2/models/g/versions/production/infer", json=iris_request())
                if response.status_code != 200 or response.json()["model_version"] != "1":
                    failed.append(response.status_code)

    caller = threading.Thread(target=callers)
    caller.start()
    try:
        moved = run_cli_in_process(home, "alias", "set", "g", "production", "2", check=False)
    finally:
        stop.set()
        caller.join()
    assert failed == []
    assert moved.returncode == 1, moved.stdout + moved.stderr
    assert "g@production -> g:2" in moved.stdout  # the registry's alias did move ...
    assert "could not load g:2" in moved.stderr and "corrupt" in moved.stderr  # ... and it says why
    assert "g@production still answers with g:1" in moved.stderr

    status = httpx.get(f"{server.url}/api/v1/status").json()
    assert {k: v for k, v in status["held_aliases"][0].items() if k != "reason"} == {
        "model": "g",
        "alias": "production",
        "version": 2,
        "serving": 1,
    }
    assert "corrupt" in status["held_aliases"][0]["reason"]
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'modelport_alias_held_version{alias="production",model="g",registered_version="2"} 1.0' in metrics
    assert 'modelport_version_load_failed{model="g",version="2"} 1.0' in metrics
    assert httpx.get(f"{server.url}/v2/models/g/ready").status_code == 200


def test_a_rollout_to_a_version_that_cannot_load_is_rolled_back(server: Server, home: Path) -> None:
    run_cli_in_process(home, "endpoint", "create", "gep", "--route", "g:1=1")
    wait_for(server, "/v2/models/gep/ready", lambda r: r.status_code == 200)
    rollout(home, "start", "gep", "--candidate", "g:2", "--min-seconds", "0")
    with httpx.Client(base_url=server.url, timeout=10) as client:
        response = wait_for(
            server,
            "/api/v1/endpoints/gep/rollout",
            lambda r: served_by(client, "gep") == "g:1" and r.json()["plan"]["status"] != "running",
        )
    plan = response.json()["plan"]
    assert plan["status"] == "rolled_back" and "g:2 could not be loaded" in plan["reason"], plan
    assert routes(server, "gep") == {"g:1": 100}


def test_the_version_a_held_alias_answers_with_cannot_be_deleted(
    server: Server, home: Path, model_files: dict[str, Path], tmp_path: Path
) -> None:
    """The registry no longer points the alias at it, but the server still answers the alias with
    it: deleting it, locally or through the API, would take the alias down."""
    modelport.register(model_files["iris"], "h", alias="production", home=home)
    damaged = modelport.register(models.iris_onnx(tmp_path, c=0.7), "h", home=home)
    stored = next((home / "artifacts").glob(f"*/{damaged.digest}/*"))
    stored.chmod(0o600)
    stored.write_bytes(stored.read_bytes()[:-64])
    wait_for(server, "/v2/models/h/versions/production/ready", lambda r: r.status_code == 200)
    with open_registry(Settings(home=home)) as registry:
        registry.set_alias("h", "production", 2)
    wait_for(server, "/api/v1/status", lambda r: any(h["model"] == "h" for h in r.json()["held_aliases"]))

    held = "a running server answers h@production with version 1 because version 2 cannot be served"
    refused = run_cli_in_process(home, "versions", "delete", "h", "1", check=False)
    assert refused.returncode == 1 and held in refused.stderr, refused.stderr
    through_api = httpx.delete(f"{server.url}/api/v1/models/h/versions/1")
    assert through_api.status_code == 409 and held in through_api.json()["error"]
    assert httpx.delete(f"{server.url}/api/v1/models/h").status_code == 409
    assert httpx.get(f"{server.url}/v2/models/h/versions/production/ready").status_code == 200
