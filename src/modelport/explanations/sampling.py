"""The model-agnostic fallback: Shapley values estimated by permutation sampling (Štrumbelj and
Kononenko, 2014) against a bounded sample of the version's reference data.

For each background row b, a random order of the features and its reverse (antithetic pairs) are
walked: starting from b, the features are switched to the explained row's values one at a time,
and each switch's change in the model's answer is that feature's share. Each walk's shares add up
to f(x) - f(b), so the averages add up exactly to f(x) less the background's mean answer, which is
the base value; a feature the model ignores gets exactly 0.

Cost: 2 x ``BACKGROUND_ROWS`` x (features + 1) model rows per explained row (at most 32 background
rows: 64 x (features + 1)), sent in calls of up to ``ROWS_PER_CALL`` rows. The sample and the orders
are drawn once, with a fixed seed, so a row's attributions do not depend on the rows beside it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from modelport.core.tensors import TensorSpec
from modelport.explanations.attributions import Attributions, output_keys
from modelport.runtimes.base import LoadedModel

__all__ = ["BACKGROUND_ROWS", "ROWS_PER_CALL", "SamplingExplainer"]

BACKGROUND_ROWS = 32
ROWS_PER_CALL = 16_384
SEED = 0
_FLOAT_KINDS = "f"


class SamplingExplainer:
    def __init__(self, model: LoadedModel, background: Mapping[str, np.ndarray]) -> None:
        """``background``: checked inputs of at least one reference row; a sample of at most
        ``BACKGROUND_ROWS`` of them is kept."""
        self._model = model
        rng = np.random.default_rng(SEED)
        rows = len(next(iter(background.values())))
        keep = np.sort(rng.choice(rows, size=min(BACKGROUND_ROWS, rows), replace=False))
        self._background = {name: array[keep] for name, array in background.items()}
        self._features = _features(model.signature.inputs, self._background)
        n = len(self._features)
        orders = [rng.permutation(n) for _ in keep]
        self._orders = np.array([o for order in orders for o in (order, order[::-1])], dtype=np.int64)
        self._mask = _switched(self._orders, n)
        self._background_of = np.repeat(np.repeat(np.arange(len(keep)), 2), n + 1)
        answers, self.outputs = self._answers(self._background)
        self._base = answers.mean(axis=0)

    def explain(self, inputs: Mapping[str, np.ndarray]) -> Attributions:
        n_rows = len(next(iter(inputs.values())))
        steps = len(self._mask)
        per_call = max(1, ROWS_PER_CALL // steps)
        values = np.empty((n_rows, len(self._base), len(self._features)))
        for start in range(0, n_rows, per_call):
            rows = range(start, min(start + per_call, n_rows))
            walks = [self._walk(inputs, row) for row in rows]
            composed = {name: np.concatenate([w[name] for w in walks]) for name in walks[0]}
            answers, _ = self._answers(composed)
            for i, row in enumerate(rows):
                values[row] = self._shares(answers[i * steps : (i + 1) * steps])
        return Attributions(values, self._base, self.outputs)

    def _walk(self, inputs: Mapping[str, np.ndarray], row: int) -> dict[str, np.ndarray]:
        """Every walk's rows for ``row``: background values, switched to the row's where masked."""
        composed: dict[str, np.ndarray] = {}
        for spec in self._model.signature.inputs:
            background = self._background[spec.name][self._background_of]
            columns = [j for j, (name, _) in enumerate(self._features) if name == spec.name]
            mask = self._mask[:, columns]
            if background.ndim == 1:
                mask = mask[:, 0]
            elif background.ndim > 2:
                mask = mask[:, 0].reshape(-1, *([1] * (background.ndim - 1)))
            composed[spec.name] = np.where(mask, inputs[spec.name][row : row + 1], background)
        return composed

    def _shares(self, answers: np.ndarray) -> np.ndarray:
        """``[outputs, features]``: each switch's change, by the feature switched, averaged over walks."""
        n = len(self._features)
        steps = answers.reshape(len(self._orders), n + 1, -1)
        changes = np.diff(steps, axis=1)  # [walks, position in the order, outputs]
        by_feature = np.empty_like(changes)
        walks = np.arange(len(self._orders))[:, np.newaxis]
        by_feature[walks, self._orders] = changes
        return np.asarray(by_feature.mean(axis=0).T)

    def _answers(self, inputs: Mapping[str, np.ndarray]) -> tuple[np.ndarray, tuple[str, ...]]:
        """The model's float outputs as ``[rows, values]``, and what each value is."""
        outputs = self._model.predict(inputs)
        columns: list[np.ndarray] = []
        keys: list[str] = []
        for spec in self._model.signature.outputs:
            answer = np.asarray(outputs[spec.name])
            if answer.dtype.kind not in _FLOAT_KINDS:
                continue
            flat = answer.reshape(len(answer), -1).astype(np.float64)
            columns.append(flat)
            keys.extend(output_keys(spec, flat.shape[1]))
        return np.concatenate(columns, axis=1), tuple(keys)


def _features(specs: tuple[TensorSpec, ...], background: Mapping[str, np.ndarray]) -> list[tuple[str, int]]:
    """The features in order: one per column of a matrix input, one per other input."""
    features: list[tuple[str, int]] = []
    for spec in specs:
        array = background[spec.name]
        width = array.shape[1] if array.ndim == 2 else 1
        features.extend((spec.name, column) for column in range(width))
    return features


def _switched(orders: np.ndarray, n: int) -> np.ndarray:
    """``[walks x (n + 1), n]``: at step t of a walk, the first t features of its order are the row's."""
    mask = np.zeros((len(orders), n + 1, n), dtype=bool)
    for position in range(n):
        walks = np.arange(len(orders))
        mask[walks, position + 1 :, orders[:, position]] = True
    return mask.reshape(-1, n)
