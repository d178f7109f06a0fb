"""What a skops file registered without trust may contain, checked on its raw ``schema.json``.

skops builds objects by importing the module and name a file gives and then calling, or
``__setstate__``-ing, what it finds. Its own check trusts whole families of names, and functions
count as "types": a Pipeline of ``FunctionTransformer``s over numpy functions can chain them into
running a string. So an untrusted file is checked here against an allow-list, node by node:

- objects: scikit-learn estimators (``BaseEstimator`` subclasses defined in ``sklearn.*``; only
  modules under ``sklearn.`` are ever imported to find out) and a reviewed list of the helper
  objects fitted estimators hold (``HELPER_TYPES``, ``LOSS_TYPES``);
- data: containers, strings and numbers, numpy arrays, scalars, dtypes and random states, scipy
  sparse matrices;
- types used as values (a ``dtype=`` parameter): numpy scalar types and plain builtin types;
- functions: only the pure element-wise math ufuncs of ``MATH_UFUNCS``. Any other function,
  method, builtin, ``functools.partial`` or ``operator`` getter is code and needs trust.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

__all__ = ["HELPER_TYPES", "LOSS_TYPES", "MATH_UFUNCS", "SKOPS_PROTOCOL", "disallowed_types"]

SKOPS_PROTOCOL = 2
"""The skops file protocol whose loaders this check was reviewed against."""

HELPER_TYPES = frozenset(
    {
        # link functions and losses of (Hist)GradientBoosting and linear models
        *(f"sklearn._loss.link.{name}" for name in ("IdentityLink", "LogLink", "LogitLink", "HalfLogitLink")),
        "sklearn._loss.link.MultinomialLogit",
        "sklearn._loss.link.Interval",
        *(
            f"sklearn._loss.loss.{name}"
            for name in (
                "HalfSquaredError",
                "AbsoluteError",
                "PinballLoss",
                "HuberLoss",
                "HalfPoissonLoss",
                "HalfGammaLoss",
                "HalfTweedieLoss",
                "HalfTweedieLossIdentity",
                "HalfBinomialLoss",
                "HalfMultinomialLoss",
                "ExponentialLoss",
            )
        ),
        # the trees of HistGradientBoosting
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        # KNeighbors* / RadiusNeighbors*: the search trees and their distance metrics
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._ball_tree.BallTree",
        *(
            f"sklearn.metrics._dist_metrics.{name}{bits}"
            for name in ("EuclideanDistance", "ManhattanDistance", "ChebyshevDistance", "MinkowskiDistance")
            for bits in ("64", "32")
        ),
        # the optimizer state an MLP keeps
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    }
)
"""Objects that are not estimators but that fitted scikit-learn estimators hold."""

LOSS_TYPES = frozenset(
    {
        *(
            f"sklearn._loss._loss.Cy{name}"
            for name in (
                "AbsoluteError",
                "ExponentialLoss",
                "HalfBinomialLoss",
                "HalfGammaLoss",
                "HalfMultinomialLoss",
                "HalfPoissonLoss",
                "HalfSquaredError",
                "HalfTweedieLoss",
                "HalfTweedieLossIdentity",
                "HuberLoss",
                "PinballLoss",
            )
        ),
        *(
            f"sklearn.linear_model._sgd_fast.{name}"
            for name in (
                "Hinge",
                "ModifiedHuber",
                "SquaredHinge",
                "EpsilonInsensitive",
                "SquaredEpsilonInsensitive",
                "Huber",
                "Log",
                "SquaredLoss",
            )
        ),
    }
)
"""The Cython loss objects skops rebuilds by calling their class with numbers (``LossNode``)."""

MATH_UFUNCS = frozenset(
    {
        *(
            f"numpy.{name}"
            for name in (
                "log",
                "log1p",
                "log2",
                "log10",
                "exp",
                "expm1",
                "exp2",
                "sqrt",
                "cbrt",
                "square",
                "absolute",
                "fabs",
                "sign",
                "negative",
                "reciprocal",
                "floor",
                "ceil",
                "rint",
                "trunc",
                "sin",
                "cos",
                "tan",
                "arcsin",
                "arccos",
                "arctan",
                "sinh",
                "cosh",
                "tanh",
                "arcsinh",
                "arccosh",
                "arctanh",
            )
        ),
        "scipy.special._special_ufuncs.expit",
        "scipy.special._special_ufuncs.logit",
        "scipy.special._special_ufuncs.erf",
        "scipy.special._ufuncs.boxcox",
        "scipy.special._ufuncs.inv_boxcox",
        "scipy.special._ufuncs.boxcox1p",
        "scipy.special._ufuncs.inv_boxcox1p",
    }
)
"""Functions an untrusted file may hold (``FunctionTransformer(np.log1p)``, ``TransformedTargetRegressor``).

Each is a numpy ufunc computing one number from one or two numbers: no I/O, no state, nothing
looked up by name. These are the names skops writes for them (numpy's ``__module__``, and the
scipy module where skops finds the ufunc).
"""

_BUILTIN_TYPES = frozenset(
    f"builtins.{t.__name__}"
    for t in (int, float, complex, bool, str, bytes, list, tuple, dict, set, frozenset)
)
_NUMPY_SCALAR_TYPES = frozenset(f"{t.__module__}.{t.__name__}" for t in set(np.sctypeDict.values()))
_BIT_GENERATORS = frozenset(
    name
    for name in dir(np.random)
    if isinstance(getattr(np.random, name), type)
    and issubclass(getattr(np.random, name), np.random.BitGenerator)
    and getattr(np.random, name) is not np.random.BitGenerator
)
_SKLEARN_MODULE = re.compile(r"sklearn(\.[A-Za-z_][A-Za-z0-9_]*)+")
_UNIMPORTED_PARTS = frozenset(
    {"tests", "conftest", "_testing", "_mocking", "estimator_checks", "_build_utils"}
)


def disallowed_types(schema: dict[str, Any]) -> list[str]:
    """What ``schema`` (a skops ``schema.json``) holds that an untrusted file may not: sorted names.

    Every node anywhere in the schema is checked, whichever key it sits under.
    """
    protocol = schema.get("protocol")
    found: set[str] = set()
    if protocol != SKOPS_PROTOCOL:
        found.add(
            f"skops protocol {protocol!r} (expected {SKOPS_PROTOCOL}: save it again with a current skops)"
        )
    for node in _nodes(schema):
        refused = _refusal(node)
        if refused is not None:
            found.add(refused)
    return sorted(found)


def _nodes(value: Any) -> Iterator[dict[str, Any]]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "__loader__" in item:
                yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _refusal(node: dict[str, Any]) -> str | None:
    """``None`` if ``node`` is allowed, else the name to show for it."""
    loader = node.get("__loader__")
    name = f"{node.get('__module__')}.{node.get('__class__')}"
    rule = _RULES.get(loader) if isinstance(loader, str) else None
    if rule is None:
        return f"{name} ({loader})"
    if loader == "RandomGeneratorNode" and _bit_generator(node) not in _BIT_GENERATORS:
        return f"numpy.random.{_bit_generator(node)}"
    return None if rule(name) else name


def _bit_generator(node: dict[str, Any]) -> str | None:
    """The bit generator class name a ``numpy.random.Generator`` node names as plain data."""
    try:
        name = json.loads(node["content"]["bit_generator"]["content"]["bit_generator"]["content"])
    except (KeyError, TypeError, ValueError):
        return None
    return name if isinstance(name, str) else None


def _is_sklearn_estimator(name: str) -> bool:
    """Whether ``name`` is a ``BaseEstimator`` subclass defined in scikit-learn.

    Only modules under ``sklearn.`` are imported; the names a file gives are never imported otherwise.
    """
    module_name, _, class_name = name.rpartition(".")
    if not _SKLEARN_MODULE.fullmatch(module_name) or not class_name.isidentifier():
        return False
    if _UNIMPORTED_PARTS.intersection(module_name.split(".")):
        return False
    from sklearn.base import BaseEstimator

    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return False
    cls = getattr(module, class_name, None)
    return isinstance(cls, type) and issubclass(cls, BaseEstimator) and cls.__module__ == module_name


def _type_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__name__}"


def _one_of(*names: str) -> Callable[[str], bool]:
    allowed = frozenset(names)
    return allowed.__contains__


_RULES: dict[str, Callable[[str], bool]] = {
    # plain data; skops builds these from the class name, so the name must be the plain type
    "DictNode": _one_of("builtins.dict", "collections.OrderedDict"),
    "DefaultDictNode": _one_of("collections.defaultdict"),
    "ListNode": _one_of("builtins.list"),
    "SetNode": _one_of("builtins.set"),
    "TupleNode": _one_of("builtins.tuple"),
    "BytesNode": _one_of("builtins.bytes"),
    "BytearrayNode": _one_of("builtins.bytearray"),
    "SliceNode": _one_of("builtins.slice"),
    "JsonNode": lambda name: True,  # json.loads of its content; the name is not used
    "CachedNode": lambda name: True,  # a second reference to a node checked where it first appears
    # numpy and scipy data
    "NdArrayNode": lambda name: name == "numpy.ndarray" or name in _NUMPY_SCALAR_TYPES,
    "MaskedArrayNode": _one_of(_type_name(np.ma.MaskedArray)),
    "DTypeNode": _one_of("numpy.dtype"),
    "RandomStateNode": _one_of(_type_name(np.random.RandomState)),
    "RandomGeneratorNode": _one_of(_type_name(np.random.Generator)),
    "SparseMatrixNode": lambda name: (
        name.startswith("scipy.sparse.") and name.endswith(("_matrix", "_array"))
    ),
    # types as values, e.g. OneHotEncoder(dtype=np.float64); skops also files builtins such as
    # eval here, so only real data types pass
    "TypeNode": lambda name: name in _BUILTIN_TYPES or name in _NUMPY_SCALAR_TYPES,
    # objects
    "ObjectNode": lambda name: name in HELPER_TYPES or _is_sklearn_estimator(name),
    "TreeNode": _one_of("sklearn.tree._tree.Tree"),
    "LossNode": LOSS_TYPES.__contains__,
    # code: only the reviewed math ufuncs
    "FunctionNode": MATH_UFUNCS.__contains__,
}
"""Per skops loader, which names it may build. Loaders not listed (``MethodNode``, ``PartialNode``,
``OperatorFuncNode``, ``ConstructorFromReduceNode``, third-party ones) are refused: they call code."""
