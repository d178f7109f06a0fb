"""What serving an untrusted tree model from a confined child costs, beside the same model in process.

For a random forest (skops), an XGBoost and a LightGBM model trained here on 20 features, times one
``predict`` of 1 and of 64 rows, in process and through ``IsolatedModel``, in the same run. Prints
one JSON object (microseconds per call, best of five rounds) and the ratio isolated / in process.
Run it alone: the child and this process share the machine's cores.
"""

from __future__ import annotations

import json
import tempfile
import timeit
from pathlib import Path

import numpy as np

from modelport.runtimes import LoadedModel, LoadOptions, get_runtime
from modelport.runtimes.isolation import IsolatedModel


def train(directory: Path) -> dict[str, tuple[str, Path]]:
    import lightgbm
    import skops.io
    import xgboost
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    x, y = make_classification(n_samples=2000, n_features=20, random_state=0)
    skops.io.dump(RandomForestClassifier(n_estimators=50, random_state=0).fit(x, y), directory / "rf.skops")
    xgboost.XGBClassifier(n_estimators=50).fit(x, y).get_booster().save_model(directory / "xgb.json")
    lightgbm.LGBMClassifier(n_estimators=50, verbose=-1).fit(x, y).booster_.save_model(directory / "lgbm.txt")
    return {
        "random forest (skops)": ("sklearn", directory / "rf.skops"),
        "xgboost": ("xgboost", directory / "xgb.json"),
        "lightgbm": ("lightgbm", directory / "lgbm.txt"),
    }


def per_call_us(model: LoadedModel, rows: np.ndarray, number: int) -> float:
    inputs = {model.signature.inputs[0].name: rows.astype(model.signature.inputs[0].datatype.numpy_dtype)}
    model.predict(inputs)
    return min(timeit.repeat(lambda: model.predict(inputs), number=number, repeat=5)) / number * 1e6


def main() -> None:
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as directory:
        for label, (framework, path) in train(Path(directory)).items():
            local = get_runtime(framework).load(path, LoadOptions())
            isolated = IsolatedModel(path, framework, LoadOptions(), call_timeout_s=60, max_bytes=1 << 26)
            try:
                for n in (1, 64):
                    rows = np.random.RandomState(n).rand(n, 20)
                    in_process = per_call_us(local, rows, 200)
                    in_child = per_call_us(isolated, rows, 200)
                    results[f"{label}, {n} rows"] = {
                        "in_process_us": round(in_process, 1),
                        "isolated_us": round(in_child, 1),
                        "ratio": round(in_child / in_process, 2),
                    }
            finally:
                isolated.close()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
