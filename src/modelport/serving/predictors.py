"""How a loaded version gets its predictor: a ``Batched`` queue over a thread-pool runner."""

from __future__ import annotations

from concurrent.futures import Executor

from modelport.core.serving_config import ServingConfig
from modelport.core.tensors import Signature
from modelport.monitoring.stats import StageHistograms
from modelport.serving.batching import Batched, policy_for
from modelport.serving.batching.runner import ModelRunner
from modelport.serving.loaded import LoadedVersion, Predictor
from modelport.serving.reconciler import PredictorFactory

__all__ = ["batchable", "predictor_factory"]


def batchable(signature: Signature) -> bool:
    """Requests can be merged only if every input has a free batch dimension first."""
    return all(spec.shape and spec.shape[0] == -1 for spec in signature.inputs)


def predictor_factory(
    executor: Executor,
    inline_below_s: float = 0.0,
    statistics: bool = True,
    histograms: StageHistograms | None = None,
) -> PredictorFactory:
    """``statistics``: tell each version's statistics about every model call (metrics on).

    ``histograms``: the server's stage and batch-size histograms, where a version observes them unless
    its model asks for ``detailed_metrics`` (``None``: each version keeps its own)."""

    def make(version: LoadedVersion, config: ServingConfig) -> Predictor:
        version.stats.share(None if config.detailed_metrics else histograms)
        if config.batching and not batchable(version.signature):
            config = config.updated({"max_batch_size": 1, "preferred_batch_sizes": []})
        runner = ModelRunner(version.runtime_model, executor, version.target, inline_below_s)
        on_batch = version.stats.record_batch if statistics else None
        return Batched(runner, config, policy_for(config), version.target, on_batch=on_batch)

    return make
