"""The probe child is a sandbox: what a trusted file's code can see and do while it is test-loaded.

A trusted pickle may run code: that is what trust means. These files report what they see by
raising ``InvalidInput`` with it, which the probe hands back to the caller.
"""

from __future__ import annotations

import json
import pickle
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelport.core import InvalidInput, TooLarge
from modelport.runtimes.probe import PROBE_MEMORY_BYTES, probe_artifact
from modelport.runtimes.sandbox import child_environment, landlock_abi

REPORT = "from modelport.core import InvalidInput; raise InvalidInput(json.dumps(seen))"


class _Code:
    """Unpickling runs ``source`` (with ``json``, ``os`` and ``resource`` imported)."""

    def __init__(self, source: str) -> None:
        self.source = "import json, os, resource\n" + source

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (self.source, {}))


def _seen_by(code: str, tmp_path: Path) -> dict[str, Any]:
    """Probe a trusted pickle that runs ``code`` (which fills ``seen``) and reports ``seen``."""
    path = tmp_path / "code.pkl"
    path.write_bytes(pickle.dumps(_Code(f"seen = {{}}\n{code}\n{REPORT}")))
    with pytest.raises(InvalidInput) as raised:
        probe_artifact(path, "sklearn", trusted=True, signature=None, sample_input=None, timeout_s=60.0)
    seen: dict[str, Any] = json.loads(raised.value.message)
    return seen


def test_child_environment_keeps_only_the_allow_list(tmp_path: Path) -> None:
    parent = {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C",
        "TZ": "UTC",
        "OPENBLAS_CORETYPE": "Haswell",
        "OPENBLAS_L2_SIZE": "1048576",
        "OMP_NUM_THREADS": "8",
        "MODELPORT_AUTH__TOKEN": "secret",
        "MODELPORT_HOME": "/data",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "HOME": "/root",
        "LD_PRELOAD": "/tmp/x.so",
        "PYTHONSTARTUP": "/tmp/x.py",
        "XPATH": "no",
    }
    assert child_environment(parent, tmp_path, "/src") == {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C",
        "TZ": "UTC",
        "OPENBLAS_CORETYPE": "Haswell",
        "OPENBLAS_L2_SIZE": "1048576",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONPATH": "/src",
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path),
        "JOBLIB_MULTIPROCESSING": "0",
    }


def test_the_child_sees_no_secrets_and_works_in_a_private_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELPORT_AUTH__TOKEN", "token-that-must-not-leak")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-key-that-must-not-leak")
    monkeypatch.chdir(tmp_path)
    seen = _seen_by(
        "seen['env'] = dict(os.environ); seen['cwd'] = os.getcwd(); seen['files'] = os.listdir('.')\n"
        "seen['limits'] = {n: resource.getrlimit(getattr(resource, n))[0] for n in"
        " ('RLIMIT_AS', 'RLIMIT_CPU', 'RLIMIT_FSIZE', 'RLIMIT_CORE')}",
        tmp_path,
    )
    assert "must-not-leak" not in json.dumps(seen)
    assert not any(name.startswith(("MODELPORT_", "AWS_")) for name in seen["env"])
    assert seen["cwd"] != str(tmp_path) and seen["files"] == []
    assert seen["env"]["HOME"] == seen["env"]["TMPDIR"] == seen["cwd"]
    assert seen["limits"]["RLIMIT_AS"] == PROBE_MEMORY_BYTES
    assert seen["limits"]["RLIMIT_CORE"] == 0
    assert seen["limits"]["RLIMIT_CPU"] > 0
    assert 0 < seen["limits"]["RLIMIT_FSIZE"] <= 64 << 20
    assert not Path(seen["cwd"]).exists()  # removed after the probe


@pytest.mark.skipif(
    not landlock_abi(), reason="this kernel has no Landlock: the probe's writes are not confined"
)
def test_the_child_cannot_write_outside_its_directory(tmp_path: Path) -> None:
    outside = tmp_path / "written-by-the-model"
    seen = _seen_by(
        "open('inside', 'w').write('ok'); seen['inside'] = open('inside').read()\n"
        f"try:\n    open({str(outside)!r}, 'w').write('pwned')\n"
        "except OSError as exc:\n    seen['outside'] = type(exc).__name__",
        tmp_path,
    )
    assert seen == {"inside": "ok", "outside": "PermissionError"}
    assert not outside.exists()


@pytest.mark.skipif(
    not landlock_abi(), reason="this kernel has no Landlock: the probe's reads are not confined"
)
def test_the_child_reads_only_python_system_libraries_and_its_artifact(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("a secret beside the artifact")
    targets = [str(secret), "/proc/1/environ", str(Path.home() / ".bashrc"), "/etc/hostname"]
    seen = _seen_by(
        f"for target in {targets!r}:\n"
        "    try:\n        open(target, 'rb').read(1); seen[target] = 'read'\n"
        "    except OSError as exc:\n        seen[target] = type(exc).__name__\n"
        "import numpy, sklearn  # Python and its libraries stay readable\n"
        f"seen['own artifact'] = len(open({str(tmp_path / 'code.pkl')!r}, 'rb').read(2))",
        tmp_path,
    )
    assert seen.pop("own artifact") == 2
    assert set(seen.values()) <= {"PermissionError", "FileNotFoundError"}, seen
    assert seen[str(secret)] == "PermissionError"


@pytest.mark.skipif(landlock_abi() < 4, reason="Landlock before ABI 4 cannot refuse TCP connections")
def test_the_child_cannot_open_tcp_connections(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        seen = _seen_by(
            "import socket\n"
            f"try:\n    socket.create_connection(('127.0.0.1', {port}), timeout=5)\n"
            "    seen['tcp'] = 'connected'\n"
            "except OSError as exc:\n    seen['tcp'] = type(exc).__name__",
            tmp_path,
        )
    assert seen == {"tcp": "PermissionError"}


class _Allocate:
    """Unpickling reserves more address space than the probe allows (without touching it)."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (np.empty, (PROBE_MEMORY_BYTES + (1 << 30), np.uint8))


def test_a_file_that_allocates_past_the_limit_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "big.pkl"
    path.write_bytes(pickle.dumps(_Allocate()))
    with pytest.raises(TooLarge, match=r"needs more memory than the 8 GiB a new artifact may use"):
        probe_artifact(path, "sklearn", trusted=True, signature=None, sample_input=None, timeout_s=60.0)
