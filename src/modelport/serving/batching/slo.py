"""SLO mode: keep the p99 latency of served requests under a target, shedding what cannot make it.

Latency under load is mostly waiting, and most of the waiting happens before a request reaches
the batcher: in the socket, while its body is read, while it is decoded. So requests are admitted
at the front door, before any of that work, by limiting how many may be in flight for a version
at once. Requests over the limit are refused at once with "overloaded, retry later", which costs
microseconds; the admitted ones keep their latency near the target instead of everyone queueing
together. (By Little's law, in flight = throughput x latency, so the right limit is about the
throughput the version can sustain times the target.)

The limit is found by AIMD on the p99 of the end-to-end latencies actually observed: cut by a
quarter when the target is missed, raised by one while there is room. A limit computed from the
*achieved* rate would spiral down while shedding (fewer admitted, lower rate, lower limit);
latency feedback does not, and the admitted requests always produce the measurements that let
the limit recover. Batch sizes come from a cost model, ``fixed + per_row x rows`` learnt online
(exponentially weighted least squares): the largest batch whose predicted time fits in half the
target.

Shedding relieves a server only if refused clients stay away for a while, as ``Retry-After`` asks.
Clients that send again at once turn each refusal into another request to refuse: the refusals
take the event loop's time, the few admitted requests miss the target, the limit is cut again,
and the server ends up refusing nearly everything for as long as the load lasts. So when
refusals outnumber admissions ``FLOOD_RATIO`` to one over an adjustment period, refusals are
paced for ``FLOOD_HOLD_S``: each is answered only after ``REFUSAL_PAUSE_S``. A client that comes
straight back is then held as if it had waited; a polite one loses nothing, as it would have
waited longer anyway; and the event loop goes back to the admitted requests, whose latency again
says what the limit should be.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["FLOOD_HOLD_S", "FLOOD_RATIO", "REFUSAL_PAUSE_S", "LatencyTargetPolicy", "ServiceTimeModel"]

_MIN_SAMPLES = 50
"""Latencies needed before the observed p99 is trusted."""
_INITIAL_LIMIT = 8
_DECREASE = 0.75
_RAISE_BELOW = 0.8
"""The limit grows only while the observed p99 is under this share of the target."""
FLOOD_RATIO = 10
"""Refusals per admission, over one adjustment period, from which refusals are paced."""
FLOOD_HOLD_S = 1.0
"""How long refusals stay paced after a flood was seen (pacing itself thins the refusals out)."""
REFUSAL_PAUSE_S = 0.25
"""How long a paced refusal is held: 64 clients retrying at once then cost about 256 refusals a
second instead of tens of thousands."""


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
        max_limit: int = 10_000,
    ) -> None:
        self._target_s = target_s
        self._max_batch = max_batch_size
        self._clock = clock
        self._cost = ServiceTimeModel()
        self._latencies: list[float] = []
        self._limit = float(max(_INITIAL_LIMIT, instances))
        self._min_limit = float(instances)
        self._max_limit = float(max_limit)
        self._admitted = 0
        self._refused = 0
        self._paced_until = float("-inf")
        self._adjust_every_s = max(target_s, 0.02)
        self._next_adjust = clock()

    @property
    def limit(self) -> int:
        """Requests that may be in flight at once (admitted, not yet answered)."""
        return int(self._limit)

    def batch_limit(self) -> int:
        budget = self._target_s / 2
        if self._cost.predict(self._max_batch) <= budget:
            return self._max_batch
        low, high = 1, self._max_batch  # largest size whose batch fits in half the target
        while low < high:
            mid = (low + high + 1) // 2
            low, high = (mid, high) if self._cost.predict(mid) <= budget else (low, mid - 1)
        return low

    def wait_s(self, queued_rows: int, oldest_wait_s: float, lone: bool) -> float:
        return 0.0  # a free instance takes what is queued (lone or not); batches form while busy

    def admit(self, in_flight: int) -> bool:
        if in_flight < self._limit:
            self._admitted += 1
            return True
        self._refused += 1
        if self._refused > FLOOD_RATIO * self._admitted:  # a flood leaves few latencies to wait for
            now = self._clock()
            if now >= self._next_adjust:
                self._adjust(now)
        return False

    def refusal_pause_s(self) -> float:
        return REFUSAL_PAUSE_S if self._clock() < self._paced_until else 0.0

    def observe(self, rows: int, service_s: float) -> None:
        self._cost.observe(rows, service_s)

    def observe_request(self, latency_s: float) -> None:
        """One request answered, ``latency_s`` after it was admitted; steers the limit."""
        self._latencies.append(latency_s)
        now = self._clock()
        if now < self._next_adjust or len(self._latencies) < _MIN_SAMPLES:
            return
        self._adjust(now)

    def _adjust(self, now: float) -> None:
        self._next_adjust = now + self._adjust_every_s
        if self._refused > FLOOD_RATIO * self._admitted:
            self._paced_until = now + FLOOD_HOLD_S
        if len(self._latencies) >= _MIN_SAMPLES:
            p99 = float(np.percentile(self._latencies, 99))
            if p99 > self._target_s:
                self._limit = max(self._min_limit, self._limit * _DECREASE)
            elif p99 < _RAISE_BELOW * self._target_s:
                self._limit = min(self._max_limit, self._limit + 1)
        self._latencies.clear()
        self._admitted = self._refused = 0
