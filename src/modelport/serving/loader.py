"""Turns a registered version into a warm ``LoadedVersion``: verify, load, warm up."""

from __future__ import annotations

import logging
import math
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

    def __init__(
        self,
        artifact_path: Callable[[ModelVersion], Path],
        threads: int,
        *,
        max_tensor_bytes: int,
    ) -> None:
        self._artifact_path = artifact_path
        self._threads = threads
        self._max_tensor_bytes = max_tensor_bytes

    def load(self, version: ModelVersion) -> LoadedVersion:
        path = self._artifact_path(version)  # re-hashes the file: a tampered artifact never loads
        options = LoadOptions(signature=version.signature, trusted=version.trusted, threads=self._threads)
        before = resident_bytes()
        model = get_runtime(version.framework).load(path, options)
        _warm_up(model, f"{version.model}:{version.number}", self._max_tensor_bytes)
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


def warmup_inputs(signature: Signature, max_bytes: int) -> dict[str, np.ndarray] | None:
    """One row of zeros (empty strings for BYTES) in every input's shape.

    ``None`` if together they would hold more than ``max_bytes``, counted before anything is
    allocated as a request's inputs are (a BYTES element counts as its 8-byte reference).
    """
    shapes = {spec.name: tuple(1 if dim == -1 else dim for dim in spec.shape) for spec in signature.inputs}
    size = sum(math.prod(shapes[spec.name]) * spec.datatype.numpy_dtype.itemsize for spec in signature.inputs)
    if size > max_bytes:
        return None
    inputs = {}
    for spec in signature.inputs:
        shape = shapes[spec.name]
        if spec.datatype is Datatype.BYTES:
            inputs[spec.name] = np.full(shape, b"", dtype=object)
        else:
            inputs[spec.name] = np.zeros(shape, dtype=spec.datatype.numpy_dtype)
    return inputs


def _warm_up(model: LoadedModel, target: str, max_bytes: int) -> None:
    """Run one prediction so the first real request does not pay for lazy initialisation.

    A warm-up input larger than a request may be (``limits.max_tensor_bytes``) is skipped, not
    refused: the signature was checked against the model when it was registered, and the limit
    is this server's setting, which another server of the same registry may set higher.
    """
    inputs = warmup_inputs(model.signature, max_bytes)
    if inputs is None:
        log.info(
            "warm-up of %s skipped: one row is larger than limits.max_tensor_bytes (%d)", target, max_bytes
        )
        return
    try:
        model.predict(inputs)
    except ModelportError as exc:  # zeros are not valid input for every model; that is not fatal
        log.info("warm-up of %s skipped: %s", target, exc.message)
