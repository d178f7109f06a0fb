"""Warm-up inputs are sized from the signature and bounded by limits.max_tensor_bytes before anything
is allocated (issue 15, finding 6)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from skl2onnx import to_onnx
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from modelport.core import Datatype, Signature, TensorSpec
from modelport.runtimes import LoadOptions, get_runtime
from modelport.runtimes.warmup import warm_up, warmup_inputs

HUGE = 100_000_000
OUT = (TensorSpec("y", Datatype.FP32, (-1,)),)


def test_one_row_of_zeros_in_every_input_s_shape() -> None:
    signature = Signature(
        (TensorSpec("a", Datatype.FP32, (-1, 3)), TensorSpec("b", Datatype.BYTES, (2, -1))), OUT
    )
    inputs = warmup_inputs(signature, max_bytes=1024)
    assert inputs is not None
    assert inputs["a"].shape == (1, 3) and inputs["a"].dtype == np.float32 and not inputs["a"].any()
    assert inputs["b"].shape == (2, 1) and inputs["b"].tolist() == [[b""], [b""]]


@pytest.mark.parametrize(
    ("shape", "datatype"),
    [((-1, HUGE), Datatype.FP64), ((HUGE, 30), Datatype.FP32), ((HUGE,), Datatype.BYTES)],
)
def test_a_warm_up_row_larger_than_the_limit_is_not_built(shape: tuple[int, ...], datatype: Datatype) -> None:
    assert warmup_inputs(Signature((TensorSpec("x", datatype, shape),), OUT), 256 * 1024 * 1024) is None


def test_the_limit_counts_all_inputs_together() -> None:
    specs = (TensorSpec("a", Datatype.FP64, (-1, 64)), TensorSpec("b", Datatype.FP64, (-1, 64)))
    assert warmup_inputs(Signature(specs, OUT), 1024) is not None
    assert warmup_inputs(Signature(specs, OUT), 1023) is None


def test_an_oversized_warm_up_is_skipped_with_an_info_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A fixed batch the model allows but that is larger than a request may be: loaded, not warmed up."""
    x, y = load_iris(return_X_y=True)
    path = tmp_path / "iris.onnx"
    onnx_model = to_onnx(LogisticRegression(max_iter=500).fit(x, y), x[:1].astype(np.float32))
    path.write_bytes(onnx_model.SerializeToString())
    given = Signature(
        (TensorSpec("X", Datatype.FP32, (1_000_000, 4)),),
        (TensorSpec("output_label", Datatype.INT64, (-1,)),),
    )
    model = get_runtime("onnx").load(path, LoadOptions(signature=given))
    with caplog.at_level(logging.INFO, logger="modelport.runtimes.warmup"):
        warm_up(model, "iris:1", max_bytes=1024)
    assert "warm-up of iris:1 skipped: one row is larger than limits.max_tensor_bytes (1024)" in caplog.text
    assert "Traceback" not in caplog.text
