"""Models nobody vouched for run in a confined child process, so a crafted file cannot crash or
read the server.

The allow-lists keep code out of untrusted files, but the fitted state they do allow (tree node
indices, feature indices) is read by compiled predictors that trust it: a scikit-learn ``Tree`` or
an XGBoost tree whose child index points past its arrays loads cleanly, then reads out of bounds
at ``predict`` for some inputs. An untrusted scikit-learn, XGBoost or LightGBM model is therefore
loaded and run in a child confined like the registration probe (``sandbox.py``): its environment
holds no secret, it can write only to its private directory, and its answers come back as checked
plain arrays (``frames.py``), never pickles. If it dies or misses a call's deadline, that call
fails, the child is stopped, and the next call starts a new one; the server keeps serving.

ONNX models stay in the server process: onnxruntime checks a graph when it loads it and its
kernels check indices at run time, and ONNX is the fast path. Trusted files stay in process too:
trust says the file is the owner's own.
"""

from __future__ import annotations

import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from modelport import core
from modelport.core import InternalError, InvalidInput, ModelportError, NotReady, Signature
from modelport.runtimes.base import LoadOptions
from modelport.runtimes.frames import FrameError, decode_arrays, encode_frame, read_frame
from modelport.runtimes.sandbox import child_environment, child_python_path, warn_if_writes_are_not_confined

__all__ = ["ISOLATED_FRAMEWORKS", "MEMORY_BYTES", "IsolatedModel", "needs_isolation"]

logger = logging.getLogger(__name__)

ISOLATED_FRAMEWORKS = frozenset({"sklearn", "xgboost", "lightgbm"})
MEMORY_BYTES = 16 << 30
"""The child's address-space limit: a model's size plus its largest batch must fit."""
LOAD_TIMEOUT_S = 120.0
RESTART_PAUSE_S = 5.0
"""After a child died, calls are refused (503) this long before a new one starts, so that a
request that kills it every time cannot keep the CPU busy reloading the model."""
_ERRORS: dict[str, type[ModelportError]] = {
    cls.kind.value: cls for cls in (InvalidInput, core.TooLarge, core.NotReady, core.Timeout)
}
_MAX_MESSAGE = 300


def needs_isolation(framework: str, trusted: bool) -> bool:
    """Whether a version of ``framework`` runs in a confined child rather than in this process."""
    return framework in ISOLATED_FRAMEWORKS and not trusted


class IsolatedModel:
    """A model loaded in a confined child process; ``predict`` sends arrays there, one call at a time."""

    def __init__(
        self,
        artifact: Path,
        framework: str,
        options: LoadOptions,
        *,
        call_timeout_s: float,
        max_bytes: int,
        restart_pause_s: float = RESTART_PAUSE_S,
        refetch: Callable[[], AbstractContextManager[Path]] | None = None,
    ) -> None:
        """Start the child and load the model in it (blocking). ``max_bytes``: the largest answer read.
        ``refetch``: the file again for a restarted child (a cache may have evicted ``artifact``
        since); by default ``artifact`` itself."""
        self._artifact = artifact.resolve()
        self._refetch = refetch or (lambda: nullcontext(self._artifact))
        self._framework = framework
        self._options = options
        self._call_timeout_s = call_timeout_s
        self._max_bytes = max_bytes
        self._restart_pause_s = restart_pause_s
        self._lock = threading.Lock()
        self._child: _Child | None = None
        self._stopped_at: float | None = None
        self._closed = False
        warn_if_writes_are_not_confined()
        self._child, signature = self._start(self._artifact)
        self._signature = options.signature or signature

    @property
    def signature(self) -> Signature:
        return self._signature

    @property
    def pid(self) -> int | None:
        """The child's process id while one runs."""
        return self._child.process.pid if self._child is not None else None

    def predict(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        with self._lock:
            child = self._running_child()
            request = encode_frame(
                {"op": "predict"}, {s.name: inputs[s.name] for s in self._signature.inputs}
            )
            try:
                header, payload = child.call(request, self._call_timeout_s, self._max_bytes)
                if not header.get("ok"):
                    raise _error(header)
                outputs = decode_arrays(header, payload)
            except (_ChildGone, FrameError) as exc:
                self._stop(child, str(exc))
                raise InternalError(
                    f"the isolated {self._framework} model stopped ({exc}); it restarts shortly"
                ) from None
        return self._checked(outputs, inputs)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._child is not None:
                self._child.stop()
                self._child = None

    def _start(self, artifact: Path) -> tuple[_Child, Signature]:
        child = _Child.spawn()
        try:
            header, _ = child.call(
                encode_frame(
                    {
                        "op": "load",
                        "path": str(artifact.resolve()),
                        "framework": self._framework,
                        "signature": self._options.signature.to_dict() if self._options.signature else None,
                        "threads": self._options.threads,
                        "directory": str(child.directory),
                        "memory_bytes": MEMORY_BYTES,
                    }
                ),
                LOAD_TIMEOUT_S,
                0,
            )
            if not header.get("ok"):
                raise _error(header)
            return child, Signature.from_dict(header["signature"])
        except (_ChildGone, FrameError) as exc:
            child.stop()
            raise InvalidInput(f"the {self._framework} model could not be loaded ({exc})") from None
        except BaseException:
            child.stop()
            raise

    def _running_child(self) -> _Child:
        if self._closed:
            raise NotReady("the model is closed")
        if self._child is not None:
            return self._child
        waited = time.monotonic() - (self._stopped_at or 0.0)
        if waited < self._restart_pause_s:
            raise NotReady(f"the isolated {self._framework} model is restarting; retry in a few seconds")
        with self._refetch() as artifact:
            self._child, _ = self._start(artifact)
        return self._child

    def _stop(self, child: _Child, reason: str) -> None:
        logger.warning("isolated %s model %s stopped: %s", self._framework, self._artifact.name, reason)
        child.stop()
        self._child = None
        self._stopped_at = time.monotonic()

    def _checked(
        self, outputs: dict[str, np.ndarray], inputs: Mapping[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """The child's answer, held to the signature: every output, nothing else, one row per input row."""
        expected = [spec.name for spec in self._signature.outputs]
        if sorted(outputs) != sorted(expected):
            raise InternalError(f"the isolated {self._framework} model answered other outputs than its own")
        rows = len(next(iter(inputs.values()))) if inputs else 0
        for spec in self._signature.outputs:
            batched = bool(spec.shape) and spec.shape[0] == -1
            if batched and (outputs[spec.name].ndim == 0 or len(outputs[spec.name]) != rows):
                raise InternalError(f"the isolated {self._framework} model answered a wrong number of rows")
        return outputs


def _error(header: Mapping[str, Any]) -> ModelportError:
    """The child's error, as one of the few kinds it may report; anything else is internal."""
    message = str(header.get("message", ""))[:_MAX_MESSAGE]
    error_class = _ERRORS.get(str(header.get("kind")), InternalError)
    if error_class is InternalError:
        logger.error("isolated model failed: %s", message)
        return InternalError("the isolated model failed")
    return error_class(message)


class _ChildGone(Exception):
    """The child exited, closed its pipe or missed the deadline."""


class _Child:
    """One confined worker process and its pipes."""

    def __init__(self, process: subprocess.Popen[bytes], directory: Path) -> None:
        self.process = process
        self.directory = directory
        assert process.stdin is not None and process.stdout is not None
        self._input = process.stdin.fileno()
        self._output = process.stdout.fileno()
        os.set_blocking(self._input, False)

    @classmethod
    def spawn(cls) -> _Child:
        directory = Path(tempfile.mkdtemp(prefix="modelport-model-"))
        process = subprocess.Popen(
            [sys.executable, "-m", "modelport.runtimes.isolated_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=directory,
            env=child_environment(os.environ, directory, child_python_path()),
        )
        return cls(process, directory)

    def call(self, request: bytes, timeout_s: float, max_bytes: int) -> tuple[dict[str, Any], bytes]:
        deadline = time.monotonic() + timeout_s
        self._write(request, deadline)
        return read_frame(lambda n: self._read(n, deadline), max_bytes)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _write(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            self._wait(select.POLLOUT, self._input, deadline)
            try:
                view = view[os.write(self._input, view) :]
            except BrokenPipeError:
                raise _ChildGone(self._how()) from None

    def _read(self, size: int, deadline: float) -> bytes:
        chunks = bytearray()
        while len(chunks) < size:
            self._wait(select.POLLIN, self._output, deadline)
            chunk = os.read(self._output, min(size - len(chunks), 1 << 20))
            if not chunk:
                raise _ChildGone(self._how())
            chunks += chunk
        return bytes(chunks)

    def _wait(self, event: int, fd: int, deadline: float) -> None:
        poller = select.poll()
        poller.register(fd, event)
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not poller.poll(remaining * 1000):
            raise _ChildGone("no answer before the deadline")

    def _how(self) -> str:
        try:
            code = self.process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return "it closed its pipe"
        return f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
