"""Drift detection: live payload-log windows against a reference profile, per feature and per model."""

from modelport.monitoring.drift.report import STATUSES, compare_features, feature_drift, worst

__all__ = ["STATUSES", "compare_features", "feature_drift", "worst"]
