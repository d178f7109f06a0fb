"""What a server holds in memory: loaded versions and the immutable routing table over them.

The reconciler builds a new ``RoutingTable`` and swaps it in with one assignment; requests read the
current table without locks and never wait on the registry.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from modelport.core.errors import NotFound, NotReady
from modelport.core.inference import CallTiming
from modelport.core.serving_config import ServingConfig
from modelport.core.targets import DEFAULT_ALIAS
from modelport.core.tensors import Signature
from modelport.monitoring.stats import InferenceStats
from modelport.runtimes.base import LoadedModel

__all__ = ["LoadedVersion", "ModelRoutes", "Predictor"]


class Predictor(Protocol):
    """The asynchronous face of a loaded model (``Batched`` is the one in use)."""

    @property
    def config(self) -> ServingConfig: ...

    @property
    def queue_depth(self) -> int: ...

    def admit(self, in_flight: int) -> None: ...

    def observe_request(self, latency_s: float) -> None: ...

    async def predict(
        self, inputs: Mapping[str, np.ndarray], timing: CallTiming | None = None
    ) -> dict[str, np.ndarray]: ...

    async def close(self) -> None: ...


@dataclass(eq=False)
class LoadedVersion:
    """One model version in memory, counting the requests that are using it."""

    model: str
    version: int
    framework: str
    digest: str
    runtime_model: LoadedModel
    memory_bytes: int | None = None
    """How much this process's resident memory grew while the version loaded and warmed up: an
    estimate (other work in the process may overlap the load), ``None`` where it cannot be read."""
    predictor: Predictor | None = field(default=None, init=False)
    """Set by the reconciler on the event loop; replaced whole when the serving config changes."""
    stats: InferenceStats = field(default_factory=InferenceStats, init=False)
    """What this version served, for metrics and the statistics extension."""
    _in_flight: int = field(default=0, init=False)
    _idle: asyncio.Event | None = field(default=None, init=False)
    """What ``drained`` waits on; made by it, so requests touch it only while someone waits."""

    target: str = field(init=False)
    """``model:version``, as logs, metrics and the ``served_by`` header name this version."""
    signature: Signature = field(init=False)
    """The loaded model's signature, read once: a version never changes."""

    def __post_init__(self) -> None:
        self.target = f"{self.model}:{self.version}"
        self.signature = self.runtime_model.signature

    def predict(
        self, inputs: Mapping[str, np.ndarray], timing: CallTiming | None = None
    ) -> Awaitable[dict[str, np.ndarray]]:
        """The predictor's own awaitable: no coroutine of this method's on every request's path."""
        predictor = self.predictor
        if predictor is None:
            raise NotReady(f"{self.target} is not ready yet")
        return predictor.predict(inputs, timing)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def acquire(self) -> None:
        """Count a request in; call on the event loop right after reading the routing table."""
        self._in_flight += 1

    def release(self) -> None:
        self._in_flight -= 1
        if self._in_flight == 0 and self._idle is not None:
            self._idle.set()

    async def drained(self, timeout_s: float) -> bool:
        """Wait until no request uses this version; ``False`` if ``timeout_s`` passed first."""
        if self._in_flight == 0:
            return True
        if self._idle is None or self._idle.is_set():  # none yet, or one an earlier drain used up
            self._idle = asyncio.Event()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True


@dataclass(frozen=True)
class ModelRoutes:
    """The loaded versions of one model and the aliases that point at them."""

    name: str
    versions: Mapping[int, LoadedVersion]
    aliases: Mapping[str, int]
    pending: frozenset[int] = frozenset()
    """Versions that should be served but are not loaded (still loading, or failed)."""
    held: Mapping[str, int] = field(default_factory=dict)
    """Aliases answered by an earlier version because the one the registry names is not loaded
    (alias → that version)."""
    failed: Mapping[int, str] = field(default_factory=dict)
    """Versions that should be served but failed to load, with why."""
    served: bool = True
    """False while the model is unloaded (the OIP repository extension): every reference is unknown."""

    def default(self) -> LoadedVersion:
        """The ``production`` alias when the model has one, else the newest loaded version."""
        if DEFAULT_ALIAS in self.aliases:
            return self.resolve(DEFAULT_ALIAS)
        if not self.versions:
            raise NotReady(f"model {self.name!r} has no version ready to serve yet")
        return self.versions[max(self.versions)]

    @functools.cached_property
    def _default(self) -> LoadedVersion:
        """``default()``, worked out once: these routes never change (a failure is not kept)."""
        return self.default()

    def resolve(self, ref: str | None) -> LoadedVersion:
        if not self.served:
            raise NotFound(f"model {self.name!r} is unloaded; load it to serve it again")
        if ref is None or ref == "":
            return self._default
        number = int(ref) if ref.isdigit() else self.aliases.get(ref)
        if number is None:
            raise NotFound(f"model {self.name!r} has no version or alias {ref!r}")
        if number in self.versions:
            return self.versions[number]
        if number in self.failed:
            why = self.failed[number]
            raise NotReady(f"version {number} of model {self.name!r} could not be loaded: {why}")
        if number in self.pending:
            raise NotReady(f"version {number} of model {self.name!r} is not loaded yet")
        raise NotFound(f"version {number} of model {self.name!r} is not served here")
