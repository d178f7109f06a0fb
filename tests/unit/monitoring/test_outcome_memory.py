"""What an endpoint remembers for feedback is bounded by bytes, and an id is never taken over."""

from __future__ import annotations

import numpy as np
import pytest

from modelport.core import NotFound
from modelport.monitoring.outcomes import EndpointOutcomes


def test_remembered_predictions_are_bounded_by_bytes() -> None:
    outcomes = EndpointOutcomes("ep", remember_bytes=1_000_000)
    big = np.zeros(100_000)  # 800 kB: one fits, two do not
    outcomes.record("first", "m:1", False, 0.0, big)
    outcomes.record("second", "m:1", False, 0.0, big)
    outcomes.check_known(["second"])
    with pytest.raises(NotFound, match="'first'"):
        outcomes.check_known(["first"])
    outcomes.record("huge", "m:1", False, 0.0, np.zeros(200_000))  # larger than the whole bound
    with pytest.raises(NotFound):
        outcomes.check_known(["huge"])
    outcomes.check_known(["second"])  # not pushed out by one that could never fit


def test_text_predictions_count_their_characters() -> None:
    outcomes = EndpointOutcomes("ep", remember_bytes=1_000_000)
    outcomes.record("a", "m:1", False, 0.0, np.array(["x" * 600_000], dtype=object))
    outcomes.record("b", "m:1", False, 0.0, np.array(["y" * 600_000], dtype=object))
    with pytest.raises(NotFound):
        outcomes.check_known(["a"])
    assert outcomes.feedback([("b", ["y" * 600_000])])[0]["correct"] == 1


def test_a_reused_id_keeps_the_first_prediction() -> None:
    outcomes = EndpointOutcomes("ep")
    outcomes.record("order-1", "m:1", False, 0.0, np.array([0]))
    outcomes.record("order-1", "m:2", False, 0.0, np.array([2]))
    judged = outcomes.feedback([("order-1", [0])])[0]
    assert judged["variant"] == "m:1" and judged["correct"] == 1
    assert outcomes.report()["variants"]["m:2"]["requests"] == 1  # the reuse still counts as a request


def test_an_unknown_feedback_id_is_not_echoed_whole() -> None:
    outcomes = EndpointOutcomes("ep")
    with pytest.raises(NotFound) as refused:
        outcomes.check_known(["z" * 100_000])
    assert "of 100000 characters" in str(refused.value) and "zzzz" not in str(refused.value)


def test_bytes_labels_are_judged_as_exact_utf8_text() -> None:
    """A non-ASCII label once made remembering it raise (a 500 for the caller); a trailing NUL was dropped."""
    outcomes = EndpointOutcomes("ep")
    outcomes.record("r1", "m:1", False, 0.0, np.array(["été".encode(), b"a\x00", b"\xff"], dtype=object))
    judged = outcomes.feedback([("r1", ["été", "a", "\udcff"])])[0]
    assert judged["correct"] == 2  # "a" is not "a\0"; the lone byte 0xff matches only itself
