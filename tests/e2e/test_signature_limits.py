"""A caller's signature cannot size the server's warm-up (issue 15, finding 6).

The issue: a 30-feature model registered with an input shape of ``[-1, 100000000]`` made the server
allocate 3 GB to warm it up. The signature is now checked against the model at registration (a
clear 400 or CLI error) and the server's memory does not move.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server, register, run_cli_in_process, running_server

HUGE = 100_000_000
SIGNATURE = {
    "inputs": [{"name": "input", "datatype": "FP64", "shape": [-1, HUGE]}],
    "outputs": [{"name": "label", "datatype": "INT64", "shape": [-1]}],
}
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def server(home: Path, log_dir: Path, model_files: dict[str, Path]) -> Iterator[Server]:
    register(home, model_files["cancer"], "cancer")  # 30 features, like the issue's model
    with running_server(home, log_dir) as server:
        server.wait_until("/v2/models/cancer/ready")
        yield server


def peak_resident_bytes(server: Server) -> int:
    """The server process's high-water resident memory (``VmHWM``), from /proc."""
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


def test_the_issue_s_signature_is_refused_through_the_api(
    server: Server, model_files: dict[str, Path]
) -> None:
    before = peak_resident_bytes(server)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        with model_files["cancer"].open("rb") as handle:
            response = client.post(
                "/api/v1/models/huge/versions",
                files={"file": ("cancer.skops", handle)},
                data={"signature": json.dumps(SIGNATURE)},
            )
        assert response.status_code == 400, response.text
        message = response.json()["error"]
        assert f"input 'input' has shape [-1, {HUGE}]" in message and "has shape [-1, 30]" in message, message
        assert client.get("/api/v1/models/huge/versions").status_code == 404
        assert client.get("/v2/models/cancer/ready").status_code == 200  # still serving the others
    assert peak_resident_bytes(server) - before < 200 * MiB  # one warm-up row would be 800 MB
    assert "Traceback" not in server.log()


def test_the_issue_s_signature_is_refused_by_the_cli(
    home: Path, model_files: dict[str, Path], tmp_path: Path
) -> None:
    signature = tmp_path / "signature.json"
    signature.write_text(json.dumps(SIGNATURE))
    result = run_cli_in_process(
        home, "register", model_files["cancer"], "--name", "huge-cli", "--signature", signature, check=False
    )
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert f"has shape [-1, {HUGE}]" in result.stderr and "[-1, 30]" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert "huge-cli" not in run_cli_in_process(home, "models", "--json").stdout


def test_the_model_s_own_shape_is_still_accepted(
    home: Path, model_files: dict[str, Path], tmp_path: Path
) -> None:
    signature = tmp_path / "signature.json"
    renamed = {**SIGNATURE, "inputs": [{"name": "features", "datatype": "FP64", "shape": [-1, 30]}]}
    signature.write_text(json.dumps(renamed))
    registered = register(home, model_files["cancer"], "renamed", "--signature", str(signature))
    assert registered["signature"]["inputs"] == renamed["inputs"]
