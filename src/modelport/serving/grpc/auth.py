"""The bearer token on gRPC calls (``auth.protect_inference``): metadata ``authorization``.

The server's liveness and readiness stay open, as over REST; every other call (model readiness and
metadata included) needs exactly one ``authorization`` value, the token. The interceptor is installed
only when a token is asked for.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc

from modelport.serving.auth import single_bearer_matches, unauthorized

__all__ = ["OPEN_METHODS", "STREAM_METHODS", "BearerInterceptor"]

_SERVICE = "/inference.GRPCInferenceService/"
OPEN_METHODS = frozenset({_SERVICE + "ServerLive", _SERVICE + "ServerReady"})


STREAM_METHODS = frozenset({_SERVICE + "ModelStreamInfer"})


async def _deny(request: object, context: grpc.aio.ServicerContext) -> None:
    await context.abort(
        grpc.StatusCode.UNAUTHENTICATED, unauthorized("metadata authorization: Bearer <token>").message
    )


# The call's own shape, so that a stream is refused before its first request; no deserializer: the
# request is never read.
_DENIED = grpc.unary_unary_rpc_method_handler(_deny)
_DENIED_STREAM = grpc.stream_stream_rpc_method_handler(_deny)

Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]]


class BearerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc.aio is untyped
    def __init__(self, token: bytes) -> None:
        self._token = token

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler:
        if handler_call_details.method in OPEN_METHODS or single_bearer_matches(
            _authorizations(handler_call_details), self._token
        ):
            return await continuation(handler_call_details)
        return _DENIED_STREAM if handler_call_details.method in STREAM_METHODS else _DENIED


def _authorizations(details: grpc.HandlerCallDetails) -> list[bytes]:
    """Every ``authorization`` value: two of them are refused, whichever is right."""
    return [
        value if isinstance(value, bytes) else value.encode()
        for key, value in details.invocation_metadata or ()
        if key == "authorization"
    ]
