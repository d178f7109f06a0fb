"""Drift detection: live payload-log windows against a reference profile, per feature and per model.

``statistics`` (pure numpy/scipy tests), ``features`` (signature → feature columns), ``reference``
(registration data → feature table), ``report`` (statistics → status), ``service`` (name → report).
Nothing is re-exported here, so registering a model does not import scipy.
"""

__all__: list[str] = []
