"""The confined child behind ``IsolatedModel``: load one model, then answer predict calls until stdin closes.

Frames (``frames.py``) arrive on stdin and leave on the real stdout; everything the framework
prints goes to stderr. The child confines itself (``sandbox.confine``) before it reads the artifact.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from modelport.core import ModelportError, Signature, TooLarge
from modelport.runtimes import LoadedModel, LoadOptions, get_runtime
from modelport.runtimes.frames import decode_arrays, encode_frame, read_frame
from modelport.runtimes.sandbox import Limits, confine

__all__ = ["main"]

logger = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 1 << 34
"""The server bounds requests by ``limits.max_tensor_bytes``; this only stops a runaway frame."""


def main() -> None:
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    requests = sys.stdin.buffer

    def read_exact(size: int) -> bytes:
        data = requests.read(size)
        if len(data) != size:
            os._exit(0)  # the server closed the pipe: nothing more to do
        return data

    header, _ = read_frame(read_exact, 0)
    try:
        confine(Path(header["directory"]), Path(header["path"]), Limits(int(header["memory_bytes"]), None))
        model = _load(header)
    except Exception as exc:
        _send(replies, _error_reply(exc))
        os._exit(0)
    _send(replies, {"ok": True, "signature": model.signature.to_dict()})
    while True:
        request, payload = read_frame(read_exact, MAX_REQUEST_BYTES)
        try:
            outputs = model.predict(decode_arrays(request, payload))
        except Exception as exc:
            _send(replies, _error_reply(exc))
        else:
            _send(replies, {"ok": True}, outputs)


def _load(header: Mapping[str, Any]) -> LoadedModel:
    signature = Signature.from_dict(header["signature"]) if header["signature"] else None
    options = LoadOptions(signature=signature, trusted=False, threads=int(header["threads"]))
    return get_runtime(str(header["framework"])).load(Path(header["path"]), options)


def _error_reply(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, MemoryError):
        exc = TooLarge("the isolated model ran out of memory")
    if isinstance(exc, ModelportError):
        return {"ok": False, "kind": exc.kind.value, "message": exc.message}
    logger.exception("isolated model failed")  # to stderr, the server's log
    return {"ok": False, "kind": "INTERNAL", "message": type(exc).__name__}


def _send(replies: BinaryIO, header: dict[str, Any], arrays: Mapping[str, np.ndarray] | None = None) -> None:
    replies.write(encode_frame(header, arrays))
    replies.flush()


if __name__ == "__main__":
    main()
