"""ONNX models (``.onnx``) on onnxruntime's CPU provider.

A classifier exported by skl2onnx with its default ZipMap gives its probabilities as a list of
``{class: probability}`` maps, which no tensor protocol carries: such an output is served as an
FP32 tensor with one column per class, the class labels (from the ZipMap node) in its signature.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from google.protobuf.message import Message

from modelport.core import Datatype, InvalidInput, NotReady, Signature, TensorSpec
from modelport.core.tensors import Label
from modelport.runtimes.arrays import check_shape, encode_strings, get_input
from modelport.runtimes.base import LoadedModel, LoadOptions
from modelport.runtimes.errors import FrameworkErrors, invalid_model_errors, short_reason

__all__ = ["OnnxModel", "OnnxRuntime", "refuse_outside_reads"]

_PREDICT_ERRORS = FrameworkErrors("onnx")

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
            proto = onnx.load_model_from_string(data)
            refuse_outside_reads(proto, artifact.name)
            zipmaps = _zipmaps(proto)
        session = _private_session(data, artifact.name, options.threads)
        with invalid_model_errors(self.framework, artifact):
            default = _signature(session, zipmaps)
        return OnnxModel(session, _check_signature(options.signature, default), zipmaps)


def _private_session(data: bytes, name: str, threads: int) -> ort.InferenceSession:
    """A session over a copy of the checked ``data`` in a fresh, empty private directory.

    Given bytes, onnxruntime resolves external-data locations against the working directory;
    given a path, only inside that path's folder. So if ``refuse_outside_reads`` ever misses a
    tensor, there is nothing for it to read. The format is pinned to ONNX so that no file is
    taken for an ORT-format model, which the check does not parse.
    """
    session_options = ort.SessionOptions()
    session_options.intra_op_num_threads = threads
    session_options.inter_op_num_threads = 1
    session_options.log_severity_level = 3
    session_options.add_session_config_entry("session.load_model_format", "ONNX")
    with tempfile.TemporaryDirectory(prefix="modelport-onnx-") as private:
        copy = Path(private) / "model.onnx"
        copy.write_bytes(data)
        try:
            return ort.InferenceSession(str(copy), session_options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise InvalidInput(f"{name} is not a valid onnx model: {short_reason(exc, copy)}") from None


class OnnxModel:
    """An onnxruntime session; ``InferenceSession.run`` is thread-safe."""

    def __init__(
        self, session: ort.InferenceSession, signature: Signature, zipmaps: Mapping[str, tuple[Label, ...]]
    ) -> None:
        self._session: ort.InferenceSession | None = session
        self._signature = signature
        self._output_names = [spec.name for spec in signature.outputs]
        self._zipmaps = zipmaps

    @property
    def signature(self) -> Signature:
        return self._signature

    def predict(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        session = self._session
        if session is None:
            raise NotReady("the model is closed")
        feed = {spec.name: get_input(inputs, spec) for spec in self._signature.inputs}
        with _PREDICT_ERRORS:
            results = session.run(self._output_names, feed)
        return {
            name: self._tensor(name, value) for name, value in zip(self._output_names, results, strict=True)
        }

    def _tensor(self, name: str, value: Any) -> np.ndarray:
        labels = self._zipmaps.get(name)
        if labels is not None:  # one {class: probability} map per row
            return np.array([[row[label] for label in labels] for row in value], dtype=np.float32)
        return encode_strings(value) if value.dtype.kind in "OU" else value

    def close(self) -> None:
        self._session = None


def _zipmaps(model: onnx.ModelProto) -> dict[str, tuple[Label, ...]]:
    """The class labels of each graph output a ZipMap node gives."""
    outputs = {output.name for output in model.graph.output}
    found: dict[str, tuple[Label, ...]] = {}
    for node in model.graph.node:
        if node.op_type != "ZipMap" or not node.output or node.output[0] not in outputs:
            continue
        attributes = {attribute.name: attribute for attribute in node.attribute}
        if "classlabels_int64s" in attributes:
            found[node.output[0]] = tuple(int(v) for v in attributes["classlabels_int64s"].ints)
        elif "classlabels_strings" in attributes:
            found[node.output[0]] = tuple(v.decode() for v in attributes["classlabels_strings"].strings)
    return found


def _signature(session: ort.InferenceSession, zipmaps: Mapping[str, tuple[Label, ...]]) -> Signature:
    inputs = [_spec(arg) for arg in session.get_inputs()]
    if None in inputs:
        raise InvalidInput("the model has an input that is not a tensor")
    outputs = [spec for spec in (_spec(arg, zipmaps) for arg in session.get_outputs()) if spec is not None]
    if not outputs:
        raise InvalidInput("the model has no tensor output")
    return Signature(inputs=tuple(s for s in inputs if s), outputs=tuple(outputs))


def _spec(arg: Any, zipmaps: Mapping[str, tuple[Label, ...]] | None = None) -> TensorSpec | None:
    labels = (zipmaps or {}).get(arg.name)
    if labels is not None:  # a ZipMap output, served as a tensor
        return TensorSpec(arg.name, Datatype.FP32, (-1, len(labels)), labels=labels)
    datatype = _DATATYPES.get(arg.type)
    if datatype is None:
        return None
    shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in (arg.shape or []))
    return TensorSpec(name=arg.name, datatype=datatype, shape=shape)


def _check_signature(given: Signature | None, default: Signature) -> Signature:
    """``given`` if its names are the graph's and each spec has the graph's datatype and shape."""
    if given is None:
        return default
    inputs_match = {s.name for s in given.inputs} == {s.name for s in default.inputs}
    if not inputs_match or not {s.name for s in given.outputs} <= {s.name for s in default.outputs}:
        raise InvalidInput(
            "the signature's names do not match the ONNX graph: inputs "
            f"{[s.name for s in default.inputs]}, outputs {[s.name for s in default.outputs]}"
        )
    graph = {("input", s.name): s for s in default.inputs} | {("output", s.name): s for s in default.outputs}
    for kind, specs in (("input", given.inputs), ("output", given.outputs)):
        for spec in specs:
            model = graph[kind, spec.name]
            if spec.datatype is not model.datatype:
                raise InvalidInput(
                    f"the signature's {kind} {spec.name!r} is {spec.datatype.value},"
                    f" but the ONNX graph's is {model.datatype.value}"
                )
            if kind == "input" or model.shape:  # onnxruntime may not know an output's shape
                check_shape(spec, model, kind, "onnx")
    outputs = tuple(
        spec if spec.labels else replace(spec, labels=graph["output", spec.name].labels)
        for spec in given.outputs
    )
    return replace(given, outputs=outputs)


def refuse_outside_reads(model: onnx.ModelProto, name: str) -> None:
    """Refuse a model that would make onnxruntime read anything but its own bytes.

    Every ``TensorProto`` anywhere in the model is checked (initializers, sparse tensors, every
    attribute, subgraphs, model-local functions, training info), by walking the whole message
    tree rather than a list of fields that could miss one.
    """
    for tensor in _tensors(model):
        if tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data):
            raise InvalidInput(
                f"{name} keeps tensor {tensor.name!r} in an external data file, which the server"
                " does not read; save the model as one file"
                " (onnx.save_model(model, path, save_as_external_data=False))"
            )
    if any(entry.key == _ORT_CONFIG_KEY for entry in model.metadata_props):
        raise InvalidInput(
            f"{name} carries onnxruntime session options in its metadata ({_ORT_CONFIG_KEY!r});"
            " remove them: the server chooses its own"
        )


_ORT_CONFIG_KEY = "ort_config"
"""Metadata onnxruntime reads as session options (profiling to a file, ...) when the environment
sets ``ORT_LOAD_CONFIG_FROM_MODEL=1``."""


def _tensors(model: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    """Every ``TensorProto`` in ``model``, however deeply nested; a tensor's own fields are not read."""
    pending: list[Message] = [model]
    while pending:
        message = pending.pop()
        if isinstance(message, onnx.TensorProto):
            yield message
            continue
        for field, value in message.ListFields():
            if field.message_type is None:
                continue
            if isinstance(value, Message):
                pending.append(value)
            else:
                pending.extend(value)
