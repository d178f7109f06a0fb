"""ONNX models (``.onnx``) on onnxruntime's CPU provider."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from modelport.core import Datatype, InvalidInput, NotReady, Signature, TensorSpec
from modelport.runtimes.arrays import encode_strings, get_input
from modelport.runtimes.base import LoadedModel, LoadOptions
from modelport.runtimes.errors import invalid_model_errors, translate_framework_errors

__all__ = ["OnnxModel", "OnnxRuntime"]

_DATATYPES = {
    "tensor(bool)": Datatype.BOOL,
    "tensor(uint8)": Datatype.UINT8,
    "tensor(uint16)": Datatype.UINT16,
    "tensor(uint32)": Datatype.UINT32,
    "tensor(uint64)": Datatype.UINT64,
    "tensor(int8)": Datatype.INT8,
    "tensor(int16)": Datatype.INT16,
    "tensor(int32)": Datatype.INT32,
    "tensor(int64)": Datatype.INT64,
    "tensor(float16)": Datatype.FP16,
    "tensor(float)": Datatype.FP32,
    "tensor(double)": Datatype.FP64,
    "tensor(string)": Datatype.BYTES,
}


class OnnxRuntime:
    framework = "onnx"

    def load(self, artifact: Path, options: LoadOptions) -> LoadedModel:
        with invalid_model_errors(self.framework, artifact):
            data = artifact.read_bytes()
            _refuse_external_data(onnx.load_model_from_string(data), artifact)
            session_options = ort.SessionOptions()
            session_options.intra_op_num_threads = options.threads
            session_options.inter_op_num_threads = 1
            session_options.log_severity_level = 3
            session = ort.InferenceSession(data, session_options, providers=["CPUExecutionProvider"])
            default = _signature(session)
        return OnnxModel(session, _check_signature(options.signature, default))


class OnnxModel:
    """An onnxruntime session; ``InferenceSession.run`` is thread-safe."""

    def __init__(self, session: ort.InferenceSession, signature: Signature) -> None:
        self._session: ort.InferenceSession | None = session
        self._signature = signature
        self._output_names = [spec.name for spec in signature.outputs]

    @property
    def signature(self) -> Signature:
        return self._signature

    def predict(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        session = self._session
        if session is None:
            raise NotReady("the model is closed")
        feed = {spec.name: get_input(inputs, spec) for spec in self._signature.inputs}
        with translate_framework_errors("onnx"):
            results = session.run(self._output_names, feed)
        return {
            name: encode_strings(value) if value.dtype.kind in "OU" else value
            for name, value in zip(self._output_names, results, strict=True)
        }

    def close(self) -> None:
        self._session = None


def _signature(session: ort.InferenceSession) -> Signature:
    inputs = [_spec(arg) for arg in session.get_inputs()]
    if None in inputs:
        raise InvalidInput("the model has an input that is not a tensor")
    outputs = [spec for spec in map(_spec, session.get_outputs()) if spec is not None]
    if not outputs:
        raise InvalidInput("the model has no tensor output")
    return Signature(inputs=tuple(s for s in inputs if s), outputs=tuple(outputs))


def _spec(arg: Any) -> TensorSpec | None:
    datatype = _DATATYPES.get(arg.type)
    if datatype is None:
        return None
    shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in (arg.shape or []))
    return TensorSpec(name=arg.name, datatype=datatype, shape=shape)


def _check_signature(given: Signature | None, default: Signature) -> Signature:
    if given is None:
        return default
    inputs_match = {s.name for s in given.inputs} == {s.name for s in default.inputs}
    if not inputs_match or not {s.name for s in given.outputs} <= {s.name for s in default.outputs}:
        raise InvalidInput(
            "the signature's names do not match the ONNX graph: inputs "
            f"{[s.name for s in default.inputs]}, outputs {[s.name for s in default.outputs]}"
        )
    return given


def _refuse_external_data(model: onnx.ModelProto, artifact: Path) -> None:
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in _tensors(model.graph)):
        raise InvalidInput(
            f"{artifact.name} keeps tensors in external data files; save the model as one file"
            " (onnx.save_model(model, path, save_as_external_data=False))"
        )


def _tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield from (sparse.values, sparse.indices)
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            for subgraph in [attribute.g, *attribute.graphs] if attribute.HasField("g") else attribute.graphs:
                yield from _tensors(subgraph)
