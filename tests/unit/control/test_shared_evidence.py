"""A server's evidence writer when the registry is unreachable: it keeps retrying every interval and
says so once, not at every attempt."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from modelport.control.shared_evidence import SharedEvidence
from modelport.core import NotFound
from modelport.core.judged import StoredPrediction
from modelport.monitoring.book import OutcomeBook
from modelport.registry import LocalArtifactStore, Registry
from modelport.registry._engine import create_registry_engine
from modelport.serving.shadow import ShadowRunner
from tests.e2e.conftest import free_port

Check = Callable[[Mapping[str, StoredPrediction]], None]


async def test_an_unreachable_registry_is_logged_once_while_every_flush_retries(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    nowhere = create_registry_engine(f"postgresql+psycopg://modelport@127.0.0.1:{free_port()}/registry")
    registry = Registry(nowhere, LocalArtifactStore(tmp_path / "artifacts"))
    outcomes = OutcomeBook()
    outcomes.endpoint("ep").record("r1", "m:1", False, 0.01, np.array([1]))
    shared = SharedEvidence(registry, "me", outcomes, ShadowRunner(), interval_s=0.001)
    attempts = 0
    enough = asyncio.Event()

    def rollouts() -> dict[str, dict[str, object]]:
        nonlocal attempts
        attempts += 1  # once per flush
        if attempts >= 5:
            enough.set()
        return {}

    with caplog.at_level(logging.INFO, logger="modelport.control.shared_evidence"):
        task = asyncio.create_task(shared.run(rollouts))
        await enough.wait()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    failures = [r for r in caplog.records if "deployment evidence failed; retrying" in r.getMessage()]
    assert len(failures) == 1, [r.getMessage() for r in caplog.records]
    registry.close()


def test_a_prediction_judged_and_pruned_since_is_not_judged_again_by_the_process_that_served_it(
    tmp_path: Path,
) -> None:
    registry = Registry.open(
        f"sqlite:///{tmp_path / 'modelport.db'}", LocalArtifactStore(tmp_path / "artifacts")
    )
    outcomes = OutcomeBook()
    served = outcomes.endpoint("ep")
    served.record("r1", "m:1", False, 0.01, np.array([1]))
    SharedEvidence(registry, "me", outcomes, ShadowRunner()).flush({})  # in the registry now

    def claim(
        ids: Sequence[str], check: Check, local: Sequence[StoredPrediction]
    ) -> Mapping[str, StoredPrediction]:
        return registry.claim_predictions("ep", ids, check, local)

    assert served.feedback([("r1", [1])], claim)[0]["correct"] == 1
    assert registry.prune_predictions(["ep"], 1, timedelta(0)) == 1  # still remembered here, though
    with pytest.raises(NotFound, match="'r1'"):
        served.feedback([("r1", [1])], claim)
    assert served.report()["variants"]["m:1"]["feedback_requests"] == 1
    registry.close()
