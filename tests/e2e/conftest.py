"""End-to-end fixtures: the real ``modelport`` console script, a real server subprocess on loopback.

Every server started here is stopped by its PID (terminate, wait, then kill), and its output goes to a
log file in the test's tmp dir, which is printed (and put in assertion messages) when something fails.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import models

MODELPORT = Path(sys.executable).parent / "modelport"
IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [5.9, 3.0, 4.2, 1.5], [6.7, 3.0, 5.2, 2.3]]
"""One row of each iris class (setosa, versicolor, virginica): labels 0, 1, 2."""
IRIS_LABELS = [0, 1, 2]
READY_TIMEOUT_S = 30.0
_SERVE_DEFAULTS = {"MODELPORT_SERVING__POLL_INTERVAL_S": "0.2", "MODELPORT_GRPC__PORT": "0"}
CONVERGE_TIMEOUT_S = 10.0


def iris_request(rows: Sequence[Sequence[float]] = IRIS_ROWS, **extra: Any) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": "X", "datatype": "FP32", "shape": [len(rows), 4], "data": [list(r) for r in rows]}
        ],
        **extra,
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env(home: Path, **extra: str) -> dict[str, str]:
    """The test process's environment without any MODELPORT_* leaking in, plus ``home`` and ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPORT_")}
    env["MODELPORT_HOME"] = str(home)
    env.update(extra)
    return env


def run_cli(
    home: Path,
    *args: str | Path,
    input: str | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``modelport ARGS`` with ``MODELPORT_HOME=home``; ``check`` fails the test on a non-zero exit."""
    result = subprocess.run(
        [str(MODELPORT), *map(str, args)],
        input=input,
        capture_output=True,
        text=True,
        env=base_env(home, **(env or {})),
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"modelport {' '.join(map(str, args))} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


def run_cli_in_process(
    home: Path, *args: str | Path, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``run_cli(home, *args, env=env, check=check)``'s command, run in this process by click's runner
    with the same variables: the CLI's own code path, without a second of interpreter start. What
    would have been a traceback is raised here. Tests of the console script's process itself (its
    entry point, a signal, a resource limit, a real terminal's stdin) use ``run_cli``."""
    from click.testing import CliRunner

    from modelport.cli import main

    variables: dict[str, str | None] = {k: None for k in os.environ if k.startswith("MODELPORT_")}
    variables.update({"MODELPORT_HOME": str(home), **(env or {})})
    argv = [str(arg) for arg in args]
    with warnings.catch_warnings():
        # What the command leaves open (a client's connection) its process's exit would close.
        warnings.simplefilter("ignore", ResourceWarning)
        result = CliRunner().invoke(main, argv, env=variables, catch_exceptions=False)
        gc.collect()
    if check and result.exit_code != 0:
        pytest.fail(f"modelport {' '.join(argv)} exited {result.exit_code}\n{result.stdout}\n{result.stderr}")
    return subprocess.CompletedProcess(["modelport", *argv], result.exit_code, result.stdout, result.stderr)


def register(home: Path, path: Path, name: str, *options: str) -> dict[str, Any]:
    """``modelport register PATH --name NAME OPTIONS --json``, parsed (``--json``: see test_cli for why),
    run in this process (``run_cli_in_process``): a module's models are set up faster."""
    result = run_cli_in_process(home, "register", path, "--name", name, *options, "--json")
    return dict(json.loads(result.stdout))


@dataclass
class Server:
    """A running ``modelport serve`` subprocess."""

    home: Path
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    _log_file: Any = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        """``host:port``, as tritonclient wants it."""
        return f"127.0.0.1:{self.port}"

    def log(self) -> str:
        self._log_file.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Stop the server by its PID: SIGTERM, up to 10 s to exit, then SIGKILL."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log_file.close()

    def wait_until(
        self, path: str, *, status: int = 200, timeout_s: float = CONVERGE_TIMEOUT_S, **request: Any
    ) -> httpx.Response:
        """Poll ``GET path`` (or ``request`` with method/json) until it answers ``status``."""
        return wait_for(self, path, lambda r: r.status_code == status, timeout_s=timeout_s, **request)


def wait_for(
    server: Server,
    path: str,
    condition: Any,
    *,
    timeout_s: float = CONVERGE_TIMEOUT_S,
    method: str = "GET",
    **request: Any,
) -> httpx.Response:
    """Poll ``path`` until ``condition(response)``: the server converges on the registry in the background.

    The deadline only bounds how long a broken server can hang the suite; it is not a latency assertion.
    """
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=server.url, timeout=5) as client:
        while True:
            if server.process.poll() is not None:
                pytest.fail(f"the server exited with {server.process.returncode}:\n{server.log()}")
            response: httpx.Response | None = None
            with contextlib.suppress(httpx.TransportError):
                response = client.request(method, path, **request)
                if condition(response):
                    return response
            if time.monotonic() > deadline:
                shown = f"{response.status_code} {response.text}" if response is not None else "no answer"
                pytest.fail(f"{method} {path} never met the condition; last: {shown}\n{server.log()}")
            time.sleep(0.05)


def start_server(
    home: Path,
    log_dir: Path,
    *,
    args: Sequence[str] = (),
    ready_timeout_s: float = READY_TIMEOUT_S,
    **env: str,
) -> Server:
    """Start ``modelport serve`` on a free loopback port and wait until ``/v2/health/ready`` is 200.

    ``env`` adds variables, or overrides the defaults (a 0.2 s poll interval, a free gRPC port)."""
    port = free_port()
    log_path = log_dir / f"server-{port}.log"
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [str(MODELPORT), "serve", "--host", "127.0.0.1", "--port", str(port), *args],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env=base_env(home, **{**_SERVE_DEFAULTS, **env}),
    )
    server = Server(home, port, process, log_path, log_file)
    try:
        server.wait_until("/v2/health/ready", timeout_s=ready_timeout_s)
    except BaseException:
        server.stop()
        raise
    return server


@contextlib.contextmanager
def running_server(
    home: Path,
    log_dir: Path,
    *,
    args: Sequence[str] = (),
    ready_timeout_s: float = READY_TIMEOUT_S,
    **env: str,
) -> Iterator[Server]:
    server = start_server(home, log_dir, args=args, ready_timeout_s=ready_timeout_s, **env)
    try:
        yield server
    finally:
        server.stop()
        # Shown by pytest only when a test of this fixture failed.
        print(f"----- server log ({server.log_path}) -----\n{server.log_path.read_text(errors='replace')}")


@pytest.fixture(scope="session")
def model_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny models trained on scikit-learn's bundled datasets, plus a joblib pickle of an iris model."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    directory = tmp_path_factory.mktemp("models")
    x, y = load_iris(return_X_y=True)
    pickle_path = directory / "iris.joblib"
    joblib.dump(LogisticRegression(max_iter=500).fit(x, y), pickle_path)
    return {
        "iris": models.iris_onnx(directory),
        "iris-v2": models.iris_onnx(directory, c=0.1),
        "diabetes": models.diabetes_xgboost(directory),
        "cancer": models.cancer_skops(directory),
        "pickle": pickle_path,
    }


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data dir per test module: where the CLI registers and the module's server serves from."""
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")
