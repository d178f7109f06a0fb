"""Three demo models trained on scikit-learn's bundled datasets (no download), one per runtime family."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from modelport.control.registration import Registrar, RegistrationRequest
from modelport.core.settings import Settings
from modelport.registry.catalog import Registry

__all__ = ["seed_demo_models"]

log = logging.getLogger(__name__)


def seed_demo_models(settings: Settings, registry: Registry) -> None:
    """Register ``iris`` (ONNX), ``diabetes`` (XGBoost) and ``breast-cancer`` (skops) as version 1."""
    registrar = Registrar(registry, settings.serving.probe_timeout_s)
    with tempfile.TemporaryDirectory(prefix="modelport-demo-") as tmp:
        for request in (_iris(Path(tmp)), _diabetes(Path(tmp)), _breast_cancer(Path(tmp))):
            version = registrar.register(request)
            log.info("registered demo model %s:%d", version.model, version.number)


def _iris(directory: Path) -> RegistrationRequest:
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    x = x.astype(np.float32)
    model = LogisticRegression(max_iter=500).fit(x, y)
    onnx_model = to_onnx(model, x[:1], options={id(model): {"zipmap": False}}, target_opset=17)
    path = directory / "iris.onnx"
    path.write_bytes(onnx_model.SerializeToString())
    return RegistrationRequest(
        name="iris",
        artifact=path,
        aliases=("production",),
        reference_data=x,
        description="Iris species from 4 flower measurements (logistic regression, ONNX)",
        tags={"dataset": "iris", "task": "classification"},
        lineage={"training_data": "sklearn.datasets.iris"},
    )


def _diabetes(directory: Path) -> RegistrationRequest:
    import xgboost
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True)
    model = xgboost.XGBRegressor(n_estimators=50, max_depth=3).fit(x.astype(np.float32), y)
    path = directory / "diabetes.json"
    model.get_booster().save_model(str(path))
    return RegistrationRequest(
        name="diabetes",
        artifact=path,
        aliases=("production",),
        reference_data=x.astype(np.float32),
        description="Diabetes progression after one year from 10 baseline variables (XGBoost)",
        tags={"dataset": "diabetes", "task": "regression"},
        lineage={"training_data": "sklearn.datasets.diabetes"},
    )


def _breast_cancer(directory: Path) -> RegistrationRequest:
    import skops.io
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    x, y = load_breast_cancer(return_X_y=True)
    model = RandomForestClassifier(n_estimators=30, max_depth=6, random_state=0).fit(x, y)
    path = directory / "breast_cancer.skops"
    skops.io.dump(model, path)
    return RegistrationRequest(
        name="breast-cancer",
        artifact=path,
        aliases=("production",),
        reference_data=x,
        description="Malignant or benign from 30 tumour features (random forest, skops)",
        tags={"dataset": "breast_cancer", "task": "classification"},
        lineage={"training_data": "sklearn.datasets.breast_cancer"},
    )
