"""The committed gRPC modules are exactly what ``scripts/generate_grpc.py`` makes of the proto today.

A failure means someone edited ``proto/grpc_predict_v2.proto`` (or upgraded grpcio-tools) without
regenerating: run ``python scripts/generate_grpc.py`` and commit the result.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import tritonclient.grpc  # noqa: F401  (registers Triton's identically named messages first)
from tritonclient.grpc import service_pb2

from modelport.serving.grpc import grpc_predict_v2_pb2 as pb

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "generate_grpc.py"
COMMITTED = ROOT / "src" / "modelport" / "serving" / "grpc"
FILES = ("grpc_predict_v2_pb2.py", "grpc_predict_v2_pb2.pyi", "grpc_predict_v2_pb2_grpc.py")


def test_generated_code_is_up_to_date(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path)], check=True, capture_output=True)
    stale = [
        name
        for name in FILES
        if (tmp_path / name).read_text(encoding="utf-8") != (COMMITTED / name).read_text(encoding="utf-8")
    ]
    assert not stale, f"{stale} differ from the proto: run `python scripts/generate_grpc.py` and commit"


def test_messages_coexist_with_tritonclient_and_keep_the_protocol_names() -> None:
    assert pb.ModelInferRequest.DESCRIPTOR.full_name == "inference.ModelInferRequest"
    assert (
        pb.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name == "inference.GRPCInferenceService"
    )


def test_stream_answers_read_as_tritonclient_reads_them() -> None:
    ours = pb.ModelStreamInferResponse(error_message="bad shape")
    ours.infer_response.id = "r-1"
    theirs = service_pb2.ModelStreamInferResponse.FromString(ours.SerializeToString())
    assert (theirs.error_message, theirs.infer_response.id) == ("bad shape", "r-1")
    method = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"].methods_by_name["ModelStreamInfer"]
    assert method.client_streaming and method.server_streaming
