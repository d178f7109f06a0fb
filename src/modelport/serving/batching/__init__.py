"""Dynamic batching: a queue per loaded version, merged model calls, fixed or latency-target policy."""

from __future__ import annotations

import time
from collections.abc import Callable

from modelport.core.serving_config import ServingConfig
from modelport.serving.batching.batcher import Batched, BatchRunner
from modelport.serving.batching.policy import BatchPolicy, FixedPolicy
from modelport.serving.batching.slo import LatencyTargetPolicy

__all__ = ["BatchPolicy", "BatchRunner", "Batched", "FixedPolicy", "LatencyTargetPolicy", "policy_for"]


def policy_for(config: ServingConfig, clock: Callable[[], float] = time.monotonic) -> BatchPolicy:
    if config.latency_target_ms is None:
        return FixedPolicy(config)
    return LatencyTargetPolicy(
        config.latency_target_ms / 1000, config.max_batch_size, config.instances, clock
    )
