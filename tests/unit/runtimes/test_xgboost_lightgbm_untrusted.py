"""Booster files read as an attacker would write them (issue 15: "XGBoost/LightGBM loaders").

Both frameworks read only the one file they are given (no include, no plugin, no pickle). A small
file can still declare huge sizes: the frameworks check tree and node counts against the arrays they
hold, a declared feature count is not checked but only sizes the signature, whose warm-up row is
bounded; a LightGBM file that aborts its process does so in the registration probe.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest

from modelport.core import InvalidInput
from modelport.runtimes.probe import probe_artifact
from modelport.runtimes.warmup import warm_up
from tests.unit.runtimes.conftest import load

HUGE = "2000000000"


def edited(source: Path, target: Path, edit: str) -> Path:
    document = json.loads(source.read_text())
    learner = document["learner"]
    model = learner["gradient_booster"]["model"]
    if edit == "num_trees":
        model["gbtree_model_param"]["num_trees"] = HUGE
    elif edit == "num_nodes":
        model["trees"][0]["tree_param"]["num_nodes"] = HUGE
    elif edit == "num_class":
        learner["learner_model_param"]["num_class"] = HUGE
    else:
        learner["learner_model_param"]["num_feature"] = HUGE
    target.write_text(json.dumps(document))
    return target


@pytest.mark.parametrize("edit", ["num_trees", "num_nodes", "num_class"])
def test_xgboost_checks_declared_counts_before_allocating(xgb_path: Path, tmp_path: Path, edit: str) -> None:
    with pytest.raises(InvalidInput, match="is not a valid xgboost model"):
        load("xgboost", edited(xgb_path, tmp_path / "model.json", edit))


def test_a_huge_declared_feature_count_loads_but_is_never_warmed_up(
    xgb_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model = load("xgboost", edited(xgb_path, tmp_path / "model.json", "num_feature"))
    assert model.signature.inputs[0].shape == (-1, int(HUGE))  # 8 GB for one row of FP32
    with caplog.at_level(logging.INFO, logger="modelport.runtimes.warmup"):
        warm_up(model, "wide:1", max_bytes=256 * 1024 * 1024)
    assert "warm-up of wide:1 skipped: one row is larger than limits.max_tensor_bytes" in caplog.text
    with pytest.raises(InvalidInput, match="must have shape"):
        model.predict({"input": np.zeros((1, 4), np.float32)})


def test_lightgbm_checks_the_declared_feature_count(lgb_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "model.txt"
    path.write_text(lgb_path.read_text().replace("max_feature_idx=3", f"max_feature_idx={HUGE}", 1))
    with pytest.raises(InvalidInput, match="is not a valid lightgbm model"):
        load("lightgbm", path)


def test_a_lightgbm_file_that_aborts_its_process_is_refused_by_the_probe(
    lgb_path: Path, tmp_path: Path
) -> None:
    """LightGBM calls ``std::terminate`` on this file: only the probe child dies, the caller gets a 400."""
    path = tmp_path / "model.txt"
    path.write_text(re.sub(r"num_leaves=\d+", f"num_leaves={HUGE}", lgb_path.read_text(), count=1))
    with pytest.raises(InvalidInput, match=r"the lightgbm runtime crashed while loading this file \(signal"):
        probe_artifact(path, "lightgbm", trusted=False, signature=None, sample_input=None, timeout_s=60)
