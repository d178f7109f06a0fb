"""Running a server process: logging, exposure check, optional demo seeding, uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from modelport.core.settings import Settings
from modelport.server import build_app, check_exposure, open_registry

__all__ = ["run_server"]

log = logging.getLogger("modelport")


def run_server(settings: Settings, *, seed_demo: bool = False) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    check_exposure(settings)
    registry = open_registry(settings)
    try:
        if seed_demo and not registry.list_models():
            from modelport.demo import seed_demo_models

            seed_demo_models(settings, registry)
        app = build_app(settings, registry)
        log.info("modelport serving %s on http://%s:%d", settings.data_dir, settings.host, settings.port)
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            loop="uvloop",
            http="httptools",
            lifespan="on",
            access_log=False,
            log_level=settings.log_level,
            timeout_graceful_shutdown=int(settings.serving.drain_timeout_s),
        )
        uvicorn.Server(config).run()
    finally:
        registry.close()
