import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from modelport.core import InferenceRequest, NotFound, NotReady
from modelport.core.errors import StorageError
from modelport.core.serving_config import ServingConfig
from modelport.monitoring.book import OutcomeBook
from modelport.registry.records import ModelVersion
from modelport.serving.loaded import LoadedVersion
from modelport.serving.predictors import predictor_factory
from modelport.serving.reconciler import Reconciler
from modelport.serving.service import InferenceService
from modelport.serving.shadow import ShadowRunner
from tests.unit.serving.fakes import IN_PROCESS, FakeLoader, FakeRegistry, model_snapshot, unused_payload_log

EXECUTOR = ThreadPoolExecutor(4)


def make() -> tuple[FakeRegistry, FakeLoader, Reconciler]:
    registry, loader = FakeRegistry(), FakeLoader()
    reconciler = Reconciler(
        registry, loader, predictor_factory(EXECUTOR), poll_interval_s=0.01, drain_timeout_s=2
    )
    return registry, loader, reconciler


async def test_loads_latest_and_aliased_versions_and_routes_by_alias() -> None:
    registry, loader, reconciler = make()
    registry.publish(model_snapshot("m", [1, 2, 3], {"production": 1}))
    await reconciler.reconcile_once()
    assert reconciler.ready
    assert sorted(loader.models) == [("m", 1), ("m", 3)]
    assert reconciler.table.resolve("m", "production").version == 1
    assert reconciler.table.resolve("m", None).version == 1  # production is the default
    assert reconciler.table.resolve("m", "3").version == 3
    with pytest.raises(NotFound):
        reconciler.table.resolve("m", "2")


async def test_default_is_latest_without_production_alias() -> None:
    registry, _, reconciler = make()
    registry.publish(model_snapshot("m", [1, 2], {}))
    await reconciler.reconcile_once()
    assert reconciler.table.resolve("m", None).version == 2


async def test_unwanted_versions_are_unloaded_and_closed() -> None:
    registry, loader, reconciler = make()
    registry.publish(model_snapshot("m", [1], {}))
    await reconciler.reconcile_once()
    registry.publish(model_snapshot("m", [1, 2], {}))
    await reconciler.reconcile_once()
    await reconciler.close()
    assert loader.models[("m", 1)].closed


async def test_in_flight_request_finishes_before_its_version_is_closed() -> None:
    registry, loader, reconciler = make()
    service = InferenceService(lambda: reconciler.table, ShadowRunner(), OutcomeBook(), unused_payload_log())
    registry.publish(model_snapshot("m", [1], {}))
    await reconciler.reconcile_once()
    old = loader.models[("m", 1)]
    old.gate.clear()  # hold the next prediction
    request = InferenceRequest(inputs={"x": np.ones((1, 2), np.float32)})
    pending = asyncio.create_task(service.serve(IN_PROCESS, request, "m", None))
    await asyncio.sleep(0.05)
    registry.publish(model_snapshot("m", [1, 2], {}))
    await reconciler.reconcile_once()
    assert reconciler.table.resolve("m", None).version == 2
    await asyncio.sleep(0.05)
    assert not old.closed  # still draining
    old.gate.set()
    response = await pending
    assert response.model_version == "1"
    np.testing.assert_allclose(response.outputs["total"], [3.0])
    await reconciler.close()
    assert old.closed


async def test_a_version_that_fails_to_load_is_reported_and_not_ready() -> None:
    registry, loader, reconciler = make()
    loader.broken.add(("m", 2))
    registry.publish(model_snapshot("m", [1, 2], {"production": 2}))
    await reconciler.reconcile_once()
    assert reconciler.failures["m:2"].message == "the file is not a model"
    with pytest.raises(NotReady):
        reconciler.table.resolve("m", "2")
    with pytest.raises(NotReady):
        reconciler.table.resolve("m", None)


async def test_nothing_is_read_again_while_the_revision_is_unchanged() -> None:
    registry, _, reconciler = make()
    registry.publish(model_snapshot("m", [1], {}))
    await reconciler.reconcile_once()
    first = reconciler.table
    await reconciler.reconcile_once()
    assert reconciler.table is first


async def test_a_serving_config_change_swaps_the_predictor_without_reloading() -> None:
    registry, loader, reconciler = make()
    registry.publish(model_snapshot("m", [1], {}))
    await reconciler.reconcile_once()
    version = reconciler.table.resolve("m", None)
    first = version.predictor
    registry.publish(model_snapshot("m", [1], {}, serving=ServingConfig(max_batch_size=4, instances=2)))
    await reconciler.reconcile_once()
    assert reconciler.table.resolve("m", None) is version
    assert version.predictor is not first and version.predictor.config.instances == 2
    assert len(loader.models) == 1
    await reconciler.close()


async def test_an_alias_moved_to_a_version_that_cannot_load_keeps_answering_with_the_previous_one() -> None:
    registry, loader, reconciler = make()
    registry.publish(model_snapshot("m", [1], {"production": 1}))
    await reconciler.reconcile_once()
    loader.broken.add(("m", 2))
    registry.publish(model_snapshot("m", [1, 2], {"production": 2}))
    await reconciler.reconcile_once()
    table = reconciler.table
    assert table.resolve("m", "production").version == 1
    assert table.resolve("m", None).version == 1
    assert table.held_aliases() == [
        {"model": "m", "alias": "production", "version": 2, "serving": 1, "reason": "the file is not a model"}
    ]
    assert table.routing()["models"] == {"m": {"versions": [1], "aliases": {"production": 1}, "default": 1}}
    with pytest.raises(NotReady, match="could not be loaded: the file is not a model"):
        table.resolve("m", "2")
    assert not loader.models[("m", 1)].closed
    registry.publish(model_snapshot("m", [1, 2, 3], {"production": 2}))  # an unrelated change
    await reconciler.reconcile_once()
    assert reconciler.table.resolve("m", "production").version == 1  # still held
    loader.broken.discard(("m", 2))
    registry.publish(model_snapshot("m", [1, 2, 3], {"production": 3}))
    await reconciler.reconcile_once()
    assert reconciler.table.resolve("m", "production").version == 3
    assert reconciler.table.held_aliases() == []
    await reconciler.close()


async def test_a_newest_version_that_cannot_load_leaves_the_model_on_the_one_it_had() -> None:
    registry, loader, reconciler = make()
    registry.publish(model_snapshot("m", [1], {}))
    await reconciler.reconcile_once()
    loader.broken.add(("m", 2))
    registry.publish(model_snapshot("m", [1, 2], {}))  # policy "latest": only version 2 is wanted
    await reconciler.reconcile_once()
    assert reconciler.table.resolve("m", None).version == 1
    assert "m:2" in reconciler.failures
    await reconciler.close()


class MeetingLoader(FakeLoader):
    """Each load waits until ``parties`` loads are running at once (or gives up: the load fails)."""

    def __init__(self, parties: int) -> None:
        super().__init__()
        self._meeting = threading.Barrier(parties, timeout=30)

    def load(self, registered: ModelVersion) -> LoadedVersion:
        self._meeting.wait()
        return super().load(registered)


async def test_versions_load_in_parallel_up_to_the_setting() -> None:
    registry, loader = FakeRegistry(), MeetingLoader(parties=3)
    reconciler = Reconciler(
        registry,
        loader,
        predictor_factory(EXECUTOR),
        poll_interval_s=0.01,
        drain_timeout_s=2,
        parallel_loads=3,
    )
    loader.broken.add(("m5", 1))
    registry.publish(*(model_snapshot(f"m{i}", [1], {}) for i in range(6)))
    await reconciler.reconcile_once()
    assert list(reconciler.failures) == ["m5:1"]
    assert sorted(v.target for v in reconciler.table.loaded_versions()) == [f"m{i}:1" for i in range(5)]
    assert (reconciler.versions_loaded, reconciler.versions_wanted) == (5, 6)
    await reconciler.close()


async def test_the_routing_of_a_model_with_no_version_loaded_has_no_default() -> None:
    registry, loader, reconciler = make()
    loader.broken.add(("m", 1))
    registry.publish(model_snapshot("m", [1], {}))
    await reconciler.reconcile_once()
    assert reconciler.table.routing()["models"] == {"m": {"versions": [], "aliases": {}, "default": None}}
    await reconciler.close()


async def test_a_wake_checks_the_registry_at_once_rather_than_at_the_next_poll() -> None:
    """As a PostgreSQL notification does; with an hour-long poll, only the wake can bring the change."""
    registry, loader = FakeRegistry(), FakeLoader()
    reconciler = Reconciler(
        registry, loader, predictor_factory(EXECUTOR), poll_interval_s=3600, drain_timeout_s=2
    )
    registry.publish(model_snapshot("m", [1], {}))
    running = asyncio.create_task(reconciler.run())
    try:
        await _until(lambda: reconciler.table.revision == 1)
        registry.publish(model_snapshot("m", [1, 2], {}))
        reconciler.wake()
        await _until(lambda: reconciler.table.revision == 2)
        assert reconciler.table.resolve("m", None).version == 2
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        await reconciler.close()


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):  # bounds a broken test; not a latency assertion
        while not condition():
            await asyncio.sleep(0.01)


class FlakyRegistry(FakeRegistry):
    """A registry whose database is unreachable for the next ``outage`` reads of its revision."""

    def __init__(self, outage: int) -> None:
        super().__init__()
        self.outage = outage

    def revision(self) -> int:
        if self.outage > 0:
            self.outage -= 1
            raise StorageError("cannot reach the registry database: connection refused")
        return super().revision()


async def test_a_registry_outage_is_logged_once_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="modelport.serving.reconciler")
    registry = FlakyRegistry(outage=5)
    reconciler = Reconciler(
        registry, FakeLoader(), predictor_factory(EXECUTOR), poll_interval_s=0.01, drain_timeout_s=2
    )
    registry.publish(model_snapshot("m", [1], {}))
    running = asyncio.create_task(reconciler.run())
    try:
        await _until(lambda: reconciler.ready)
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        await reconciler.close()
    assert registry.outage == 0
    assert [(r.levelname, r.getMessage()) for r in caplog.records if "reconcile step" in r.getMessage()] == [
        (
            "ERROR",
            "reconcile step failed: cannot reach the registry database: connection refused; "
            "retrying until it succeeds",
        ),
        ("INFO", "reconcile step succeeded again"),
    ]


async def test_a_failed_load_is_tried_again_later_with_a_growing_wait_and_loads_once_it_can() -> None:
    registry, loader = FakeRegistry(), FakeLoader()
    reconciler = Reconciler(
        registry,
        loader,
        predictor_factory(EXECUTOR),
        poll_interval_s=0.01,
        drain_timeout_s=2,
        load_retry_s=0.05,
    )
    loader.broken.add(("m", 1))  # e.g. its object store is down
    registry.publish(model_snapshot("m", [1], {}))
    await reconciler.reconcile_once()
    first = reconciler.failures["m:1"]
    await reconciler.reconcile_once()  # too early: not tried again
    assert reconciler.failures["m:1"] is first and first.attempts == 1
    await _until_async(lambda: reconciler.failures["m:1"].attempts == 2, reconciler)
    second = reconciler.failures["m:1"]
    assert second.retry_at - first.retry_at > 0.05  # the wait doubled
    loader.broken.clear()  # the store is back; the registry's revision never changed
    await _until_async(lambda: "m:1" not in reconciler.failures, reconciler)
    assert reconciler.table.resolve("m", None).version == 1


async def _until_async(condition: Callable[[], bool], reconciler: Reconciler) -> None:
    for _ in range(200):
        await reconciler.reconcile_once()
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never happened")
