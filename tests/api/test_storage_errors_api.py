"""A storage failure behind the management API: the caller learns that the server's storage failed,
under an error id; the paths and the cause go to the server's log only."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from modelport.core.settings import Settings
from modelport.registry.catalog import Registry
from modelport.registry.local import open_registry
from tests.api.conftest import quick_settings, serving
from tests.tmpfs import tmpfs


def padded_onnx(path: Path, pad_bytes: int) -> Path:
    """Y = X + 1 over FP32 [-1, 4], with an unused initializer of ``pad_bytes`` to fill a disk."""
    pad = numpy_helper.from_array(np.zeros(pad_bytes // 4, dtype=np.float32), "pad")
    one = numpy_helper.from_array(np.ones(4, dtype=np.float32), "one")
    graph = helper.make_graph(
        [helper.make_node("Add", ["X", "one"], ["Y"])],
        "padded",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 4])],
        initializer=[one, pad],
    )
    path.write_bytes(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    )
    return path


async def test_a_full_disk_is_a_500_without_the_servers_paths(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    artifact = padded_onnx(tmp_path / "big.onnx", 2 << 20)
    with tmpfs(tmp_path / "disk", 1024) as disk:
        settings: Settings = quick_settings(disk)
        registry: Registry = open_registry(settings)
        try:
            async with serving(settings, registry) as client:
                with artifact.open("rb") as handle, caplog.at_level(logging.ERROR):
                    response = await client.post(
                        "/api/v1/models/big/versions", files={"file": ("big.onnx", handle)}, timeout=120
                    )
        finally:
            registry.close()
    assert response.status_code == 500, response.text
    message = response.json()["error"]
    assert "storage failed" in message and "error id" in message
    assert str(disk) not in response.text and "No space" not in response.text
    error_id = message.rsplit("error id ", 1)[1].rstrip(")")
    assert any(error_id in r.getMessage() and "No space left" in r.getMessage() for r in caplog.records)
