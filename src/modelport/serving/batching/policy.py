"""When a batch leaves and how big it may be. ``FixedPolicy`` follows the configuration as given."""

from __future__ import annotations

from typing import Protocol

from modelport.core.serving_config import ServingConfig

__all__ = ["BatchPolicy", "FixedPolicy"]


class BatchPolicy(Protocol):
    def batch_limit(self) -> int:
        """Most rows the next batch may hold."""
        ...

    def wait_s(self, queued_rows: int, oldest_wait_s: float, lone: bool) -> float:
        """How much longer to wait for batch mates before sending what is queued (0: send now).

        ``lone``: the one queued request found the version idle, as did the one before it, so no
        company is on its way (see ``Batched``).
        """
        ...

    def admit(self, in_flight: int) -> bool:
        """Whether a new request may start, with ``in_flight`` already admitted (before decoding)."""
        ...

    def refusal_pause_s(self) -> float:
        """How long a refusal is held before it is sent (0: at once)."""
        ...

    def observe(self, rows: int, service_s: float) -> None:
        """Learn from one finished batch: its size (rows) and the model call's time."""
        ...

    def observe_request(self, latency_s: float) -> None:
        """Learn from one answered request: its time from admission to answer."""
        ...


class FixedPolicy:
    """Wait up to ``max_queue_delay_us`` unless a preferred size or the limit is reached, or the
    request is lone: then waiting would only add the delay to its latency."""

    def __init__(self, config: ServingConfig) -> None:
        self._limit = config.max_batch_size
        self._delay_s = config.max_queue_delay_us / 1e6
        self._early = max(config.preferred_batch_sizes, default=config.max_batch_size)

    def batch_limit(self) -> int:
        return self._limit

    def wait_s(self, queued_rows: int, oldest_wait_s: float, lone: bool) -> float:
        if lone or self._delay_s == 0 or queued_rows >= self._early:
            return 0.0
        return max(0.0, self._delay_s - oldest_wait_s)

    def admit(self, in_flight: int) -> bool:
        return True  # the queue length limit is the only bound

    def refusal_pause_s(self) -> float:
        return 0.0

    def observe(self, rows: int, service_s: float) -> None:
        return None

    def observe_request(self, latency_s: float) -> None:
        return None
