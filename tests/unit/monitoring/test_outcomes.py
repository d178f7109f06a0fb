import numpy as np
import pytest

from modelport.core import Conflict, InvalidInput, NotFound
from modelport.monitoring.outcomes import EndpointOutcomes


def test_feedback_judges_remembered_predictions_and_feeds_the_report() -> None:
    outcomes = EndpointOutcomes("ep")
    for i in range(40):
        outcomes.record(f"a{i}", "m:1", False, 0.001, np.array([1]))
        outcomes.record(f"b{i}", "m:2", False, 0.002, np.array([1]))
    for i in range(40):
        outcomes.feedback([(f"a{i}", [1])])  # m:1 always right
        outcomes.feedback([(f"b{i}", [0 if i % 2 else 1])])  # m:2 right half the time
    report = outcomes.report()
    assert report["variants"]["m:1"]["accuracy"] == 1.0
    assert report["variants"]["m:2"]["accuracy"] == 0.5
    low, high = report["variants"]["m:2"]["accuracy_ci95"]
    assert low < 0.5 < high
    assert report["comparisons"][0]["accuracy_significant"] is True
    evidence = outcomes.state()["revisions"]["0"]  # what the rollout judge reads
    assert evidence["m:1"]["wrong"] == {"0.0": 40}
    assert evidence["m:2"]["wrong"] == {"0.0": 20, "1.0": 20}


def test_regression_feedback_reports_mean_absolute_error() -> None:
    outcomes = EndpointOutcomes("ep")
    outcomes.record("r1", "m:1", False, 0.001, np.array([2.5, 3.0]))
    judged = outcomes.feedback([("r1", [2.0, 4.0])])[0]
    assert judged["abs_error"] == [0.5, 1.0]
    assert outcomes.report()["variants"]["m:1"]["mean_abs_error"] == pytest.approx(0.75)


def test_unknown_ids_and_wrong_row_counts_are_refused() -> None:
    outcomes = EndpointOutcomes("ep")
    outcomes.record("r1", "m:1", False, 0.001, np.array([1, 2]))
    with pytest.raises(NotFound, match="nope"):
        outcomes.check_known(["r1", "nope"])
    with pytest.raises(InvalidInput, match="2 rows"):
        outcomes.feedback([("r1", [1])])


def test_old_predictions_are_forgotten_beyond_the_bound() -> None:
    outcomes = EndpointOutcomes("ep", remember=3)
    for i in range(5):
        outcomes.record(f"r{i}", "m:1", False, 0.001, np.array([1]))
    with pytest.raises(NotFound):
        outcomes.feedback([("r0", [1])])
    outcomes.feedback([("r4", [1])])


def test_feedback_for_one_request_counts_once_and_the_first_label_stands() -> None:
    outcomes = EndpointOutcomes("ep")
    outcomes.record("r1", "m:1", False, 0.001, np.array([1]))
    outcomes.record("r2", "m:1", False, 0.001, np.array([1]))
    outcomes.feedback([("r1", [1])])
    with pytest.raises(Conflict, match="already has feedback"):
        outcomes.feedback([("r1", [0])])  # a second label: refused, not counted
    with pytest.raises(Conflict, match="already has feedback"):
        outcomes.feedback([("r2", [1]), ("r2", [1])])  # the same id twice in one call
    variant = outcomes.report()["variants"]["m:1"]
    assert variant["feedback_rows"] == 1 and variant["accuracy"] == 1.0
    assert outcomes.state()["revisions"]["0"]["m:1"]["wrong"] == {"0.0": 1}
    outcomes.feedback([("r2", [0])])  # refused calls counted nothing, so r2 can still be judged
    assert outcomes.report()["variants"]["m:1"]["feedback_rows"] == 2


def test_a_batch_with_one_bad_item_counts_none_of_it() -> None:
    outcomes = EndpointOutcomes("ep")
    outcomes.record("r1", "m:1", False, 0.001, np.array([1]))
    outcomes.record("r2", "m:1", False, 0.001, np.array([1, 1]))
    with pytest.raises(InvalidInput, match="2 rows"):
        outcomes.feedback([("r1", [1]), ("r2", [1])])
    assert outcomes.report()["variants"]["m:1"]["feedback_rows"] == 0
    outcomes.feedback([("r1", [1])])


def test_feedback_is_one_bounded_outcome_per_request_for_the_guardrail_and_the_report() -> None:
    """Rows of one request are not independent: counted per row, 20 rows weighed as 20 requests."""
    outcomes = EndpointOutcomes("ep")
    outcomes.record("a", "m:1", False, 0.001, np.zeros(20, dtype=np.int64))
    outcomes.record("b", "m:1", False, 0.001, np.zeros(4, dtype=np.int64))
    outcomes.feedback([("a", [1] * 5 + [0] * 15), ("b", [0, 0, 0, 0])])
    assert outcomes.state()["revisions"]["0"]["m:1"]["wrong"] == {"0.25": 1, "0.0": 1}
    variant = outcomes.report()["variants"]["m:1"]
    assert variant["feedback_requests"] == 2 and variant["feedback_rows"] == 24
    assert variant["accuracy"] == pytest.approx((0.75 + 1.0) / 2)  # the mean over requests
    low, high = variant["accuracy_ci95"]
    assert low < 0.875 < high and low < 0.5  # two requests are little evidence, however many rows
