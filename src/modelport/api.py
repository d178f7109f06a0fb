"""The Python API: register a fitted model object or a model file in one call."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from modelport.control.registration import Registrar, RegistrationRequest
from modelport.core.errors import InvalidInput
from modelport.core.settings import Settings
from modelport.core.tensors import Signature
from modelport.registry.local import open_registry
from modelport.registry.records import ModelVersion
from modelport.runtimes.export import export_model
from modelport.runtimes.probe import ONLY_INPUT

__all__ = ["register"]


def register(
    model: Any,
    name: str,
    *,
    signature: Signature | Mapping[str, Any] | None = None,
    sample_input: Any = None,
    alias: str | list[str] | None = None,
    tags: Mapping[str, str] | None = None,
    trusted: bool = False,
    description: str = "",
    lineage: Mapping[str, str] | None = None,
    reference_data: Any = None,
    home: str | Path | None = None,
) -> ModelVersion:
    """Register ``model`` as the next version of ``name`` and return that version.

    ``model`` is a fitted scikit-learn estimator (stored with skops), an ONNX ``ModelProto`` or
    its bytes, an XGBoost ``Booster``/``XGBModel``, a LightGBM ``Booster``/``LGBMModel``, or the
    path of a model file. ``sample_input`` is checked by a test prediction before anything is stored;
    for a model fitted on a pandas DataFrame it may be a DataFrame, whose column dtypes then give
    the inputs' datatypes.
    ``reference_data`` (for drift detection) is a numpy array, ``{input name: array}``, or a table
    (pyarrow, pandas): one column per feature, checked against the signature.
    ``home`` defaults to ``MODELPORT_HOME`` or ``~/.modelport``.
    """
    settings = Settings(home=Path(home)) if home is not None else Settings()
    with tempfile.TemporaryDirectory(prefix="modelport-register-") as tmp:
        exported = export_model(model, Path(tmp))
        request = RegistrationRequest(
            name=name,
            artifact=exported.path,
            framework=exported.framework,
            signature=_signature(signature),
            sample_input=_sample(sample_input, signature),
            aliases=[alias] if isinstance(alias, str) else list(alias or []),
            tags=dict(tags or {}),
            description=description,
            lineage=dict(lineage or {}),
            trusted=trusted,
            reference_data=reference_data,
        )
        registry = open_registry(settings)
        try:
            return Registrar(registry, settings.serving.probe_timeout_s).register(request)
        finally:
            registry.close()


def _signature(signature: Signature | Mapping[str, Any] | None) -> Signature | None:
    if signature is None or isinstance(signature, Signature):
        return signature
    return Signature.from_dict(signature)


def _sample(sample: Any, signature: Signature | Mapping[str, Any] | None) -> dict[str, np.ndarray] | None:
    if _is_data_frame(sample):
        return {str(name): _column(sample[name]) for name in sample.columns}
    if sample is None or isinstance(sample, Mapping):
        return None if sample is None else {k: np.asarray(v) for k, v in sample.items()}
    parsed = _signature(signature)
    if parsed is not None and len(parsed.inputs) != 1:
        raise InvalidInput("the model takes several inputs: give sample_input as {input name: array}")
    return {parsed.inputs[0].name if parsed else ONLY_INPUT: np.asarray(sample)}


def _is_data_frame(value: Any) -> bool:
    return type(value).__name__ == "DataFrame" and hasattr(value, "columns") and hasattr(value, "dtypes")


def _column(series: Any) -> np.ndarray:
    """A DataFrame column as one input: numbers as they are, anything else (text, categories) as text."""
    values = np.asarray(series.to_numpy())
    if values.dtype.kind in "biuf":
        return values
    return np.array([str(value) for value in values.tolist()], dtype=object)
