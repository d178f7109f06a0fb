"""The Open Inference Protocol (KServe V2) gRPC front-end: ``inference.GRPCInferenceService`` on grpcio aio.

``grpc_predict_v2_pb2*`` are generated from ``proto/grpc_predict_v2.proto`` by ``scripts/generate_grpc.py``;
``codec`` maps messages to the canonical request/response, ``servicer`` answers the calls and ``server``
binds them to a port.
"""

from modelport.serving.grpc.server import create_grpc_server

__all__ = ["create_grpc_server"]
