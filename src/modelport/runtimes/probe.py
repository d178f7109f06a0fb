"""Test-load a new artifact in a child process, so a file that crashes its framework cannot
take the server down.

The parent sends one JSON request on the child's stdin; the child answers with one JSON object
on its stdout (framework output is sent to stderr) and exits.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from modelport import core
from modelport.core import InternalError, InvalidInput, ModelportError, Signature
from modelport.runtimes.arrays import tensors_from_json, tensors_to_json

__all__ = ["ONLY_INPUT", "probe_artifact"]

ONLY_INPUT = ""
"""Key of a sample input given as one unnamed array: it feeds the model's only input."""

logger = logging.getLogger(__name__)
_ERRORS: dict[str, type[ModelportError]] = {
    cls.kind.value: cls
    for cls in (core.NotFound, InvalidInput, core.Conflict, core.Forbidden, core.NotReady, core.Overloaded)
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
        "path": str(path),
        "framework": framework,
        "trusted": trusted,
        "signature": signature.to_dict() if signature else None,
        "sample_input": tensors_to_json(sample_input) if sample_input else None,
    }
    command = [sys.executable, "-m", "modelport.runtimes.probe"]
    source_root = str(Path(__file__).resolve().parents[2])  # the child imports this same modelport
    python_path = os.pathsep.join(p for p in (source_root, os.environ.get("PYTHONPATH")) if p)
    try:
        done = subprocess.run(
            command,
            input=json.dumps(request).encode(),
            capture_output=True,
            timeout=timeout_s,
            env={**os.environ, "PYTHONPATH": python_path},
        )
    except subprocess.TimeoutExpired:
        raise InvalidInput(f"the {framework} runtime did not load this file within {timeout_s:g} s") from None
    return _reply(done, framework)


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
    model = get_runtime(request["framework"]).load(Path(request["path"]), options)
    if request["sample_input"]:
        sample = tensors_from_json(request["sample_input"])
        if list(sample) == [ONLY_INPUT] and len(model.signature.inputs) == 1:
            sample = {model.signature.inputs[0].name: sample[ONLY_INPUT]}
        outputs = model.predict(sample)
        missing = [spec.name for spec in model.signature.outputs if spec.name not in outputs]
        if missing:
            raise InvalidInput(f"the model gave no output {', '.join(missing)} for the sample input")
    return model.signature


def main() -> None:
    """The child: keep the real stdout for the one JSON reply, send everything else to stderr."""
    reply_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        reply = {"ok": True, "signature": _probe(json.load(sys.stdin)).to_dict()}
    except ModelportError as exc:
        reply = {"ok": False, "kind": exc.kind.value, "message": exc.message}
    except Exception as exc:  # a bug or a framework failure outside translated calls
        logger.exception("probe failed")
        reply = {"ok": False, "kind": "INTERNAL", "message": f"{type(exc).__name__}: {exc}"}
    with os.fdopen(reply_fd, "w") as out:
        json.dump(reply, out)
    sys.stderr.flush()
    os._exit(0)  # skip interpreter teardown: some frameworks crash there


if __name__ == "__main__":
    main()
