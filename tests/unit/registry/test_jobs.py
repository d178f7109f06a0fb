"""Batch jobs in the registry: one claim wins, a dead owner's job is taken over, and job writes leave
the revision (the servers' reload signal) alone."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from modelport.core.errors import Conflict, NotFound
from modelport.registry import LocalArtifactStore, ModelVersion, Registry
from modelport.registry.jobs import Progress
from modelport.registry.schema import utcnow

OPTIONS = {"format": "parquet", "max_errors": 0, "chunk_rows": 10}


def _later() -> datetime:
    """A ``stale_before`` that makes every heartbeat so far stale."""
    return utcnow() + timedelta(seconds=1)


def _earlier() -> datetime:
    """A ``stale_before`` that no recent heartbeat is older than."""
    return utcnow() - timedelta(hours=1)


def test_job_writes_leave_the_revision_alone(
    registry: Registry, register: Callable[..., ModelVersion]
) -> None:
    version = register("m")
    before = registry.revision()
    job = registry.add_job("m", version, "/in.csv", "/out", OPTIONS)
    claimed = registry.claim_job("a:1", _earlier())
    assert claimed is not None and claimed[0].id == job.id
    assert registry.beat_job(job.id, "a:1", Progress(5, 10, 0, 2.5)) is False
    registry.finish_job(job.id, "a:1", "succeeded", None, Progress(10, 10, 0, 3.0))
    assert registry.revision() == before
    done = registry.get_job(job.id)
    assert (done.state, done.progress, done.owner) == ("succeeded", Progress(10, 10, 0, 3.0), None)


def test_of_two_servers_claiming_at_once_each_job_goes_to_one(
    registry: Registry, register: Callable[..., ModelVersion], db_url: str, store: LocalArtifactStore
) -> None:
    version = register("m")
    jobs = {registry.add_job("m", version, "/in.csv", f"/out{i}", OPTIONS).id for i in range(12)}
    won: dict[str, list[str]] = {"a": [], "b": []}

    def claim_all(owner: str) -> None:
        with Registry.open(db_url, store) as own:
            while (found := own.claim_job(owner, _earlier())) is not None:
                won[owner].append(found[0].id)

    threads = [threading.Thread(target=claim_all, args=(owner,)) for owner in won]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won["a"] + won["b"]) == sorted(jobs)


def test_a_job_with_a_stale_heartbeat_is_taken_over_and_resumed(
    registry: Registry, register: Callable[..., ModelVersion]
) -> None:
    job = registry.add_job("m", register("m"), "/in.csv", "/out", OPTIONS)
    first = registry.claim_job("a:1", _earlier())
    assert first is not None and first[1] is False  # never ran: a new run
    assert registry.claim_job("b:2", _earlier()) is None  # a:1 is alive
    taken = registry.claim_job("b:2", _later())  # a:1 stopped beating
    assert taken is not None and taken[0].id == job.id and taken[1] is True  # ran before: resume
    assert taken[0].owner == "b:2"
    assert registry.beat_job(job.id, "a:1", None) is None  # a:1 learns it lost the job
    registry.finish_job(job.id, "a:1", "failed", "late", None)  # and cannot end it
    assert registry.get_job(job.id).state == "running"


def test_a_released_job_stays_running_and_is_resumed_by_the_next_server(
    registry: Registry, register: Callable[..., ModelVersion]
) -> None:
    job = registry.add_job("m", register("m"), "/in.csv", "/out", OPTIONS)
    assert registry.claim_job("a:1", _earlier()) is not None
    registry.release_job(job.id, "a:1")
    assert (registry.get_job(job.id).state, registry.get_job(job.id).owner) == ("running", None)
    resumed = registry.claim_job("b:2", _earlier())
    assert resumed is not None and resumed[1] is True


def test_cancel_stops_a_queued_job_at_once_and_asks_a_running_one(
    registry: Registry, register: Callable[..., ModelVersion]
) -> None:
    version = register("m")
    queued = registry.add_job("m", version, "/in.csv", "/out1", OPTIONS)
    assert registry.cancel_job(queued.id, _earlier()).state == "cancelled"
    running = registry.add_job("m", version, "/in.csv", "/out2", OPTIONS)
    assert registry.claim_job("a:1", _earlier()) is not None
    asked = registry.cancel_job(running.id, _earlier())
    assert (asked.state, asked.cancel_requested) == ("running", True)
    assert registry.beat_job(running.id, "a:1", None) is True  # the owner hears it
    registry.finish_job(running.id, "a:1", "cancelled", None, None)
    with pytest.raises(Conflict, match="is cancelled already"):
        registry.cancel_job(running.id, _earlier())
    orphan = registry.add_job("m", version, "/in.csv", "/out3", OPTIONS)
    assert registry.claim_job("a:1", _earlier()) is not None
    assert registry.cancel_job(orphan.id, _later()).state == "cancelled"  # no live server runs it
    with pytest.raises(NotFound, match="no job 'nope'"):
        registry.cancel_job("nope", _earlier())


def test_an_output_that_an_unfinished_job_writes_is_refused(
    registry: Registry, register: Callable[..., ModelVersion]
) -> None:
    version = register("m")
    first = registry.add_job("m", version, "/in.csv", "/out", OPTIONS)
    with pytest.raises(Conflict, match=f"job {first.id} writes /out already"):
        registry.add_job("m", version, "/in.csv", "/out", OPTIONS)
    registry.cancel_job(first.id, _earlier())
    second = registry.add_job("m", version, "/in.csv", "/out", OPTIONS)
    assert [job.id for job in registry.list_jobs()] == [second.id, first.id]  # newest first
