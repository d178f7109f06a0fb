"""Builds the grpcio aio server for the Open Inference Protocol gRPC front-end."""

from __future__ import annotations

import grpc

from modelport.core.errors import Conflict
from modelport.core.settings import Settings
from modelport.serving.app import ServingServices
from modelport.serving.auth import inference_token
from modelport.serving.grpc.auth import BearerInterceptor
from modelport.serving.grpc.grpc_predict_v2_pb2_grpc import add_GRPCInferenceServiceServicer_to_server
from modelport.serving.grpc.servicer import InferenceServicer
from modelport.serving.repository import ModelRepository, management_token

__all__ = ["create_grpc_server"]


def create_grpc_server(settings: Settings, services: ServingServices) -> tuple[grpc.aio.Server, int]:
    """An unstarted server bound to ``settings.host:settings.grpc.port``, and the port it bound.

    With ``auth.protect_inference`` every call but ServerLive and ServerReady needs the token.
    grpcio reads HTTP/2 itself: the connection cap and the idle limit are its options, since it
    closes only connections that never finish their setup (after about a minute) by itself.
    Port 0 binds a free port. Call ``await server.start()`` on the event loop that serves HTTP, and
    ``await server.stop(grace)`` on shutdown.
    """
    limit = settings.grpc.max_message_bytes
    token = inference_token(settings.auth)
    server = grpc.aio.server(
        interceptors=[] if token is None else [BearerInterceptor(token)],
        options=[
            ("grpc.max_send_message_length", limit),
            ("grpc.max_receive_message_length", limit),
            ("grpc.so_reuseport", 1 if settings.workers > 1 else 0),
            ("grpc.max_allowed_incoming_connections", settings.grpc.max_connections),
            ("grpc.max_connection_idle_ms", round(settings.grpc.max_connection_idle_s * 1000)),
        ],
    )
    repository = None if services.flags is None else ModelRepository(services.reconciler, services.flags)
    servicer = InferenceServicer(
        services.inference,
        services.reconciler,
        settings.limits,
        settings.metrics.enabled,
        repository,
        management_token(settings.auth),
        settings.grpc.max_stream_in_flight,
    )
    add_GRPCInferenceServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    address = f"{_host(settings.host)}:{settings.grpc.port}"
    try:
        port = server.add_insecure_port(address)
    except RuntimeError:
        port = 0
    if port == 0:
        raise Conflict(
            f"cannot listen for gRPC on {address}: the port is in use or the address is invalid; "
            "choose another with --grpc-port (MODELPORT_GRPC__PORT; 0 picks a free port) "
            "or set MODELPORT_GRPC__ENABLED=false"
        )
    return server, port


def _host(host: str) -> str:
    """``host`` as a gRPC address host: IPv6 literals go in brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
