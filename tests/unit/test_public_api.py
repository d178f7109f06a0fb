"""The public surface is deliberate: adding a name to ``modelport.__all__`` is a decision, not an accident."""

import importlib
import subprocess
import sys

import modelport

FRAMEWORKS = ("sklearn", "xgboost", "lightgbm", "onnxruntime")


def test_the_top_level_api_is_register_batch_predict_and_explain_and_the_version() -> None:
    names = ("register", "batch_predict", "predict", "explain")
    assert sorted(modelport.__all__) == sorted(["__version__", *names])
    assert all(callable(getattr(modelport, name)) for name in names)
    importlib.import_module("modelport.explanations.select")  # the explainers do not hide the function

    assert callable(modelport.explain)


def test_importing_modelport_loads_no_framework() -> None:
    code = f"import modelport, sys; print(sorted(m for m in {FRAMEWORKS!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
