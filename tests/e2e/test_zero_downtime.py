"""Traffic keeps flowing through an endpoint while it changes in every way the CLI can change it
(weights, shadows, promote, rollback, alias moves, new versions): not one request may fail."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import httpx

from tests.e2e.conftest import iris_request, register, run_cli, running_server


def hammer(url: str, stop: threading.Event, statuses: Counter[int], served: Counter[str]) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(100_000):  # bounded; the test stops it much earlier
            if stop.is_set():
                return
            response = client.post("/v2/models/flowers/infer", json=iris_request())
            statuses[response.status_code] += 1
            served[response.headers.get("x-modelport-served-by", "?")] += 1


def test_changes_of_every_kind_under_load_fail_no_request(
    tmp_path: Path, model_files: dict[str, Path]
) -> None:
    home = tmp_path / "home"
    register(home, model_files["iris"], "iris", "--alias", "production")
    register(home, model_files["iris-v2"], "iris", "--alias", "candidate")
    with running_server(home, tmp_path) as server:
        cli = lambda *args: run_cli(home, "--server", server.url, *args)  # noqa: E731
        cli("endpoint", "create", "flowers", "--route", "iris@production=100")
        server.wait_until("/v2/models/flowers/ready")
        stop, statuses, served = threading.Event(), Counter[int](), Counter[str]()
        workers = [
            threading.Thread(target=hammer, args=(server.url, stop, statuses, served)) for _ in range(4)
        ]
        for worker in workers:
            worker.start()
        changes = [  # every kind of change, each at least once, under load
            ("endpoint", "set-weights", "flowers", "iris@production=90", "iris@candidate=10"),
            ("shadow", "add", "flowers", "iris:1", "--percent", "50"),
            ("promote", "flowers", "iris@candidate"),
            ("rollback", "flowers"),
            ("alias", "set", "iris", "production", "2"),
            ("shadow", "remove", "flowers", "iris:1"),
            ("register", str(model_files["iris-v2"]), "--name", "iris", "--alias", "candidate", "--json"),
            ("promote", "flowers", "iris:3"),
            ("register", str(model_files["iris"]), "--name", "iris", "--alias", "production", "--json"),
            ("endpoint", "set-weights", "flowers", "iris@production=1", "iris:2=1"),
            ("rollback", "flowers"),
        ]
        try:
            for change in changes:
                cli(*change)
                server.wait_until("/v2/health/ready", timeout_s=5)
                stop.wait(0.4)  # let the server converge on the change while traffic flows
        finally:
            stop.set()
            for worker in workers:
                worker.join(timeout=60)
    assert sum(statuses.values()) > 200, statuses
    assert set(statuses) == {200}, f"failed requests: {statuses}"
    assert {"iris:1", "iris:2", "iris:3", "iris:4"} <= set(served), served
