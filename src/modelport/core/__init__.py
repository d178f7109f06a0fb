"""Types and errors shared by every layer; imports nothing else of modelport."""

from modelport.core.errors import (
    Conflict,
    ErrorKind,
    Forbidden,
    InternalError,
    InvalidInput,
    ModelportError,
    NotFound,
    NotReady,
    Overloaded,
    Timeout,
    TooLarge,
    Unauthorized,
)
from modelport.core.inference import InferenceRequest, InferenceResponse, RequestedOutput
from modelport.core.tensors import Datatype, Signature, TensorSpec

__all__ = [
    "Conflict",
    "Datatype",
    "ErrorKind",
    "Forbidden",
    "InferenceRequest",
    "InferenceResponse",
    "InternalError",
    "InvalidInput",
    "ModelportError",
    "NotFound",
    "NotReady",
    "Overloaded",
    "RequestedOutput",
    "Signature",
    "TensorSpec",
    "Timeout",
    "TooLarge",
    "Unauthorized",
]
