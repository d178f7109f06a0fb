"""``InferenceService.serve``, the one entry point: each front-end's failures are accounted alike,
the encode step's included (REST and gRPC front-ends, the real service and reconciler)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc
import numpy as np
import orjson
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from modelport.core.settings import LimitSettings, TracingSettings
from modelport.monitoring.book import OutcomeBook
from modelport.monitoring.tracing import Tracing
from modelport.registry.records import ModelVersion
from modelport.serving.grpc import grpc_predict_v2_pb2 as pb
from modelport.serving.grpc.grpc_predict_v2_pb2_grpc import (
    GRPCInferenceServiceStub,
    add_GRPCInferenceServiceServicer_to_server,
)
from modelport.serving.grpc.servicer import InferenceServicer
from modelport.serving.http import Message
from modelport.serving.loaded import LoadedVersion
from modelport.serving.oip_rest import OipRest
from modelport.serving.predictors import predictor_factory
from modelport.serving.reconciler import Reconciler
from modelport.serving.routing import Router
from modelport.serving.service import InferenceService
from modelport.serving.shadow import ShadowRunner
from tests.unit.serving.fakes import FakeRegistry, SumModel, model_snapshot, unused_payload_log

EXECUTOR = ThreadPoolExecutor(2)


class ComplexModel(SumModel):
    """Answers with complex numbers, which no protocol datatype carries: its answer cannot be encoded."""

    def predict(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"total": super().predict(inputs)["total"] + 1j}


class ComplexLoader:
    def load(self, registered: ModelVersion) -> LoadedVersion:
        return LoadedVersion(registered.model, registered.number, "fake", registered.digest, ComplexModel())


async def no_body() -> Message:
    raise AssertionError("the fast lane's body is given whole")


@dataclass
class Served:
    service: InferenceService
    reconciler: Reconciler
    tracing: Tracing
    spans: InMemorySpanExporter


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    registry = FakeRegistry()
    reconciler = Reconciler(
        registry, ComplexLoader(), predictor_factory(EXECUTOR), poll_interval_s=0.01, drain_timeout_s=2
    )
    registry.publish(model_snapshot("m", [1], {}))
    await reconciler.reconcile_once()
    exporter = InMemorySpanExporter()
    tracing = Tracing(TracingSettings(enabled=True), exporter=exporter)
    service = InferenceService(
        lambda: reconciler.table, ShadowRunner(), OutcomeBook(), unused_payload_log(), tracing=tracing
    )
    try:
        yield Served(service, reconciler, tracing, exporter)
    finally:
        tracing.shutdown()


async def test_an_answer_that_cannot_be_encoded_is_a_failure_with_a_span_on_rest_and_grpc(
    served: Served,
) -> None:
    service, reconciler = served.service, served.reconciler
    rest = Router(OipRest(service, reconciler, LimitSettings()).routes())
    body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [1, 2]}]}
    answer = await rest.dispatch("POST", "/v2/models/m/infer", {}, no_body, orjson.dumps(body))
    assert answer.status == 500  # the server's failure, not the caller's
    assert b"output 'total' has dtype complex64, which has no protocol datatype" in answer.body

    server = grpc.aio.server()
    add_GRPCInferenceServiceServicer_to_server(
        InferenceServicer(service, reconciler, LimitSettings()), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            message = pb.ModelInferRequest(model_name="m")
            message.inputs.add(name="x", datatype="FP32", shape=[1, 2]).contents.fp32_contents.extend([1, 2])
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await GRPCInferenceServiceStub(channel).ModelInfer(message)
    finally:
        await server.stop(None)
    assert error.value.code() is grpc.StatusCode.INTERNAL

    stats = orjson.loads((await rest.dispatch("GET", "/v2/models/m/stats", {}, no_body)).body)
    counts = stats["model_stats"][0]["inference_stats"]
    assert (counts["success"]["count"], counts["fail"]["count"]) == (0, 2)
    version = reconciler.table.resolve("m", None)
    assert version.stats.failures == {"INTERNAL": 2}
    assert version.stats.by_protocol == {"rest": 1, "grpc": 1}
    served.tracing.shutdown()  # flushes the batched spans to the exporter
    spans = [s for s in served.spans.get_finished_spans() if s.name == "infer"]
    assert [s.status.description for s in spans] == ["INTERNAL", "INTERNAL"]
    assert all(not s.status.is_ok for s in spans)
