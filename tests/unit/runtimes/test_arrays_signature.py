"""A given signature is checked against the model: same ranks, and every size the model fixes kept
(issue 15, finding 6: ``[-1, 100000000]`` for a 30-feature model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport.core import Datatype, InvalidInput, Signature, TensorSpec
from tests.unit.runtimes.conftest import load

HUGE = 100_000_000
OUTPUTS = {"sklearn": "label", "xgboost": "label", "lightgbm": "label", "onnx": "output_label"}
INPUTS = {"sklearn": "input", "xgboost": "input", "lightgbm": "input", "onnx": "X"}
DATATYPES = {
    "sklearn": Datatype.FP64,
    "xgboost": Datatype.FP32,
    "lightgbm": Datatype.FP64,
    "onnx": Datatype.FP32,
}
FIXTURES = {"sklearn": "skops_classifier", "xgboost": "xgb_path", "lightgbm": "lgb_path", "onnx": "onnx_path"}


def signature(framework: str, shape: tuple[int, ...], output_shape: tuple[int, ...] = (-1,)) -> Signature:
    output = TensorSpec(OUTPUTS[framework], Datatype.INT64, output_shape)
    return Signature((TensorSpec(INPUTS[framework], DATATYPES[framework], shape),), (output,))


@pytest.mark.parametrize("framework", list(FIXTURES))
@pytest.mark.parametrize(
    "shape",
    [(-1, HUGE), (-1, 5), (-1, -1), (-1,), (-1, 4, 1), (HUGE, HUGE)],
    ids=["the issue's", "one more feature", "free features", "lower rank", "higher rank", "huge both"],
)
def test_a_shape_the_model_does_not_have_is_refused(
    framework: str, shape: tuple[int, ...], request: pytest.FixtureRequest
) -> None:
    path: Path = request.getfixturevalue(FIXTURES[framework])
    with pytest.raises(InvalidInput) as caught:
        load(framework, path, signature=signature(framework, shape))
    message = caught.value.message
    assert f"input {INPUTS[framework]!r} has shape {list(shape)}" in message, message
    assert f"model's input {INPUTS[framework]!r} has shape [-1, 4]" in message, message


@pytest.mark.parametrize("framework", list(FIXTURES))
def test_the_model_s_shape_or_a_fixed_batch_is_accepted(
    framework: str, request: pytest.FixtureRequest
) -> None:
    path: Path = request.getfixturevalue(FIXTURES[framework])
    for shape in [(-1, 4), (8, 4)]:
        assert load(framework, path, signature=signature(framework, shape)).signature.inputs[0].shape == shape


@pytest.mark.parametrize("framework", ["sklearn", "onnx"])
def test_an_output_of_another_rank_is_refused(framework: str, request: pytest.FixtureRequest) -> None:
    path: Path = request.getfixturevalue(FIXTURES[framework])
    with pytest.raises(InvalidInput, match=rf"output {OUTPUTS[framework]!r} has shape \[-1, 2\]"):
        load(framework, path, signature=signature(framework, (-1, 4), output_shape=(-1, 2)))


def test_onnx_datatypes_must_be_the_graph_s(onnx_path: Path) -> None:
    """onnxruntime takes only the graph's own type, so another one could never serve a request."""
    given = Signature(
        (TensorSpec("X", Datatype.FP64, (-1, 4)),), (TensorSpec("output_label", Datatype.INT64, (-1,)),)
    )
    with pytest.raises(InvalidInput, match="input 'X' is FP64, but the ONNX graph's is FP32"):
        load("onnx", onnx_path, signature=given)
