"""Confinement of the child processes that load artifacts nobody vouched for: the registration
probe (``probe.py``) and isolated models (``isolation.py``).

The parent gives the child a minimal environment (no ``MODELPORT_*`` token, no cloud keys) and a
private empty working directory. The child, before it reads the artifact, limits its own memory,
CPU time and file sizes, and on Linux with Landlock (5.13+) gives up the right to read anything
but Python, system libraries and the artifact, to write anywhere but that directory, to open TCP
connections (ABI 4+) and to signal processes outside it (ABI 6+).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import resource
import site
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from modelport.runtimes.landlock import landlock_abi, restrict

__all__ = [
    "Limits",
    "child_environment",
    "child_python_path",
    "confine",
    "landlock_abi",
    "readable_paths",
    "warn_if_writes_are_not_confined",
]

logger = logging.getLogger(__name__)

_KEPT_VARIABLES = re.compile(
    r"PATH|LANG|LANGUAGE|TZ|LC_[A-Z_]+|OPENBLAS_[A-Z0-9_]+|OMP_[A-Z0-9_]+|MKL_[A-Z0-9_]+"
)

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class Limits:
    """Resource limits of the child (``setrlimit``)."""

    memory_bytes: int
    """Address space. Loading a normal model maps far less (see ``PROBE_MEMORY_BYTES``)."""
    cpu_seconds: int | None
    """``None`` for a long-lived process (an isolated model), whose calls have their own deadline."""
    file_bytes: int = 64 << 20
    """Largest file the child may write; at least the artifact's size (``confine``)."""


def child_environment(parent: Mapping[str, str], directory: Path, python_path: str) -> dict[str, str]:
    """The child's whole environment: locale, time zone, BLAS/OpenMP tuning (one thread), ``PATH``, and a
    private home.

    Everything else (``MODELPORT_*`` with the token, ``AWS_*``, proxies, ...) stays in the parent.
    """
    env = {name: value for name, value in parent.items() if _KEPT_VARIABLES.fullmatch(name)}
    env["PYTHONPATH"] = python_path
    for name in _THREAD_VARIABLES:  # a test load needs no thread pools (each maps memory and a stack)
        env[name] = "1"
    env["HOME"] = env["TMPDIR"] = str(directory)
    env["JOBLIB_MULTIPROCESSING"] = "0"  # joblib's semaphore check would only warn: /dev/shm is not writable
    return env


def child_python_path() -> str:
    """The child imports this same modelport and what the parent can import from ``PYTHONPATH``
    and the user's site-packages (its ``HOME`` is not the user's)."""
    source_root = str(Path(__file__).resolve().parents[2])
    user_site = site.getusersitepackages() if site.ENABLE_USER_SITE else None
    paths = (source_root, os.environ.get("PYTHONPATH"), user_site if user_site in sys.path else None)
    return os.pathsep.join(p for p in paths if p)


@functools.cache
def warn_if_writes_are_not_confined() -> None:
    """Said once per process, by the parent, where the kernel cannot confine a child's writes."""
    if not landlock_abi():
        logger.warning(
            "this kernel has no Landlock: the child processes that load artifacts nobody vouched for"
            " run with a minimal environment and resource limits, but can read and write wherever this"
            " user can"
        )


def confine(directory: Path, artifact: Path, limits: Limits) -> None:
    """Called by the child on itself before it touches ``artifact``; cannot be undone."""
    _lower(resource.RLIMIT_CORE, 0)
    _lower(resource.RLIMIT_AS, limits.memory_bytes)
    if limits.cpu_seconds is not None:
        _lower(resource.RLIMIT_CPU, limits.cpu_seconds)
    # a runtime may copy the artifact into the private directory (onnx.py does): room for that one file
    _lower(resource.RLIMIT_FSIZE, max(limits.file_bytes, artifact.stat().st_size + (1 << 20)))
    if landlock_abi():
        restrict(writable=directory, readable=[artifact, *readable_paths()])


def _lower(which: int, value: int) -> None:
    """Set a limit to ``value``, or to the hard limit the parent already has where that is lower
    (a process may not raise its hard limit)."""
    hard = resource.getrlimit(which)[1]
    ceiling = value if hard == resource.RLIM_INFINITY else min(value, hard)
    resource.setrlimit(which, (ceiling, ceiling))


SYSTEM_READS = (
    "/usr/lib",
    "/usr/lib64",
    "/usr/local/lib",
    "/lib",
    "/lib64",
    "/usr/share/zoneinfo",
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/dev/null",
    "/dev/urandom",
    "/proc/self",
    "/sys/devices/system/cpu",
)
"""Beyond Python itself, what loading and running a model reads: shared libraries, the time zone,
the process's own ``/proc`` entry (``/proc/self`` resolves to it when the rule is made), and the
CPU topology that BLAS and OpenMP read to size their thread pools."""


def readable_paths() -> list[Path]:
    """Python's installation and import path, and ``SYSTEM_READS``: nothing of the data directory,
    the home folder, ``/etc``'s other files or other processes."""
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    return [Path(p) for p in sorted({*prefixes, *(p for p in sys.path if p), *SYSTEM_READS})]
