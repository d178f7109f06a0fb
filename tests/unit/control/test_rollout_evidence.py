"""The judge's view of every process's evidence: each outcome once, whoever served it and however
often its process's state is read; nothing served before the rollout began."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from modelport.control.rollout_evidence import EvidenceStream
from modelport.monitoring.outcomes import EndpointOutcomes, OutcomeEvent


def outcomes(events: list[OutcomeEvent]) -> Counter[tuple[str, str, float, int]]:
    return Counter((e.variant, e.kind, e.failed, e.revision) for e in events)


def serve(book: EndpointOutcomes, prefix: str, n: int, revision: int, failing_every: int) -> None:
    for i in range(n):
        variant = "m:2" if i % 2 else "m:1"
        failed = i % failing_every == 0
        book.record(
            f"{prefix}{i}", variant, failed, 0.01 * (1 + i % 3), None if failed else np.array([1]), revision
        )


def test_each_outcome_of_every_process_reaches_the_judge_once() -> None:
    a, b = EndpointOutcomes("ep"), EndpointOutcomes("ep")
    serve(a, "old", 10, revision=3, failing_every=2)  # before the rollout (it began at revision 4)
    serve(a, "a", 30, revision=4, failing_every=5)
    serve(b, "b", 20, revision=5, failing_every=4)
    stream = EvidenceStream(since_revision=4, seed=1)
    states: dict[str, Any] = {"a": a.state(), "b": b.state()}
    first = stream.events(states, at=1.0)
    assert outcomes(first) == {
        ("m:1", "request", 1.0, 4): 3,  # a: every 5th request failed
        ("m:1", "request", 0.0, 4): 12,
        ("m:2", "request", 1.0, 4): 3,
        ("m:2", "request", 0.0, 4): 12,
        ("m:1", "request", 1.0, 5): 5,  # b: every 4th, all of them m:1's
        ("m:1", "request", 0.0, 5): 5,
        ("m:2", "request", 0.0, 5): 10,
    }
    latencies = sorted(e.latency_s for e in first if e.revision == 5)
    expected = sorted(0.01 * (1 + i % 3) for i in range(20))
    assert np.allclose(latencies, expected, rtol=0.01)  # within the sketch's 1 %
    assert stream.events(states, at=2.0) == []  # the same states again: nothing new
    a.feedback([("a1", [0]), ("a3", [1])])  # m:2 wrong once, right once
    serve(b, "c", 4, revision=5, failing_every=100)
    second = stream.events({"a": a.state(), "b": b.state()}, at=3.0)
    assert outcomes(second) == {
        ("m:2", "feedback", 1.0, 4): 1,
        ("m:2", "feedback", 0.0, 4): 1,
        ("m:1", "request", 1.0, 5): 1,  # c0 fails (0 % 100 == 0)
        ("m:1", "request", 0.0, 5): 1,
        ("m:2", "request", 0.0, 5): 2,
    }
    assert {e.at for e in second} == {3.0}
