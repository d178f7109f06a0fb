from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tests.unit.runtimes.conftest import load


@pytest.mark.parametrize(
    ("framework", "fixture", "dtype"),
    [
        ("onnx", "onnx_path", np.float32),
        ("sklearn", "skops_classifier", np.float64),
        ("xgboost", "xgb_path", np.float32),
        ("lightgbm", "lgb_path", np.float64),
    ],
)
def test_predict_from_many_threads_at_once(
    framework: str,
    fixture: str,
    dtype: type,
    request: pytest.FixtureRequest,
    iris: tuple[np.ndarray, np.ndarray],
) -> None:
    model = load(framework, request.getfixturevalue(fixture), threads=2)
    name = model.signature.inputs[0].name
    batches: list[np.ndarray] = [iris[0][i : i + 1 + i % 7].astype(dtype) for i in range(0, 140, 5)]
    expected = [model.predict({name: batch}) for batch in batches]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda batch: model.predict({name: batch}), batches * 4))
    for got, want in zip(results, expected * 4, strict=True):
        assert got.keys() == want.keys()
        for key in want:
            np.testing.assert_array_equal(got[key], want[key])
    model.close()


def test_closed_model_is_not_ready(skops_classifier: Path) -> None:
    from modelport.core import NotReady

    model = load("sklearn", skops_classifier)
    model.close()
    with pytest.raises(NotReady):
        model.predict({"input": np.ones((1, 4))})
