"""Test-load a new artifact in a child process, so a file that crashes its framework cannot
take the server down, and a file that runs code (trusted or through a bug) reaches little.

The child is confined (sandbox.py): minimal environment, private working directory, rlimits,
reads only Python, system libraries and the artifact, and writes only inside that directory, where
the kernel has Landlock. The parent sends one JSON
request on the child's stdin; the child confines itself, answers with one JSON object on its
stdout (framework output is sent to stderr) and exits.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from modelport import core
from modelport.core import Datatype, InternalError, InvalidInput, ModelportError, Signature
from modelport.core.settings import LimitSettings
from modelport.runtimes.arrays import tensors_from_json, tensors_to_json
from modelport.runtimes.sandbox import (
    Limits,
    child_environment,
    child_python_path,
    confine,
    warn_if_writes_are_not_confined,
)
from modelport.runtimes.warmup import warm_up

__all__ = ["ONLY_INPUT", "PROBE_MEMORY_BYTES", "probe_artifact"]

ONLY_INPUT = ""
"""Key of a sample input given as one unnamed array: it feeds the model's only input."""

PROBE_WARMUP_BYTES = LimitSettings().max_tensor_bytes
"""The probe warms the model up as a server with the default limits will."""
PROBE_MEMORY_BYTES = 8 << 30
"""The child's address-space limit. Loading and predicting a small model maps under 0.75 GiB with
every runtime here (xgboost is the largest); a real model adds about its size."""

logger = logging.getLogger(__name__)
_ERRORS: dict[str, type[ModelportError]] = {
    cls.kind.value: cls
    for cls in (
        core.NotFound,
        InvalidInput,
        core.TooLarge,
        core.Conflict,
        core.Forbidden,
        core.NotReady,
        core.Overloaded,
    )
}


def probe_artifact(
    path: Path,
    framework: str,
    *,
    trusted: bool,
    signature: Signature | None,
    sample_input: dict[str, np.ndarray] | None,
    timeout_s: float,
) -> Signature:
    """Load ``path`` (and predict on ``sample_input``) in a child process; the model's signature."""
    request = {
        "path": str(path.resolve()),
        "framework": framework,
        "trusted": trusted,
        "signature": signature.to_dict() if signature else None,
        "sample_input": tensors_to_json(sample_input) if sample_input else None,
    }
    command = [sys.executable, "-m", "modelport.runtimes.probe"]
    warn_if_writes_are_not_confined()
    with tempfile.TemporaryDirectory(prefix="modelport-probe-") as directory:
        request["sandbox"] = {
            "directory": directory,
            "memory_bytes": PROBE_MEMORY_BYTES,
            "cpu_seconds": _cpu_seconds(timeout_s),
        }
        try:
            done = subprocess.run(
                command,
                input=json.dumps(request).encode(),
                capture_output=True,
                timeout=timeout_s,
                cwd=directory,
                env=child_environment(os.environ, Path(directory), child_python_path()),
            )
        except subprocess.TimeoutExpired:
            raise InvalidInput(
                f"the {framework} runtime did not load this file within {timeout_s:g} s"
            ) from None
    return _reply(done, framework)


def _cpu_seconds(timeout_s: float) -> int:
    """CPU time across all the child's threads: the wall-clock timeout on every core, plus a margin."""
    return int(timeout_s * (os.cpu_count() or 1)) + 5


def _reply(done: subprocess.CompletedProcess[bytes], framework: str) -> Signature:
    try:
        reply = json.loads(done.stdout)
    except ValueError:
        reply = None
    if not isinstance(reply, dict):
        logger.warning(
            "probe of a %s artifact died: %s", framework, done.stderr[-2000:].decode(errors="replace")
        )
        how = (
            f"signal {signal.Signals(-done.returncode).name}"
            if done.returncode < 0
            else f"exit code {done.returncode}"
        )
        raise InvalidInput(f"the {framework} runtime crashed while loading this file ({how})")
    if reply.get("ok"):
        return Signature.from_dict(reply["signature"])
    error_class = _ERRORS.get(str(reply.get("kind")), InternalError)
    if error_class is InternalError:
        logger.error("probe of a %s artifact failed: %s", framework, reply.get("message"))
        raise InternalError(f"the {framework} runtime failed while loading this file")
    raise error_class(str(reply.get("message")))


def _probe(request: dict[str, Any]) -> Signature:
    from modelport.runtimes import LoadOptions, get_runtime

    signature = Signature.from_dict(request["signature"]) if request["signature"] else None
    options = LoadOptions(signature=signature, trusted=bool(request["trusted"]))
    runtime = get_runtime(request["framework"])
    model = runtime.load(Path(request["path"]), options)
    sample = tensors_from_json(request["sample_input"]) if request["sample_input"] else None
    if sample is not None and signature is None:
        inferred = _column_datatypes(model.signature, sample)
        if inferred != model.signature:
            model.close()
            model = runtime.load(Path(request["path"]), replace(options, signature=inferred))
    warm_up(model, "a new artifact", PROBE_WARMUP_BYTES)  # as a server will: a crash here is refused now
    if sample is not None:
        if list(sample) == [ONLY_INPUT] and len(model.signature.inputs) == 1:
            sample = {model.signature.inputs[0].name: sample[ONLY_INPUT]}
        outputs = model.predict(sample)
        missing = [spec.name for spec in model.signature.outputs if spec.name not in outputs]
        if missing:
            raise InvalidInput(f"the model gave no output {', '.join(missing)} for the sample input")
    return model.signature


def _column_datatypes(signature: Signature, sample: Mapping[str, np.ndarray]) -> Signature:
    """For a model that takes one input per column, each column's datatype as the sample (a
    DataFrame's columns) has it, where the model itself did not tell (an integer column that a
    scaler reads is FP64 by default)."""
    if {spec.name for spec in signature.inputs} != set(sample) or any(
        len(spec.shape) != 1 for spec in signature.inputs
    ):
        return signature
    inputs = tuple(
        replace(spec, datatype=Datatype.from_numpy(sample[spec.name].dtype)) for spec in signature.inputs
    )
    return replace(signature, inputs=inputs)


def _error_reply(exc: Exception, memory_bytes: int) -> dict[str, Any]:
    """The reply for a failed probe; running out of the sandbox's memory is said as such, even
    where a runtime turned the ``MemoryError`` into ``InvalidInput``."""
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, MemoryError):
        cause = cause.__cause__ or cause.__context__
    if cause is not None:
        limit = f"{memory_bytes / (1 << 30):g} GiB"
        message = f"loading this file needs more memory than the {limit} a new artifact may use"
        return {"ok": False, "kind": core.TooLarge.kind.value, "message": message}
    if isinstance(exc, ModelportError):
        return {"ok": False, "kind": exc.kind.value, "message": exc.message}
    logger.exception("probe failed")  # a bug or a framework failure outside translated calls
    return {"ok": False, "kind": "INTERNAL", "message": f"{type(exc).__name__}: {exc}"}


def main() -> None:
    """The child: keep the real stdout for the one JSON reply, send everything else to stderr."""
    reply_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    request = json.load(sys.stdin)
    sandbox = request["sandbox"]
    try:
        limits = Limits(sandbox["memory_bytes"], sandbox["cpu_seconds"])
        confine(Path(sandbox["directory"]), Path(request["path"]), limits)
        reply = {"ok": True, "signature": _probe(request).to_dict()}
    except Exception as exc:
        reply = _error_reply(exc, sandbox["memory_bytes"])
    with os.fdopen(reply_fd, "w") as out:
        json.dump(reply, out)
    sys.stderr.flush()
    os._exit(0)  # skip interpreter teardown: some frameworks crash there


if __name__ == "__main__":
    main()
