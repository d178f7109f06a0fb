"""In-process cost of the per-request statistics (what `MODELPORT_METRICS__ENABLED=false` saves).

Times `InferenceStats.record_request` and `record_batch` for a one-row request, the two calls the
request path makes when metrics are on. Prints one JSON object (microseconds per request).
"""

from __future__ import annotations

import json
import timeit

from modelport.monitoring.stats import InferenceStats


def per_call_us(call: object, number: int = 200_000, repeat: int = 5) -> float:
    return min(timeit.repeat(call, number=number, repeat=repeat)) / number * 1e6  # type: ignore[arg-type]


def main() -> None:
    stats = InferenceStats()
    request = per_call_us(lambda: stats.record_request("rest", 150_000, 20_000, 8_000))
    batch = per_call_us(lambda: stats.record_batch(1, [30_000], 9_000))
    print(json.dumps({"record_request_us": request, "record_batch_us": batch, "total_us": request + batch}))


if __name__ == "__main__":
    main()
