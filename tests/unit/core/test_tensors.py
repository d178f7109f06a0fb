import numpy as np
import pytest

from modelport.core import Datatype, InvalidInput, Signature, TensorSpec


def test_every_datatype_maps_to_numpy_and_back() -> None:
    for datatype in Datatype:
        assert Datatype.from_numpy(datatype.numpy_dtype) is datatype


def test_strings_are_bytes_and_big_endian_is_accepted() -> None:
    assert Datatype.from_numpy(np.dtype("U3")) is Datatype.BYTES
    assert Datatype.from_numpy(np.dtype(">f4")) is Datatype.FP32


def test_parse_is_case_sensitive_and_lists_the_choices() -> None:
    with pytest.raises(InvalidInput, match="FP32"):
        Datatype.parse("fp32")


def test_spec_accepts_free_dimensions_only_where_declared() -> None:
    spec = TensorSpec("x", Datatype.FP32, (-1, 4))
    assert spec.accepts_shape((7, 4))
    assert not spec.accepts_shape((7, 3))
    assert not spec.accepts_shape((4,))


def test_signature_round_trips_and_rejects_duplicates() -> None:
    signature = Signature(
        inputs=(TensorSpec("x", Datatype.FP32, (-1, 4)),), outputs=(TensorSpec("y", Datatype.INT64, (-1,)),)
    )
    assert Signature.from_dict(signature.to_dict()) == signature
    with pytest.raises(InvalidInput, match="duplicate"):
        Signature(inputs=(signature.inputs[0], signature.inputs[0]), outputs=())


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "x"},
        {"name": "", "datatype": "FP32", "shape": [1]},
        {"name": "x", "datatype": "FP32", "shape": [-2]},
    ],
)
def test_bad_specs_are_refused(spec: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        TensorSpec.from_dict(spec)
