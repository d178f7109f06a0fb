"""The data plane: front-ends (OIP REST and gRPC) over one InferenceService, routing, batching."""
