"""Running a server: logging, exposure check, optional demo seeding, then uvicorn with 1 or N workers.

With ``workers > 1`` uvicorn binds the port once and runs N processes that accept on it; each
process opens the registry, converges on it by itself and serves everything (the registry is the
only thing they share). Settings reach the workers as JSON in a file only this user can read
(the token is in them); the workers' environment holds only its path, and the token's own variables
are removed before any child process starts.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import uvicorn

from modelport.core.settings import Settings
from modelport.server import ModelportApp, build_app, check_exposure, open_registry
from modelport.serving.fast_lane import FastLaneProtocol

__all__ = ["run_server", "worker_app"]

log = logging.getLogger("modelport")
_SETTINGS_ENV = "MODELPORT_WORKER_SETTINGS_FILE"
TOKEN_VARIABLES = ("MODELPORT_AUTH__TOKEN", "MODELPORT_AUTH__TOKEN_FILE", "MODELPORT_TOKEN")
"""Read into the settings, then dropped from this process's environment, so no child inherits them
(and a worker reads the token from the settings file alone)."""


def run_server(settings: Settings, *, seed_demo: bool = False) -> None:
    for name in TOKEN_VARIABLES:
        os.environ.pop(name, None)
    _configure_logging(settings)
    check_exposure(settings)
    registry = open_registry(settings)
    try:
        if seed_demo and not registry.list_models():
            from modelport.demo import seed_demo_models

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
            uvicorn.Server(uvicorn.Config(build_app(settings, registry), **_uvicorn_options(settings))).run()
            return
    finally:
        registry.close()
    private = Path(tempfile.mkdtemp(prefix="modelport-workers-"))  # mode 0700
    try:
        settings_file = private / "settings.json"
        descriptor = os.open(settings_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(settings.model_dump_json(exclude={"auth": {"token_file"}}))
        os.environ[_SETTINGS_ENV] = str(settings_file)
        uvicorn.run(
            "modelport.runner:worker_app",
            factory=True,
            workers=settings.workers,
            **_uvicorn_options(settings),
        )
    finally:
        os.environ.pop(_SETTINGS_ENV, None)
        shutil.rmtree(private, ignore_errors=True)


def worker_app() -> ModelportApp:
    """The app of one worker process (uvicorn calls this in each worker, and again for a restarted one)."""
    settings = Settings.model_validate_json(Path(os.environ[_SETTINGS_ENV]).read_text())
    _configure_logging(settings)
    return build_app(settings, open_registry(settings))


def _uvicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "host": settings.host,
        "port": settings.port,
        "loop": "uvloop",
        "http": FastLaneProtocol,
        "lifespan": "on",
        "access_log": False,
        "proxy_headers": False,  # nothing reads the client address; skips a middleware on every request
        "server_header": False,
        "log_level": settings.log_level,
        "timeout_graceful_shutdown": int(settings.serving.drain_timeout_s),
    }


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
