"""``modelport serve --backend ray``: the real CLI deploys the server on a two-node Ray cluster that this
module starts on loopback (``tests/ray_cluster.py``), with one replica and room for two, one per node.
Under concurrent requests Ray's autoscaler adds the second, every request answered; through Ray's
HTTP proxy it answers as a local ``modelport serve`` of the same registry does; an alias moved with
the CLI reaches both replicas; a replica killed with SIGKILL is replaced while a client that retries
once sees every request answered; SIGTERM deletes the application.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelport.core.settings import Settings
from tests.e2e.conftest import (
    MODELPORT,
    Server,
    base_env,
    free_port,
    iris_request,
    register,
    run_cli,
    run_cli_in_process,
    running_server,
    wait_for,
)
from tests.ray_cluster import LOOPBACK_ENV, two_node_cluster

pytest.importorskip("ray.serve")

pytestmark = [  # Ray's nodes, started in this process, leave their log files for the collector to close
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

REPLICAS = 2
RAY_ENV = {
    **LOOPBACK_ENV,
    "MODELPORT_RAY__MIN_REPLICAS": "1",
    "MODELPORT_RAY__MAX_REPLICAS": str(REPLICAS),
    # a second replica as soon as one holds more than a request on average (Ray then waits for its
    # next look at the replicas' load, every 10 s)
    "MODELPORT_RAY__TARGET_ONGOING_REQUESTS": "1",
    "MODELPORT_RAY__UPSCALE_DELAY_S": "0",
    "MODELPORT_SERVING__POLL_INTERVAL_S": "0.2",
}
LOAD_CLIENTS = 4
START_TIMEOUT_S = 120.0
"""Bounds a hung deployment (starting replicas on a loaded machine); not a timing assertion."""


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    with two_node_cluster() as address:
        yield address


@pytest.fixture(scope="module")
def ray_home(home: Path, model_files: dict[str, Path]) -> Path:
    register(home, model_files["iris"], "iris", "--alias", "production")
    register(home, model_files["iris-v2"], "iris")
    return home


@pytest.fixture(scope="module")
def on_ray(cluster: str, ray_home: Path, log_dir: Path) -> Iterator[Server]:
    """``modelport serve --backend ray`` on the cluster, once its first replica answers through the proxy."""
    port = free_port()
    log_path = log_dir / f"ray-serve-{port}.log"
    log_file = log_path.open("wb")
    command = [str(MODELPORT), "serve", "--backend", "ray", "--address", cluster, "--port", str(port)]
    process = subprocess.Popen(
        command, stdout=log_file, stderr=subprocess.STDOUT, env=base_env(ray_home, **RAY_ENV)
    )
    server = Server(ray_home, port, process, log_path, log_file)
    try:
        server.wait_until("/v2/health/ready", timeout_s=START_TIMEOUT_S)
        yield server
    finally:
        server.stop()
        print(f"----- ray serve log ({log_path}) -----\n{log_path.read_text(errors='replace')}")


@dataclass
class ScaleOut:
    before: set[int]
    """The replicas (by pid) that answered before the load."""
    after: set[int]
    """Those that answered once Ray had added one."""
    answers: list[str]
    """Each inference sent meanwhile: its status code, or the transport error."""


@pytest.fixture(scope="module")
def scaled_out(on_ray: Server) -> ScaleOut:
    """Concurrent inferences, held until a second replica answers: the deployment at two replicas,
    as the tests that need both want it."""
    with httpx.Client(base_url=on_ray.url, timeout=10, headers={"Connection": "close"}) as client:
        before = {status(client)["pid"] for _ in range(6)}
    answers: list[str] = []
    stop = threading.Event()

    def client_loop() -> None:
        with httpx.Client(base_url=on_ray.url, timeout=30) as client:
            while not stop.is_set():
                try:
                    answers.append(str(client.post("/v2/models/iris/infer", json=iris_request()).status_code))
                except httpx.TransportError as error:
                    answers.append(repr(error))

    clients = [threading.Thread(target=client_loop) for _ in range(LOAD_CLIENTS)]
    for thread in clients:
        thread.start()
    try:
        after = replicas(on_ray, REPLICAS)
    finally:
        stop.set()
        for thread in clients:
            thread.join()
    return ScaleOut(before, after, answers)


def status(client: httpx.Client) -> dict[str, Any]:
    response = client.get("/api/v1/status")
    assert response.status_code == 200, response.text
    return dict(response.json())


def replicas(server: Server, count: int, condition: Callable[[dict[str, Any]], bool] = bool) -> set[int]:
    """Ask ``/api/v1/status`` through the proxy until ``count`` replicas (by pid) met ``condition``.

    A new connection each time: each node's proxy listens on the port (the kernel deals connections
    between them) and prefers its own node's replica."""
    met: set[int] = set()

    def seen(response: httpx.Response) -> bool:
        if response.status_code == 200 and condition(response.json()):
            met.add(response.json()["pid"])
        return len(met) >= count

    wait_for(server, "/api/v1/status", seen, timeout_s=START_TIMEOUT_S, headers={"Connection": "close"})
    return met


def test_under_load_ray_adds_a_replica_and_every_request_is_answered(scaled_out: ScaleOut) -> None:
    assert len(scaled_out.before) == 1
    assert len(scaled_out.after) == REPLICAS and scaled_out.before < scaled_out.after
    assert scaled_out.answers and set(scaled_out.answers) == {"200"}


def test_rays_proxies_log_no_line_per_request(cluster: str, scaled_out: ScaleOut) -> None:
    """As ``modelport serve`` (and the replicas): the requests the load sent leave no access line
    in the proxies' logs."""
    logs = sorted(_serve_logs(cluster).glob("proxy_*.log"))
    assert logs and len(scaled_out.answers) > 0
    access = re.compile(r" -- (GET|POST) \S+ \d{3} [\d.]+ms$")
    assert [line for log in logs for line in log.read_text().splitlines() if access.search(line)] == []


def _serve_logs(address: str) -> Path:
    """Ray Serve's log folder on the cluster at ``address``: in the log folder its GCS server is given."""
    port_argument = f"--gcs_server_port={address.rsplit(':', 1)[1]}".encode()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            arguments = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if arguments[0].endswith(b"gcs_server") and port_argument in arguments:
            (log_dir,) = (a.decode().partition("=")[2] for a in arguments if a.startswith(b"--log_dir="))
            return Path(log_dir) / "serve"
    raise AssertionError(f"no GCS server at {address}")


def test_the_ray_settings_become_the_deployments_config(tmp_path: Path) -> None:
    from modelport.server.ray_serve import ingress_deployment

    scaling = {
        "min_replicas": 2,
        "max_replicas": 5,
        "target_ongoing_requests": 3.0,
        "upscale_delay_s": 1.5,
        "downscale_delay_s": 20.0,
    }
    settings = Settings(
        home=tmp_path, ray={**scaling, "max_ongoing_requests": 40, "num_cpus_per_replica": 0.5}
    )
    deployment = ingress_deployment(settings)
    autoscaling = deployment._deployment_config.autoscaling_config  # what serve.run hands Ray's controller
    assert autoscaling is not None and autoscaling.model_dump(include=set(scaling)) == scaling
    assert deployment.max_ongoing_requests == 40
    assert deployment.ray_actor_options == {"num_cpus": 0.5}


def test_an_alias_moved_with_the_cli_reaches_every_replica(
    on_ray: Server, scaled_out: ScaleOut, ray_home: Path
) -> None:
    def production(answer: dict[str, Any]) -> Any:
        return answer["routing"]["models"]["iris"]["aliases"].get("production")

    assert len(replicas(on_ray, REPLICAS, lambda answer: production(answer) == 1)) == REPLICAS
    moved = run_cli(ray_home, "alias", "set", "iris", "production", "2")
    # the CLI found the proxy's address in the home, and asked a replica through it
    assert "the server now answers iris@production with iris:2" in moved.stdout
    assert len(replicas(on_ray, REPLICAS, lambda answer: production(answer) == 2)) == REPLICAS
    with httpx.Client(base_url=on_ray.url, timeout=10) as client:
        for _ in range(10):
            answer = client.post("/v2/models/iris/versions/production/infer", json=iris_request())
            assert (answer.status_code, answer.json()["model_version"]) == (200, "2")


def test_a_killed_replica_is_replaced_and_a_client_that_retries_once_sees_no_failure(
    on_ray: Server, scaled_out: ScaleOut
) -> None:
    """Two clients, a new connection per request (so both nodes' proxies, and both replicas, take
    them), each request retried once if it fails. Only the killed replica's requests may fail, and
    the replacement takes requests only once it has loaded what it serves: none is answered 404 for
    a model not loaded yet (as some were before a replica's startup waited for its readiness)."""
    before = replicas(on_ray, REPLICAS)
    tries: list[list[str]] = []  # per request: its failed tries
    stop = threading.Event()

    def client_loop() -> None:
        with httpx.Client(base_url=on_ray.url, timeout=30, headers={"Connection": "close"}) as client:
            while not stop.is_set():
                tries.append(_failed_tries(client))

    first_status: dict[int, dict[str, Any]] = {}

    def replaced(answer: dict[str, Any]) -> bool:
        first_status.setdefault(answer["pid"], answer)
        return bool(answer["pid"] != victim and answer["ready"])

    clients = [threading.Thread(target=client_loop) for _ in range(2)]
    for thread in clients:
        thread.start()
    try:
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        after = replicas(on_ray, REPLICAS, replaced)
        (replacement,) = after - before
        assert victim not in after
        sent = len(tries)
        while len(tries) < sent + 20:
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in clients:
            thread.join()
    assert [failed for failed in tries if len(failed) > 1] == []
    assert [failed for failed in tries if any(re.match(r"try \d: 4\d\d ", f) for f in failed)] == []
    first = first_status[replacement]
    assert first["ready"] and first["versions_loaded"] == first["versions_wanted"], first


def _failed_tries(client: httpx.Client) -> list[str]:
    """An inference, tried again once if it fails: what each failed try got (empty: answered at once)."""
    failed: list[str] = []
    for attempt in range(2):
        try:
            response = client.post("/v2/models/iris/infer", json=iris_request())
        except httpx.TransportError as error:
            failed.append(f"try {attempt + 1}: {error!r}")
            continue
        if response.status_code == 200:
            break
        failed.append(f"try {attempt + 1}: {response.status_code} {response.text}")
    return failed


def test_answers_through_rays_proxy_are_a_local_servers_for_the_same_registry(
    on_ray: Server, ray_home: Path, log_dir: Path
) -> None:
    """(After the tests that find the server through its record in the home: the local server of
    the same home replaces that record.)"""
    requests: list[tuple[str, str, Any]] = [
        ("GET", "/v2/models/iris", None),
        ("GET", "/v2/models/iris/versions/2", None),
        ("POST", "/v2/models/iris/infer", iris_request(id="r-1")),
        ("POST", "/v2/models/iris/versions/production/infer", iris_request()),
        ("POST", "/v2/models/iris/versions/2/infer", iris_request(outputs=[{"name": "label"}])),
        ("POST", "/v2/models/iris/infer", {"inputs": [{"name": "X", "datatype": "FP32", "shape": [1, 3]}]}),
        ("POST", "/v2/models/nope/infer", iris_request()),
    ]

    def answers(url: str) -> list[tuple[int, Any]]:
        with httpx.Client(base_url=url, timeout=10) as client:
            return [(r.status_code, r.json()) for r in (client.request(m, p, json=j) for m, p, j in requests)]

    with running_server(ray_home, log_dir) as local:
        expected = answers(local.url)
    assert answers(on_ray.url) == expected
    assert [code for code, _ in expected] == [200, 200, 200, 200, 200, 400, 404]


def test_sigterm_deletes_the_application_and_frees_the_port(on_ray: Server) -> None:
    assert f"through Ray Serve on {on_ray.url} (1 to {REPLICAS} replicas)" in on_ray.log()
    on_ray.process.send_signal(signal.SIGTERM)
    assert on_ray.process.wait(timeout=60) == 0, on_ray.log()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{on_ray.url}/v2/health/live", timeout=5)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--grpc-port", "0"], "--grpc-port: with --backend ray only HTTP is served (through Ray's proxy)"),
        (["--workers", "2"], "--workers: with --backend ray, Ray runs the replicas"),
        (["--port", "0"], "--port 0: Ray's HTTP proxies need a fixed port"),
    ],
)
def test_what_ray_does_not_take_is_refused_in_one_line(home: Path, options: list[str], message: str) -> None:
    result = run_cli_in_process(home, "serve", "--backend", "ray", *options, check=False)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"MODELPORT_RAY__MIN_REPLICAS": "3", "MODELPORT_RAY__MAX_REPLICAS": "2"},
            "ray.max_replicas must be at least ray.min_replicas",
        ),
        (
            {"MODELPORT_RAY__TARGET_ONGOING_REQUESTS": "300"},
            "ray.max_ongoing_requests must be at least ray.target_ongoing_requests",
        ),
    ],
)
def test_ray_settings_that_contradict_each_other_are_refused(
    home: Path, env: dict[str, str], message: str
) -> None:
    result = run_cli_in_process(home, "serve", "--backend", "ray", env=env, check=False)
    assert result.returncode == 2
    assert f"Error: invalid settings: ray: Value error, {message}" in result.stderr


def test_address_without_the_ray_backend_is_refused(home: Path) -> None:
    result = run_cli_in_process(home, "serve", "--address", "127.0.0.1:1", check=False)
    assert result.returncode == 2
    assert "--address is for --backend ray" in result.stderr


def test_without_ray_serve_the_backend_names_the_extra_to_install(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(sys.modules, "modelport.server.ray_serve", raising=False)
    monkeypatch.setitem(sys.modules, "ray", None)  # as when the package is missing
    result = run_cli_in_process(home, "serve", "--backend", "ray", check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: --backend ray needs Ray Serve: pip install 'modelport[ray]'"
