"""Confinement of the probe child, which loads and test-predicts artifacts nobody vouched for.

The parent gives the child a minimal environment (no ``MODELPORT_*`` token, no cloud keys) and a
private empty working directory. The child, before it reads the artifact, limits its own memory,
CPU time and file sizes, and on Linux with Landlock (5.13+) gives up the right to write anywhere
but that directory, to open TCP connections and (Landlock ABI 6+) to signal processes outside it.
Reads stay allowed: it must import Python and read the artifact.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import logging
import os
import re
import resource
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Limits", "child_environment", "confine", "landlock_abi"]

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
    cpu_seconds: int
    file_bytes: int = 64 << 20


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
    return env


def confine(directory: Path, limits: Limits) -> None:
    """Called by the child on itself before it touches the artifact; cannot be undone."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
    abi = landlock_abi()
    if abi:
        _restrict_writes_to(directory, abi)


# Landlock, from <linux/landlock.h>; the syscall numbers are the same on every architecture.
_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38
_FS_WRITE_ABI1 = sum(1 << bit for bit in (1, *range(4, 13)))  # write file, remove, make dir/reg/sym/...
_FS_REFER, _FS_TRUNCATE = 1 << 13, 1 << 14  # ABI 2, ABI 3
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1  # ABI 4
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = ctypes.CDLL(None, use_errno=True)


@functools.cache
def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 where there is none (old kernel, disabled, not Linux)."""
    if not sys.platform.startswith("linux"):
        return 0
    return max(int(_libc.syscall(_CREATE_RULESET, None, ctypes.c_size_t(0), _CREATE_RULESET_VERSION)), 0)


def _restrict_writes_to(directory: Path, abi: int) -> None:
    fs = _FS_WRITE_ABI1 | (_FS_REFER if abi >= 2 else 0) | (_FS_TRUNCATE if abi >= 3 else 0)
    attr = _RulesetAttr(fs=fs, net=_NET_BIND_TCP | _NET_CONNECT_TCP if abi >= 4 else 0)
    if abi >= 6:
        attr.scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = _check(_libc.syscall(_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0))
    try:
        beneath = _PathBeneathAttr(
            allowed_access=fs, parent_fd=os.open(directory, os.O_PATH | os.O_DIRECTORY)
        )
        try:
            _check(_libc.syscall(_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(beneath), 0))
        finally:
            os.close(beneath.parent_fd)
        _check(_libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
        _check(_libc.syscall(_RESTRICT_SELF, ruleset, 0))
    finally:
        os.close(ruleset)


def _check(result: int) -> int:
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"landlock: {os.strerror(code or errno.EINVAL)}")
    return result
