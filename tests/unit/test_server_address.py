"""The address a server records in its home: a reader trusts it only while that server answers."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelport.server.address import FILENAME, ServerAddress, find_server, forget_server, record_server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def answering(tmp_path: Path) -> Iterator[str]:
    """A URL where an HTTP server answers (any answer counts), as a recorded server's would."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        while True:  # until it listens; a broken one fails the test by pytest's timeout
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                if server.poll() is not None:
                    pytest.fail("the test HTTP server exited")
        yield url
    finally:
        server.terminate()
        server.wait()


def test_a_live_answering_server_is_found(tmp_path: Path, answering: str) -> None:
    address = ServerAddress(answering, 9, 1)  # pid 1 is always alive
    record_server(tmp_path, address)
    assert find_server(tmp_path) == address
    assert [p.name for p in tmp_path.iterdir()] == [FILENAME]  # no temporary file left


def test_a_stale_record_is_ignored(tmp_path: Path, answering: str) -> None:
    record_server(tmp_path, ServerAddress(answering, None, dead_pid()))  # the server was killed
    assert find_server(tmp_path) is None
    record_server(tmp_path, ServerAddress(f"http://127.0.0.1:{free_port()}", None, 1))  # alive, silent
    assert find_server(tmp_path) is None


@pytest.mark.parametrize("text", ["", "{not json", "[]", '{"url": "http://x"}', '{"url": 1, "pid": "x"}'])
def test_a_damaged_record_is_ignored(tmp_path: Path, text: str) -> None:
    (tmp_path / FILENAME).write_text(text)
    assert find_server(tmp_path) is None


def test_a_server_forgets_only_its_own_record(tmp_path: Path) -> None:
    record_server(tmp_path, ServerAddress("http://127.0.0.1:1", None, 42))
    forget_server(tmp_path, 43)  # another server that shared the home stops: the record stays
    assert json.loads((tmp_path / FILENAME).read_text())["pid"] == 42
    forget_server(tmp_path, 42)
    assert not (tmp_path / FILENAME).exists()
    forget_server(tmp_path, 42)  # nothing left to forget is fine
