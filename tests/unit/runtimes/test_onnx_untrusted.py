"""An ONNX file reads nothing but its own bytes: no external data anywhere, no other format, no session
options of its own; and a missed case finds an empty folder (issue 15, finding 2)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from modelport.core import InvalidInput
from modelport.runtimes.onnx import _private_session
from tests.unit.runtimes.conftest import load

SECRET = b"SECRET-MARKER-4f1c2b9a"
N = len(SECRET)


@pytest.fixture
def secret_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The working directory holds a secret file, as the server's did in the issue."""
    directory = tmp_path / "cwd"
    directory.mkdir()
    (directory / "secret.txt").write_bytes(SECRET)
    monkeypatch.chdir(directory)
    return directory


def external(name: str, location: str = "secret.txt", data_type: int = TensorProto.UINT8) -> TensorProto:
    """A tensor whose values onnxruntime would read from ``location``."""
    tensor = TensorProto(name=name, data_type=data_type, dims=[N], data_location=TensorProto.EXTERNAL)
    for key, value in (("location", location), ("offset", "0"), ("length", str(N))):
        tensor.external_data.add(key=key, value=value)
    return tensor


def sparse(location: str = "secret.txt") -> onnx.SparseTensorProto:
    indices = numpy_helper.from_array(np.arange(N, dtype=np.int64), "indices")
    return helper.make_sparse_tensor(external("values", location), indices, [N])


def model(nodes: list[onnx.NodeProto], **graph: object) -> onnx.ModelProto:
    """``y = c + x`` over UINT8[N]: the nodes must define ``c``."""
    body = helper.make_graph(
        [*nodes, helper.make_node("Add", ["c", "x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.UINT8, [N])],
        [helper.make_tensor_value_info("y", TensorProto.UINT8, [N])],
        **graph,  # type: ignore[arg-type]
    )
    return helper.make_model(body, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def constant_sparse_value(location: str = "secret.txt") -> onnx.ModelProto:
    """The issue's model: a ``Constant`` whose ``sparse_value`` is kept in external data."""
    return model([helper.make_node("Constant", [], ["c"], sparse_value=sparse(location))])


def in_subgraph(attribute: onnx.NodeProto) -> onnx.ModelProto:
    """``attribute`` (defining ``c``) inside both branches of an ``If``."""
    branch = helper.make_graph(
        [attribute], "branch", [], [helper.make_tensor_value_info("c", TensorProto.UINT8, [N])]
    )
    condition = numpy_helper.from_array(np.array(True), "cond")
    node = helper.make_node("If", ["cond"], ["c"], then_branch=branch, else_branch=branch)
    return model([node], initializer=[condition])


def in_function() -> onnx.ModelProto:
    """A model-local function whose body holds the constant."""
    function = helper.make_function(
        "local.ops",
        "Secret",
        [],
        ["out"],
        [helper.make_node("Constant", [], ["out"], sparse_value=sparse())],
        [helper.make_opsetid("", 17)],
    )
    built = model([helper.make_node("Secret", [], ["c"], domain="local.ops")])
    built.opset_import.append(helper.make_opsetid("local.ops", 1))
    built.functions.append(function)
    return built


def in_function_default_attribute() -> onnx.ModelProto:
    built = in_function()
    built.functions[0].node[0].ClearField("attribute")
    built.functions[0].node[0].attribute.append(helper.make_attribute("value", external("t")))
    built.functions[0].attribute_proto.append(helper.make_attribute("default", external("d")))
    return built


def in_training_info() -> onnx.ModelProto:
    built = constant_plain()
    training = built.training_info.add()
    training.initialization.CopyFrom(helper.make_graph([], "init", [], [], initializer=[external("w")]))
    return built


def constant_plain() -> onnx.ModelProto:
    return model(
        [helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(np.zeros(N, np.uint8)))]
    )


def tensors_attribute() -> onnx.ModelProto:
    built = constant_plain()
    built.graph.node[0].attribute.append(helper.make_attribute("extra", [external("a"), external("b")]))
    return built


def sparse_tensors_attribute() -> onnx.ModelProto:
    built = constant_plain()
    built.graph.node[0].attribute.append(helper.make_attribute("extra", [sparse(), sparse()]))
    return built


def graphs_attribute() -> onnx.ModelProto:
    built = constant_plain()
    inner = helper.make_graph([], "inner", [], [], initializer=[external("w")])
    built.graph.node[0].attribute.append(helper.make_attribute("extra", [inner]))
    return built


def sparse_initializer_indices() -> onnx.ModelProto:
    values = numpy_helper.from_array(np.ones(N, dtype=np.uint8), "c")
    indices = external("indices", data_type=TensorProto.INT64)
    return model([], sparse_initializer=[helper.make_sparse_tensor(values, indices, [N])])


HIDING_PLACES: dict[str, Callable[[], onnx.ModelProto]] = {
    "initializer": lambda: model([], initializer=[external("c")]),
    "sparse initializer values": lambda: model([], sparse_initializer=[sparse()]),
    "sparse initializer indices": sparse_initializer_indices,
    "Constant value (t)": lambda: model([helper.make_node("Constant", [], ["c"], value=external("v"))]),
    "Constant sparse_value (the issue)": constant_sparse_value,
    "attribute tensors": tensors_attribute,
    "attribute sparse_tensors": sparse_tensors_attribute,
    "If branch (g)": lambda: in_subgraph(helper.make_node("Constant", [], ["c"], sparse_value=sparse())),
    "attribute graphs": graphs_attribute,
    "model-local function": in_function,
    "function attribute default": in_function_default_attribute,
    "training_info": in_training_info,
}


@pytest.mark.parametrize("build", HIDING_PLACES.values(), ids=HIDING_PLACES.keys())
def test_external_data_anywhere_is_refused(
    build: Callable[[], onnx.ModelProto], secret_cwd: Path, tmp_path: Path
) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(build().SerializeToString())
    with pytest.raises(InvalidInput, match=r"model\.onnx keeps tensor .* in an external data file"):
        load("onnx", path)


def test_external_data_entries_count_even_without_the_external_flag(secret_cwd: Path, tmp_path: Path) -> None:
    built = constant_sparse_value()
    built.graph.node[0].attribute[0].sparse_tensor.values.data_location = TensorProto.DEFAULT
    path = tmp_path / "model.onnx"
    path.write_bytes(built.SerializeToString())
    with pytest.raises(InvalidInput, match="external data"):
        load("onnx", path)


@pytest.mark.parametrize("location", ["secret.txt", "./secret.txt", "../cwd/secret.txt"])
def test_onnxruntime_given_bytes_reads_the_working_directory(secret_cwd: Path, location: str) -> None:
    """Why the attack worked: from bytes, onnxruntime resolves a location against the cwd."""
    session = ort.InferenceSession(constant_sparse_value(location).SerializeToString())
    assert bytes(session.run(None, {"x": np.zeros(N, np.uint8)})[0]) == SECRET


@pytest.mark.parametrize(
    "where", ["secret.txt", "./secret.txt", "../cwd/secret.txt", "absolute", "/etc/passwd"]
)
def test_a_missed_tensor_finds_an_empty_private_folder(secret_cwd: Path, where: str) -> None:
    """Defence in depth, with the check bypassed: the session is loaded from a path in a new folder."""
    location = str(secret_cwd / "secret.txt") if where == "absolute" else where
    with pytest.raises(InvalidInput, match="is not a valid onnx model") as caught:
        _private_session(constant_sparse_value(location).SerializeToString(), "model.onnx", 1)
    assert "SECRET" not in caught.value.message and "modelport-onnx-" not in caught.value.message


def test_the_format_is_pinned_to_onnx(tmp_path: Path) -> None:
    """onnxruntime takes bytes with ``ORTM`` at offset 4 for an ORT-format model, which the check does
    not parse; pinned to ONNX, a valid model whose producer name starts so still loads as ONNX."""
    built = constant_plain()
    built.producer_name = "ORTM-lookalike"
    data = built.SerializeToString()
    assert data[4:8] == b"ORTM"
    with pytest.raises(Exception, match="ORT model verification failed"):
        ort.InferenceSession(data)
    path = tmp_path / "model.onnx"
    path.write_bytes(data)
    assert list(load("onnx", path).predict({"x": np.ones(N, np.uint8)})["y"]) == [1] * N


def test_session_options_in_the_metadata_are_refused(tmp_path: Path) -> None:
    built = constant_plain()
    helper.set_model_props(built, {"ort_config": '{"session_options": {"enable_profiling": true}}'})
    path = tmp_path / "model.onnx"
    path.write_bytes(built.SerializeToString())
    with pytest.raises(InvalidInput, match="'ort_config'"):
        load("onnx", path)


def test_an_unknown_custom_domain_is_invalid_and_loads_no_library(tmp_path: Path) -> None:
    built = model([helper.make_node("Evil", [], ["c"], domain="evil.ops")])
    built.opset_import.append(helper.make_opsetid("evil.ops", 1))
    path = tmp_path / "model.onnx"
    path.write_bytes(built.SerializeToString())
    with pytest.raises(InvalidInput, match=r"evil\.ops:Evil"):
        load("onnx", path)


def test_a_self_contained_model_still_loads_and_predicts(secret_cwd: Path, tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(constant_plain().SerializeToString())
    assert list(load("onnx", path).predict({"x": np.full(N, 7, np.uint8)})["y"]) == [7] * N
