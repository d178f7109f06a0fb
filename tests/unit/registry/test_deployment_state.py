"""Shared deployment state on both backends: each process's evidence row, its pruning, and the lease
that lets one process at a time decide; none of these writes moves the routing revision."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

from modelport.registry import ModelVersion, Registry

from .test_endpoints import cfg


def test_a_process_replaces_its_own_row_and_reads_the_others(registry: Registry) -> None:
    revision = registry.revision()
    registry.put_evidence("a", {"ep": {"n": 1}, "other": {"n": 5}})
    registry.put_evidence("a", {"ep": {"n": 2}})  # cumulative: replaced, not added
    registry.put_evidence("b", {"ep": {"n": 7}})
    assert registry.evidence("ep", besides="a") == {"b": {"n": 7}}
    assert registry.evidence("ep", besides="c") == {"a": {"n": 2}, "b": {"n": 7}}
    assert registry.revision() == revision  # servers do not reload their routing for it


def test_rows_of_deleted_endpoints_and_long_silent_processes_are_pruned(
    registry: Registry, register: Callable[..., ModelVersion]
) -> None:
    register("iris")
    registry.create_endpoint("ep", cfg("iris:1=100"), actor="t")
    registry.put_evidence("a", {"ep": {"n": 1}, "gone": {"n": 1}})
    assert registry.prune_evidence(timedelta(days=7)) == 1
    assert registry.evidence("gone", besides="") == {}
    assert registry.evidence("ep", besides="") == {"a": {"n": 1}}
    assert registry.prune_evidence(timedelta(0)) == 1  # not written since: as if silent for long
    assert registry.evidence("ep", besides="") == {}


def test_one_holder_at_a_time_renewed_by_it_and_taken_over_once_expired(registry: Registry) -> None:
    assert registry.hold_lease("judge", "a", 60)
    assert not registry.hold_lease("judge", "b", 60)
    assert registry.hold_lease("judge", "a", -1)  # renewed (here so that it expires at once)
    assert registry.hold_lease("judge", "b", 60)  # expired: taken over
    assert not registry.hold_lease("judge", "a", 60)  # the old holder lost it
    holder = registry.lease_holder("judge")
    assert holder is not None and holder[0] == "b"
    registry.release_lease("judge", "a")  # not a's: nothing happens
    assert not registry.hold_lease("judge", "a", 60)
    registry.release_lease("judge", "b")  # a clean stop hands over at once
    assert registry.hold_lease("judge", "a", 60)


def test_of_many_processes_racing_for_a_free_or_expired_lease_exactly_one_wins(registry: Registry) -> None:
    for expired in (False, True):
        name = f"race-{expired}"
        if expired:
            registry.hold_lease(name, "old", -1)
        barrier = threading.Barrier(6)
        won: list[str] = []

        def take(
            holder: str, name: str = name, barrier: threading.Barrier = barrier, won: list[str] = won
        ) -> None:
            barrier.wait()
            if registry.hold_lease(name, holder, 60):
                won.append(holder)

        threads = [threading.Thread(target=take, args=(f"p{i}",)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(won) == 1, (expired, won)
        holder = registry.lease_holder(name)
        assert holder is not None and holder[0] == won[0]
