"""The control plane: the management API, registration, endpoint changes and the rollout controller."""

from modelport.control.app import ControlServices, create_management_app
from modelport.control.registration import Registrar, RegistrationRequest

__all__ = ["ControlServices", "Registrar", "RegistrationRequest", "create_management_app"]
