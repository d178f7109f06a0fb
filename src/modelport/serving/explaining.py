"""Explanations on the data plane: a served version's explainer, built on first use and kept while
the version is served, answering a decoded request in place of its prediction (``FrontEnd.call``).

Both the build (the reference data is read from the registry) and the attributions (the sampling
method calls the model 64 x (features + 1) times per row) run off the event loop, one request at a
time on a thread of their own: explanations queue behind each other, never before inferences or
the server's other threaded work. A request carries at most ``serving.explain_max_rows`` rows.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import weakref
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from modelport.core.errors import TooLarge
from modelport.core.inference import InferenceRequest, InferenceResponse
from modelport.core.tensors import Signature
from modelport.explanations.attributions import Attributions, Explainer
from modelport.serving.batching.merge import rows_of
from modelport.serving.loaded import LoadedVersion
from modelport.serving.service import SERVED_BY, Admission
from modelport.serving.validation import validate_request

__all__ = ["BASE", "FEATURES", "Explanations", "ReferenceInputs", "feature_names"]

ReferenceInputs = Callable[[LoadedVersion], dict[str, np.ndarray] | None]
"""A served version's reference data as checked inputs of its model, none when it has none;
``InvalidInput`` when they do not fit. The assembly supplies it (``server/app.py``), so serving
needs neither the registry's storage nor batch's column mapping. Called only when an explainer
needs its background."""

BASE = "base"
"""The answer's tensor of base values, one per explained output in the answer's order."""
FEATURES = "features"
"""The answer's BYTES tensor naming the features, the last axis of each attribution tensor."""


class Explanations:
    """The explainers of served versions, each built once (concurrent first calls may build twice)."""

    def __init__(self, reference: ReferenceInputs, max_rows: int) -> None:
        self._reference = reference
        self._max_rows = max_rows
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="modelport-explain")
        self._explainers: weakref.WeakKeyDictionary[LoadedVersion, Explainer] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    async def explain(self, admission: Admission, request: InferenceRequest) -> InferenceResponse:
        """The attributions of ``request``'s rows on the admitted version; releases the admission."""
        loaded = admission.version
        try:
            validate_request(request, loaded.signature, loaded.target)
            rows = rows_of(request.inputs)
            if rows > self._max_rows:
                raise TooLarge(
                    f"{rows} rows to explain; at most {self._max_rows} per request "
                    "(serving.explain_max_rows): explain more with modelport batch --explain"
                )
            work = asyncio.get_running_loop().run_in_executor(
                self._thread, self._attributions, loaded, request.inputs
            )
            attributions = await work
        finally:
            admission.release()
        outputs: dict[str, np.ndarray] = {
            key: np.ascontiguousarray(attributions.values[:, k, :])
            for k, key in enumerate(attributions.outputs)
        }
        outputs[BASE] = np.asarray(attributions.base, dtype=np.float64)
        names = feature_names(loaded.signature, request.inputs)
        outputs[FEATURES] = np.array([name.encode() for name in names], dtype=object)
        return InferenceResponse(
            model_name=admission.name,
            model_version=str(loaded.version),
            outputs=outputs,
            id=request.id,
            parameters={SERVED_BY: loaded.target},
        )

    def _attributions(self, loaded: LoadedVersion, inputs: Mapping[str, np.ndarray]) -> Attributions:
        return self._explainer(loaded).explain(inputs)

    def _explainer(self, loaded: LoadedVersion) -> Explainer:
        with self._lock:
            explainer = self._explainers.get(loaded)
        if explainer is None:
            explainer = self._build(loaded)
            with self._lock:
                self._explainers[loaded] = explainer
        return explainer

    def _build(self, loaded: LoadedVersion) -> Explainer:
        """``InvalidInput`` (400) when the version cannot be explained, saying why."""
        from modelport.explanations.select import explainer_for

        background = functools.partial(self._reference, loaded)
        return explainer_for(loaded.runtime_model, loaded.framework, loaded.target, background)


def feature_names(signature: Signature, inputs: Mapping[str, np.ndarray]) -> list[str]:
    """The attributions' features: each input in the signature's order, a matrix input's columns
    in turn (``X[0]``, ``X[1]`` …)."""
    names: list[str] = []
    for spec in signature.inputs:
        array = inputs[spec.name]
        if array.ndim < 2:
            names.append(spec.name)
        else:
            names += [f"{spec.name}[{i}]" for i in range(int(np.prod(array.shape[1:])))]
    return names
