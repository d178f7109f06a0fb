"""Assembles one modelport server: registry, reconciler, data plane and management plane.

``build_app`` is pure wiring; everything that starts or stops happens in the app's lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import numpy as np
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from modelport.control.app import ControlServices, create_management_app
from modelport.control.auth import HostAllowList
from modelport.control.dashboard import create_dashboard_app
from modelport.control.drift import DriftService
from modelport.control.drift_monitor import DriftMonitor
from modelport.control.jobs_runner import JobRunner
from modelport.control.registration import Registrar
from modelport.control.rollout import RolloutController
from modelport.control.shared_evidence import SharedEvidence
from modelport.core.errors import Forbidden
from modelport.core.hosts import is_loopback
from modelport.core.settings import Settings
from modelport.monitoring.book import OutcomeBook
from modelport.monitoring.payloads import PayloadLog, PayloadStore
from modelport.monitoring.payloads.shipping import remote_segments
from modelport.monitoring.payloads.shipping import shipper as payload_shipper
from modelport.monitoring.prometheus import DriftCollector
from modelport.monitoring.prometheus_deployments import DeploymentCollector
from modelport.monitoring.prometheus_payloads import PayloadCollector
from modelport.monitoring.stats import StageHistograms
from modelport.monitoring.tracing import Tracing
from modelport.registry.catalog import Registry
from modelport.serving.app import ServingServices, create_inference_app
from modelport.serving.auth import inference_token
from modelport.serving.explaining import ReferenceInputs
from modelport.serving.fast_lane import FastLane
from modelport.serving.grpc import create_grpc_server
from modelport.serving.loaded import LoadedVersion
from modelport.serving.loader import VersionLoader
from modelport.serving.predictors import predictor_factory
from modelport.serving.reconciler import Reconciler
from modelport.serving.service import InferenceService
from modelport.serving.shadow import ShadowRunner

__all__ = ["build_app", "check_exposure"]

log = logging.getLogger(__name__)

GRPC_GRACE_S = 5.0
"""On shutdown, how long in-flight gRPC calls may still finish before they are cancelled."""


def check_exposure(settings: Settings) -> None:
    """Refuse to run an open management API on a non-loopback address, or ``protect_inference``
    without a token (checked again where the data plane is built; here before any worker starts)."""
    inference_token(settings.auth)
    if not is_loopback(settings.host) and not settings.auth.token:
        raise Forbidden(
            f"refusing to listen on {settings.host} without a management token: "
            "set MODELPORT_AUTH__TOKEN or MODELPORT_AUTH__TOKEN_FILE, or pass --token-file FILE "
            "(modelport --token-file FILE serve ...), or listen on 127.0.0.1 (--host 127.0.0.1)"
        )


def build_app(settings: Settings, registry: Registry, tracing: Tracing | None = None) -> ModelportApp:
    """The whole server as one ASGI app: management under ``/api``, the dashboard under ``/ui``,
    inference everywhere else.

    ``tracing`` defaults to what ``settings.tracing`` describes; pass one to export spans elsewhere.
    """
    loader = VersionLoader(
        registry.artifact_copy,
        settings.serving.model_threads,
        max_tensor_bytes=settings.limits.max_tensor_bytes,
        isolated_call_timeout_s=settings.serving.isolated_call_timeout_s,
    )
    executor = ThreadPoolExecutor(settings.serving.inference_threads, thread_name_prefix="modelport-infer")
    histograms = StageHistograms()
    reconciler = Reconciler(
        registry,
        loader,
        predictor_factory(
            executor, settings.serving.inline_below_us / 1e6, settings.metrics.enabled, histograms
        ),
        settings.serving.poll_interval_s,
        settings.serving.drain_timeout_s,
        settings.serving.parallel_loads,
        settings.serving.load_retry_s,
    )
    payloads = PayloadLog(settings.payload_dir, settings.payloads, shipper=payload_shipper(settings))
    shadows = ShadowRunner(payloads=payloads)
    tracing = tracing or Tracing(settings.tracing)
    outcomes = OutcomeBook()
    shared, rollouts = _deployment_deciders(registry, outcomes, shadows, reconciler)
    inference = InferenceService(
        lambda: reconciler.table, shadows, outcomes, payloads, settings.metrics.enabled, tracing
    )
    serving = ServingServices(inference, reconciler, histograms, registry, _reference_inputs(registry))
    registrar = Registrar(registry, settings.serving.probe_timeout_s)
    payload_store = PayloadStore(settings.payload_dir, remote_segments(settings))
    drift = DriftService(registry, payload_store, settings.drift)
    drift_monitor = DriftMonitor(drift, settings.drift.interval_s)
    jobs = JobRunner(registry, settings)
    grpc_front = _GrpcFront(settings, serving)
    status = functools.partial(_status, registry, reconciler, payloads, time.time(), grpc_front)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        work = [
            reconciler.run(),
            rollouts.run(),
            shared.run(rollouts.summaries),
            registry.follow_changes(reconciler.wake),
        ]
        if settings.metrics.enabled:  # the drift gauges' only reader is /metrics
            work.append(drift_monitor.run())
        tasks = [asyncio.create_task(w) for w in work]
        if settings.jobs.allowed_roots and settings.jobs.max_running:  # this server runs jobs
            jobs.start()
        shadows.start()
        payloads.start()
        try:
            app.state.grpc_port = await grpc_front.start()
            yield
        finally:
            await grpc_front.stop()
            for background in tasks:
                background.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await background
            await jobs.stop()
            await shadows.stop()
            await asyncio.to_thread(payloads.stop)
            tracing.shutdown()
            await reconciler.close()
            executor.shutdown(wait=True, cancel_futures=True)

    management = create_management_app(
        settings,
        ControlServices(
            registry,
            registrar,
            status,
            shared.shadow_report,
            outcomes,
            shared.ab_report,
            lambda name: rollouts.status(name) or shared.rollout_status(name),
            payloads,
            payload_store,
            drift,
        ),
    )
    control = Starlette(
        routes=[
            Mount("/api", app=management),
            Mount("/ui", app=create_dashboard_app(hosts=HostAllowList.of(settings))),
        ],
        lifespan=lifespan,
    )
    deployments = DeploymentCollector(outcomes.all, shadows.comparisons, lambda: shadows.dropped)
    drift_gauges = DriftCollector(lambda: drift_monitor.reports)
    collectors = [deployments, PayloadCollector(payloads, payload_store), drift_gauges]
    data_plane = create_inference_app(settings, serving, collectors=collectors)
    lane = FastLane(data_plane, serves_data_plane, settings.limits.max_body_bytes)
    return ModelportApp(data_plane, control, lane if settings.serving.fast_lane else None)


def _deployment_deciders(
    registry: Registry, outcomes: OutcomeBook, shadows: ShadowRunner, reconciler: Reconciler
) -> tuple[SharedEvidence, RolloutController]:
    """This process's share of the deployment evidence, and its rollout controller (the judge while
    it holds the lease), both over the evidence of every process on ``registry``."""
    shared = SharedEvidence(registry, uuid.uuid4().hex, outcomes, shadows)
    rollouts = RolloutController(
        registry,
        shared.other_outcome_states,
        shared.outcome_state,
        shared.instance,
        load_failures=reconciler.failure_messages,
    )
    return shared, rollouts


def _reference_inputs(registry: Registry) -> ReferenceInputs:
    """Explanations' background: a served version's reference data from ``registry`` as inputs of
    its model, mapped and checked as a batch input is (``batch/reference.py``)."""

    def inputs(loaded: LoadedVersion) -> dict[str, np.ndarray] | None:
        # Imported on first use, as serving did before: only an explanation that needs background
        # data loads it (the job routes already load the batch modules it builds on).
        from modelport.batch.reference import reference_inputs

        data = registry.reference_data(loaded.model, loaded.version)
        return None if data is None else reference_inputs(loaded.runtime_model, loaded.target, data)

    return inputs


_CONTROL_PATHS = frozenset({"/api", "/ui"})
_CONTROL_PREFIXES = ("/api/", "/ui/")


def serves_data_plane(path: str) -> bool:
    """Every path but the management API's and the dashboard's is the data plane's."""
    return not (path in _CONTROL_PATHS or path.startswith(_CONTROL_PREFIXES))


class _GrpcFront:
    """The Open Inference Protocol gRPC front-end of one server (if ``grpc.enabled``) during its lifespan."""

    def __init__(self, settings: Settings, serving: ServingServices) -> None:
        self._settings = settings
        self._serving = serving
        self._server: grpc.aio.Server | None = None
        self.port: int | None = None
        """The bound port (the chosen one when configured as 0); None while not listening."""

    async def start(self) -> int | None:
        """Listen, and return the bound port (None when gRPC is off)."""
        if not self._settings.grpc.enabled:
            return None
        self._server, port = create_grpc_server(self._settings, self._serving)
        await self._server.start()
        self.port = port
        log.info("Open Inference Protocol gRPC listening on %s:%d", self._settings.host, port)
        return port

    async def stop(self) -> None:
        if self._server is not None:
            self.port = None
            await self._server.stop(GRPC_GRACE_S)
            self._server = None


def _status(
    registry: Registry, reconciler: Reconciler, payloads: PayloadLog, started: float, grpc: _GrpcFront
) -> dict[str, Any]:
    """What the data plane reports about itself (``GET /api/v1/status``).

    ``registry_revision`` is the revision the routing table was built from, ``registry_head`` the
    registry's latest: a change is in effect here once the first has reached the second.
    """
    table = reconciler.table
    return {
        "ready": reconciler.ready,
        "versions_loaded": reconciler.versions_loaded,
        "versions_wanted": reconciler.versions_wanted,
        "pid": os.getpid(),
        "grpc_port": grpc.port,
        "registry_revision": table.revision,
        "registry_head": registry.revision(),
        "uptime_s": round(time.time() - started, 3),
        "loaded": [
            {"target": v.target, "framework": v.framework, "digest": v.digest, "in_flight": v.in_flight}
            for v in table.loaded_versions()
        ],
        "failures": reconciler.failure_messages(),
        "held_aliases": table.held_aliases(),
        "routing": table.routing(),
        "payload_log": payloads.status(),
    }


class ModelportApp:
    """The data plane for every HTTP path but ``/api`` and ``/ui``; the control app for those and the
    lifespan.

    Dispatching on a string prefix keeps the management framework off the inference hot path.
    """

    def __init__(self, data_plane: ASGIApp, control: Starlette, fast_lane: FastLane | None = None) -> None:
        """``fast_lane``: offered to the HTTP server (``FastLaneProtocol``) for data-plane requests."""
        self._data_plane = data_plane
        self.control = control
        self.fast_lane = fast_lane

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and serves_data_plane(scope.get("path", "")):
            await self._data_plane(scope, receive, send)
        else:
            await self.control(scope, receive, send)

    @property
    def grpc_port(self) -> int | None:
        """The bound gRPC port while the lifespan runs (useful when configured as 0)."""
        port = getattr(self.control.state, "grpc_port", None)
        return int(port) if port is not None else None

    def lifespan(self) -> contextlib.AbstractAsyncContextManager[object]:
        """Start and stop the server's background work without an ASGI server (tests, embedding)."""
        return self.control.router.lifespan_context(self.control)
