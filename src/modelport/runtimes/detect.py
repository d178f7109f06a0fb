"""Tell an artifact's framework from its suffix, or else from its first bytes."""

from __future__ import annotations

import zipfile
from pathlib import Path

from modelport.core import InvalidInput

__all__ = ["detect_framework"]

_SUFFIXES = {
    ".onnx": "onnx",
    ".skops": "sklearn",
    ".joblib": "sklearn",
    ".pkl": "sklearn",
    ".pickle": "sklearn",
    ".json": "xgboost",
    ".ubj": "xgboost",
    ".txt": "lightgbm",
    ".lgb": "lightgbm",
}
_HEAD_BYTES = 4096


def detect_framework(path: Path) -> str:
    """``onnx``, ``sklearn``, ``xgboost`` or ``lightgbm``; ``InvalidInput`` if it cannot tell."""
    framework = _SUFFIXES.get(path.suffix.lower()) or _sniff(path)
    if framework is None:
        raise InvalidInput(f"cannot tell the framework of {path.name}; pass --framework")
    return framework


def _sniff(path: Path) -> str | None:
    try:
        with path.open("rb") as file:
            head = file.read(_HEAD_BYTES)
    except OSError:
        raise InvalidInput(f"cannot read {path.name}") from None
    if head.startswith(b"\x80"):
        return "sklearn"
    if head.startswith(b"PK") and _is_skops(path):
        return "sklearn"
    if head.startswith(b"tree\n") and b"version=" in head:
        return "lightgbm"
    if head.startswith(b"{") and b"learner" in head:
        return "xgboost"
    return "onnx" if _is_onnx(path) else None


def _is_skops(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return "schema.json" in archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def _is_onnx(path: Path) -> bool:
    import onnx

    try:
        model = onnx.load_model(path, load_external_data=False)
    except Exception:  # any parse failure just means "not ONNX"
        return False
    return model.ir_version > 0 and len(model.graph.node) > 0
