"""Functions run in spawned child processes by the concurrency tests (importable by name)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from modelport.registry import LocalArtifactStore, Registry

from .conftest import SIGNATURE


def register_many(url: str, root: str, model: str, count: int, start: Any, results: Any, tag: str) -> None:
    """Wait for ``start``, then register ``count`` versions, reporting each number on ``results``."""
    registry = Registry.open(url, LocalArtifactStore(Path(root) / "artifacts"))
    start.wait(30)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(count):
            src = Path(tmp) / "w.bin"
            src.write_bytes(f"{tag}-{i}".encode() + os.urandom(8))
            v = registry.register_version(
                model,
                artifact=src,
                filename="model.onnx",
                framework="onnx",
                signature=SIGNATURE,
                tags={"writer": tag},
                aliases=["latest-from-" + tag],
            )
            results.put((tag, v.number))
    registry.close()


def register_forever(url: str, root: str, model: str, ready: Any) -> None:
    """Register versions (some with 256 KiB artifacts and aliases) until killed."""
    registry = Registry.open(url, LocalArtifactStore(Path(root) / "artifacts"))
    ready.set()
    i = 0
    with tempfile.TemporaryDirectory() as tmp:
        while True:
            src = Path(tmp) / f"w{i}.bin"
            src.write_bytes(os.urandom(256 * 1024 if i % 3 == 0 else 64))
            registry.register_version(
                model,
                artifact=src,
                filename="model.onnx",
                framework="onnx",
                signature=SIGNATURE,
                aliases=["candidate"] if i % 2 else (),
                lineage={"i": str(i)},
            )
            src.unlink()
            i += 1
