"""How a model is served: dynamic batching, queueing, deadlines, latency target, instances, metrics detail.

Stored per model in the registry; every loaded version of the model is served with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from modelport.core.errors import InvalidInput

__all__ = ["ServingConfig"]


@dataclass(frozen=True, slots=True)
class ServingConfig:
    max_batch_size: int = 64
    """Most rows merged into one model call; 1 turns batching off."""
    max_queue_delay_us: int = 0
    """Longest a request waits for batch mates. 0: a batch leaves as soon as an instance is free."""
    preferred_batch_sizes: tuple[int, ...] = ()
    """Row counts worth leaving early for, before ``max_queue_delay_us`` is up."""
    max_queue_size: int = 1024
    """Requests allowed to wait; one more is refused at once (overloaded, retry later)."""
    timeout_ms: int | None = None
    """A request still queued after this long fails with a timeout instead of running."""
    latency_target_ms: float | None = None
    """SLO mode: a p99 target; batch size and wait adapt to it and excess load is shed."""
    instances: int = 1
    """Batches that may run at the same time."""
    detailed_metrics: bool = False
    """Per-version stage and batch-size histograms in ``/metrics`` (about 90 more series per loaded
    version); off, they are counted in the server's histograms."""

    def __post_init__(self) -> None:
        _positive("max_batch_size", self.max_batch_size)
        _positive("max_queue_size", self.max_queue_size)
        _positive("instances", self.instances)
        if not isinstance(self.detailed_metrics, bool):
            raise InvalidInput(f"detailed_metrics must be true or false, got {self.detailed_metrics!r}")
        if self.max_queue_delay_us < 0:
            raise InvalidInput("max_queue_delay_us must be >= 0")
        if self.timeout_ms is not None:
            _positive("timeout_ms", self.timeout_ms)
        if self.latency_target_ms is not None and not self.latency_target_ms > 0:
            raise InvalidInput("latency_target_ms must be > 0")
        for size in self.preferred_batch_sizes:
            if not 1 <= size <= self.max_batch_size:
                raise InvalidInput(f"preferred batch size {size} must be between 1 and max_batch_size")

    @property
    def batching(self) -> bool:
        return self.max_batch_size > 1

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["preferred_batch_sizes"] = list(self.preferred_batch_sizes)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> ServingConfig:
        if data is None:
            return cls()
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInput(f"unknown serving setting {unknown[0]!r}; known: {', '.join(sorted(known))}")
        values = dict(data)
        if "preferred_batch_sizes" in values:
            values["preferred_batch_sizes"] = tuple(values["preferred_batch_sizes"] or ())
        try:
            return cls(**values)
        except TypeError as exc:
            raise InvalidInput(f"invalid serving settings: {exc}") from None

    def updated(self, changes: Mapping[str, Any]) -> ServingConfig:
        """A copy with ``changes`` applied (``None`` values clear optional settings)."""
        return ServingConfig.from_dict({**self.to_dict(), **changes})


def _positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(f"{name} must be an integer >= 1, got {value!r}")
