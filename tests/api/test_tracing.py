"""OpenTelemetry spans: off by default; when on, a server span per request under the caller's trace."""

from __future__ import annotations

import itertools
from pathlib import Path

import httpx
import numpy as np
import tritonclient.grpc.aio as triton_grpc
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from modelport.core.settings import Settings, TracingSettings
from modelport.monitoring.tracing import Tracing
from modelport.registry.catalog import Registry
from modelport.server.app import build_app
from tests.api.conftest import wait_for

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
INFER = {"inputs": [{"name": "X", "datatype": "FP32", "shape": [1, 4], "data": [5.1, 3.5, 1.4, 0.2]}]}


async def test_each_request_gets_a_span_per_stage_under_the_callers_trace(  # type: ignore[no-untyped-def]
    settings: Settings, registry: Registry, register, model_files: dict[str, Path]
) -> None:
    exporter = InMemorySpanExporter()
    tracing = Tracing(TracingSettings(enabled=True), exporter=exporter)
    app = build_app(settings, registry, tracing=tracing)
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            register(model_files["iris"], "iris")
            await wait_for(client, "/v2/models/iris/ready")
            headers = {"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}
            assert (
                await client.post("/v2/models/iris/infer", json=INFER, headers=headers)
            ).status_code == 200
            assert (await client.post("/v2/models/iris/infer", json={"inputs": []})).status_code == 400
            grpc_client = triton_grpc.InferenceServerClient(f"127.0.0.1:{app.grpc_port}")
            x = triton_grpc.InferInput("X", [1, 4], "FP32")
            x.set_data_from_numpy(np.asarray([[5.1, 3.5, 1.4, 0.2]], np.float32))
            grpc_trace = "0af7651916cd43dd8448eb211c80319c"
            await grpc_client.infer(
                "iris", [x], headers={"traceparent": f"00-{grpc_trace}-b7ad6b7169203331-01"}
            )
            await grpc_client.close()
    spans = exporter.get_finished_spans()
    over_grpc = [s for s in spans if s.name == "infer" and s.context.trace_id == int(grpc_trace, 16)]
    assert len(over_grpc) == 1
    roots = [s for s in spans if s.name == "infer" and s not in over_grpc]
    assert len(roots) == 2
    traced = next(s for s in roots if s.context.trace_id == int(TRACE_ID, 16))
    assert traced.parent is not None and traced.parent.span_id == 0x00F067AA0BA902B7
    assert traced.attributes is not None and traced.attributes["modelport.served_by"] == "iris:1"
    children = sorted(
        (s for s in spans if s.parent and s.parent.span_id == traced.context.span_id),
        key=lambda s: s.start_time or 0,
    )
    assert [c.name for c in children] == ["decode", "queue", "inference", "encode"]
    assert all(
        (c.start_time or 0) >= (traced.start_time or 0) and (c.end_time or 0) <= (traced.end_time or 0)
        for c in children
    )
    bounds = [(c.start_time or 0, c.end_time or 0) for c in children]
    assert all(start <= end for start, end in bounds)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(bounds))
    failed = next(s for s in roots if s is not traced)
    assert not failed.status.is_ok


def test_tracing_is_off_by_default() -> None:
    assert not Tracing(Settings().tracing).enabled
