"""A TCP front for the test S3 server, on a free loopback port, that the tests open and close.

Closed, it accepts connections and never answers them: an object store that hangs (the worst case
for a caller, which waits for its client's timeout). Open, it forwards every connection to the
server and notes each request's method, path and ``Range`` header, so a test can count what a
client asked the store for.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from dataclasses import dataclass

from tests.s3 import SeaweedFS

__all__ = ["Gate", "Request"]

_REQUEST = re.compile(rb"(GET|HEAD|PUT|POST|DELETE) (\S+) HTTP/1\.1\r\n(.*?)\r\n\r\n", re.DOTALL)
_RANGE = re.compile(rb"^range: *(\S+)", re.IGNORECASE | re.MULTILINE)
_KEEP = 16 * 1024


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    range: str | None


class Gate:
    def __init__(self, server: SeaweedFS) -> None:
        self._target = ("127.0.0.1", server.ports["s3.port"])
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._open = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._held: list[socket.socket] = []
        self.requests: list[Request] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def open(self) -> None:
        """Forward from now on; the connections held so far are closed (their requests fail)."""
        with self._lock:
            self._open = True
            held, self._held = self._held, []
        for sock in held:
            _close(sock)

    def shut(self) -> None:
        """Stop: no new connection, and every open one closed."""
        _close(self._listener)
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _close(sock)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # shut
                return
            with self._lock:
                self._sockets.append(client)
                if not self._open:
                    self._held.append(client)
                    continue
            upstream = socket.create_connection(self._target)
            with self._lock:
                self._sockets.append(upstream)
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, note: bool) -> None:
        seen = b""
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
                if note:
                    seen = self._note(seen + chunk)
        except OSError:
            pass
        finally:
            _close(sink)
            _close(source)

    def _note(self, seen: bytes) -> bytes:
        """Record the complete request heads in ``seen``; what is left to complete later."""
        end = 0
        for found in _REQUEST.finditer(seen):
            ranged = _RANGE.search(found.group(3))
            method, path = found.group(1).decode(), found.group(2).decode()
            self.requests.append(Request(method, path, ranged.group(1).decode() if ranged else None))
            end = found.end()
        return seen[end:][-_KEEP:]


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
