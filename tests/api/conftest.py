"""An in-process server (real registry, runtimes and apps) driven through httpx.ASGITransport."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelport.control.registration import Registrar, RegistrationRequest
from modelport.core.settings import Settings
from modelport.registry.catalog import Registry
from modelport.registry.local import open_registry
from modelport.server.app import build_app
from tests import models


@pytest.fixture(scope="session")
def model_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("models")
    return {
        "iris": models.iris_onnx(directory),
        "iris-v2": models.iris_onnx(directory, c=0.1),
        "diabetes": models.diabetes_xgboost(directory),
        "cancer": models.cancer_skops(directory),
    }


def quick_settings(tmp_path: Path, **sections: Any) -> Settings:
    """Settings of a test server that converges fast (gRPC on a free port), with ``sections`` added."""
    return Settings(home=tmp_path / "home", serving={"poll_interval_s": 0.05}, grpc={"port": 0}, **sections)


ON_BOTH_BACKENDS = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
"""Runs a test with its registry on SQLite and on the session's PostgreSQL: applied to the tests that
exercise the registry most through the API (the registry's own tests all run on both)."""


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The registry's database: SQLite in the home, unless the test is marked ``ON_BOTH_BACKENDS``."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def settings(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> Settings:
    if backend == "postgresql":
        url = request.getfixturevalue("postgres_registry_url")
        return quick_settings(tmp_path, storage={"database_url": url})
    return quick_settings(tmp_path)


@pytest.fixture
def registry(settings: Settings) -> Iterator[Registry]:
    registry = open_registry(settings)
    yield registry
    registry.close()


@pytest.fixture
def register(registry: Registry, settings: Settings):  # type: ignore[no-untyped-def]
    registrar = Registrar(registry, settings.serving.probe_timeout_s)

    def register(path: Path, name: str, **kwargs: object):  # type: ignore[no-untyped-def]
        return registrar.register(RegistrationRequest(name=name, artifact=path, **kwargs))  # type: ignore[arg-type]

    return register


@contextlib.asynccontextmanager
async def serving(settings: Settings, registry: Registry) -> AsyncIterator[httpx.AsyncClient]:
    """A whole server in process (background work started), and an httpx client talking to it."""
    app = build_app(settings, registry)
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            yield client


@pytest.fixture
async def client(settings: Settings, registry: Registry) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(settings, registry) as client:
        yield client


async def wait_for(client: httpx.AsyncClient, path: str, status: int = 200, timeout_s: float = 10) -> None:
    """Poll ``path`` until it answers ``status``: the server converges on the registry in the background."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        response = await client.get(path)
        if response.status_code == status:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{path} still answers {response.status_code}: {response.text}")
        await asyncio.sleep(0.05)
