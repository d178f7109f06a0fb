from __future__ import annotations

import logging
from pathlib import Path

import pytest

from modelport.core import InternalError, InvalidInput, NotFound
from modelport.runtimes.errors import FrameworkErrors, invalid_model_errors, short_reason


def test_value_errors_are_invalid_input() -> None:
    message = r"^the sklearn model rejected the input: X has 3 features$"
    with pytest.raises(InvalidInput, match=message), FrameworkErrors("sklearn"):
        raise ValueError("X has 3 features\nTraceback details")


def test_other_errors_are_internal_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.ERROR),
        pytest.raises(InternalError) as caught,
        FrameworkErrors("onnx"),
    ):
        raise RuntimeError("secret detail")
    assert "secret detail" not in caught.value.message
    assert caught.value.error_id in caplog.text and "secret detail" in caplog.text


def test_modelport_errors_pass_through() -> None:
    with pytest.raises(NotFound), FrameworkErrors("onnx"):
        raise NotFound("x")


def test_load_errors_name_the_file_not_its_folder(tmp_path: Path) -> None:
    artifact = tmp_path / "m.json"
    with pytest.raises(InvalidInput) as caught, invalid_model_errors("xgboost", artifact):
        raise OSError(f"[10:00:00] /build/src/io.cc:12: cannot open {artifact}")
    assert caught.value.message == "m.json is not a valid xgboost model: cannot open m.json"


def test_short_reason_strips_onnxruntime_prefix() -> None:
    reason = short_reason(RuntimeError("[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Got invalid dimensions"))
    assert reason == "Got invalid dimensions"
