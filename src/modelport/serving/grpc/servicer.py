"""``inference.GRPCInferenceService``: decode, call the service, encode; errors map through one table.

Nothing here decides routing, validation or limits beyond the wire format; ``InferenceService`` does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import wraps
from typing import TypeVar

import grpc
from google.protobuf import json_format

from modelport._version import __version__
from modelport.core.errors import InternalError, InvalidInput, ModelportError, NotFound, Overloaded
from modelport.core.inference import InferenceRequest
from modelport.core.settings import LimitSettings
from modelport.core.tensors import TensorSpec
from modelport.serving.grpc import grpc_predict_v2_pb2 as pb
from modelport.serving.grpc.codec import decode_infer_request, encode_infer_response, encode_stream_response
from modelport.serving.grpc.errors import GRPC_STATUS
from modelport.serving.grpc.grpc_predict_v2_pb2_grpc import GRPCInferenceServiceServicer
from modelport.serving.grpc.stream import answer_stream
from modelport.serving.metadata import describe, is_ready, statistics_versions
from modelport.serving.reconciler import Reconciler
from modelport.serving.repository import ModelRepository, check_management_token
from modelport.serving.service import SERVED_BY, FrontEnd, InferenceService

__all__ = ["InferenceServicer"]

GRPC_EXTENSIONS = ("binary_tensor_data", "classification")
"""Raw tensor contents and top classes; ``statistics`` and ``model_repository`` join when served."""
ROUTE_KEY = "x-modelport-route-key"
"""Request metadata: calls with the same key reach the same variant of an endpoint."""
STREAM_PROTOCOL = "grpc-stream"
"""The protocol label of ModelStreamInfer's requests in statistics and metrics (``grpc``: ModelInfer)."""
SERVED_BY_KEY = "x-modelport-served-by"
"""Response metadata (and the ``served_by`` parameter): the version that answered."""

log = logging.getLogger(__name__)

Req = TypeVar("Req")
Resp = TypeVar("Resp")
Self = TypeVar("Self", bound="InferenceServicer")
Method = Callable[[Self, Req, grpc.aio.ServicerContext], Awaitable[Resp]]


def guarded(method: Method[Self, Req, Resp]) -> Method[Self, Req, Resp]:
    """Turn a ``ModelportError`` into its status with the message as details; anything else into
    INTERNAL with an error id only (the exception goes to the log, never to the caller)."""

    @wraps(method)
    async def call(self: Self, request: Req, context: grpc.aio.ServicerContext) -> Resp:
        try:
            return await method(self, request, context)
        except ModelportError as error:
            await _abort(context, error)
        except Exception as exc:
            await _abort(context, _internal(method.__name__, exc))
        raise AssertionError("unreachable: context.abort raises")

    return call


def _internal(where: str, exc: Exception) -> InternalError:
    """What the caller sees of an unexpected exception: an error id; the log has the cause."""
    internal = InternalError()
    log.error("unhandled error in %s (error id %s)", where, internal.error_id, exc_info=exc)
    return internal


async def _abort(context: grpc.aio.ServicerContext, error: ModelportError) -> None:
    await _shed_pause(error)
    if isinstance(error, Overloaded):
        context.set_trailing_metadata((("retry-after", str(max(1, round(error.retry_after_s)))),))
    await context.abort(GRPC_STATUS[error.kind], error.message)


async def _shed_pause(error: ModelportError) -> None:
    """A refusal for overload is delayed as asked, so that a client retrying at once is slowed down."""
    if isinstance(error, Overloaded) and error.pause_s:
        await asyncio.sleep(error.pause_s)


class InferenceServicer(GRPCInferenceServiceServicer):
    """The call handlers, bound to one service, one reconciler and the request limits."""

    def __init__(
        self,
        service: InferenceService,
        reconciler: Reconciler,
        limits: LimitSettings,
        statistics: bool = True,
        repository: ModelRepository | None = None,
        management_token: bytes | None = None,
        stream_window: int = 64,
    ) -> None:
        """``statistics``: serve ModelStatistics (metrics on); ``repository``: serve the repository
        RPCs, which need ``management_token`` (metadata ``authorization``) when one is set;
        ``stream_window``: requests of one ModelStreamInfer stream in progress at once."""
        self._service = service
        self._reconciler = reconciler
        self._limits = limits
        self._front = FrontEnd("grpc", self._decode, encode_infer_response, _carrier)
        self._stream_front = FrontEnd(STREAM_PROTOCOL, self._decode, encode_stream_response, _carrier)
        self._stream_window = stream_window
        self._statistics = statistics
        self._repository = repository
        self._token = management_token
        self._extensions = [*GRPC_EXTENSIONS]
        if statistics:
            self._extensions.append("statistics")
        if repository is not None:
            self._extensions.append("model_repository")

    @guarded
    async def ServerLive(
        self, request: pb.ServerLiveRequest, context: grpc.aio.ServicerContext
    ) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    @guarded
    async def ServerReady(
        self, request: pb.ServerReadyRequest, context: grpc.aio.ServicerContext
    ) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self._reconciler.ready)

    @guarded
    async def ServerMetadata(
        self, request: pb.ServerMetadataRequest, context: grpc.aio.ServicerContext
    ) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(name="modelport", version=__version__, extensions=self._extensions)

    @guarded
    async def ModelReady(
        self, request: pb.ModelReadyRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelReadyResponse:
        # an unknown name is NOT_FOUND; a known model without that version (yet) is not ready
        return pb.ModelReadyResponse(
            ready=is_ready(self._reconciler.table, request.name, request.version or None)
        )

    @guarded
    async def ModelMetadata(
        self, request: pb.ModelMetadataRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelMetadataResponse:
        described = describe(self._reconciler.table, request.name, request.version or None)
        return pb.ModelMetadataResponse(
            name=described.name,
            versions=described.versions,
            platform=described.platform,
            inputs=[_tensor_metadata(spec) for spec in described.inputs],
            outputs=[_tensor_metadata(spec) for spec in described.outputs],
        )

    @guarded
    async def ModelInfer(
        self, request: pb.ModelInferRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelInferResponse:
        route_key = _metadata_value(context, ROUTE_KEY)
        name, version = request.model_name, request.model_version or None
        answer = await self._service.serve(self._front, (request, context), name, version, route_key)
        await context.send_initial_metadata(((SERVED_BY_KEY, answer.parameters[SERVED_BY].string_param),))
        return answer

    async def ModelStreamInfer(
        self, request_iterator: AsyncIterator[pb.ModelInferRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.ModelStreamInferResponse]:
        """Each request served as ``ModelInfer`` serves it, several at once, answered as they complete;
        a failed request is an answer with ``error_message`` (and the request's id), the stream goes on."""
        route_key = _metadata_value(context, ROUTE_KEY)

        async def answer(request: pb.ModelInferRequest) -> pb.ModelStreamInferResponse:
            return await self._stream_answer(request, context, route_key)

        async for message in answer_stream(request_iterator, answer, self._stream_window):
            yield message

    async def _stream_answer(
        self, request: pb.ModelInferRequest, context: grpc.aio.ServicerContext, route_key: str | None
    ) -> pb.ModelStreamInferResponse:
        name, version = request.model_name, request.model_version or None
        try:
            return await self._service.serve(self._stream_front, (request, context), name, version, route_key)
        except ModelportError as error:
            failure = error
        except Exception as exc:
            failure = _internal("ModelStreamInfer", exc)
        await _shed_pause(failure)
        message = pb.ModelStreamInferResponse(error_message=failure.message)
        message.infer_response.model_name = request.model_name
        message.infer_response.model_version = request.model_version
        message.infer_response.id = request.id
        return message

    @guarded
    async def ModelStatistics(
        self, request: pb.ModelStatisticsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelStatisticsResponse:
        """The numbers of ``GET /v2/models/stats``, from the same source."""
        if not self._statistics:
            raise NotFound("statistics are off on this server (metrics.enabled is false)")
        versions = statistics_versions(self._reconciler.table, request.name, request.version)

        def answer() -> pb.ModelStatisticsResponse:  # hundreds of versions: not on the event loop
            entries = [v.stats.to_oip(v.model, str(v.version)) for v in versions]
            message = pb.ModelStatisticsResponse()
            json_format.ParseDict({"model_stats": entries}, message)
            return message

        return await asyncio.to_thread(answer)

    @guarded
    async def RepositoryIndex(
        self, request: pb.RepositoryIndexRequest, context: grpc.aio.ServicerContext
    ) -> pb.RepositoryIndexResponse:
        entries = self._checked_repository(context).index(ready_only=request.ready)
        return pb.RepositoryIndexResponse(
            models=[
                pb.RepositoryIndexResponse.ModelIndex(
                    name=e.name, version=e.version, state=e.state, reason=e.reason
                )
                for e in entries
            ]
        )

    @guarded
    async def RepositoryModelLoad(
        self, request: pb.RepositoryModelLoadRequest, context: grpc.aio.ServicerContext
    ) -> pb.RepositoryModelLoadResponse:
        repository = self._checked_repository(context)
        refused = sorted(k for k in request.parameters if k == "config" or k.startswith("file:"))
        if refused:
            raise InvalidInput(
                f"load parameter {refused[0]!r} is not supported: modelport loads registered versions; "
                "register new ones with `modelport register`"
            )
        await repository.load(request.model_name)
        return pb.RepositoryModelLoadResponse()

    @guarded
    async def RepositoryModelUnload(
        self, request: pb.RepositoryModelUnloadRequest, context: grpc.aio.ServicerContext
    ) -> pb.RepositoryModelUnloadResponse:
        await self._checked_repository(context).unload(request.model_name)
        return pb.RepositoryModelUnloadResponse()

    def _checked_repository(self, context: grpc.aio.ServicerContext) -> ModelRepository:
        if self._repository is None:
            raise NotFound("the model repository extension is not served here")
        authorizations = [
            value if isinstance(value, bytes) else value.encode()
            for key, value in context.invocation_metadata() or ()
            if key == "authorization"
        ]
        where = "metadata authorization: Bearer <management token>"
        check_management_token(authorizations, self._token, where)
        return self._repository

    async def _decode(self, call: _Call) -> InferenceRequest:
        return decode_infer_request(call[0], self._limits)


_Call = tuple[pb.ModelInferRequest, grpc.aio.ServicerContext]
"""A call as the service sees it: the message, and its context for the trace headers."""


def _carrier(call: _Call) -> dict[str, str]:
    """The text metadata (``traceparent``); binary (``-bin``) values carry no trace context."""
    metadata = call[1].invocation_metadata() or ()
    return {item.key: item.value for item in metadata if isinstance(item.value, str)}


def _metadata_value(context: grpc.aio.ServicerContext, key: str) -> str | None:
    for item in context.invocation_metadata() or ():
        if item.key == key:
            value = item.value
            return value.decode() if isinstance(value, bytes) else str(value)
    return None


def _tensor_metadata(spec: TensorSpec) -> pb.ModelMetadataResponse.TensorMetadata:
    return pb.ModelMetadataResponse.TensorMetadata(
        name=spec.name, datatype=spec.datatype.value, shape=list(spec.shape)
    )
