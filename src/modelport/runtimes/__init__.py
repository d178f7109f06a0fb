"""One adapter per framework: load an artifact, predict on numpy arrays.

Framework modules are imported on first use, so importing modelport never imports xgboost.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from modelport.core import InvalidInput
from modelport.runtimes.base import LoadedModel, LoadOptions, Runtime

__all__ = [
    "FRAMEWORKS",
    "PICKLE_SUFFIXES",
    "LoadOptions",
    "LoadedModel",
    "Runtime",
    "get_runtime",
    "requires_trust",
]

_RUNTIMES = {
    "onnx": ("modelport.runtimes.onnx", "OnnxRuntime"),
    "sklearn": ("modelport.runtimes.sklearn", "SklearnRuntime"),
    "xgboost": ("modelport.runtimes.xgboost", "XGBoostRuntime"),
    "lightgbm": ("modelport.runtimes.lightgbm", "LightGBMRuntime"),
}
FRAMEWORKS: tuple[str, ...] = tuple(_RUNTIMES)
PICKLE_SUFFIXES = frozenset({".joblib", ".pkl", ".pickle"})
"""Formats that run code when loaded."""


def get_runtime(framework: str) -> Runtime:
    """The runtime of ``framework`` (one of ``FRAMEWORKS``)."""
    try:
        module_name, class_name = _RUNTIMES[framework]
    except KeyError:
        raise InvalidInput(
            f"unknown framework {framework!r}; expected one of {', '.join(FRAMEWORKS)}"
        ) from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidInput(
            f"the {framework} runtime needs a package that is not installed ({exc.name});"
            f" pip install 'modelport[{framework}]'"
        ) from None
    runtime: Runtime = getattr(module, class_name)()
    return runtime


def requires_trust(path: Path) -> bool:
    """Whether loading ``path`` runs code from the file (pickle, joblib)."""
    return path.suffix.lower() in PICKLE_SUFFIXES
