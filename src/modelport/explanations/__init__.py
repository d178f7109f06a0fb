"""Per-row feature attributions for a loaded model (docs/explanations.md): ``select.explainer_for``
picks the method, ``columns`` turns the attributions into output columns."""

from __future__ import annotations

from modelport.explanations.attributions import Attributions, Explainer

__all__ = ["Attributions", "Explainer"]
