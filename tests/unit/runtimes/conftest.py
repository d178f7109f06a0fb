"""Tiny models trained once per test session on bundled or synthetic data."""

from __future__ import annotations

from pathlib import Path

import lightgbm
import numpy as np
import pytest
import skops.io
import xgboost
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression

from modelport.runtimes import LoadOptions, get_runtime
from modelport.runtimes.base import LoadedModel


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def iris() -> tuple[np.ndarray, np.ndarray]:
    features, target = load_iris(return_X_y=True)
    return features.astype(np.float64), target.astype(np.int64)


@pytest.fixture(scope="session")
def classifier(iris: tuple[np.ndarray, np.ndarray]) -> LogisticRegression:
    return LogisticRegression(max_iter=500).fit(*iris)


@pytest.fixture(scope="session")
def regressor() -> LinearRegression:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(50, 3))
    return LinearRegression().fit(features, features @ [1.0, -2.0, 0.5] + 3)


@pytest.fixture(scope="session")
def skops_classifier(classifier: LogisticRegression, models_dir: Path) -> Path:
    path = models_dir / "classifier.skops"
    skops.io.dump(classifier, path)
    return path


@pytest.fixture(scope="session")
def xgb_classifier(iris: tuple[np.ndarray, np.ndarray]) -> xgboost.XGBClassifier:
    return xgboost.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1).fit(*iris)


@pytest.fixture(scope="session")
def xgb_path(xgb_classifier: xgboost.XGBClassifier, models_dir: Path) -> Path:
    path = models_dir / "xgb.json"
    xgb_classifier.get_booster().save_model(path)
    return path


@pytest.fixture(scope="session")
def lgb_classifier(iris: tuple[np.ndarray, np.ndarray]) -> lightgbm.LGBMClassifier:
    model = lightgbm.LGBMClassifier(n_estimators=5, num_leaves=4, min_child_samples=5, verbose=-1, n_jobs=1)
    return model.fit(*iris)


@pytest.fixture(scope="session")
def lgb_path(lgb_classifier: lightgbm.LGBMClassifier, models_dir: Path) -> Path:
    path = models_dir / "lgb.txt"
    lgb_classifier.booster_.save_model(path)
    return path


@pytest.fixture(scope="session")
def onnx_path(classifier: LogisticRegression, models_dir: Path) -> Path:
    from skl2onnx import to_onnx

    path = models_dir / "classifier.onnx"
    path.write_bytes(to_onnx(classifier, np.zeros((1, 4), dtype=np.float32)).SerializeToString())
    return path


def load(framework: str, path: Path, **options: object) -> LoadedModel:
    return get_runtime(framework).load(path, LoadOptions(**options))  # type: ignore[arg-type]
