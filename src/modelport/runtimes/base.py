"""The runtime contract: load an artifact, predict on numpy arrays, close.

A runtime knows one framework and nothing of HTTP, the registry or endpoints. Runtimes are
synchronous; the serving layer calls ``predict`` from a bounded thread pool.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from modelport.core.tensors import Signature

__all__ = ["LoadOptions", "LoadedModel", "Runtime"]


@dataclass(frozen=True, slots=True)
class LoadOptions:
    signature: Signature | None = None
    """The signature recorded at registration; ``None`` lets the runtime infer one."""
    trusted: bool = False
    """The caller vouched for a format that runs code when loaded (pickle, joblib)."""
    threads: int = 1
    """Threads a framework may use inside one ``predict`` call."""


@runtime_checkable
class LoadedModel(Protocol):
    """A model in memory, ready to predict.

    ``predict`` takes every input of ``signature`` by name, each with the batch along axis 0,
    and returns every output by name. It may be called from several threads at once. Framework
    exceptions never escape: bad input raises ``InvalidInput``, anything else ``InternalError``.
    """

    @property
    def signature(self) -> Signature: ...

    def predict(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def close(self) -> None: ...


class Runtime(Protocol):
    """One framework's loader."""

    framework: str

    def load(self, artifact: Path, options: LoadOptions) -> LoadedModel: ...
