from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modelport.core import Datatype, Signature, TensorSpec
from modelport.registry import LocalArtifactStore, ModelVersion, Registry

SIGNATURE = Signature(
    inputs=(TensorSpec("x", Datatype.FP32, (-1, 4)),),
    outputs=(TensorSpec("y", Datatype.INT64, (-1,)),),
)


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'modelport.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Every registry test runs on both backends: a SQLite file, and the session's PostgreSQL."""
    return str(request.param)


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The ``registry`` fixture's database (on PostgreSQL already at the newest schema)."""
    if backend == "sqlite":
        return sqlite_url(tmp_path)
    return str(request.getfixturevalue("postgres_registry_url"))


@pytest.fixture
def empty_db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database without any table yet, on each backend."""
    if backend == "sqlite":
        return sqlite_url(tmp_path)
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


@pytest.fixture
def registry(db_url: str, store: LocalArtifactStore) -> Iterator[Registry]:
    reg = Registry.open(db_url, store)
    yield reg
    reg.close()


@pytest.fixture
def make_file(tmp_path: Path) -> Callable[[bytes], Path]:
    counter = iter(range(1_000_000))

    def make(data: bytes) -> Path:
        path = tmp_path / "src" / f"file{next(counter)}.bin"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        return path

    return make


@pytest.fixture
def register(registry: Registry, make_file: Callable[[bytes], Path]) -> Callable[..., ModelVersion]:
    """``register(name, content=b"...", **kw)``: register a version with an ONNX-ish file (and, unless
    ``signature=`` says otherwise, ``SIGNATURE``)."""

    def reg(name: str, content: bytes | None = None, **kw: object) -> ModelVersion:
        data = content if content is not None else name.encode() + os.urandom(16)
        return registry.register_version(
            name,
            artifact=make_file(data),
            filename="model.onnx",
            framework="onnx",
            signature=kw.pop("signature", SIGNATURE),
            **kw,  # type: ignore[arg-type]
        )

    return reg
