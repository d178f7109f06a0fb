"""LightGBM's and XGBoost's own contributions, through the runtime's loaded model: each row's
attributions plus the base value are the booster's raw score, computed here by the booster."""

from __future__ import annotations

from pathlib import Path

import lightgbm
import numpy as np
import xgboost
from sklearn.datasets import load_iris

from modelport.explanations.boosters import LightGBMExplainer, XGBoostExplainer
from modelport.runtimes import LoadOptions, get_runtime

X, Y = load_iris(return_X_y=True)
ROWS = X[[0, 1, 55, 70, 101, 140]]


def test_lightgbm_binary_and_multiclass_contributions_add_up_to_the_raw_score(tmp_path: Path) -> None:
    for name, labels, outputs in (("binary", Y == 2, ("1",)), ("multi", Y, ("0", "1", "2"))):
        path = tmp_path / f"{name}.txt"
        booster = lightgbm.LGBMClassifier(n_estimators=6, verbose=-1).fit(X, labels).booster_
        booster.save_model(str(path))
        model = get_runtime("lightgbm").load(path, LoadOptions(trusted=True))
        attributions = LightGBMExplainer(model).explain({"input": ROWS})
        assert attributions.outputs == outputs  # binary: the positive class's log-odds only
        totals = attributions.values.sum(axis=2) + attributions.base
        assert np.allclose(totals, booster.predict(ROWS, raw_score=True).reshape(len(ROWS), -1))


def test_xgboost_regressor_contributions_add_up_to_its_margin(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    booster = (
        xgboost.XGBRegressor(n_estimators=6, max_depth=3, objective="count:poisson").fit(X, Y).get_booster()
    )
    booster.save_model(str(path))
    model = get_runtime("xgboost").load(path, LoadOptions(trusted=True))
    attributions = XGBoostExplainer(model).explain({"input": ROWS.astype(np.float32)})
    assert attributions.outputs == ("prediction",) and attributions.values.shape == (6, 1, 4)
    margin = booster.predict(xgboost.DMatrix(ROWS.astype(np.float32)), output_margin=True)
    assert np.allclose(attributions.values.sum(axis=2)[:, 0] + attributions.base[0], margin, atol=1e-5)
