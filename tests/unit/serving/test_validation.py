import numpy as np
import pytest

from modelport.core import Datatype, InferenceRequest, InvalidInput, RequestedOutput, Signature, TensorSpec
from modelport.serving.validation import validate_request

SIGNATURE = Signature(
    inputs=(TensorSpec("x", Datatype.FP32, (-1, 4)), TensorSpec("mask", Datatype.BOOL, (-1,))),
    outputs=(TensorSpec("label", Datatype.INT64, (-1,)),),
)


def request(**inputs: np.ndarray) -> InferenceRequest:
    return InferenceRequest(inputs=dict(inputs))


def test_a_matching_request_passes() -> None:
    validate_request(request(x=np.zeros((3, 4), np.float32), mask=np.ones(3, bool)), SIGNATURE, "m:1")


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"x": np.zeros((1, 4), np.float32)}, "needs input 'mask'"),
        (
            {"x": np.zeros((1, 4), np.float32), "mask": np.ones(1, bool), "z": np.ones(1)},
            "no input named 'z'",
        ),
        ({"x": np.zeros((1, 4), np.float64), "mask": np.ones(1, bool)}, "must be FP32, got FP64"),
        ({"x": np.zeros((1, 5), np.float32), "mask": np.ones(1, bool)}, r"takes shape \[-1, 4\]"),
        ({"x": np.zeros((2, 4), np.float32), "mask": np.ones(3, bool)}, "disagree on the batch size"),
    ],
)
def test_mismatches_are_named(inputs: dict[str, np.ndarray], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        validate_request(request(**inputs), SIGNATURE, "m:1")


def test_unknown_requested_output_is_refused() -> None:
    req = request(x=np.zeros((1, 4), np.float32), mask=np.ones(1, bool))
    req.outputs = [RequestedOutput("probabilities")]
    with pytest.raises(InvalidInput, match="no output 'probabilities'"):
        validate_request(req, SIGNATURE, "m:1")


def test_a_column_sent_as_n_by_1_is_taken_as_a_column() -> None:
    """MLServer's pandas codec may write a DataFrame's column as ``[n, 1]`` (issue 10, point 11)."""
    sent = request(x=np.zeros((3, 4), np.float32), mask=np.ones((3, 1), bool))
    validate_request(sent, SIGNATURE, "m:1")
    assert sent.inputs["mask"].shape == (3,)
    with pytest.raises(InvalidInput, match=r"takes shape \[-1, 4\]"):  # only a column, only [n, 1]
        validate_request(
            request(x=np.zeros((3, 4, 1), np.float32), mask=np.ones((3, 2), bool)), SIGNATURE, "m"
        )
