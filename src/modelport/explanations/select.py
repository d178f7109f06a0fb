"""Which explainer a loaded version gets: the framework's own contributions for an XGBoost or
LightGBM booster, TreeSHAP for a scikit-learn tree model, else permutation sampling against the
version's reference data.

Only a model in this process is explained by its trees. An untrusted tree model runs in a confined
child (``runtimes/isolation.py``) because its framework's compiled code trusts the file's node
indices; reading its contributions here would undo that, so it is explained by sampling too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

import numpy as np

from modelport.core.errors import InvalidInput
from modelport.explanations.attributions import Explainer
from modelport.registry.records import ModelVersion
from modelport.runtimes.base import LoadedModel

__all__ = ["check_explainable", "explainer_for"]

Background: TypeAlias = Mapping[str, np.ndarray] | None
_TREES = ("sklearn", "xgboost", "lightgbm")
_NEEDS_REFERENCE = (
    "against the version's reference data, and it has none; register the version with reference data"
    " (modelport register --reference FILE, or reference_data=...)"
)


def check_explainable(version: ModelVersion) -> None:
    """Refuse, before the version is loaded, one that is explained by sampling and has no reference
    data (a trusted scikit-learn model that is no tree model is found out once loaded)."""
    trees = version.framework in _TREES
    if (not trees or not version.trusted) and not version.has_reference_data:
        untrusted = " registered untrusted" if trees else ""
        raise InvalidInput(
            f"{version.model}:{version.number} cannot be explained: {version.framework} models{untrusted}"
            f" are explained by sampling {_NEEDS_REFERENCE}"
        )


def explainer_for(
    model: LoadedModel, framework: str, target: str, background: Callable[[], Background]
) -> Explainer:
    """The explainer of ``model`` (a ``framework`` model); ``background`` reads the version's
    reference data as checked inputs (``None``: it has none), only when sampling needs it.
    ``InvalidInput`` says why none fits."""
    native = _native(model)
    if native is not None:
        if framework == "xgboost":
            from modelport.explanations.boosters import XGBoostExplainer

            return XGBoostExplainer(model)
        if framework == "lightgbm":
            from modelport.explanations.boosters import LightGBMExplainer

            return LightGBMExplainer(model)
        from modelport.explanations.sklearn_trees import SklearnTreeExplainer, is_tree_model

        if is_tree_model(native):
            return SklearnTreeExplainer(model)
    data = background()
    if data is None:
        why = _why_sampling(framework, native)
        raise InvalidInput(f"{target} cannot be explained: {why} {_NEEDS_REFERENCE}")
    from modelport.explanations.sampling import SamplingExplainer

    return SamplingExplainer(model, data)


def _native(model: LoadedModel) -> Any:
    return getattr(model, "native", None) if hasattr(model, "features") else None


def _why_sampling(framework: str, native: Any) -> str:
    if framework in _TREES and native is None:
        return f"{framework} models registered untrusted are explained by sampling"
    if framework == "sklearn":
        return f"a {type(native).__name__} is no tree model and is explained by sampling"
    return f"{framework} models are explained by sampling"
