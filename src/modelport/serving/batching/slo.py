"""SLO mode: keep the p99 latency of served requests under a target, shedding what cannot make it.

Latency under load is mostly waiting, and most of the waiting happens before a request reaches
the batcher: in the socket, while its body is read, while it is decoded. So the policy admits
requests at the front door, before any of that work, by limiting how many may be in flight for
the version at once. By Little's law, ``in_flight = throughput x latency``; the limit is the
measured completion rate times the target, scaled by a headroom factor. Requests over the limit
are refused at once with "overloaded, retry later", which costs microseconds; the rest keep
their latency near the target instead of everyone queueing together.

The headroom is adjusted AIMD-style from the p99 of the end-to-end latencies actually observed:
halved when the target is missed, relaxed slowly otherwise, and relaxed over time while
everything is being shed (no measurements then). Batch sizes come from a cost model,
``fixed + per_row x rows`` learnt online (exponentially weighted least squares): the largest
batch whose predicted time fits in half the target.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["LatencyTargetPolicy", "ServiceTimeModel"]

_MIN_SAMPLES = 100
"""Latencies needed before the observed p99 is trusted."""
_RELAX_STEP = 0.05
_RATE_WINDOW_S = 1.0
_MIN_COMPLETIONS = 20
"""Completions in the rate window before the concurrency limit applies."""


class ServiceTimeModel:
    """Exponentially weighted least-squares fit of ``service_s = fixed + per_row * rows``."""

    def __init__(self, decay: float = 0.95) -> None:
        self._decay = decay
        self._sums = np.zeros(5)  # weight, Σx, Σy, Σxx, Σxy

    def observe(self, rows: int, service_s: float) -> None:
        self._sums = self._sums * self._decay + np.array(
            [1.0, rows, service_s, rows * rows, rows * service_s]
        )

    def predict(self, rows: int) -> float:
        n, sx, sy, sxx, sxy = self._sums
        if n == 0:
            return 0.0
        spread = n * sxx - sx * sx
        if spread <= 1e-9 * max(1.0, n * sxx):  # every batch had one size: scale its mean
            return float(sy / sx * rows) if sx else float(sy / n)
        per_row = max(0.0, (n * sxy - sx * sy) / spread)
        fixed = max(0.0, (sy - per_row * sx) / n)
        return float(fixed + per_row * rows)


class LatencyTargetPolicy:
    def __init__(
        self,
        target_s: float,
        max_batch_size: int,
        instances: int,
        clock: Callable[[], float],
        window: int = 512,
    ) -> None:
        self._target_s = target_s
        self._max_batch = max_batch_size
        self._instances = instances
        self._clock = clock
        self._cost = ServiceTimeModel()
        self._latencies: deque[float] = deque(maxlen=window)
        self._completions: deque[float] = deque()
        self._headroom = 1.0
        self._adjust_every_s = max(target_s, 0.05)
        self._next_adjust = clock()

    @property
    def headroom(self) -> float:
        return self._headroom

    def batch_limit(self) -> int:
        budget = self._target_s / 2
        if self._cost.predict(self._max_batch) <= budget:
            return self._max_batch
        low, high = 1, self._max_batch  # largest size whose batch fits in half the target
        while low < high:
            mid = (low + high + 1) // 2
            low, high = (mid, high) if self._cost.predict(mid) <= budget else (low, mid - 1)
        return low

    def wait_s(self, queued_rows: int, oldest_wait_s: float) -> float:
        return 0.0  # a free instance takes what is queued; batches form while instances are busy

    def concurrency_limit(self) -> int | None:
        """How many requests may be in flight; ``None`` until enough completions were measured."""
        now = self._clock()
        while self._completions and self._completions[0] < now - _RATE_WINDOW_S:
            self._completions.popleft()
        if len(self._completions) < _MIN_COMPLETIONS:
            return None
        rate = len(self._completions) / _RATE_WINDOW_S
        return max(self._instances, int(rate * self._target_s * self._headroom))

    def admit(self, in_flight: int) -> bool:
        limit = self.concurrency_limit()
        if limit is None or in_flight < limit:
            return True
        self._relax_while_shedding()
        return False

    def observe(self, rows: int, service_s: float, latencies_s: Sequence[float]) -> None:
        self._cost.observe(rows, service_s)

    def observe_request(self, latency_s: float) -> None:
        """One request answered, ``latency_s`` after it was admitted."""
        now = self._clock()
        self._completions.append(now)
        self._latencies.append(latency_s)
        if now < self._next_adjust or len(self._latencies) < _MIN_SAMPLES:
            return
        self._next_adjust = now + self._adjust_every_s
        p99 = float(np.percentile(np.fromiter(self._latencies, float), 99))
        if p99 > self._target_s:
            self._headroom = max(0.1, self._headroom * 0.5)
            self._latencies.clear()  # judge the new headroom on fresh measurements
        elif p99 < 0.8 * self._target_s:
            self._headroom = min(1.0, self._headroom + _RELAX_STEP)

    def _relax_while_shedding(self) -> None:
        """Shedding everything produces no measurements to learn from; recover the headroom by time."""
        now = self._clock()
        if now >= self._next_adjust and len(self._latencies) < _MIN_SAMPLES:
            self._next_adjust = now + self._adjust_every_s
            self._headroom = min(1.0, self._headroom + _RELAX_STEP)
