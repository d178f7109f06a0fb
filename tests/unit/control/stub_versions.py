"""A version whose artifact is a stand-in: drift reads only its signature and reference data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelport.core.tensors import Signature
from modelport.registry.catalog import Registry


def register_stub(
    registry: Registry, tmp_path: Path, signature: Signature, reference_data: Any = None
) -> None:
    """Register the next version of ``m``; ``reference_data`` is stored as given."""
    artifact = tmp_path / "model.onnx"
    artifact.write_bytes(b"weights")
    registry.register_version(
        "m",
        artifact=artifact,
        filename="model.onnx",
        framework="onnx",
        signature=signature,
        reference_data=reference_data,
    )
