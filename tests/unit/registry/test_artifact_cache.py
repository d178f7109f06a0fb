"""The artifact cache's bound over a long-running process's life: an entry is protected only while a
``use`` block holds it, by this process or another (a child here), and comes back on its next use.

The remote side is a function handing over bytes: the S3 store's own downloads are tested against a
real S3 server in ``tests/e2e/s3``.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from modelport.registry.artifact_cache import ArtifactCache, Download

BOUND = 2500
SIZE = 1000  # two entries fit the bound, three do not

_HOLDER = """
import sys
from pathlib import Path
from modelport.registry.artifact_cache import ArtifactCache

root, bound, digest, source = sys.argv[1:]
data = Path(source).read_bytes()
with ArtifactCache(Path(root), int(bound)).use(digest, "m.onnx", lambda write: write(data)) as path:
    print(path, flush=True)
    sys.stdin.read()
"""


def blob(n: int, size: int = SIZE) -> tuple[str, bytes]:
    data = bytes([n]) * size
    return hashlib.sha256(data).hexdigest(), data


def remote(data: bytes, downloads: list[int] | None = None) -> Download:
    def download(write: Callable[[bytes], object]) -> None:
        if downloads is not None:
            downloads.append(1)
        write(data)

    return download


def cached_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in root.glob("??/*/*"))


def test_entries_are_evictable_once_released_so_the_bound_holds_over_time(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    cache = ArtifactCache(root, BOUND)
    held, held_data = blob(0)
    source = tmp_path / "held.bin"
    source.write_bytes(held_data)
    holder = subprocess.Popen(  # another process, in the middle of loading entry 0 all along
        [sys.executable, "-c", _HOLDER, str(root), str(BOUND), held, str(source)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        held_path = Path(holder.stdout.readline().strip())
        for n in range(1, 8):  # a server loading (and later unloading) version after version
            digest, data = blob(n)
            with cache.use(digest, "m.onnx", remote(data)) as path:
                assert path.read_bytes() == data
            assert cached_bytes(root) <= BOUND
            assert held_path.read_bytes() == held_data  # in use elsewhere: never removed
    finally:
        holder.communicate(timeout=60)
    assert holder.returncode == 0
    assert cached_bytes(root) <= BOUND

    big, big_data = blob(9, size=2 * BOUND)
    with cache.use(big, "m.onnx", remote(big_data)) as path:
        assert path.read_bytes() == big_data  # larger than the bound: kept while in use
    assert not path.exists() and cached_bytes(root) <= BOUND

    downloads: list[int] = []
    first, first_data = blob(1)  # evicted long ago: downloaded (and checked) again
    with cache.use(first, "m.onnx", remote(first_data, downloads)) as path:
        assert path.read_bytes() == first_data
    assert downloads == [1]


def test_a_use_in_one_thread_keeps_the_entry_when_another_use_of_it_ends(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path / "cache", SIZE)  # one entry fits
    a, a_data = blob(1)
    b, b_data = blob(2)
    with cache.use(a, "m.onnx", remote(a_data)) as path:
        with cache.use(a, "m.onnx", remote(a_data)):  # a second load of the same file, in this process
            pass
        with cache.use(b, "m.onnx", remote(b_data)):  # over the bound: a is still in use
            pass
        assert path.read_bytes() == a_data
