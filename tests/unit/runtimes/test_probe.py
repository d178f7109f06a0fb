from __future__ import annotations

import ctypes
import os
import pickle
import time
from pathlib import Path

import numpy as np
import pytest

from modelport.core import Datatype, Forbidden, InvalidInput, Signature, TensorSpec
from modelport.runtimes.probe import probe_artifact


class _Segfault:
    """Unpickling calls ctypes.string_at(0): a real crash inside the loader."""

    def __reduce__(self) -> tuple[object, ...]:
        return (ctypes.string_at, (0,))


class _Sleep:
    def __reduce__(self) -> tuple[object, ...]:
        return (time.sleep, (30,))


class _Abort:
    def __reduce__(self) -> tuple[object, ...]:
        return (os.abort, ())


def _probe(path: Path, framework: str, **kwargs: object) -> Signature:
    options: dict[str, object] = {
        "trusted": False,
        "signature": None,
        "sample_input": None,
        "timeout_s": 60.0,
    }
    return probe_artifact(path, framework, **{**options, **kwargs})  # type: ignore[arg-type]


def test_probe_returns_the_signature(skops_classifier: Path) -> None:
    signature = _probe(skops_classifier, "sklearn", sample_input={"input": np.ones((2, 4))})
    assert signature.inputs == (TensorSpec("input", Datatype.FP64, (-1, 4)),)
    assert [s.name for s in signature.outputs] == ["label", "probabilities"]


def test_probe_checks_a_given_signature_and_sample(lgb_path: Path) -> None:
    given = Signature((TensorSpec("x", Datatype.FP64, (-1, 4)),), (TensorSpec("y", Datatype.INT64, (-1,)),))
    probed = _probe(lgb_path, "lightgbm", signature=given, sample_input={"x": np.zeros((1, 4))})
    assert probed == given
    with pytest.raises(InvalidInput, match=r"input 'x' must have shape \[-1, 4\]"):
        _probe(lgb_path, "lightgbm", signature=given, sample_input={"x": np.zeros((1, 2))})


def test_probe_with_bytes_sample(tmp_path: Path, iris: tuple[np.ndarray, np.ndarray]) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["s"], ["out"])],
        "g",
        [helper.make_tensor_value_info("s", TensorProto.STRING, [None])],
        [helper.make_tensor_value_info("out", TensorProto.STRING, [None])],
    )
    onnx.save_model(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "s.onnx"
    )
    sample = {"s": np.array([b"caf\xc3\xa9"], dtype=object)}
    assert _probe(tmp_path / "s.onnx", "onnx", sample_input=sample).inputs[0].datatype is Datatype.BYTES


def test_probe_reraises_the_childs_error(classifier: object, tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(classifier))
    with pytest.raises(Forbidden, match="pass --trust"):
        _probe(path, "sklearn")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"garbage")
    with pytest.raises(InvalidInput, match=r"^broken\.onnx is not a valid onnx model"):
        _probe(broken, "onnx")


@pytest.mark.parametrize(("payload", "signal_name"), [(_Segfault(), "SIGSEGV"), (_Abort(), "SIGABRT")])
def test_probe_survives_a_crashing_file(payload: object, signal_name: str, tmp_path: Path) -> None:
    path = tmp_path / "crash.pkl"
    path.write_bytes(pickle.dumps(payload))
    with pytest.raises(
        InvalidInput, match=rf"the sklearn runtime crashed while loading this file \(signal {signal_name}\)"
    ):
        _probe(path, "sklearn", trusted=True)


def test_probe_times_out(tmp_path: Path) -> None:
    path = tmp_path / "slow.pkl"
    path.write_bytes(pickle.dumps(_Sleep()))
    with pytest.raises(InvalidInput, match="did not load this file within 1 s"):
        _probe(path, "sklearn", trusted=True, timeout_s=1.0)


def test_probe_takes_an_onnx_file_larger_than_the_childs_default_file_limit(tmp_path: Path) -> None:
    """The onnx runtime copies the artifact into its private directory: the child's file-size limit
    (64 MiB by default) must leave room for that copy, or no model over 64 MiB could be registered."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.zeros(17 << 20, dtype=np.float32), "unused")  # 68 MiB
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "big",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])],
        initializer=[weights],
    )
    path = tmp_path / "big.onnx"
    onnx.save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    assert path.stat().st_size > 64 << 20
    signature = _probe(path, "onnx")
    assert [spec.name for spec in signature.inputs] == ["x"]
