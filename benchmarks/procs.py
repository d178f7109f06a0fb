"""Process helpers shared by the benchmark scripts: /proc CPU accounting, free ports, the
``modelport serve`` command line, and servers started in their own session and stopped by PID (the
started PID and its collected descendants, never by name)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")
HOST = "127.0.0.1"
BIN = Path(sys.executable).parent
"""The bin folder of the environment running the benchmark: its ``modelport`` is the one measured."""


def proc_stat(pid: int) -> tuple[int, int, str] | None:
    """(ppid, utime+stime ticks, state) of a pid, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = text[text.rfind(")") + 2 :].split()
    return int(rest[1]), int(rest[11]) + int(rest[12]), rest[0]


def tree_pids(root: int) -> list[int]:
    """root and all its descendants, found by parent PID in /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := proc_stat(int(entry))) is not None:
            children.setdefault(st[0], []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if proc_stat(pid) is not None:
            found.append(pid)
            todo.extend(children.get(pid, []))
    return found


def tree_cpu_s(pids: Sequence[int]) -> float:
    """CPU seconds (user+sys) used so far by these PIDs."""
    return sum(st[1] for p in pids if (st := proc_stat(p)) is not None) / CLK_TCK


def alive(pid: int) -> bool:
    st = proc_stat(pid)
    return st is not None and st[2] != "Z"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def modelport_serve(port: int) -> list[str]:
    """``modelport serve`` on HOST:port, logging warnings and errors only."""
    return [str(BIN / "modelport"), "serve", "--host", HOST, "--port", str(port), "--log-level", "warning"]


def run_loadgen(
    url: str,
    protocol: str,
    server_pid: int,
    rows_file: Path,
    *,
    concurrency: int,
    duration: float,
    client_cpu: str,
    model: str = "iris",
    input_name: str = "X",
) -> dict[str, Any]:
    """One closed-loop phase of ``loadgen.py`` (1 row per request) pinned to ``client_cpu``: its JSON
    result; a failure, an error or a refused request ends the benchmark."""
    argv = ["taskset", "-c", client_cpu, sys.executable, str(Path(__file__).with_name("loadgen.py"))]
    argv += ["--url", url, "--protocol", protocol, "--rows", "1", "--concurrency", str(concurrency)]
    argv += ["--duration", str(duration), "--warmup", "0.5", "--rows-file", str(rows_file)]
    argv += ["--input-name", input_name, "--model", model, "--server-pid", str(server_pid)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 120)
    if out.returncode != 0:
        raise SystemExit(f"{protocol} on {url}: the load generator failed:\n{out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout)
    if result["error"] or result["shed"]:
        raise SystemExit(f"{protocol} on {url}: {result['error']} errors, {result['shed']} refused")
    return result


def http_get_status(url: str, timeout: float = 2.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def http_post(url: str, body: bytes, headers: Mapping[str, str], timeout: float = 5.0) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method="POST", headers=dict(headers))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@dataclass
class Server:
    """A server process started pinned to one CPU in its own session."""

    argv: list[str]
    env: dict[str, str]
    log_path: Path
    cpu: str | None = "1"
    proc: subprocess.Popen[bytes] | None = None
    pids: list[int] = field(default_factory=list)
    started_at: float = 0.0

    def start(self) -> Server:
        argv = (["taskset", "-c", self.cpu] if self.cpu is not None else []) + self.argv
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.started_at = time.perf_counter()
            self.proc = subprocess.Popen(
                argv,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pids = [self.proc.pid]
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def refresh_pids(self) -> list[int]:
        """Remember the current descendants too (they are stopped with the server)."""
        if self.proc is not None and self.proc.poll() is None:
            self.pids = list(dict.fromkeys(self.pids + tree_pids(self.proc.pid)))
        return [p for p in self.pids if alive(p)]

    def wait_until(self, url: str, timeout: float = 60.0, interval: float = 0.02) -> float:
        """Poll GET url until it answers 200; seconds since start."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            self._check_running()
            if http_get_status(url, timeout=1.0) == 200:
                self.refresh_pids()
                return time.perf_counter() - self.started_at
            time.sleep(interval)
        raise RuntimeError(f"{url} not ready after {timeout:.0f} s (log: {self.log_path})")

    def _check_running(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-1500:]
            raise RuntimeError(f"server exited with code {self.proc.returncode}:\n{tail}")

    def stop(self, grace: float = 8.0) -> None:
        """SIGTERM the started PID, then SIGTERM/SIGKILL the collected PIDs still alive."""
        if self.proc is None:
            return
        self.refresh_pids()
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=grace)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            remaining = [p for p in self.pids if alive(p)]
            for pid in remaining:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.time() + 2.0
            while remaining and time.time() < deadline and any(alive(p) for p in remaining):
                time.sleep(0.05)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=2)
        self.proc = None
