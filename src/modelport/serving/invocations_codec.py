"""MLflow's scoring protocol as arrays: request bodies (JSON and CSV) in, ``{"predictions": ...}`` out.

The tensor forms (``instances``, ``inputs``) name inputs directly. The table forms
(``dataframe_split``, ``dataframe_records``, CSV) give columns, which feed the model's inputs by the
rule batch scoring uses (``core/columns.py``): ``X[0]`` … ``X[3]`` for a matrix input ``X``, or a
list column ``X``. A CSV's first row is its header unless every cell of it is a number: SageMaker
sends rows without one, whose cells are then the signature's feature columns in order.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from modelport.core.columns import InputColumns, feature_names_for, input_columns
from modelport.core.errors import InvalidInput
from modelport.core.tensors import TensorSpec
from modelport.serving.json_body import check_depth, json_object
from modelport.serving.oip_common import one_numeric_input
from modelport.serving.oip_json import array_from_json

__all__ = ["FORMATS", "decode_csv", "decode_json", "encode_predictions"]

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
Columns = dict[str, list[Any]]
_NOT_AN_OBJECT = f"the JSON body must be an object with one of the keys {list(FORMATS)}"


def decode_json(
    body: bytes, specs: Sequence[TensorSpec], max_depth: int, max_tensor_bytes: int
) -> dict[str, np.ndarray]:
    """The model's inputs from a JSON body in one of ``FORMATS`` (``params`` is accepted and unused).

    The common form, one tensor of numbers for a model of one input, is decoded in one pass
    (``oip_common``; ``max_tensor_bytes`` bounds only that pass); anything else, and any error, the
    general way."""
    document = json_object(body, _NOT_AN_OBJECT)
    common = _decode_common(document, specs, max_depth, max_tensor_bytes)
    if common is not None:
        return common
    check_depth(document, max_depth)
    given = [key for key in FORMATS if key in document]
    if len(given) != 1:
        raise InvalidInput(
            f"the JSON body needs exactly one of the keys {list(FORMATS)}; it has {list(document)}"
        )
    data = document[given[0]]
    if given[0] == "dataframe_split":
        return _from_columns(_split(data), specs)
    if given[0] == "dataframe_records":
        return _from_columns(_records(data), specs)
    if given[0] == "inputs":
        return _tensors(data if isinstance(data, dict) else {None: data}, specs)
    return _instances(data, specs)


def _decode_common(
    document: dict[str, Any], specs: Sequence[TensorSpec], max_depth: int, max_tensor_bytes: int
) -> dict[str, np.ndarray] | None:
    if len(document) != 1:
        return None
    data = document.get("inputs", document.get("instances"))
    return one_numeric_input(data, specs, max_tensor_bytes, max_depth)


def decode_csv(body: bytes, specs: Sequence[TensorSpec]) -> dict[str, np.ndarray]:
    try:
        rows = list(csv.reader(io.StringIO(body.decode())))
    except UnicodeDecodeError:
        raise InvalidInput("the CSV body is not valid UTF-8") from None
    except csv.Error as exc:
        raise InvalidInput(f"the CSV body cannot be read: {exc}") from None
    rows = [row for row in rows if row]  # blank lines are no rows
    if not rows:
        raise InvalidInput("the CSV body has no rows")
    cells = [[_cell(text) for text in row] for row in rows]
    if any(isinstance(value, str) for value in cells[0]):
        header, cells = rows[0], cells[1:]
    else:
        header = _feature_columns(specs)
    table = _split({"columns": header, "data": cells}, "CSV line", 1 + (header is rows[0]))
    return _from_columns(table, specs)


def encode_predictions(outputs: dict[str, np.ndarray]) -> bytes:
    """One output as its list of rows; several as ``{name: rows}``, as MLflow answers a dict of arrays."""
    jsonable = {name: _jsonable(array) for name, array in outputs.items()}
    predictions = next(iter(jsonable.values())) if len(jsonable) == 1 else jsonable
    return orjson.dumps({"predictions": predictions}, option=orjson.OPT_SERIALIZE_NUMPY)


def _split(data: object, row_word: str = "row", first: int = 0) -> Columns:
    if not isinstance(data, dict) or not isinstance(data.get("columns"), list):
        raise InvalidInput("dataframe_split must be an object with 'columns' (a list of names) and 'data'")
    names, rows = data["columns"], data.get("data")
    if not all(isinstance(name, str) for name in names) or len(set(names)) != len(names):
        raise InvalidInput(f"the columns must be distinct names; they are {names}")
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise InvalidInput("'data' must be a list of rows, each a list of values")
    for number, row in enumerate(rows, start=first):
        if len(row) != len(names):
            raise InvalidInput(f"{row_word} {number} has {len(row)} values; there are {len(names)} columns")
    return {name: [row[i] for row in rows] for i, name in enumerate(names)}


def _records(data: object) -> Columns:
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise InvalidInput("dataframe_records must be a list of objects, one per row")
    names = list(dict.fromkeys(name for row in data for name in row))
    for number, row in enumerate(data):
        if len(row) != len(names):
            missing = next(name for name in names if name not in row)
            raise InvalidInput(f"row {number} has no value for column {missing!r}")
    return {name: [row[name] for row in data] for name in names}


def _from_columns(columns: Columns, specs: Sequence[TensorSpec]) -> dict[str, np.ndarray]:
    names = list(columns)
    rows = len(next(iter(columns.values()), []))

    def is_list(name: str) -> bool:
        return bool(columns[name]) and isinstance(columns[name][0], list)

    mapped = [input_columns(spec, names, is_list, features_option=None) for spec in specs]
    return {item.spec.name: _input_array(item, columns, rows) for item in mapped}


def _input_array(item: InputColumns, columns: Columns, rows: int) -> np.ndarray:
    spec = item.spec
    if item.nested:
        values = columns[item.columns[0]]
        return array_from_json(spec.name, values, spec.datatype, _shape(values))
    arrays = [array_from_json(name, columns[name], spec.datatype, (rows,)) for name in item.columns]
    return arrays[0] if len(spec.shape) == 1 else np.stack(arrays, axis=1)


def _tensors(data: dict[str | None, Any], specs: Sequence[TensorSpec]) -> dict[str, np.ndarray]:
    by_name = {spec.name: spec for spec in specs}
    inputs = {}
    for name, values in data.items():
        spec = by_name.get(name) if name is not None else _only(specs)
        if spec is None:
            raise InvalidInput(f"the model has no input {name!r}; its inputs are {list(by_name)}")
        inputs[spec.name] = array_from_json(spec.name, values, spec.datatype, _shape(values))
    return inputs


def _instances(data: object, specs: Sequence[TensorSpec]) -> dict[str, np.ndarray]:
    if not isinstance(data, list):
        raise InvalidInput("instances must be a list, one item per row")
    if not data or not isinstance(data[0], dict):
        return _tensors({None: data}, specs)
    if not all(isinstance(row, dict) for row in data):
        raise InvalidInput("instances must be all objects (named inputs) or all values")
    named: dict[str | None, Any] = dict(_records(data).items())
    return _tensors(named, specs)


def _only(specs: Sequence[TensorSpec]) -> TensorSpec:
    if len(specs) != 1:
        raise InvalidInput(
            f"unnamed data fits a model of one input; this one has {[s.name for s in specs]}: name them"
        )
    return specs[0]


def _shape(values: object) -> list[int]:
    """The shape ``values`` claims along its first elements (``array_from_json`` checks the rest)."""
    shape = []
    while isinstance(values, list):
        shape.append(len(values))
        if not values:
            break
        values = values[0]
    if not shape:
        raise InvalidInput("an input's data must be a list, one item per row")
    return shape


def _feature_columns(specs: Sequence[TensorSpec]) -> list[str]:
    """A header-less CSV's column names: every input's features, in the signature's order."""
    names: list[str] = []
    for spec in specs:
        if len(spec.shape) > 2 or (len(spec.shape) == 2 and spec.shape[1] == -1):
            raise InvalidInput(f"input {spec.name!r} has no fixed columns: send a CSV header row")
        names += [spec.name] if len(spec.shape) == 1 else feature_names_for(spec.name, spec.shape[1])
    return names


def _cell(text: str) -> Any:
    """A CSV cell as JSON would hold it: a number when it reads as one, ``None`` when empty."""
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _jsonable(array: np.ndarray) -> Any:
    if array.dtype.kind in "OSU":
        texts = [v.decode(errors="replace") if isinstance(v, bytes) else str(v) for v in array.ravel()]
        return np.array(texts, dtype=object).reshape(array.shape).tolist()
    if array.dtype == np.float16:
        array = array.astype(np.float32)
    return np.ascontiguousarray(array)
