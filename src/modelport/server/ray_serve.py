"""``modelport serve --backend ray``: the server's app as the one ingress deployment of a Ray Serve
application.

Each replica (a Ray actor) builds the app ``modelport serve`` runs (``server.app.build_app``) from the
settings it is given, and Ray runs the app's lifespan in it: the replica opens the registry, follows
it with its own reconciler and serves what it has loaded, like one process of ``--workers``. Ray's
HTTP proxy (one per node, at ``host``:``port``) spreads requests over the replicas, and Ray scales
them between ``ray.min_replicas`` and ``ray.max_replicas`` on the requests they hold.

This process only deploys: it opens the registry once (migrations, ``--demo``), deploys, records the
proxy's address in the home, waits for SIGTERM or Ctrl-C, then deletes the application.

Importing this module imports Ray Serve; ``cli/ray.py`` imports it only for ``--backend ray``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from typing import Any

import httpx
import ray
from ray import serve
from ray.serve import Application, Deployment
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelport.core.errors import InvalidInput
from modelport.core.settings import Settings
from modelport.registry.catalog import Registry
from modelport.registry.local import open_registry
from modelport.server.address import forget_server
from modelport.server.app import ModelportApp, build_app, check_exposure
from modelport.server.runner import TOKEN_VARIABLES, configure_logging, record_address

__all__ = ["APP_NAME", "ingress_deployment", "serve_on_ray"]

log = logging.getLogger("modelport")

APP_NAME = "modelport"
"""The Ray Serve application (and its deployment's) name."""
READY_POLL_S = 0.05


class _Replica:
    """One replica. Ray calls ``__serve_build_asgi_app__`` when it starts the replica, then runs the
    app's lifespan; ``__del__`` runs after the lifespan's end, when Ray stops the replica."""

    def __init__(self, settings_json: str) -> None:
        self._settings = Settings.model_validate_json(settings_json)
        self._registry: Registry | None = None

    def __serve_build_asgi_app__(self) -> ASGIApp:
        logging.getLogger("modelport").setLevel(self._settings.log_level.upper())
        self._registry = open_registry(self._settings)
        return _ReadyAtStartup(build_app(self._settings, self._registry))

    def __del__(self) -> None:
        if self._registry is not None:
            self._registry.close()


class _ReadyAtStartup:
    """The app, whose lifespan startup ends only once its ``/v2/health/ready`` answers 200 (its first
    look at the registry is done, every served version loaded or failed). Ray routes requests to a
    replica once its startup has ended: without this wait, a replica that Ray had just started (a
    replacement, or autoscaling) answered 404 for models it had not loaded yet."""

    def __init__(self, app: ModelportApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self._app(scope, receive, send)
            return

        async def send_once_ready(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                await self._until_ready()
            await send(message)

        await self._app(scope, receive, send_once_ready)

    async def _until_ready(self) -> None:
        transport = httpx.ASGITransport(app=self._app)
        async with httpx.AsyncClient(transport=transport, base_url="http://replica") as client:
            while (await client.get("/v2/health/ready")).status_code != 200:
                await asyncio.sleep(READY_POLL_S)


ModelportIngress = serve.ingress()(_Replica)


def serve_on_ray(settings: Settings, address: str | None, *, seed_demo: bool = False) -> None:
    """Deploy the server on the Ray cluster at ``address`` (else ``RAY_ADDRESS``, else a new local
    Ray instance) and serve until SIGTERM or Ctrl-C; then delete the application."""
    for name in TOKEN_VARIABLES:  # a local Ray instance's processes would inherit them
        os.environ.pop(name, None)
    configure_logging(settings)
    check_exposure(settings)
    _prepare_registry(settings, seed_demo)
    _connect(address)
    stop = _stop_on_signals()  # from now on: a signal while deploying stops right after it
    try:
        try:
            _deploy(settings)
            record_address(settings, settings.port, None)
            log.info(
                "modelport serving %s through Ray Serve on http://%s:%d (%d to %d replicas)",
                settings.data_dir,
                settings.host,
                settings.port,
                settings.ray.min_replicas,
                settings.ray.max_replicas,
            )
            stop.wait()
        finally:
            forget_server(settings.data_dir, os.getpid())
            _undeploy()
    finally:
        ray.shutdown()


def _prepare_registry(settings: Settings, seed_demo: bool) -> None:
    """Open the registry here first: it is migrated once, before replicas open it together."""
    registry = open_registry(settings)
    try:
        if seed_demo and not registry.list_models():
            from modelport.server.demo import seed_demo_models

            seed_demo_models(settings, registry)
    finally:
        registry.close()


def _connect(address: str | None) -> None:
    try:
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)
    except (ConnectionError, ValueError, RuntimeError) as error:
        raise InvalidInput(f"cannot connect to Ray at {address}: {str(error).splitlines()[0]}") from None


def _deploy(settings: Settings) -> None:
    """Start Serve's HTTP proxies at ``host``:``port`` (if Serve does not run yet) and deploy."""
    serve.start(
        http_options={"host": settings.host, "port": settings.port}, logging_config=_logging(settings)
    )
    try:
        serve.run(_application(settings), name=APP_NAME, route_prefix="/")
    except RuntimeError as error:  # the replicas failed to start: Ray says why, at length
        raise InvalidInput(f"Ray Serve could not start modelport: {str(error).splitlines()[0]}") from None


def _application(settings: Settings) -> Application:
    return ingress_deployment(settings).bind(_replica_settings(settings))


def ingress_deployment(settings: Settings) -> Deployment:
    """The one deployment, its replicas and autoscaling as ``settings.ray`` says."""
    scaling = settings.ray
    return serve.deployment(
        name=APP_NAME,
        max_ongoing_requests=scaling.max_ongoing_requests,
        autoscaling_config={
            "min_replicas": scaling.min_replicas,
            "max_replicas": scaling.max_replicas,
            "target_ongoing_requests": scaling.target_ongoing_requests,
            "upscale_delay_s": scaling.upscale_delay_s,
            "downscale_delay_s": scaling.downscale_delay_s,
        },
        ray_actor_options={"num_cpus": scaling.num_cpus_per_replica},
        graceful_shutdown_timeout_s=settings.serving.drain_timeout_s,
        logging_config=_logging(settings),
    )(ModelportIngress)


def _logging(settings: Settings) -> dict[str, Any]:
    """Serve's logs for the proxies and the replicas: no line per request, as ``modelport serve``."""
    return {"log_level": settings.log_level.upper(), "enable_access_log": False}


def _replica_settings(settings: Settings) -> str:
    """The settings each replica builds its app from: gRPC off (Serve's proxies carry HTTP only,
    and the replicas of one node would race for one gRPC port)."""
    replica = settings.model_copy(update={"grpc": settings.grpc.model_copy(update={"enabled": False})})
    return replica.model_dump_json(exclude={"auth": {"token_file"}})


def _stop_on_signals() -> threading.Event:
    """An event that SIGTERM and SIGINT set (in place of Ray's handler and KeyboardInterrupt)."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _undeploy() -> None:
    """Delete the application (each replica's lifespan drains and ends), also one that failed to
    deploy; stop Serve's proxies and controller too when no other application is left on the cluster."""
    if APP_NAME in serve.status().applications:
        serve.delete(APP_NAME)
    if not serve.status().applications:
        serve.shutdown()  # type: ignore[no-untyped-call]
