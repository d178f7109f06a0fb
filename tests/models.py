"""Tiny models trained here on scikit-learn's bundled datasets, written to files for the tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def iris_onnx(directory: Path, c: float = 1.0) -> Path:
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    x = x.astype(np.float32)
    model = LogisticRegression(C=c, max_iter=500).fit(x, y)
    onnx_model = to_onnx(model, x[:1], options={id(model): {"zipmap": False}}, target_opset=17)
    path = directory / f"iris-{c}.onnx"
    path.write_bytes(onnx_model.SerializeToString())
    return path


def diabetes_xgboost(directory: Path) -> Path:
    import xgboost
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True)
    model = xgboost.XGBRegressor(n_estimators=10, max_depth=3).fit(x.astype(np.float32), y)
    path = directory / "diabetes.json"
    model.get_booster().save_model(str(path))
    return path


def cancer_skops(directory: Path) -> Path:
    import skops.io
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    x, y = load_breast_cancer(return_X_y=True)
    model = LogisticRegression(max_iter=50).fit(x / x.max(axis=0), y)
    path = directory / "cancer.skops"
    skops.io.dump(model, path)
    return path


def runstring_skops(directory: Path, marker: Path) -> Path:
    """The skops file of issue 15: when it predicts, numpy functions build a string (``np.full_like``),
    pick it (``np.take``) and run it (``numpy.testing.runstring``), which writes ``marker``."""
    import numpy.testing
    import skops.io
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    code = f"open({str(marker)!r}, 'w').write('code ran')"
    pipeline = make_pipeline(
        FunctionTransformer(np.full_like, kw_args={"fill_value": code, "dtype": f"<U{len(code)}"}),
        FunctionTransformer(np.take, kw_args={"indices": 0}),
        FunctionTransformer(numpy.testing.runstring, kw_args={"dict": {}}),
        LinearRegression().fit(np.eye(4), [1.0, 2.0, 3.0, 4.0]),
    )
    path = directory / "runstring.skops"
    skops.io.dump(pipeline, path)
    return path


def tampered_tree_skops(directory: Path, field: str, value: int) -> Path:
    """A one-split decision tree (feature 0 <= 5 goes left) in skops, its root's ``field`` set to ``value``.

    Only fitted state changes, so the file holds nothing but allowed types; ``right_child`` far out
    of range makes scikit-learn's compiled predictor read out of bounds for rows that go right,
    ``left_child`` 0 makes rows that go left loop forever.
    """
    import io
    import json
    import zipfile

    import skops.io
    from sklearn.tree import DecisionTreeClassifier

    x = np.random.RandomState(0).rand(200, 3) * 10
    clean = directory / "tree.skops"
    skops.io.dump(DecisionTreeClassifier(max_depth=1).fit(x, (x[:, 0] > 5).astype(int)), clean)
    with zipfile.ZipFile(clean) as source:
        files = {name: source.read(name) for name in source.namelist()}
    nodes_file = _tree_nodes_file(json.loads(files["schema.json"]))
    nodes = np.load(io.BytesIO(files[nodes_file]), allow_pickle=False)
    nodes[field][0] = value
    buffer = io.BytesIO()
    np.save(buffer, nodes, allow_pickle=False)
    files[nodes_file] = buffer.getvalue()
    path = directory / f"tree-{field}-{value}.skops"
    with zipfile.ZipFile(path, "w") as target:
        for name, data in files.items():
            target.writestr(name, data)
    return path


def _tree_nodes_file(schema: object) -> str:
    """The .npy member holding the ``nodes`` array of the first ``Tree`` in a skops schema."""
    if isinstance(schema, dict):
        if schema.get("__class__") == "Tree":
            return str(schema["content"]["content"]["nodes"]["file"])
        children = list(schema.values())
    else:
        children = list(schema) if isinstance(schema, list) else []
    for child in children:
        if isinstance(child, dict | list):
            found = _tree_nodes_file_or_none(child)
            if found:
                return found
    raise LookupError("no Tree in this schema")


def _tree_nodes_file_or_none(schema: object) -> str | None:
    try:
        return _tree_nodes_file(schema)
    except LookupError:
        return None


CUSTOMER_TIERS = ("bronze", "gold", "silver")


def customers_frame(rows: int = 60) -> tuple[object, np.ndarray]:
    """A pandas DataFrame of customers, age (float), visits (int) and city (text), and their tier."""
    import pandas as pd

    rng = np.random.default_rng(7)
    city = rng.choice(["paris", "rome", "oslo"], rows)
    visits = rng.integers(0, 10, rows)
    table = pd.DataFrame({"age": rng.normal(40, 10, rows), "visits": visits, "city": city})
    return table, np.where(city == "rome", "gold", np.where(visits > 4, "silver", "bronze"))


def customers_pipeline(directory: Path) -> tuple[Path, object]:
    """A Pipeline as tabular models are trained: a ColumnTransformer scaling the numeric columns and
    one-hot encoding the text one, then a classifier, fitted on ``customers_frame``; saved with skops."""
    import skops.io
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    columns = make_column_transformer(
        (StandardScaler(), ["age", "visits"]), (OneHotEncoder(handle_unknown="ignore"), ["city"])
    )
    pipeline = make_pipeline(columns, LogisticRegression(max_iter=500)).fit(*customers_frame())
    path = directory / "customers.skops"
    skops.io.dump(pipeline, path)
    return path, pipeline


def register_copies(home: Path, artifact: Path, count: int) -> None:
    """Models ``m0`` … ``m{count-1}`` of one artifact in ``home``: one probed registration, then the
    registry directly with the same signature (a probe each would cost seconds per model)."""
    from modelport.control.registration import Registrar, RegistrationRequest
    from modelport.core.settings import Settings
    from modelport.registry.local import open_registry

    with open_registry(Settings(home=home)) as registry:
        first = Registrar(registry, probe_timeout_s=120).register(
            RegistrationRequest(name="m0", artifact=artifact)
        )
        for i in range(1, count):
            registry.register_version(
                f"m{i}",
                artifact=artifact,
                filename=first.filename,
                framework=first.framework,
                signature=first.signature,
            )
