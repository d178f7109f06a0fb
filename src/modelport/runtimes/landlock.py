"""Linux Landlock, through its three system calls: a process gives up, for good, the right to read
outside a few paths, to write outside one folder, to use TCP and to signal other processes.

Numbers from ``<linux/landlock.h>``; the syscall numbers are the same on every architecture. Each
ABI version adds rights: 2 ``REFER``, 3 ``TRUNCATE``, 4 TCP bind/connect, 5 ``IOCTL_DEV``, 6 scoped
signals and abstract unix sockets. A right the kernel does not know is simply not asked for.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import stat
import sys
from collections.abc import Iterable
from pathlib import Path

__all__ = ["landlock_abi", "restrict"]

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_CHANGE_TREE = sum(1 << bit for bit in range(4, 13))  # remove, make dir/reg/sym/char/block/fifo/sock
_REFER, _TRUNCATE = 1 << 13, 1 << 14  # ABI 2, ABI 3
_READ = _EXECUTE | _READ_FILE | _READ_DIR
_FILE_RIGHTS = _EXECUTE | _WRITE_FILE | _READ_FILE | _TRUNCATE
"""The rights a rule on a single file (not a folder) may name."""
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


def restrict(writable: Path, readable: Iterable[Path]) -> None:
    """From now on this process reads only beneath ``readable`` and ``writable``, writes only
    beneath ``writable``, and (where the kernel can) uses no TCP and signals no other process.

    Paths that do not exist are skipped. Call ``landlock_abi()`` first: this needs ABI 1 or later.
    """
    abi = landlock_abi()
    handled = (
        _READ | _WRITE_FILE | _CHANGE_TREE | (_REFER if abi >= 2 else 0) | (_TRUNCATE if abi >= 3 else 0)
    )
    attr = _RulesetAttr(fs=handled, net=_NET_BIND_TCP | _NET_CONNECT_TCP if abi >= 4 else 0)
    if abi >= 6:
        attr.scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = _check(_libc.syscall(_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0))
    try:
        for path in readable:
            _allow(ruleset, path, _READ)
        _allow(ruleset, writable, handled)
        _check(_libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
        _check(_libc.syscall(_RESTRICT_SELF, ruleset, 0))
    finally:
        os.close(ruleset)


def _allow(ruleset: int, path: Path, rights: int) -> None:
    try:
        descriptor = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not stat.S_ISDIR(os.fstat(descriptor).st_mode):
            rights &= _FILE_RIGHTS
        rule = _PathBeneathAttr(allowed_access=rights, parent_fd=descriptor)
        _check(_libc.syscall(_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0))
    finally:
        os.close(descriptor)


def _check(result: int) -> int:
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"landlock: {os.strerror(code or errno.EINVAL)}")
    return result
