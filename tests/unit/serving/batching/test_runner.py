import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from modelport.core import InternalError, InvalidInput, Signature
from modelport.runtimes.base import LoadOptions
from modelport.runtimes.isolation import IsolatedModel
from modelport.serving.batching.runner import ModelRunner
from tests import models


class ThreadRecordingModel:
    """Records which thread each call ran on; sleeps ``delay_s``; fails on request."""

    signature = Signature(inputs=(), outputs=())

    def __init__(self) -> None:
        self.threads: list[int] = []
        self.delay_s = 0.0
        self.error: Exception | None = None

    def predict(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.threads.append(threading.get_ident())
        time.sleep(self.delay_s)
        if self.error is not None:
            raise self.error
        return {"y": inputs["x"]}

    def close(self) -> None:
        return None


@pytest.fixture
def executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(2)


async def test_cheap_calls_move_inline_and_slow_ones_go_back_to_threads(executor: ThreadPoolExecutor) -> None:
    model = ThreadRecordingModel()
    runner = ModelRunner(model, executor, "m:1", inline_below_s=0.05)
    loop_thread = threading.get_ident()
    x = {"x": np.ones(1)}
    await runner.run(x)  # nothing measured yet: a thread
    await runner.run(x)  # measured cheap: inline
    assert model.threads[0] != loop_thread and model.threads[1] == loop_thread
    model.delay_s = 0.6  # one slow call pushes the average over the threshold
    await runner.run(x)
    model.delay_s = 0.0
    await runner.run(x)
    assert model.threads[3] != loop_thread


async def test_inline_is_off_by_default(executor: ThreadPoolExecutor) -> None:
    model = ThreadRecordingModel()
    runner = ModelRunner(model, executor, "m:1")
    for _ in range(3):
        await runner.run({"x": np.ones(1)})
    assert threading.get_ident() not in model.threads


async def test_framework_errors_become_internal_errors_and_ours_pass_through(
    executor: ThreadPoolExecutor,
) -> None:
    model = ThreadRecordingModel()
    runner = ModelRunner(model, executor, "m:1")
    model.error = RuntimeError("segfault-ish")
    with pytest.raises(InternalError, match="error id"):
        await runner.run({"x": np.ones(1)})
    model.error = InvalidInput("bad")
    with pytest.raises(InvalidInput, match="bad"):
        await runner.run({"x": np.ones(1)})


async def test_a_model_in_a_confined_child_never_runs_on_the_loop(
    executor: ThreadPoolExecutor, tmp_path: Path
) -> None:
    """Its call waits on a pipe (up to its deadline if the child hangs): the loop must not wait with it."""
    model = IsolatedModel(
        models.cancer_skops(tmp_path), "sklearn", LoadOptions(), call_timeout_s=60, max_bytes=1 << 26
    )
    try:
        runner = ModelRunner(model, executor, "cancer:1", inline_below_s=3600.0)
        for _ in range(3):
            await runner.run({"input": np.zeros((1, 30))})
            assert not runner.runs_inline
    finally:
        model.close()
