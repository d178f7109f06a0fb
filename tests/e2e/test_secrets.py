"""The management token never reaches a command line or a child process's environment (issue 15, #12).

The attack: ``ps``/``/proc/PID/cmdline`` shows every user the arguments of every process, and a
worker or probe child inherits its parent's environment. The token may only live in the settings of
the processes that check it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server, register, run_cli, running_server

TOKEN = "s3cr3t-token-0f-the-e2e-test"


def _descendants(root: int) -> Iterator[int]:
    """Every live process below ``root`` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        yield pid
        stack.extend(children.get(pid, []))


def _exposed(pid: int) -> list[str]:
    """Where the token shows in ``pid``'s command line or environment."""
    found = []
    for part in ("cmdline", "environ"):
        try:
            if TOKEN.encode() in Path(f"/proc/{pid}/{part}").read_bytes():
                found.append(f"{pid}/{part}")
        except OSError:  # the process ended meanwhile
            continue
    return found


def _assert_token_required(server: Server) -> None:
    assert httpx.get(server.url + "/api/v1/models").status_code == 401
    opened = httpx.get(server.url + "/api/v1/models", headers={"Authorization": f"Bearer {TOKEN}"})
    assert opened.status_code == 200, opened.text


@pytest.fixture(scope="module")
def served(home: Path, model_files: dict[str, Path]) -> Path:
    register(home, model_files["iris"], "iris")
    return home


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc")
def test_a_token_file_keeps_the_token_out_of_every_process(
    served: Path, log_dir: Path, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    with running_server(
        served, log_dir, args=["--workers", "2"], MODELPORT_AUTH__TOKEN_FILE=str(token_file)
    ) as server:
        _assert_token_required(server)
        processes = [server.process.pid, *_descendants(server.process.pid)]
        assert len(processes) >= 3, "expected the supervisor and two workers"
        leaks = [where for pid in processes for where in _exposed(pid)]
    assert leaks == []


@pytest.fixture(scope="module")
def token_server(served: Path, log_dir: Path) -> Iterator[Server]:
    """Two workers, with the token in the supervisor's environment."""
    with running_server(served, log_dir, args=["--workers", "2"], MODELPORT_AUTH__TOKEN=TOKEN) as server:
        yield server


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc")
def test_a_token_in_the_environment_is_not_inherited_by_workers(token_server: Server) -> None:
    _assert_token_required(token_server)
    workers = list(_descendants(token_server.process.pid))
    assert len(workers) >= 2
    leaks = [where for pid in workers for where in _exposed(pid)]
    assert leaks == []  # the supervisor's own start-up environment is the caller's: not checked


def test_a_token_on_the_command_line_is_refused(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "--token", TOKEN, "models", check=False)
    assert result.returncode == 2
    assert "process list" in result.stderr and "--token-file" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_cli_reads_its_token_from_a_file(token_server: Server, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    elsewhere, url = tmp_path / "no-local-registry", token_server.url
    listed = run_cli(elsewhere, "--server", url, "--token-file", token_file, "models", "--json")
    assert '"iris"' in listed.stdout
    refused = run_cli(elsewhere, "--server", url, "models", check=False)
    assert refused.returncode == 1 and "token" in refused.stderr


@pytest.mark.parametrize("content", [None, ""])
def test_an_unreadable_or_empty_token_file_stops_the_server_cleanly(
    tmp_path: Path, content: str | None
) -> None:
    token_file = tmp_path / "token"
    if content is not None:
        token_file.write_text(content)
    result = run_cli(
        tmp_path, "serve", "--port", "0", env={"MODELPORT_AUTH__TOKEN_FILE": str(token_file)}, check=False
    )
    assert result.returncode == 2, result.stderr
    assert "token file" in result.stderr
    assert "Traceback" not in result.stderr
    assert os.fspath(token_file) in result.stderr
