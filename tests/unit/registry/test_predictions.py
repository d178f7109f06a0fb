"""Remembered predictions in the registry, on both backends: stored as they were predicted (first
one per id), claimed for feedback all or none and once across processes, pruned per endpoint."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import timedelta

import numpy as np
import pytest

from modelport.core import Conflict, InvalidInput, NotFound
from modelport.core.judged import StoredPrediction
from modelport.registry import ModelVersion, Registry

from .test_endpoints import cfg


def accept(stored: Mapping[str, StoredPrediction]) -> None:
    """A ``check`` that refuses nothing."""


def text(*values: str) -> np.ndarray:
    array = np.empty(len(values), dtype=object)
    array[:] = list(values)
    return array


@pytest.mark.parametrize(
    "prediction",
    [
        np.array([[0.25, -1.5], [3.0, np.nan]], dtype=np.float32),
        np.array([0, 2, 1], dtype=np.int64),
        np.array([True, False]),
        text("setosa", "été", "a\0", "\udcff"),  # a lone surrogate: a byte that was not UTF-8
    ],
    ids=["float", "int", "bool", "text"],
)
def test_a_prediction_comes_back_as_it_was_predicted(registry: Registry, prediction: np.ndarray) -> None:
    revision = registry.revision()
    registry.put_predictions("ep", [StoredPrediction("r1", "iris:2", 7, prediction)])
    back = registry.claim_predictions("ep", ["r1"], accept)["r1"]
    assert (back.request_id, back.variant, back.revision) == ("r1", "iris:2", 7)
    assert back.prediction.dtype == prediction.dtype and back.prediction.shape == prediction.shape
    if prediction.dtype.kind == "f":
        np.testing.assert_array_equal(back.prediction, prediction)  # NaN included
    else:
        assert back.prediction.tolist() == prediction.tolist()
    assert registry.revision() == revision  # servers do not reload their routing for it


def test_the_first_prediction_under_an_id_stays(registry: Registry) -> None:
    registry.put_predictions("ep", [StoredPrediction("r1", "iris:1", 1, np.array([0]))])
    registry.put_predictions("ep", [StoredPrediction("r1", "iris:2", 2, np.array([1]))])  # another process
    registry.put_predictions("other", [StoredPrediction("r1", "iris:2", 2, np.array([2]))])  # per endpoint
    local = [StoredPrediction("r1", "iris:3", 3, np.array([5]))]
    stored = registry.claim_predictions("ep", ["r1"], accept, local)
    assert (stored["r1"].variant, stored["r1"].prediction.tolist()) == ("iris:1", [0])
    assert registry.claim_predictions("other", ["r1"], accept)["r1"].prediction.tolist() == [2]


def test_a_claim_is_all_or_none_and_counts_once(registry: Registry) -> None:
    registry.put_predictions("ep", [StoredPrediction(i, "iris:1", 1, np.array([0])) for i in ("a", "b")])
    with pytest.raises(NotFound, match="'nope'"):
        registry.claim_predictions("ep", ["a", "nope"], accept)

    def refuse(stored: Mapping[str, StoredPrediction]) -> None:
        raise InvalidInput("wrong row count")

    with pytest.raises(InvalidInput):
        registry.claim_predictions("ep", ["a"], refuse)
    with pytest.raises(Conflict, match="'a'"):
        registry.claim_predictions("ep", ["a", "a"], accept)  # one id twice in a call
    assert set(registry.claim_predictions("ep", ["a"], accept)) == {"a"}  # none of the above claimed it
    with pytest.raises(Conflict, match="'a' already has feedback"):
        registry.claim_predictions("ep", ["b", "a"], accept)
    assert set(registry.claim_predictions("ep", ["b"], accept)) == {"b"}  # the refused call left b alone


def test_a_prediction_not_flushed_yet_is_stored_by_the_claim_and_then_counts_once(registry: Registry) -> None:
    local = [StoredPrediction(i, "iris:1", 1, np.array([0])) for i in ("r1", "r2")]
    assert set(registry.claim_predictions("ep", ["r1"], accept, local)) == {"r1"}
    with pytest.raises(Conflict):
        registry.claim_predictions("ep", ["r1"], accept)  # another process hears the same id
    with pytest.raises(NotFound):
        registry.claim_predictions("ep", ["r2"], accept)  # left to the flush: only the call's ids


def test_of_processes_racing_to_claim_one_id_exactly_one_counts_it(registry: Registry) -> None:
    for round_ in range(3):
        ids = [f"r{round_}", "shared"] if round_ == 0 else [f"r{round_}"]
        registry.put_predictions("ep", [StoredPrediction(i, "iris:1", 1, np.array([0])) for i in ids])
        barrier = threading.Barrier(6)
        won: list[int] = []
        refused: list[int] = []

        def claim(
            n: int,
            barrier: threading.Barrier = barrier,
            ids: list[str] = ids,
            won: list[int] = won,
            refused: list[int] = refused,
        ) -> None:
            barrier.wait()
            try:
                registry.claim_predictions("ep", ids, accept)
                won.append(n)
            except Conflict:
                refused.append(n)

        threads = [threading.Thread(target=claim, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(won) == 1 and len(refused) == 5, (won, refused)


def test_each_endpoint_keeps_its_newest_predictions_and_none_too_old_or_of_a_deleted_endpoint(
    registry: Registry, register: Callable[..., ModelVersion]
) -> None:
    register("iris")
    for name in ("ep", "other"):
        registry.create_endpoint(name, cfg("iris:1=100"), actor="t")
    for n in range(5):  # one flush each
        registry.put_predictions("ep", [StoredPrediction(f"r{n}", "iris:1", 1, np.array([n]))])
    registry.put_predictions("other", [StoredPrediction("o", "iris:1", 1, np.array([0]))])
    registry.put_predictions("gone", [StoredPrediction("g", "iris:1", 1, np.array([0]))])
    assert registry.prune_predictions(["ep", "other"], 3, timedelta(days=7)) == 3  # r0, r1 and gone's
    assert set(registry.claim_predictions("ep", ["r2", "r3", "r4"], accept)) == {"r2", "r3", "r4"}
    for endpoint, request_id in (("ep", "r1"), ("gone", "g")):
        with pytest.raises(NotFound):
            registry.claim_predictions(endpoint, [request_id], accept)
    assert registry.prune_predictions(["ep"], 3, timedelta(0)) == 3  # as if stored long ago
    assert set(registry.claim_predictions("other", ["o"], accept)) == {"o"}  # not pruned: not named
