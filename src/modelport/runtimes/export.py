"""Write an in-memory model to an artifact file, for ``modelport.register(obj, ...)``.

Framework types are recognised only if their package is already imported: an object cannot be
an XGBoost model unless xgboost was imported to build it, so nothing is imported here in vain.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelport.core import InvalidInput
from modelport.runtimes.detect import detect_framework
from modelport.runtimes.errors import short_reason

__all__ = ["ExportedArtifact", "export_model"]

_SUPPORTED = (
    "a path to a model file, ONNX ModelProto or bytes, XGBoost Booster or XGBModel,"
    " LightGBM Booster or LGBMModel, or a fitted scikit-learn estimator"
)


@dataclass(frozen=True, slots=True)
class ExportedArtifact:
    path: Path
    framework: str


def export_model(obj: object, directory: Path) -> ExportedArtifact:
    """Save ``obj`` as a single file in ``directory`` (an existing path is returned as it is)."""
    if isinstance(obj, str | Path):
        return _existing(Path(obj))
    if isinstance(obj, bytes | bytearray):
        path = directory / "model.onnx"
        path.write_bytes(obj)
        return ExportedArtifact(path, "onnx")
    for export in (_onnx, _xgboost, _lightgbm, _sklearn):
        artifact = export(obj, directory)
        if artifact is not None:
            return artifact
    raise InvalidInput(f"cannot register a {type(obj).__name__}; expected {_SUPPORTED}")


def _existing(path: Path) -> ExportedArtifact:
    if not path.is_file():
        raise InvalidInput(f"no such model file: {path.name}")
    return ExportedArtifact(path, detect_framework(path))


def _module(name: str) -> Any:
    return sys.modules.get(name)


def _onnx(obj: object, directory: Path) -> ExportedArtifact | None:
    onnx = _module("onnx")
    if onnx is None or not isinstance(obj, onnx.ModelProto):
        return None
    path = directory / "model.onnx"
    onnx.save_model(obj, path)
    return ExportedArtifact(path, "onnx")


def _xgboost(obj: object, directory: Path) -> ExportedArtifact | None:
    xgboost = _module("xgboost")
    if xgboost is None or not isinstance(obj, xgboost.Booster | xgboost.XGBModel):
        return None
    path = directory / "model.json"
    with _not_fitted(obj):
        booster = obj if isinstance(obj, xgboost.Booster) else obj.get_booster()
    booster.save_model(path)
    return ExportedArtifact(path, "xgboost")


def _lightgbm(obj: object, directory: Path) -> ExportedArtifact | None:
    lightgbm = _module("lightgbm")
    if lightgbm is None or not isinstance(obj, lightgbm.Booster | lightgbm.LGBMModel):
        return None
    path = directory / "model.txt"
    with _not_fitted(obj):
        booster = obj if isinstance(obj, lightgbm.Booster) else obj.booster_
    booster.save_model(path)
    return ExportedArtifact(path, "lightgbm")


def _sklearn(obj: object, directory: Path) -> ExportedArtifact | None:
    base = _module("sklearn.base")
    if base is None or not isinstance(obj, base.BaseEstimator):
        return None
    from sklearn.utils.validation import check_is_fitted

    with _not_fitted(obj):
        check_is_fitted(obj)
    import skops.io

    path = directory / "model.skops"
    skops.io.dump(obj, path)
    return ExportedArtifact(path, "sklearn")


@contextmanager
def _not_fitted(obj: object) -> Iterator[None]:
    """Turn a framework's "not fitted" error into ``InvalidInput``."""
    try:
        yield
    except Exception as exc:
        if "fit" not in (type(exc).__name__ + str(exc)).lower():
            raise
        raise InvalidInput(f"this {type(obj).__name__} is not fitted: {short_reason(exc)}") from None
