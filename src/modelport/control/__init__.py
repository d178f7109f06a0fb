"""The control plane: the management API, registration, endpoint changes and the rollout controller."""
