"""scikit-learn estimators: ``.skops`` (allow-listed content only, see skops_types.py) or
pickle/joblib (``trusted`` only).

An estimator fitted on a DataFrame (``feature_names_in_``) takes one input per column
(``columns.py``); a column is BYTES where an encoder at the start of the model learnt text
categories, INT64 where it learnt integer ones, else FP64.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np

from modelport.core import Datatype, Forbidden, InvalidInput, NotReady, Signature, TensorSpec
from modelport.runtimes import PICKLE_SUFFIXES
from modelport.runtimes.arrays import encode_strings, matrix, rename_signature
from modelport.runtimes.base import LoadedModel, LoadOptions
from modelport.runtimes.classes import classifier_outputs
from modelport.runtimes.columns import column_specs, data_frame, matrix_frame, takes_matrix
from modelport.runtimes.errors import FrameworkErrors, invalid_model_errors
from modelport.runtimes.skops_types import disallowed_types

__all__ = ["SklearnModel", "SklearnRuntime"]

_PREDICT_ERRORS = FrameworkErrors("sklearn")


class SklearnRuntime:
    framework = "sklearn"

    def load(self, artifact: Path, options: LoadOptions) -> LoadedModel:
        if artifact.suffix.lower() in PICKLE_SUFFIXES:
            estimator = _load_pickle(artifact, options.trusted)
        else:
            estimator = _load_skops(artifact, options.trusted)
        if not callable(getattr(estimator, "predict", None)):
            raise InvalidInput(f"{artifact.name} does not hold a scikit-learn estimator with predict()")
        names = _columns(estimator)
        columns = None if takes_matrix(options.signature, names) else names
        default = _signature(estimator, columns)
        signature = rename_signature(options.signature, default, "sklearn")
        if signature.outputs[1:2] and signature.outputs[1].labels != default.outputs[1].labels:
            raise InvalidInput(
                "the signature's class labels differ from the model's own (classes_:"
                f" {list(default.outputs[1].labels)[:10]}); leave 'labels' out"
            )
        return SklearnModel(estimator, signature, columns, names)


class SklearnModel:
    """A fitted estimator; its ``predict``/``predict_proba`` only read the fitted state."""

    def __init__(
        self, estimator: Any, signature: Signature, columns: list[str] | None, names: list[str] | None
    ) -> None:
        """``columns``: the inputs are these columns; else one matrix, whose columns are ``names`` if any."""
        self._estimator: Any = estimator
        self._signature = signature
        self._classifier = _is_classifier(estimator)
        self._columns = columns
        self._names = names

    @property
    def signature(self) -> Signature:
        return self._signature

    @property
    def native(self) -> Any:
        """The fitted estimator (for explanations, which read its trees)."""
        if self._estimator is None:
            raise NotReady("the model is closed")
        return self._estimator

    def features(self, inputs: Mapping[str, np.ndarray]) -> Any:
        """``inputs`` as the estimator takes them: its DataFrame, or a matrix."""
        if self._columns is not None:
            return data_frame(inputs, self._signature.inputs, self._columns)
        if self._names is not None:
            return matrix_frame(matrix(inputs, self._signature), self._names)
        return matrix(inputs, self._signature)

    def predict(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        estimator = self.native
        features = self.features(inputs)
        names = [spec.name for spec in self._signature.outputs]
        with _PREDICT_ERRORS:
            results = [np.asarray(estimator.predict(features))]
            if self._classifier and len(names) > 1:
                results.append(np.asarray(estimator.predict_proba(features), dtype=np.float64))
        if self._classifier:
            results[0] = _labels(results[0])
        else:
            results[0] = results[0].astype(np.float64, copy=False)
        return dict(zip(names, results, strict=False))

    def close(self) -> None:
        self._estimator = None


def _load_pickle(artifact: Path, trusted: bool) -> Any:
    if not trusted:
        raise Forbidden(
            f"{artifact.name} is a pickle/joblib file, which runs code when loaded;"
            " pass --trust / trusted=True if you trust this file"
        )
    import joblib

    with invalid_model_errors("sklearn", artifact):
        return joblib.load(artifact)


def _load_skops(artifact: Path, trusted: bool) -> Any:
    """Check and load the same bytes: the file is read once."""
    import skops.io

    data = artifact.read_bytes()
    with invalid_model_errors("sklearn", artifact):
        refused = [] if trusted else disallowed_types(_schema(data))
    if refused:
        raise Forbidden(
            f"{artifact.name} holds code or types an untrusted skops file may not contain"
            f" ({', '.join(refused[:5])}); pass --trust / trusted=True if you trust this file"
        )
    with invalid_model_errors("sklearn", artifact):
        return skops.io.loads(data, trusted=skops.io.get_untrusted_types(data=data))


def _schema(data: bytes) -> dict[str, Any]:
    with zipfile.ZipFile(BytesIO(data)) as archive:
        schema = json.loads(archive.read("schema.json"))
    if not isinstance(schema, dict):
        raise ValueError("schema.json is not an object")
    return schema


def _is_classifier(estimator: Any) -> bool:
    classes = getattr(estimator, "classes_", None)
    return hasattr(estimator, "predict_proba") and isinstance(classes, np.ndarray) and classes.ndim == 1


def _labels(labels: np.ndarray) -> np.ndarray:
    if labels.dtype.kind in "iub":
        return labels.astype(np.int64 if labels.dtype.kind != "b" else np.bool_, copy=False)
    if labels.dtype.kind == "f":
        return labels.astype(np.float64, copy=False)
    return encode_strings(labels)


def _signature(estimator: Any, columns: list[str] | None) -> Signature:
    if columns is not None:
        inputs = column_specs(columns, _column_datatypes(estimator, columns), Datatype.FP64)
    else:
        inputs = (TensorSpec("input", Datatype.FP64, (-1, int(getattr(estimator, "n_features_in_", -1)))),)
    if _is_classifier(estimator):
        return Signature(inputs=inputs, outputs=classifier_outputs(estimator.classes_.tolist()))
    n_outputs = _n_outputs(estimator)
    shape = (-1,) if n_outputs == 1 else (-1, n_outputs)
    return Signature(inputs=inputs, outputs=(TensorSpec("prediction", Datatype.FP64, shape),))


def _n_outputs(estimator: Any) -> int:
    n_outputs = getattr(estimator, "n_outputs_", None)
    if isinstance(n_outputs, int):
        return n_outputs
    coef = getattr(estimator, "coef_", None)
    if isinstance(coef, np.ndarray) and coef.ndim == 2:
        return int(coef.shape[0])
    return 1


def _columns(estimator: Any) -> list[str] | None:
    """The column names the estimator was fitted on, or ``None`` if it was fitted on a matrix."""
    names = getattr(estimator, "feature_names_in_", None)
    if not isinstance(names, np.ndarray) or names.ndim != 1:
        return None
    return [str(name) for name in names.tolist()]


def _column_datatypes(estimator: Any, columns: list[str]) -> dict[str, Datatype]:
    """The datatype of each column an encoder at the model's start learnt categories of.

    Looks through Pipelines to their first step, and through a ColumnTransformer to what each
    of its transformers reads first."""
    first = _first_step(estimator)
    encoded: list[tuple[Any, list[str]]] = [(first, columns)]
    indices = getattr(first, "_transformer_to_input_indices", None)
    if isinstance(indices, dict):
        named = getattr(first, "named_transformers_", {})
        encoded = [
            (_first_step(named[name]), [columns[i] for i in list(where)])
            for name, where in indices.items()
            if name in named
        ]
    datatypes: dict[str, Datatype] = {}
    for encoder, names in encoded:
        categories = getattr(encoder, "categories_", None)
        if isinstance(categories, list) and len(categories) == len(names):
            for name, values in zip(names, categories, strict=True):
                kind = np.asarray(values).dtype.kind
                datatypes[name] = (
                    Datatype.INT64 if kind in "iub" else Datatype.FP64 if kind == "f" else Datatype.BYTES
                )
    return datatypes


def _first_step(estimator: Any) -> Any:
    while isinstance(getattr(estimator, "steps", None), list) and estimator.steps:
        estimator = estimator.steps[0][1]
    return estimator
