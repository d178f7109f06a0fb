"""A process using the S3 artifact store, as a server or a CLI does: ``python -m tests.e2e.s3.store_child``.

Its settings come from the environment (``MODELPORT_*``, ``AWS_*``). Commands:

- ``fetch FILENAME DIGEST...``: take a ``local_copy`` of each artifact (filling the cache); prints one
  JSON line ``{"paths": [...], "downloads": N}``, N counting the GETs this process sent. With
  ``--hold``, it then keeps the copies (in use) until its stdin closes. With ``--slow``, each GET waits a
  little first, so that two processes started together are both inside ``fetch`` at once.
- ``transfer FILE``: store FILE, then fetch it into the empty cache; prints the peak resident memory
  (VmHWM) before and after, in bytes.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import obstore

from modelport.core.settings import Settings
from modelport.registry.local import open_artifact_store


def _peak_rss() -> int:
    """This process's own peak RSS; ``getrusage``'s ``ru_maxrss`` would include the parent's at fork."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _count_gets(slow: bool) -> list[int]:
    count = [0]
    real_get = obstore.get

    def get(*args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        if slow:
            time.sleep(1.0)
        return real_get(*args, **kwargs)

    obstore.get = get  # what s3_store calls: a counter around the real client, not a stand-in
    return count


def main(argv: list[str]) -> None:
    store = open_artifact_store(Settings())
    if argv[0] == "transfer":
        before = _peak_rss()
        stored = store.put_file(Path(argv[1]), "model.onnx")
        with store.local_copy(stored.digest, stored.filename):
            pass
        print(json.dumps({"before": before, "after": _peak_rss(), "size": stored.size}), flush=True)
        return
    downloads = _count_gets(slow="--slow" in argv)
    filename, *digests = [a for a in argv[1:] if not a.startswith("--")]
    with contextlib.ExitStack() as copies:
        paths = [str(copies.enter_context(store.local_copy(digest, filename))) for digest in digests]
        print(json.dumps({"paths": paths, "downloads": downloads[0]}), flush=True)
        if "--hold" in argv:
            done = threading.Event()
            threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
            done.wait()


if __name__ == "__main__":
    main(sys.argv[1:])
