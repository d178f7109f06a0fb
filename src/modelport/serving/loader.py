"""Turns a registered version into a warm ``LoadedVersion``: verify, load, warm up."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from modelport.core.errors import ModelportError
from modelport.core.tensors import Datatype, Signature
from modelport.registry.records import ModelVersion
from modelport.runtimes import get_runtime
from modelport.runtimes.base import LoadedModel, LoadOptions
from modelport.serving.loaded import LoadedVersion

__all__ = ["VersionLoader", "warmup_inputs"]

log = logging.getLogger(__name__)


class VersionLoader:
    """Loads versions from verified artifacts; blocking, so callers run it in a thread."""

    def __init__(self, artifact_path: Callable[[ModelVersion], Path], threads: int) -> None:
        self._artifact_path = artifact_path
        self._threads = threads

    def load(self, version: ModelVersion) -> LoadedVersion:
        path = self._artifact_path(version)  # re-hashes the file: a tampered artifact never loads
        options = LoadOptions(signature=version.signature, trusted=version.trusted, threads=self._threads)
        before = resident_bytes()
        model = get_runtime(version.framework).load(path, options)
        _warm_up(model, f"{version.model}:{version.number}")
        after = resident_bytes()
        return LoadedVersion(
            model=version.model,
            version=version.number,
            framework=version.framework,
            digest=version.digest,
            runtime_model=model,
            memory_bytes=None if before is None or after is None else max(after - before, 0),
        )


def resident_bytes() -> int | None:
    """This process's resident memory (Linux ``/proc``); ``None`` where it cannot be read."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return None


_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def warmup_inputs(signature: Signature) -> dict[str, np.ndarray]:
    """One row of zeros (empty strings for BYTES) in every input's shape."""
    inputs = {}
    for spec in signature.inputs:
        shape = tuple(1 if dim == -1 else dim for dim in spec.shape)
        if spec.datatype is Datatype.BYTES:
            inputs[spec.name] = np.full(shape, b"", dtype=object)
        else:
            inputs[spec.name] = np.zeros(shape, dtype=spec.datatype.numpy_dtype)
    return inputs


def _warm_up(model: LoadedModel, target: str) -> None:
    """Run one prediction so the first real request does not pay for lazy initialisation."""
    try:
        model.predict(warmup_inputs(model.signature))
    except ModelportError as exc:  # zeros are not valid input for every model; that is not fatal
        log.info("warm-up of %s skipped: %s", target, exc.message)
