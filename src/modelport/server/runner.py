"""Running a server: logging, exposure check, optional demo seeding, then uvicorn with 1 or N workers.

With ``workers > 1`` uvicorn binds the port once and runs N processes that accept on it; each
process opens the registry, converges on it by itself and serves everything (the registry is the
only thing they share). Settings reach the workers as JSON in a file only this user can read
(the token is in them); the workers' environment holds only its path, and the token's own variables
are removed before any child process starts.

The serving process records its address in the home (``server.address``) once it listens, and
removes the record when it stops: with one process after uvicorn has bound the port (so port 0
records the chosen one), with several from the parent before the workers start.

Both ports are checked before anything starts, so a busy one is a one-line error naming the setting
rather than a traceback from a half-started server. With several workers and ``grpc.port`` 0, the
port is chosen here once so that every worker shares it (each binds it with ``SO_REUSEPORT``).
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import socket
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

import uvicorn

from modelport.core.errors import Conflict
from modelport.core.settings import Settings
from modelport.registry.local import open_registry
from modelport.server.address import ServerAddress, forget_server, record_server
from modelport.server.app import ModelportApp, build_app, check_exposure
from modelport.serving.http_guard import ConnectionGuard, GuardedProtocol

__all__ = ["check_ports", "configure_logging", "record_address", "run_server", "worker_app"]

log = logging.getLogger("modelport")
_SETTINGS_ENV = "MODELPORT_WORKER_SETTINGS_FILE"
TOKEN_VARIABLES = ("MODELPORT_AUTH__TOKEN", "MODELPORT_AUTH__TOKEN_FILE", "MODELPORT_TOKEN")
"""Read into the settings, then dropped from this process's environment, so no child inherits them
(and a worker reads the token from the settings file alone)."""


def run_server(settings: Settings, *, seed_demo: bool = False) -> None:
    for name in TOKEN_VARIABLES:
        os.environ.pop(name, None)
    configure_logging(settings)
    check_exposure(settings)
    check_ports(settings)
    registry = open_registry(settings)
    try:
        if seed_demo and not registry.list_models():
            from modelport.server.demo import seed_demo_models

            seed_demo_models(settings, registry)
        log.info(
            "modelport serving %s on http://%s:%d (%d worker%s)",
            settings.data_dir,
            settings.host,
            settings.port,
            settings.workers,
            "s" * (settings.workers > 1),
        )
        if settings.workers == 1:
            app = build_app(settings, registry)
            _RecordingServer(uvicorn.Config(app, **_uvicorn_options(settings)), settings, app).run()
            return
    finally:
        registry.close()
        forget_server(settings.data_dir, os.getpid())
    private = Path(tempfile.mkdtemp(prefix="modelport-workers-"))  # mode 0700
    try:
        settings_file = private / "settings.json"
        descriptor = os.open(settings_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(settings.model_dump_json(exclude={"auth": {"token_file"}}))
        os.environ[_SETTINGS_ENV] = str(settings_file)
        if settings.port:  # with port 0 only uvicorn's parent knows the port it bound
            record_address(settings, settings.port, settings.grpc.port if settings.grpc.enabled else None)
        uvicorn.run(
            "modelport.server.runner:worker_app",
            factory=True,
            workers=settings.workers,
            **_uvicorn_options(settings),
        )
    finally:
        os.environ.pop(_SETTINGS_ENV, None)
        shutil.rmtree(private, ignore_errors=True)
        forget_server(settings.data_dir, os.getpid())


class _RecordingServer(uvicorn.Server):
    """A one-process uvicorn server that records its address in the home once it listens."""

    def __init__(self, config: uvicorn.Config, settings: Settings, app: ModelportApp) -> None:
        super().__init__(config)
        self._settings = settings
        self._app = app

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        bound = self.servers[0].sockets[0].getsockname() if self.servers else None
        if self.started and bound is not None:
            record_address(self._settings, int(bound[1]), self._app.grpc_port)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Forget the address first (uvicorn re-raises SIGTERM once it has stopped, which ends the
        process before ``run_server``'s own cleanup)."""
        forget_server(self._settings.data_dir, os.getpid())
        await super().shutdown(sockets)


def record_address(settings: Settings, port: int, grpc_port: int | None) -> None:
    """Record in the home that this process serves at ``settings.host``:``port`` (for the CLI)."""
    host = settings.host
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    try:
        record_server(settings.data_dir, ServerAddress(url, grpc_port, os.getpid()))
    except OSError as exc:  # the CLI then needs --server or MODELPORT_PORT; serving goes on
        log.warning("cannot record the server's address in %s: %s", settings.data_dir, exc)


def check_ports(settings: Settings) -> None:
    """Refuse a busy HTTP or gRPC port, or one port for both; with several workers, settle gRPC port 0.

    A probe, not a reservation: a port taken between here and the servers' own bind still fails there.
    """
    grpc = settings.grpc
    if grpc.enabled and grpc.port and grpc.port == settings.port:
        raise Conflict(
            f"HTTP and gRPC cannot share port {settings.port}: "
            f"choose another with {_HOW_TO_CHOOSE['gRPC']} or {_HOW_TO_CHOOSE['HTTP']}"
        )
    if settings.port:
        _check_free("HTTP", settings.host, settings.port)
    if not grpc.enabled:
        return
    if grpc.port:
        _check_free("gRPC", settings.host, grpc.port)
    elif settings.workers > 1:
        with _bound("gRPC", settings.host, 0) as probe:
            grpc.port = int(probe.getsockname()[1])


_HOW_TO_CHOOSE = {
    "HTTP": "--port (MODELPORT_PORT)",
    "gRPC": "--grpc-port (MODELPORT_GRPC__PORT; 0 picks a free port; MODELPORT_GRPC__ENABLED=false: no gRPC)",
}


def _check_free(what: str, host: str, port: int) -> None:
    with _bound(what, host, port):
        pass


def _bound(what: str, host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` as uvicorn and gRPC bind theirs (``SO_REUSEADDR``, so a closed
    connection still in TIME_WAIT does not count as busy), or a one-line ``Conflict`` saying why not."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise Conflict(f"cannot listen for {what} on {host}:{port}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        cause = "the port is in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
        raise Conflict(
            f"cannot listen for {what} on {host}:{port}: {cause}; choose another with {_HOW_TO_CHOOSE[what]}"
        ) from None
    return sock


def worker_app() -> ModelportApp:
    """The app of one worker process (uvicorn calls this in each worker, and again for a restarted one)."""
    settings = Settings.model_validate_json(Path(os.environ[_SETTINGS_ENV]).read_text())
    configure_logging(settings)
    return build_app(settings, open_registry(settings))


def _uvicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "host": settings.host,
        "port": settings.port,
        "loop": "uvloop",
        "http": partial(GuardedProtocol, guard=ConnectionGuard.from_settings(settings.http)),
        "lifespan": "on",
        "access_log": False,
        "proxy_headers": False,  # nothing reads the client address; skips a middleware on every request
        "server_header": False,
        "log_level": settings.log_level,
        "timeout_graceful_shutdown": int(settings.serving.drain_timeout_s),
    }


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
