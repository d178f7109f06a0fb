from __future__ import annotations

import shutil
import sys
from pathlib import Path

import joblib
import lightgbm
import numpy as np
import onnx
import pytest
import xgboost
from sklearn.linear_model import LogisticRegression

from modelport.core import InvalidInput
from modelport.runtimes import FRAMEWORKS, get_runtime, requires_trust
from modelport.runtimes.detect import detect_framework
from modelport.runtimes.export import ExportedArtifact, export_model
from tests.unit.runtimes.conftest import load


@pytest.mark.parametrize(
    ("fixture", "framework"),
    [
        ("onnx_path", "onnx"),
        ("skops_classifier", "sklearn"),
        ("xgb_path", "xgboost"),
        ("lgb_path", "lightgbm"),
    ],
)
def test_detect_by_suffix_and_by_content(
    fixture: str, framework: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    path: Path = request.getfixturevalue(fixture)
    assert detect_framework(path) == framework
    unnamed = tmp_path / "artifact"
    shutil.copyfile(path, unnamed)
    assert detect_framework(unnamed) == framework


def test_detect_pickle_and_ubjson_by_content(
    classifier: LogisticRegression, xgb_path: Path, tmp_path: Path
) -> None:
    joblib.dump(classifier, tmp_path / "a")
    xgboost.Booster(model_file=str(xgb_path)).save_model(tmp_path / "b.ubj")
    (tmp_path / "b.ubj").rename(tmp_path / "b")
    assert detect_framework(tmp_path / "a") == "sklearn"
    assert detect_framework(tmp_path / "b") == "xgboost"


def test_detect_unknown(tmp_path: Path) -> None:
    path = tmp_path / "mystery.bin"
    path.write_bytes(b"just some bytes")
    with pytest.raises(InvalidInput, match=r"^cannot tell the framework of mystery.bin; pass --framework$"):
        detect_framework(path)


def test_export_scikit_learn(classifier: LogisticRegression, tmp_path: Path) -> None:
    artifact = export_model(classifier, tmp_path)
    assert artifact == ExportedArtifact(tmp_path / "model.skops", "sklearn")
    assert load("sklearn", artifact.path).predict({"input": np.ones((1, 4))})["label"].shape == (1,)


def test_export_onnx_model_and_bytes(onnx_path: Path, tmp_path: Path) -> None:
    (tmp_path / "proto").mkdir()
    assert export_model(onnx.load_model(onnx_path), tmp_path / "proto").framework == "onnx"
    artifact = export_model(onnx_path.read_bytes(), tmp_path)
    assert artifact == ExportedArtifact(tmp_path / "model.onnx", "onnx")
    assert load("onnx", tmp_path / "proto" / "model.onnx").signature == load("onnx", artifact.path).signature


def test_export_xgboost(xgb_classifier: xgboost.XGBClassifier, tmp_path: Path) -> None:
    (tmp_path / "booster").mkdir()
    assert export_model(xgb_classifier, tmp_path) == ExportedArtifact(tmp_path / "model.json", "xgboost")
    assert export_model(xgb_classifier.get_booster(), tmp_path / "booster").framework == "xgboost"
    assert load("xgboost", tmp_path / "model.json").signature.inputs[0].shape == (-1, 4)


def test_export_lightgbm(lgb_classifier: lightgbm.LGBMClassifier, tmp_path: Path) -> None:
    (tmp_path / "booster").mkdir()
    assert export_model(lgb_classifier, tmp_path) == ExportedArtifact(tmp_path / "model.txt", "lightgbm")
    assert export_model(lgb_classifier.booster_, tmp_path / "booster").framework == "lightgbm"
    assert load("lightgbm", tmp_path / "model.txt").signature.outputs[1].shape == (-1, 3)


def test_export_existing_path(xgb_path: Path, tmp_path: Path) -> None:
    assert export_model(xgb_path, tmp_path) == ExportedArtifact(xgb_path, "xgboost")
    assert export_model(str(xgb_path), tmp_path).framework == "xgboost"
    with pytest.raises(InvalidInput, match=r"no such model file: missing\.onnx"):
        export_model(tmp_path / "missing.onnx", tmp_path)


def test_export_refuses_unfitted_and_unknown_objects(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="this LogisticRegression is not fitted"):
        export_model(LogisticRegression(), tmp_path)
    with pytest.raises(InvalidInput, match="this XGBClassifier is not fitted"):
        export_model(xgboost.XGBClassifier(), tmp_path)
    with pytest.raises(InvalidInput, match="this LGBMClassifier is not fitted"):
        export_model(lightgbm.LGBMClassifier(), tmp_path)
    with pytest.raises(InvalidInput, match="cannot register a dict; expected a path to a model file"):
        export_model({}, tmp_path)


def test_get_runtime_and_trust() -> None:
    assert FRAMEWORKS == ("onnx", "sklearn", "xgboost", "lightgbm")
    assert [get_runtime(name).framework for name in FRAMEWORKS] == list(FRAMEWORKS)
    with pytest.raises(InvalidInput, match="unknown framework 'torch'; expected one of onnx, sklearn"):
        get_runtime("torch")
    assert (
        requires_trust(Path("m.PKL"))
        and requires_trust(Path("m.joblib"))
        and requires_trust(Path("m.pickle"))
    )
    assert not requires_trust(Path("m.skops")) and not requires_trust(Path("m.onnx"))


def test_importing_modelport_does_not_import_frameworks() -> None:
    import subprocess

    code = (
        "import sys, modelport.runtimes, modelport.runtimes.export;"
        "print(sorted({'xgboost', 'lightgbm', 'sklearn', 'onnxruntime'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
