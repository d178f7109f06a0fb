"""Where a home's running server listens, recorded in the home so that the CLI finds it.

``modelport serve`` writes ``<home>/server.json`` (``url``, ``grpc_port``, ``pid``) once it listens,
replacing the file atomically, and removes it when it stops cleanly. A reader trusts the file only
while its process is alive and its URL answers: a file left by a killed server, or a port now
owned by someone else's program, is ignored.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["ServerAddress", "find_server", "forget_server", "record_server"]

FILENAME = "server.json"
_ANSWER_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class ServerAddress:
    url: str
    """The HTTP base URL, e.g. ``http://127.0.0.1:8080``."""
    grpc_port: int | None
    pid: int
    """The serving process (the parent of ``--workers N``)."""


def record_server(home: Path, address: ServerAddress) -> None:
    """Write ``address`` into ``home``: a reader sees the whole file or the previous one."""
    descriptor, temporary = tempfile.mkstemp(dir=home, prefix=".server-", suffix=".json")
    try:
        with os.fdopen(descriptor, "w") as out:
            json.dump(asdict(address), out)
        os.replace(temporary, home / FILENAME)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def forget_server(home: Path, pid: int) -> None:
    """Remove the record if it is still ``pid``'s (another server may have taken the home since)."""
    recorded = _read(home)
    if recorded is not None and recorded.pid == pid:
        (home / FILENAME).unlink(missing_ok=True)


def find_server(home: Path) -> ServerAddress | None:
    """The recorded server of ``home`` if its process is alive and it answers; else None."""
    recorded = _read(home)
    if recorded is None or not _alive(recorded.pid):
        return None
    import httpx  # here, not at the top: every CLI command imports this module

    try:
        httpx.get(f"{recorded.url}/v2/health/live", timeout=_ANSWER_TIMEOUT_S)
    except httpx.HTTPError:
        return None
    return recorded


def _read(home: Path) -> ServerAddress | None:
    try:
        data = json.loads((home / FILENAME).read_text())
        return ServerAddress(url=str(data["url"]), grpc_port=data["grpc_port"], pid=int(data["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True
