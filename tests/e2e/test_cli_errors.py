"""Expected failures of the real ``modelport`` CLI are one ``error:`` line and exit 1, never a
traceback: a full disk (a real tmpfs, and a real file-size limit), a read-only or impossible home, an
unreadable or malformed input file, a corrupt registry database, Ctrl-C, and a bad input to every
command. A failed ``register`` leaves the registry as it was: no new version, no file in artifacts/."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import click
import numpy as np
import pytest

from modelport.cli import main
from tests.e2e.conftest import (
    MODELPORT,
    Server,
    base_env,
    register,
    run_cli,
    run_cli_in_process,
    running_server,
)
from tests.tmpfs import tmpfs

BIG_MODEL_BYTES = 600_000


def assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str, code: int = 1) -> None:
    shown = f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == code, shown
    assert "Traceback" not in result.stdout + result.stderr, shown
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), shown
    for word in words:
        assert word in lines[0], shown


def big_onnx(directory: Path, small: Path) -> Path:
    """A valid iris model padded with an unused 600 kB initializer: larger than the disk left."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(small))
    padding = np.random.default_rng(0).random(BIG_MODEL_BYTES // 4).astype(np.float32)
    model.graph.initializer.append(numpy_helper.from_array(padding, "padding"))
    path = directory / "big.onnx"
    onnx.save(model, str(path))
    return path


def artifact_files(home: Path) -> list[Path]:
    return sorted(p for p in (home / "artifacts").rglob("*") if p.is_file())


def version_numbers(home: Path, name: str) -> list[int]:
    return [v["version"] for v in json.loads(run_cli(home, "versions", name, "--json").stdout)]


def test_disk_full_during_register(tmp_path: Path, model_files: dict[str, Path]) -> None:
    big = big_onnx(tmp_path, model_files["iris"])
    with tmpfs(tmp_path / "disk", 256) as home:
        register(home, model_files["iris"], "iris")
        before = artifact_files(home)
        result = run_cli(home, "register", big, "--name", "iris", check=False)
        assert_one_line_error(result, "No space left on device", str(home / "artifacts"))
        assert version_numbers(home, "iris") == [1]
        assert artifact_files(home) == before  # no partial file, in .tmp or anywhere


def limit_file_size(limit: int) -> None:
    """In the child: files may grow to ``limit`` bytes; a write beyond is EFBIG, not a SIGXFSZ kill.
    (The soft limit only: the probe child sets its own, which it could not above a lower hard limit.)"""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))


def test_file_size_limit_during_register(tmp_path: Path, model_files: dict[str, Path]) -> None:
    big = big_onnx(tmp_path, model_files["iris"])
    home = tmp_path / "home"
    register(home, model_files["iris"], "iris")
    before = artifact_files(home)
    result = subprocess.run(
        [str(MODELPORT), "register", str(big), "--name", "iris"],
        capture_output=True,
        text=True,
        env=base_env(home),
        preexec_fn=lambda: limit_file_size(BIG_MODEL_BYTES // 2),
        timeout=120,
        check=False,
    )
    assert_one_line_error(result, "File too large", str(home / "artifacts"))
    assert version_numbers(home, "iris") == [1]
    assert artifact_files(home) == before


def test_read_only_home(tmp_path: Path, model_files: dict[str, Path]) -> None:
    with tmpfs(tmp_path / "ro", 64, read_only=True) as read_only:
        for command in (("models",), ("register", model_files["iris"], "--name", "iris")):
            result = run_cli(read_only / "home", *command, check=False)
            assert_one_line_error(result, "Read-only file system", str(read_only / "home"), "MODELPORT_HOME")


def test_home_under_a_file(model_files: dict[str, Path]) -> None:
    result = run_cli(Path("/dev/null/home"), "register", model_files["iris"], "--name", "iris", check=False)
    assert_one_line_error(result, "Not a directory", "/dev/null/home", "MODELPORT_HOME")


def test_corrupt_registry_database(tmp_path: Path, model_files: dict[str, Path]) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "modelport.db").write_bytes(np.random.default_rng(1).bytes(8192))
    for command in (("models",), ("register", model_files["iris"], "--name", "iris")):
        result = run_cli(home, *command, check=False)
        assert_one_line_error(result, str(home / "modelport.db"), "not an SQLite database")
    assert artifact_files(home) == []


@pytest.mark.parametrize(
    ("option", "content", "words"),
    [
        ("--signature", None, ["cannot read --signature", "Is a directory"]),
        ("--signature", b"{not json", ["--signature", "not valid JSON"]),
        ("--signature", b'{"inputs": 3, "outputs": []}', ["--signature", "not a signature"]),
        ("--reference", b"\x93NUMPY garbage", ["reference data", "input.npy"]),
    ],
)
def test_unreadable_register_inputs(
    tmp_path: Path, model_files: dict[str, Path], option: str, content: bytes | None, words: list[str]
) -> None:
    home = tmp_path / "home"
    path = tmp_path / ("input.npy" if option == "--reference" else "input.json")
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    result = run_cli(home, "register", model_files["iris"], "--name", "iris", option, path, check=False)
    assert_one_line_error(result, *words)
    assert artifact_files(home) == []


def test_ctrl_c_is_one_line(tmp_path: Path, model_files: dict[str, Path]) -> None:
    home = tmp_path / "home"
    register(home, model_files["iris"], "iris")
    process = subprocess.Popen(
        [str(MODELPORT), "predict", "iris", "--input", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=base_env(home),
        preexec_fn=_ctrl_c_delivered,
    )
    try:
        wait_reading_stdin(process.pid)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    assert_one_line_error(result, "interrupted", code=130)


def _ctrl_c_delivered() -> None:
    """In the child before exec: SIGINT unblocked and at its default action, whatever the test
    process has (a blocked signal stays blocked across exec; in the full suite, code run before this
    test left SIGINT blocked, and the CLI then read its closed stdin instead of being interrupted)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_reading_stdin(pid: int) -> None:
    """Until ``pid`` blocks in ``read(0, ...)`` (its /proc syscall line: number 0, first argument 0)."""
    while True:
        fields = Path(f"/proc/{pid}/syscall").read_text().split()
        if fields[:2] == ["0", "0x0"]:
            return
        if not Path(f"/proc/{pid}").exists():
            pytest.fail("the CLI exited before reading its input")


# -- every command, with an obviously bad but expected input ----------------------------------------

BAD_INPUTS: dict[str, list[list[str]]] = {
    "serve": [["serve", "--workers", "0"]],
    "register": [
        ["register", "{bad_json}", "--name", "iris"],
        ["register", "{iris}", "--name", "bad name!"],
        ["register", "missing.onnx", "--name", "iris"],
        ["register", "{iris}", "--name", "iris", "--sha256", "not-hex"],
        ["register", "ftp://127.0.0.1/model.onnx", "--name", "iris"],
    ],
    "models list": [["--server", "http://127.0.0.1:1", "models"]],
    "models delete": [["models", "delete", "missing"]],
    "versions list": [["versions", "missing"]],
    "versions delete": [
        ["versions", "delete", "iris", "1"],
        ["versions", "delete", "missing", "1"],
        ["--server", "{server}", "versions", "delete", "iris", "1"],
    ],
    "gc": [["--server", "http://127.0.0.1:1", "gc"]],
    "alias set": [
        ["alias", "set", "missing", "production", "1"],
        ["alias", "set", "iris", "production", "9"],
    ],
    "alias rm": [["alias", "rm", "iris", "unknown"]],
    "policy set": [["policy", "set", "missing", "latest"], ["policy", "set", "iris", "sometimes"]],
    "config show": [["config", "show", "missing"]],
    "config set": [["config", "set", "missing", "--max-batch-size", "2"]],
    "predict": [
        ["predict", "missing", "--input", "{bad_json}"],
        ["predict", "iris", "--input", "{bad_json}"],
    ],
    "endpoint create": [["endpoint", "create", "e", "--route", "missing:1=100"]],
    "endpoint show": [["endpoint", "show", "missing"]],
    "endpoint list": [["--server", "http://127.0.0.1:1", "endpoint", "list"]],
    "endpoint set-weights": [["endpoint", "set-weights", "missing", "iris:1=1"]],
    "endpoint history": [["endpoint", "history", "missing"]],
    "endpoint delete": [["endpoint", "delete", "missing"]],
    "endpoint report": [["endpoint", "report", "missing"]],
    "shadow add": [["shadow", "add", "missing", "iris:1"]],
    "shadow remove": [["shadow", "remove", "missing", "iris:1"]],
    "shadow report": [["shadow", "report", "missing"]],
    "promote": [["promote", "missing", "iris:1"]],
    "rollback": [["rollback", "missing"]],
    "rollout start": [["rollout", "start", "missing", "--candidate", "iris:1"]],
    "rollout policy": [["rollout", "policy", "missing", "--steps", "five"]],
    "rollout status": [["rollout", "status", "missing"]],
    "rollout abort": [["rollout", "abort", "missing"]],
    "feedback": [
        ["feedback", "missing", "--id", "a", "--label", "{bad"],
        ["feedback", "missing", "--file", "{bad_json}"],
        ["feedback", "missing", "--id", "a", "--label", "1"],
    ],
    "monitor set": [["monitor", "set", "missing", "--sample-rate", "0.5"]],
    "monitor show": [["monitor", "show", "missing"]],
    "payloads export": [["payloads", "export", "iris", "--format", "csv", "--out", "/dev/null/rows.csv"]],
    "drift report": [["drift", "report", "missing"]],
    "batch": [["batch", "missing", "{bad_json}", "out"], ["batch", "iris", "{bad_json}", "/dev/null/out"]],
    "jobs submit": [["jobs", "submit", "iris", "{bad_json}", "out"]],
    "jobs list": [["--server", "http://127.0.0.1:1", "jobs", "list"]],
    "jobs show": [["jobs", "show", "missing"]],
    "jobs cancel": [["jobs", "cancel", "missing"]],
}


def command_paths(group: click.Group, prefix: str = "") -> Iterator[str]:
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from command_paths(command, f"{prefix}{name} ")
        else:
            yield prefix + name


def test_every_command_has_a_bad_input_case() -> None:
    assert sorted(command_paths(main)) == sorted(BAD_INPUTS)


@pytest.fixture(scope="module")
def served(home: Path, log_dir: Path, model_files: dict[str, Path]) -> Iterator[Server]:
    register(home, model_files["iris"], "iris")
    with running_server(home, log_dir) as server:
        yield server


@pytest.mark.parametrize(
    "args", [args for cases in BAD_INPUTS.values() for args in cases], ids=lambda args: " ".join(args)
)
def test_a_bad_input_is_one_line_never_a_traceback(
    served: Server, tmp_path: Path, model_files: dict[str, Path], args: list[str]
) -> None:
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    files = {"{bad_json}": str(bad_json), "{iris}": str(model_files["iris"]), "{server}": served.url}
    # In process: the same click command as the console script, ~50 times without an interpreter start
    # each (what would be a traceback raises here); the console script's own process: the tests above.
    result = run_cli_in_process(
        served.home, *[files.get(a, a) for a in args], env={"MODELPORT_PORT": str(served.port)}, check=False
    )
    if args[0] == "serve":  # an invalid option is click's usage error (exit 2), as for any command
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        return
    assert_one_line_error(result)
