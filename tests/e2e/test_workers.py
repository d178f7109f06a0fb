"""``modelport serve --workers 2``: two processes share the port, and each follows the registry."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import IRIS_LABELS, Server, iris_request, register, running_server


@pytest.fixture(scope="module")
def server(home: Path, log_dir: Path, model_files: dict[str, Path]) -> Iterator[Server]:
    register(home, model_files["iris"], "iris")
    with running_server(home, log_dir, args=["--workers", "2"]) as started:
        yield started


def worker_pids(server: Server, want: int = 2, attempts: int = 300) -> set[int]:
    """PIDs that answer ``/api/v1/status`` on fresh connections, until ``want`` are seen."""
    pids: set[int] = set()
    for _ in range(attempts):
        with httpx.Client(base_url=server.url) as client:
            pids.add(client.get("/api/v1/status").json()["pid"])
        if len(pids) >= want:
            break
    return pids


def test_two_processes_answer_on_one_port(server: Server) -> None:
    pids = worker_pids(server)
    assert len(pids) == 2 and server.process.pid not in pids


def test_the_parent_records_the_address_once_for_the_cli(server: Server) -> None:
    recorded = json.loads((server.home / "server.json").read_text())
    grpc_port = httpx.get(f"{server.url}/api/v1/status").json()["grpc_port"]
    assert recorded == {"url": server.url, "grpc_port": grpc_port, "pid": server.process.pid}


def test_every_worker_serves_a_version_registered_while_running(
    server: Server, model_files: dict[str, Path]
) -> None:
    register(server.home, model_files["iris-v2"], "iris")
    deadline = time.monotonic() + 30
    streak, answered_by = 0, set()
    while streak < 40 or len(answered_by) < 2:  # fresh connections land on either worker; both must serve v2
        assert time.monotonic() < deadline, f"workers did not all converge: {server.log()[-2000:]}"
        with httpx.Client(base_url=server.url) as client:
            result = client.post("/v2/models/iris/versions/2/infer", json=iris_request())
            if result.status_code != 200:
                streak, answered_by = 0, set()
                time.sleep(0.1)
                continue
            streak += 1
            answered_by.add(client.get("/api/v1/status").json()["pid"])
    assert len(answered_by) == 2


def test_each_worker_reports_the_traffic_of_both(server: Server) -> None:
    """Deployment evidence is shared through the (SQLite) registry: an A/B report from either
    worker counts every request, whichever worker served it."""
    created = httpx.post(
        f"{server.url}/api/v1/endpoints", json={"name": "ab", "routes": [{"target": "iris:1", "weight": 1}]}
    )
    assert created.status_code == 201, created.text
    sent = 0
    deadline = time.monotonic() + 30
    while sent < 40:  # fresh connections land on either worker
        assert time.monotonic() < deadline, server.log()[-2000:]
        with httpx.Client(base_url=server.url) as client:
            sent += client.post("/v2/models/ab/infer", json=iris_request()).status_code == 200
    reported: dict[int, int] = {}
    while len(reported) < 2 or set(reported.values()) != {40}:
        assert time.monotonic() < deadline + 30, (reported, server.log()[-2000:])
        with httpx.Client(base_url=server.url) as client:  # one connection: one worker
            pid = client.get("/api/v1/status").json()["pid"]
            variants = client.get("/api/v1/endpoints/ab/report").json()["variants"]
            reported[pid] = variants.get("iris:1", {}).get("requests", 0)
        time.sleep(0.05)


@contextlib.contextmanager
def client_of_another_worker(server: Server, pid: int, attempts: int = 300) -> Iterator[httpx.Client]:
    """A client whose one connection landed on a worker other than ``pid``."""
    for _ in range(attempts):
        with httpx.Client(base_url=server.url) as client:
            if client.get("/api/v1/status").json()["pid"] != pid:
                yield client
                return
    pytest.fail(f"no connection landed on a worker other than {pid}")


def test_feedback_sent_to_either_worker_counts_once(server: Server) -> None:
    """Predictions reach the (SQLite) registry: feedback sent to the worker that did not serve them
    is accepted, the merged A/B report counts it once, and the same ids are refused on both."""
    created = httpx.post(
        f"{server.url}/api/v1/endpoints", json={"name": "fb", "routes": [{"target": "iris:1", "weight": 1}]}
    )
    assert created.status_code == 201, created.text
    with (
        httpx.Client(base_url=server.url) as served,  # one connection: one worker
        client_of_another_worker(server, served.get("/api/v1/status").json()["pid"]) as other,
    ):
        for client in (served, other):  # each worker routes a new endpoint after its next registry poll
            _until(lambda client=client: client.get("/v2/models/fb/ready").status_code == 200)
        ids = [f"fb-{n}" for n in range(5)]
        for request_id in ids:
            answer = served.post("/v2/models/fb/infer", json=iris_request(id=request_id))
            assert answer.status_code == 200 and answer.json()["id"] == request_id, answer.text
        items = {"items": [{"id": request_id, "label": IRIS_LABELS} for request_id in ids]}
        deadline = time.monotonic() + 30
        while (judged := other.post("/api/v1/endpoints/fb/feedback", json=items)).status_code == 404:
            assert time.monotonic() < deadline, judged.text  # until the serving worker's flush (~1 s)
            time.sleep(0.1)
        assert judged.status_code == 200, judged.text
        assert [j["id"] for j in judged.json()["judged"]] == ids
        for client in (other, served):  # the worker that judged, and the one that served
            refused = client.post("/api/v1/endpoints/fb/feedback", json={"items": items["items"][:1]})
            assert refused.status_code == 409 and "already has feedback" in refused.json()["error"], (
                refused.text
            )
        for client in (served, other):
            while (report := client.get("/api/v1/endpoints/fb/report").json())["variants"]["iris:1"].get(
                "feedback_requests"
            ) != len(ids):
                assert time.monotonic() < deadline, report  # the judging worker's flush, then read
                time.sleep(0.1)
            assert report["variants"]["iris:1"]["feedback_rows"] == len(IRIS_LABELS) * len(ids)


def test_stopping_the_server_stops_its_workers(home: Path, log_dir: Path) -> None:
    with running_server(home, log_dir, args=["--workers", "2"]) as started:
        pids = worker_pids(started)
    assert not (home / "server.json").exists()  # the record goes with the server
    for pid in pids:  # stop() sent SIGTERM to the parent and waited for it
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        os.kill(pid, signal.SIGKILL)
        pytest.fail(f"worker {pid} outlived its server")


def _until(condition: Callable[[], bool]) -> None:
    for _ in range(600):
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("never happened")
