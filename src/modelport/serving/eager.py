"""Starting a coroutine at once, and giving it a task only if it has to wait.

A one-row prediction on a model that runs on the event loop is answered without ever suspending.
A task for it costs a task object, a scheduling round and a done callback for nothing. Python 3.12
calls this an eager task (``eager_start``); this is the same thing for every supported Python.
The coroutine's first step runs in a copy of the caller's context, as a task's would. If the step
suspends, a task takes over, in that same context, and does what a task would have done with the
coroutine from then on, cancellation included.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine, Generator
from typing import Any

__all__ = ["start_eagerly"]


def start_eagerly(
    loop: asyncio.AbstractEventLoop, coroutine: Coroutine[Any, Any, None]
) -> asyncio.Task[None] | None:
    """Run ``coroutine`` until it first suspends; ``None`` if it finished, else the task that
    finishes it."""
    context = contextvars.copy_context()
    try:
        waiting_for = context.run(coroutine.send, None)
    except StopIteration:
        return None
    return loop.create_task(_Rest(coroutine, waiting_for), context=context)


_HANDED_OVER = object()


class _Rest(Generator[Any, None, None], Coroutine[Any, None, None]):
    """A started coroutine, for a task to go on with. The task's first step takes what the coroutine
    waits for (a future, or ``None``: one turn of the loop); every later step goes to the coroutine."""

    __slots__ = ("_coroutine", "_waiting_for")

    def __init__(self, coroutine: Coroutine[Any, Any, None], waiting_for: object) -> None:
        self._coroutine = coroutine
        self._waiting_for = waiting_for

    def send(self, value: None) -> Any:
        waiting_for = self._waiting_for
        if waiting_for is _HANDED_OVER:
            return self._coroutine.send(value)
        self._waiting_for = _HANDED_OVER
        return waiting_for

    def throw(  # type: ignore[override]  # the one-argument form, which tasks use
        self, error: BaseException
    ) -> Any:
        waiting_for, self._waiting_for = self._waiting_for, _HANDED_OVER
        if isinstance(waiting_for, asyncio.Future):  # cancelled before the task's first step: the
            waiting_for.cancel()  # coroutine's wait is called off, as its own task would have done
        return self._coroutine.throw(error)

    def close(self) -> None:
        self._coroutine.close()

    def __await__(self) -> Generator[Any, None, None]:
        return self  # its own iterator: ``await`` drives it by send and throw, as a task does
