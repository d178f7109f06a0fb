"""Which versions are refused before loading: those explained by sampling that have no reference data."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from modelport.core import InvalidInput, Signature
from modelport.explanations.select import check_explainable
from modelport.registry.records import ModelVersion


def _version(framework: str, *, trusted: bool, reference: str | None) -> ModelVersion:
    return ModelVersion(
        "m",
        1,
        framework,
        "0" * 64,
        "model",
        1,
        Signature((), ()),
        "",
        {},
        {},
        trusted,
        reference,
        datetime.now(UTC),
    )


def test_a_version_explained_by_sampling_needs_reference_data() -> None:
    with pytest.raises(InvalidInput, match=r"^m:1 cannot be explained: xgboost models registered untrusted"):
        check_explainable(_version("xgboost", trusted=False, reference=None))
    with pytest.raises(
        InvalidInput, match=r"^m:1 cannot be explained: onnx models are explained by sampling"
    ):
        check_explainable(_version("onnx", trusted=True, reference=None))
    check_explainable(_version("xgboost", trusted=False, reference="1" * 64))
    for framework in ("sklearn", "xgboost", "lightgbm"):  # trees: decided once loaded
        check_explainable(_version(framework, trusted=True, reference=None))
