"""Three real ``modelport serve`` replicas on one PostgreSQL registry agree on the routing table.

Changes go through one replica's API (the real CLI with ``--server``); every replica must then report
the registry's revision and the same routing table (``/api/v1/status``'s ``routing``) and answer
from the same version. The replicas poll only every 300 s, so they converge in time only through
PostgreSQL's notifications. The cluster is this module's own: one test restarts it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.e2e.conftest import (
    Server,
    iris_request,
    run_cli_in_process,
    start_server,
)
from tests.postgres import Cluster, start_cluster

REPLICAS = 3
POLL_S = "300"
"""Far longer than CONVERGE_S: a change reaches the replicas in time only if notifications work."""
CONVERGE_S = 60.0
"""Bounds a broken test's wait; not a latency assertion."""


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def env(cluster: Cluster) -> dict[str, str]:
    return {
        "MODELPORT_STORAGE__DATABASE_URL": cluster.create_database("replicas"),
        "MODELPORT_SERVING__POLL_INTERVAL_S": POLL_S,
    }


@pytest.fixture(scope="module")
def replicas(home: Path, log_dir: Path, env: dict[str, str]) -> Iterator[list[Server]]:
    """Three replicas on one registry and one artifact folder (the home they share), started together."""
    servers: list[Server] = []
    try:
        with ThreadPoolExecutor(REPLICAS) as pool:
            started = [pool.submit(start_server, home, log_dir, **env) for _ in range(REPLICAS)]
            wait(started)
        servers.extend(f.result() for f in started if f.exception() is None)
        for future in started:
            future.result()  # the first failure to start, once the others are in ``servers``
        yield servers
    finally:
        for server in servers:
            server.stop()
            print(
                f"----- replica log ({server.log_path}) -----\n{server.log_path.read_text(errors='replace')}"
            )


def cli(replica: Server, tmp_path: Path, *args: str | Path) -> str:
    """``modelport --server REPLICA ARGS``: the change goes through that replica's management API."""
    return run_cli_in_process(tmp_path / "cli-home", "--server", replica.url, *args).stdout


def statuses(replicas: list[Server]) -> list[dict[str, Any] | None]:
    found: list[dict[str, Any] | None] = []
    for replica in replicas:
        status = None
        with contextlib.suppress(httpx.HTTPError):
            response = httpx.get(f"{replica.url}/api/v1/status", timeout=5)
            status = response.json() if response.status_code == 200 else None
        found.append(status)
    return found


def converged(replicas: list[Server]) -> dict[str, Any]:
    """Wait until every replica has applied the registry's latest revision, loaded all it wants, and
    reports the same routing table; that table."""
    deadline = time.monotonic() + CONVERGE_S
    while True:
        found = statuses(replicas)
        done = [
            s for s in found if s is not None and s["ready"] and s["versions_loaded"] == s["versions_wanted"]
        ]
        if (
            len(done) == len(replicas)
            and len({s["registry_head"] for s in done}) == 1
            and all(s["registry_revision"] == s["registry_head"] for s in done)
            and all(s["routing"] == done[0]["routing"] for s in done)
        ):
            return dict(done[0]["routing"])
        for replica in replicas:
            if replica.process.poll() is not None:
                pytest.fail(f"replica {replica.url} exited:\n{replica.log()}")
        if time.monotonic() > deadline:
            shown = "\n".join(f"{r.url}: {s}" for r, s in zip(replicas, found, strict=True))
            pytest.fail(f"the replicas did not converge:\n{shown}")
        time.sleep(0.05)


def answers(replicas: list[Server], path: str = "/v2/models/iris/infer") -> set[str]:
    """The ``model_version`` each replica answers ``path`` from."""
    versions = set()
    for replica in replicas:
        response = httpx.post(f"{replica.url}{path}", json=iris_request(), timeout=10)
        assert response.status_code == 200, response.text
        versions.add(response.json()["model_version"])
    return versions


def test_each_kind_of_change_made_on_one_replica_reaches_all_three(
    replicas: list[Server], model_files: dict[str, Path], tmp_path: Path
) -> None:
    first = replicas[0]
    cli(first, tmp_path, "register", model_files["iris"], "--name", "iris", "--alias", "production")
    assert converged(replicas)["models"]["iris"] == {
        "versions": [1],
        "aliases": {"production": 1},
        "default": 1,
    }
    assert answers(replicas) == {"1"}

    cli(first, tmp_path, "register", model_files["iris-v2"], "--name", "iris", "--alias", "staging")
    assert converged(replicas)["models"]["iris"]["aliases"] == {"production": 1, "staging": 2}

    cli(first, tmp_path, "alias", "set", "iris", "production", "2")  # an alias moved
    routing = converged(replicas)
    assert routing["models"]["iris"]["aliases"] == {"production": 2, "staging": 2}
    assert answers(replicas) == {"2"}

    cli(first, tmp_path, "endpoint", "create", "ab", "--route", "iris:1=90", "--route", "iris@production=10")
    routes = converged(replicas)["endpoints"]["ab"]["routes"]
    assert [(r["version"], r["weight"]) for r in routes] == [("iris:1", 90), ("iris:2", 10)]

    cli(first, tmp_path, "endpoint", "set-weights", "ab", "iris:1=20", "iris@production=80")
    routes = converged(replicas)["endpoints"]["ab"]["routes"]
    assert [(r["version"], r["weight"]) for r in routes] == [("iris:1", 20), ("iris:2", 80)]

    cli(first, tmp_path, "shadow", "add", "ab", "iris@staging", "--percent", "25")
    shadows = converged(replicas)["endpoints"]["ab"]["shadows"]
    assert shadows == [{"target": "iris@staging", "version": "iris:2", "percent": 25.0}]

    cli(first, tmp_path, "monitor", "set", "iris", "--sample-rate", "0.5")
    assert converged(replicas) == ROUTING_IN_THE_DOCS


ROUTING_IN_THE_DOCS = {  # docs/management-api.md#status
    "models": {"iris": {"versions": [1, 2], "aliases": {"production": 2, "staging": 2}, "default": 2}},
    "endpoints": {
        "ab": {
            "revision": 3,
            "routes": [
                {"target": "iris:1", "version": "iris:1", "weight": 20},
                {"target": "iris@production", "version": "iris:2", "weight": 80},
            ],
            "shadows": [{"target": "iris@staging", "version": "iris:2", "percent": 25.0}],
        }
    },
    "monitors": {"iris": {"sample_rate": 0.5, "redact": {}}},
}


def test_a_replica_killed_mid_change_comes_back_to_the_same_routing_table(
    replicas: list[Server],
    home: Path,
    log_dir: Path,
    env: dict[str, str],
    model_files: dict[str, Path],
    tmp_path: Path,
) -> None:
    """The write is made through one replica; another is killed while it loads the new version."""
    cli(replicas[0], tmp_path, "register", model_files["iris"], "--name", "iris", "--alias", "production")
    victim = replicas.pop()
    victim.process.kill()
    victim.process.wait(timeout=10)
    replicas.append(start_server(home, log_dir, **env))  # a new free port: as a replacement would
    victim.stop()
    routing = converged(replicas)
    number = routing["models"]["iris"]["aliases"]["production"]
    assert number == max(routing["models"]["iris"]["versions"])
    assert answers(replicas) == {str(number)}


def test_replicas_reconnect_after_postgresql_restarts_and_serve_throughout(
    replicas: list[Server], cluster: Cluster, tmp_path: Path
) -> None:
    """Inference never touches the registry: no request fails while PostgreSQL restarts. The
    replicas' listeners and pools reconnect; the next change reaches all three (by notification)."""
    failures: list[str] = []
    served = 0
    stop = threading.Event()

    def load() -> None:
        nonlocal served
        with contextlib.ExitStack() as stack:
            clients = [stack.enter_context(httpx.Client(base_url=r.url, timeout=10)) for r in replicas]
            while not stop.is_set():
                for client in clients:
                    response = client.post("/v2/models/iris/infer", json=iris_request())
                    if response.status_code == 200:
                        served += 1
                    else:
                        failures.append(f"{client.base_url}: {response.status_code} {response.text}")

    _until(lambda: _listeners(cluster) == REPLICAS)  # the replacement's too
    worker = threading.Thread(target=load)
    worker.start()
    try:
        _restart(cluster)
        _until(lambda: _listeners(cluster) == REPLICAS)
        before = served
        cli(replicas[0], tmp_path, "alias", "set", "iris", "staging", "1")
        assert converged(replicas)["models"]["iris"]["aliases"]["staging"] == 1
        _until(lambda: served > before)
    finally:
        stop.set()
        worker.join(timeout=30)
    assert failures == []
    for replica in replicas:
        assert replica.log().count("lost registry change notifications") == 1, replica.log()


def _restart(cluster: Cluster) -> None:
    """``pg_ctl restart`` (fast: sessions are ended), as an operator's restart would."""
    done = cluster._pg_ctl("restart", "-m", "fast", "-w", "-t", "60", "-l", str(cluster.root / "server.log"))
    assert done.returncode == 0, done.stderr


def _listeners(cluster: Cluster) -> int:
    """The replicas' LISTENing connections."""
    with psycopg.connect(host="127.0.0.1", port=cluster.port, user="postgres", autocommit=True) as c:
        row = c.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'modelport-listen' "
            "AND query LIKE 'LISTEN%'"
        ).fetchone()
        return int(row[0]) if row else 0


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + CONVERGE_S
    while True:
        with contextlib.suppress(psycopg.OperationalError):
            if condition():
                return
        assert time.monotonic() < deadline, "the condition was never met"
        time.sleep(0.05)


def test_no_write_is_reported_done_that_a_postgresql_restart_lost(
    replicas: list[Server], cluster: Cluster
) -> None:
    """Weights changes sent to one replica while PostgreSQL restarts: each one answered 200 is in the
    endpoint's history with its weights after the restart; each one refused is a JSON error in the
    management API's shape, never a traceback; and writes succeed again once it is back."""
    with httpx.Client(base_url=f"{replicas[0].url}/api/v1", timeout=30) as api:
        _restart_while_writing(api, cluster)


def _restart_while_writing(api: httpx.Client, cluster: Cluster) -> None:
    routes = [{"target": "iris:1", "weight": 50}, {"target": "iris:2", "weight": 50}]
    assert api.post("/endpoints", json={"name": "restarted", "routes": routes}).status_code == 201
    done: dict[int, int] = {}  # revision -> the weight of iris:1 it was answered for
    refused: list[tuple[int, str]] = []
    stop = threading.Event()

    def write() -> None:
        weight = 0
        while not stop.is_set():
            weight = weight % 99 + 1
            body = {
                "routes": [
                    {"target": "iris:1", "weight": weight},
                    {"target": "iris:2", "weight": 100 - weight},
                ]
            }
            with contextlib.suppress(httpx.TimeoutException):
                answer = api.put("/endpoints/restarted/routes", json=body)
                if answer.status_code == 200:
                    done[answer.json()["revision"]] = weight
                else:
                    refused.append((answer.status_code, answer.text))

    worker = threading.Thread(target=write)
    worker.start()
    try:
        _until(lambda: len(done) >= 3)
        _restart(cluster)
        count = len(done)
        _until(lambda: len(done) > count + 3)  # writes go through again
    finally:
        stop.set()
        worker.join(timeout=60)
    history = {change["revision"]: change for change in api.get("/endpoints/restarted/history").json()}
    for revision, weight in done.items():
        assert revision in history, f"revision {revision} was answered 200 but is not stored"
        assert history[revision]["config"]["routes"][0]["weight"] == weight
    for status, text in refused:
        assert status >= 500 and "Traceback" not in text, (status, text)
        assert isinstance(httpx.Response(status, text=text).json()["error"], str)
