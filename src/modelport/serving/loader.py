"""Turns a registered version into a warm ``LoadedVersion``: verify, load (in this process, or in a
confined child for an untrusted tree model: ``runtimes/isolation.py``), warm up."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from modelport.registry.records import ModelVersion
from modelport.runtimes import get_runtime
from modelport.runtimes.base import LoadedModel, LoadOptions
from modelport.runtimes.isolation import IsolatedModel, needs_isolation
from modelport.runtimes.warmup import warm_up
from modelport.serving.loaded import LoadedVersion

__all__ = ["VersionLoader", "resident_bytes"]

log = logging.getLogger(__name__)


class VersionLoader:
    """Loads versions from verified artifacts; blocking, so callers run it in a thread."""

    def __init__(
        self,
        artifact_copy: Callable[[ModelVersion], AbstractContextManager[Path]],
        threads: int,
        *,
        max_tensor_bytes: int,
        isolated_call_timeout_s: float,
    ) -> None:
        self._artifact_copy = artifact_copy
        self._threads = threads
        self._max_tensor_bytes = max_tensor_bytes
        self._isolated_call_timeout_s = isolated_call_timeout_s

    def load(self, version: ModelVersion) -> LoadedVersion:
        options = LoadOptions(signature=version.signature, trusted=version.trusted, threads=self._threads)
        before = resident_bytes()
        with self._artifact_copy(version) as path:  # re-hashed: a tampered artifact never loads
            model = self._load(path, version, options)  # reads the file whole: a cached copy may go after
        warm_up(model, f"{version.model}:{version.number}", self._max_tensor_bytes)
        if isinstance(model, IsolatedModel):  # its memory is the child's
            before, after = 0, resident_bytes(model.pid)
        else:
            after = resident_bytes()
        return LoadedVersion(
            model=version.model,
            version=version.number,
            framework=version.framework,
            digest=version.digest,
            runtime_model=model,
            memory_bytes=None if before is None or after is None else max(after - before, 0),
        )

    def _load(self, path: Path, version: ModelVersion, options: LoadOptions) -> LoadedModel:
        if not needs_isolation(version.framework, options.trusted):
            return get_runtime(version.framework).load(path, options)
        return IsolatedModel(
            path,
            version.framework,
            options,
            call_timeout_s=self._isolated_call_timeout_s,
            max_bytes=_ANSWER_BYTES_PER_REQUEST_BYTE * self._max_tensor_bytes,
            refetch=lambda: self._artifact_copy(version),
        )


_ANSWER_BYTES_PER_REQUEST_BYTE = 4
"""An isolated model's answer may hold this many times the largest request's bytes (class
probabilities in FP64 for FP32 features, for example); a larger one is refused as broken."""


def resident_bytes(pid: int | None = None) -> int | None:
    """The resident memory of process ``pid`` (this one by default); ``None`` where /proc cannot tell."""
    try:
        with open(f"/proc/{pid or 'self'}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return None


_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
