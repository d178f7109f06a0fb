"""OpenTelemetry traces of requests: one server span per inference with a child span per stage.

Off by default, and then free: front-ends ask ``tracing.enabled`` and skip everything. When on,
stage spans are created after the request with the timestamps measured on the way (no context
juggling across tasks), under the caller's trace when it sent a W3C ``traceparent`` header.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from modelport.core.settings import TracingSettings

__all__ = ["RequestTrace", "Tracing"]

_PROPAGATOR = TraceContextTextMapPropagator()


class RequestTrace:
    """The timestamps (``time.time_ns``) of one request's stages, turned into spans at the end."""

    def __init__(self, carrier: Mapping[str, str], started_ns: int) -> None:
        self.context = _PROPAGATOR.extract(carrier)
        self.started_ns = started_ns
        self.stages: list[tuple[str, int, int]] = []

    def stage(self, name: str, start_ns: int, end_ns: int) -> None:
        self.stages.append((name, start_ns, end_ns))


class Tracing:
    def __init__(self, settings: TracingSettings, exporter: SpanExporter | None = None) -> None:
        self.enabled = settings.enabled
        self._provider: TracerProvider | None = None
        if not self.enabled:
            return
        self._provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}))
        if exporter is None and settings.otlp_endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint)
        if exporter is not None:
            self._provider.add_span_processor(BatchSpanProcessor(exporter))
        self._tracer = self._provider.get_tracer("modelport")

    def begin(
        self, headers: Sequence[tuple[bytes, bytes]] | Mapping[str, str], started_ns: int
    ) -> RequestTrace:
        carrier = (
            headers
            if isinstance(headers, Mapping)
            else {k.decode("latin-1"): v.decode("latin-1") for k, v in headers}
        )
        return RequestTrace(carrier, started_ns)

    def finish(
        self,
        request: RequestTrace,
        name: str,
        attributes: Mapping[str, str],
        end_ns: int,
        error: str | None = None,
    ) -> None:
        span = self._tracer.start_span(
            name,
            context=request.context,
            kind=SpanKind.SERVER,
            start_time=request.started_ns,
            attributes=dict(attributes),
        )
        parent = trace.set_span_in_context(span)
        for stage, start_ns, stage_end_ns in request.stages:
            self._tracer.start_span(stage, context=parent, start_time=start_ns).end(end_time=stage_end_ns)
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        span.end(end_time=end_ns)

    def shutdown(self) -> None:
        if self._provider is not None:
            self._provider.shutdown()
