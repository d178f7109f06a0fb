"""The data plane: front-ends (OIP REST and gRPC) over one InferenceService, routing, batching."""

from modelport.serving.app import ServingServices, create_inference_app
from modelport.serving.service import InferenceService

__all__ = ["InferenceService", "ServingServices", "create_inference_app"]
