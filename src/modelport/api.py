"""The Python API: register a fitted model object or a model file in one call; score a file
(``batch_predict``) or data in memory (``predict``) with a registered version."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from modelport.control.registration import Registrar, RegistrationRequest
from modelport.core.errors import InvalidInput
from modelport.core.settings import Settings
from modelport.core.targets import Target
from modelport.core.tensors import Signature
from modelport.registry.local import open_registry
from modelport.registry.records import ModelVersion
from modelport.registry.sources import fetch_artifact
from modelport.runtimes.export import export_model
from modelport.runtimes.probe import ONLY_INPUT

__all__ = ["batch_predict", "explain", "predict", "register"]


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
    sha256: str | None = None,
    home: str | Path | None = None,
) -> ModelVersion:
    """Register ``model`` as the next version of ``name`` and return that version.

    ``model`` is a fitted scikit-learn estimator (stored with skops), an ONNX ``ModelProto`` or
    its bytes, an XGBoost ``Booster``/``XGBModel``, a LightGBM ``Booster``/``LGBMModel``, or the
    path of a model file, which may be an ``s3://`` or ``https://`` URI (copied into the store; with
    ``sha256``, its bytes must hash to it). ``sample_input`` is checked by a test prediction before
    anything is stored; for a model fitted on a pandas DataFrame it may be a DataFrame, whose column
    dtypes then give the inputs' datatypes.
    ``reference_data`` (for drift detection) is a numpy array, ``{input name: array}``, or a table
    (pyarrow, pandas): one column per feature, checked against the signature.
    ``home`` defaults to ``MODELPORT_HOME`` or ``~/.modelport``.
    """
    settings = _settings(home)
    with tempfile.TemporaryDirectory(prefix="modelport-register-") as tmp:
        if isinstance(model, str | Path):
            model = fetch_artifact(model, Path(tmp), storage=settings.storage, sha256=sha256)
        elif sha256 is not None:
            raise InvalidInput("sha256 checks a model file or URI, not a model object")
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


def batch_predict(
    target: str, input: str | Path, output: str | Path, *, home: str | Path | None = None, **options: Any
) -> dict[str, Any]:
    """Score ``input`` (a Parquet, CSV or JSONL file, a directory or a glob of them) with ``target``
    (``name``, ``name:3``, ``name@alias``) into the directory ``output``, as ``modelport batch``
    does, and return its summary (either may be an ``s3://`` URI). ``options`` are the command's:
    ``format``, ``id_columns``, ``features``, ``errors``, ``max_errors``, ``chunk_rows``,
    ``overwrite``, ``resume``, ``explain=True`` (attribution columns, docs/explanations.md), and
    ``engine="ray"`` with ``address`` and ``num_workers`` (docs/batch.md, "On Ray").
    A failure raises a ``ModelportError`` (or ``OSError``) once the manifest says ``failed``.
    """
    from modelport.batch import BatchOptions, run_batch

    for key in ("id_columns", "features"):
        if key in options:
            options[key] = tuple(options[key])
    if options.get("errors") is not None:
        options["errors"] = Path(options["errors"])
    try:
        out = output if isinstance(output, str) and output.startswith("s3://") else Path(output)
        batch_options = BatchOptions(target=target, input=str(input), output=out, **options)
    except TypeError as error:
        raise InvalidInput(f"batch_predict: {error}") from None
    settings = _settings(home)
    registry = open_registry(settings)
    try:
        return run_batch(registry, settings, batch_options)
    finally:
        registry.close()


def predict(
    target: str, data: Any, *, features: list[str] | None = None, home: str | Path | None = None
) -> Any:
    """``data`` scored in this process by ``target``, answered in kind: a pandas DataFrame or a
    pyarrow Table gets one column per output; a numpy array (the model's one input) gets the output's
    array, or a structured array with a field per output. Columns map to inputs as in
    ``batch_predict``; the first bad row raises ``InvalidInput`` naming its row and column."""
    return _in_memory(target, data, features, home, explain=False)


def explain(
    target: str, data: Any, *, features: list[str] | None = None, home: str | Path | None = None
) -> Any:
    """``predict``'s answer with each row's feature attributions after the outputs: the columns (or
    structured array fields) ``explain.<feature>`` and ``explain.base``, or ``explain.<class>.<feature>``
    per class (docs/explanations.md). ``InvalidInput`` says why a version cannot be explained."""
    return _in_memory(target, data, features, home, explain=True)


def _in_memory(
    target: str, data: Any, features: list[str] | None, home: str | Path | None, *, explain: bool
) -> Any:
    from modelport.batch.job import load_explainer, load_model
    from modelport.batch.memory import predict_data
    from modelport.explanations.select import check_explainable

    settings = _settings(home)
    registry = open_registry(settings)
    try:
        version = registry.resolve_target(Target.parse(target))
        name = f"{version.model}:{version.number}"
        if explain:
            check_explainable(version)
        model = load_model(registry, settings, version)
        try:
            explainer = load_explainer(registry, model, version) if explain else None
        except BaseException:
            model.close()
            raise
    finally:
        registry.close()
    try:
        return predict_data(model, name, data, tuple(features or ()), explainer)
    finally:
        model.close()


def _settings(home: str | Path | None) -> Settings:
    return Settings(home=Path(home)) if home is not None else Settings()


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
