from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from sklearn.linear_model import LogisticRegression

from modelport.core import Datatype, InvalidInput, Signature, TensorSpec
from tests.unit.runtimes.conftest import load


def test_signature_comes_from_the_graph_with_the_zipmap_output_as_a_tensor(onnx_path: Path) -> None:
    signature = load("onnx", onnx_path).signature
    assert signature.inputs == (TensorSpec("X", Datatype.FP32, (-1, 4)),)
    assert signature.outputs == (
        TensorSpec("output_label", Datatype.INT64, (-1,)),
        TensorSpec("output_probability", Datatype.FP32, (-1, 3), labels=(0, 1, 2)),
    )


def test_zipmap_probabilities_are_a_tensor_in_class_order(
    iris: tuple[np.ndarray, np.ndarray], models_dir: Path
) -> None:
    """skl2onnx's default export gives a list of {class: probability} maps: issue 10, point 12."""
    from skl2onnx import to_onnx

    names = np.array(["virginica", "setosa", "versicolor"])[iris[1]]  # classes_ sorts them
    classifier = LogisticRegression(max_iter=500).fit(iris[0], names)
    path = models_dir / "zipmap_strings.onnx"
    path.write_bytes(to_onnx(classifier, iris[0][:1].astype(np.float32)).SerializeToString())
    model = load("onnx", path)
    spec = model.signature.output("output_probability")
    assert spec == TensorSpec("output_probability", Datatype.FP32, (-1, 3), labels=tuple(classifier.classes_))
    features = iris[0][::40].astype(np.float32)
    outputs = model.predict({"X": features})
    np.testing.assert_allclose(outputs["output_probability"], classifier.predict_proba(features), rtol=1e-4)
    assert outputs["output_label"].tolist() == [name.encode() for name in classifier.predict(features)]


def test_tensor_probabilities_without_zipmap(classifier: LogisticRegression, models_dir: Path) -> None:
    from skl2onnx import to_onnx

    path = models_dir / "no_zipmap.onnx"
    sample = np.zeros((1, 4), dtype=np.float32)
    path.write_bytes(to_onnx(classifier, sample, options={"zipmap": False}).SerializeToString())
    model = load("onnx", path)
    assert model.signature.output("probabilities") == TensorSpec("probabilities", Datatype.FP32, (-1, 3))
    probabilities = model.predict({"X": np.ones((2, 4), dtype=np.float32)})["probabilities"]
    np.testing.assert_allclose(probabilities, classifier.predict_proba(np.ones((2, 4))), rtol=1e-4)


@pytest.mark.parametrize("rows", [1, 7])
def test_predicts_like_scikit_learn(
    onnx_path: Path, classifier: LogisticRegression, iris: tuple[np.ndarray, np.ndarray], rows: int
) -> None:
    model = load("onnx", onnx_path)
    features = iris[0][:rows].astype(np.float32)
    outputs = model.predict({"X": features})
    assert set(outputs) == {s.name for s in model.signature.outputs}
    np.testing.assert_array_equal(outputs["output_label"], classifier.predict(features))


def test_wrong_feature_count_is_invalid_input(onnx_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"input 'X' must have shape \[-1, 4\]"):
        load("onnx", onnx_path).predict({"X": np.zeros((2, 3), dtype=np.float32)})


def test_shape_error_found_by_onnxruntime_is_invalid_input(models_dir: Path) -> None:
    path = models_dir / "reshape.onnx"
    onnx.save_model(_identity_model(shape=["n", "m"], reshape_to=[-1, 4]), path)
    model = load("onnx", path)
    with pytest.raises(InvalidInput, match="rejected the input"):
        model.predict({"x": np.zeros((1, 3), dtype=np.float32)})


def test_string_tensors_are_bytes(models_dir: Path) -> None:
    path = models_dir / "strings.onnx"
    node = helper.make_node("Identity", ["s"], ["out"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("s", TensorProto.STRING, [None])],
        [helper.make_tensor_value_info("out", TensorProto.STRING, [None])],
    )
    onnx.save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    model = load("onnx", path)
    assert model.signature.inputs[0].datatype is Datatype.BYTES
    out = model.predict({"s": np.array([b"a", "é".encode()], dtype=object)})["out"]
    assert out.dtype == object and out.tolist() == [b"a", "é".encode()]


def test_corrupt_file_is_invalid_input(models_dir: Path) -> None:
    path = models_dir / "corrupt.onnx"
    path.write_bytes(b"\x08\x07this is not a model")
    with pytest.raises(InvalidInput, match=r"^corrupt.onnx is not a valid onnx model: "):
        load("onnx", path)


def test_external_data_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "external.onnx"
    model = _identity_model(shape=[2048], initializer=np.arange(2048, dtype=np.float32))
    onnx.save_model(model, path, save_as_external_data=True, size_threshold=0, location="weights.bin")
    with pytest.raises(InvalidInput, match="external data"):
        load("onnx", path)


def test_given_signature_must_match_the_graph(onnx_path: Path) -> None:
    label = TensorSpec("output_label", Datatype.INT64, (-1,))
    wrong = Signature((TensorSpec("features", Datatype.FP32, (-1, 4)),), (label,))
    with pytest.raises(InvalidInput, match="do not match the ONNX graph"):
        load("onnx", onnx_path, signature=wrong)
    right = Signature((TensorSpec("X", Datatype.FP32, (-1, 4)),), (label,))
    model = load("onnx", onnx_path, signature=right)
    assert set(model.predict({"X": np.ones((2, 4), dtype=np.float32)})) == {"output_label"}


def _identity_model(
    shape: list[int | str], reshape_to: list[int] | None = None, initializer: np.ndarray | None = None
) -> onnx.ModelProto:
    nodes, inits = [helper.make_node("Identity", ["x"], ["y"])], []
    if reshape_to is not None:
        nodes = [helper.make_node("Reshape", ["x", "target"], ["y"])]
        inits.append(numpy_helper.from_array(np.array(reshape_to, dtype=np.int64), "target"))
    if initializer is not None:
        nodes = [helper.make_node("Add", ["x", "w"], ["y"])]
        inits.append(numpy_helper.from_array(initializer, "w"))
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
