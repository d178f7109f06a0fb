"""``modelport serve --backend ray``: what it refuses before Ray is imported, and one line when Ray
Serve is not installed."""

from __future__ import annotations

import click

from modelport.core.errors import InvalidInput
from modelport.core.settings import Settings

__all__ = ["serve_with_ray"]

_RAY_SERVE_MODULES = ("ray", "grpc_reflection")
"""Missing, they mean Ray Serve is not installed (``ray.serve`` imports ``grpc_reflection``)."""


def serve_with_ray(
    settings: Settings, address: str | None, *, seed_demo: bool, grpc_port: int | None, workers: int | None
) -> None:
    if grpc_port is not None:
        raise click.UsageError("--grpc-port: with --backend ray only HTTP is served (through Ray's proxy)")
    if workers is not None or settings.workers > 1:
        raise click.UsageError(
            "--workers: with --backend ray, Ray runs the replicas (ray.min_replicas, ray.max_replicas)"
        )
    if settings.port == 0:
        raise click.UsageError("--port 0: Ray's HTTP proxies need a fixed port")
    try:
        from modelport.server.ray_serve import serve_on_ray
    except ImportError as error:
        if not (error.name or "").startswith(_RAY_SERVE_MODULES):
            raise
        raise InvalidInput("--backend ray needs Ray Serve: pip install 'modelport[ray]'") from None
    serve_on_ray(settings, address, seed_demo=seed_demo)
