"""The public surface is deliberate: adding a name to ``modelport.__all__`` is a decision, not an accident."""

import subprocess
import sys

import modelport

FRAMEWORKS = ("sklearn", "xgboost", "lightgbm", "onnxruntime")


def test_the_top_level_api_is_register_batch_and_predict_and_the_version() -> None:
    assert sorted(modelport.__all__) == ["__version__", "batch_predict", "predict", "register"]
    assert all(callable(getattr(modelport, name)) for name in ("register", "batch_predict", "predict"))


def test_importing_modelport_loads_no_framework() -> None:
    code = f"import modelport, sys; print(sorted(m for m in {FRAMEWORKS!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
