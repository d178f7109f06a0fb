"""A second server beside a first one (issue 10, point 10): the gRPC port is an option, a busy port is
a one-line error naming it and the setting, and nothing of the refused server keeps listening."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import tritonclient.grpc as triton

from tests.e2e.conftest import MODELPORT, Server, base_env, free_port, register, running_server


@pytest.fixture(scope="module")
def first(home: Path, log_dir: Path, model_files: dict[str, Path]) -> Iterator[tuple[Server, int]]:
    """A server with a fixed gRPC port, as a user's first ``modelport serve`` has (8081 by default)."""
    register(home, model_files["iris"], "iris")
    grpc_port = free_port()
    with running_server(home, log_dir, MODELPORT_GRPC__PORT=str(grpc_port)) as server:
        yield server, grpc_port


def serve(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``modelport serve ARGS`` expected to refuse and exit by itself (the timeout only bounds a hang)."""
    return subprocess.run(
        [str(MODELPORT), "serve", *args],
        capture_output=True,
        text=True,
        env=base_env(home, **env),
        timeout=60,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *names: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    for name in names:
        assert name in lines[0], output


def assert_free(port: int) -> None:
    """The refused server left nothing listening on ``port``: it can be bound again."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()


def test_a_busy_grpc_port_is_a_one_line_error(first: tuple[Server, int], tmp_path: Path) -> None:
    _, busy = first
    http_port = free_port()
    for args, env in [
        (["--grpc-port", str(busy)], {}),
        ([], {"MODELPORT_GRPC__PORT": str(busy)}),
    ]:
        result = serve(tmp_path / "second", "--port", str(http_port), *args, **env)
        assert_one_line_error(result, str(busy), "--grpc-port", "MODELPORT_GRPC__PORT")
        assert_free(http_port)


def test_a_grpc_port_held_by_another_program_is_refused_cleanly(tmp_path: Path) -> None:
    """As ``modelport serve --port 9000`` when anything holds 8081 (here a plain listening socket)."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        http_port = free_port()
        result = serve(tmp_path / "second", "--port", str(http_port), MODELPORT_GRPC__PORT=str(taken))
    assert_one_line_error(result, f":{taken}", "--grpc-port")
    assert_free(http_port)


def test_a_busy_http_port_is_a_one_line_error(first: tuple[Server, int], tmp_path: Path) -> None:
    server, _ = first
    result = serve(tmp_path / "second", "--port", str(server.port), "--grpc-port", "0")
    assert_one_line_error(result, str(server.port), "--port")


def test_one_port_for_both_is_refused(tmp_path: Path) -> None:
    port = free_port()
    result = serve(tmp_path / "second", "--port", str(port), "--grpc-port", str(port))
    assert_one_line_error(result, str(port), "--grpc-port")


def test_grpc_port_0_picks_a_free_port_shown_in_status_and_log(
    first: tuple[Server, int], home: Path, log_dir: Path
) -> None:
    _, taken = first
    with running_server(home, log_dir, args=["--grpc-port", "0"], MODELPORT_GRPC__PORT=str(taken)) as second:
        status = second.wait_until("/api/v1/status").json()
        port = status["grpc_port"]
        assert isinstance(port, int)
        assert port not in (0, taken, second.port)
        assert f"gRPC listening on 127.0.0.1:{port}" in second.log()
        second.wait_until("/v2/models/iris/ready")
        client = triton.InferenceServerClient(f"127.0.0.1:{port}")
        try:
            assert client.is_server_live()
            assert client.get_model_metadata("iris").name == "iris"
        finally:
            client.close()


def test_the_first_server_reports_its_fixed_grpc_port(first: tuple[Server, int]) -> None:
    server, grpc_port = first
    assert server.wait_until("/api/v1/status").json()["grpc_port"] == grpc_port


def test_workers_share_one_grpc_port_when_it_is_0(home: Path, log_dir: Path) -> None:
    """With ``--workers 2`` and port 0, the port is chosen once: every worker reports the same one."""
    with running_server(home, log_dir, args=["--workers", "2", "--grpc-port", "0"]) as server:
        answers = [server.wait_until("/api/v1/status").json() for _ in range(20)]
        ports = {answer["grpc_port"] for answer in answers}
        assert len(ports) == 1, answers
        assert None not in ports


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ([], "serve --demo"),
        (["PORT=9000"], "serve --demo --port 9000 --grpc-port 9001"),
        (["PORT=9000", "GRPC_PORT=0"], "serve --demo --port 9000 --grpc-port 0"),
    ],
)
def test_make_run_port_moves_grpc_to_the_next_port(variables: list[str], expected: str) -> None:
    """The README's ``make run PORT=9000``: gRPC follows on 9001, as 8081 follows 8080 (``make -n``
    prints the command without running it)."""
    root = Path(__file__).resolve().parents[2]
    printed = subprocess.run(
        ["make", "-n", "-C", str(root), "run", *variables],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    command = next(line for line in printed.splitlines() if "modelport serve" in line)
    assert command.split("modelport ", 1)[1].split() == expected.split()
