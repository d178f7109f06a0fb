"""Bearer-token checks for the management API."""

from __future__ import annotations

import hmac
import ipaddress

from modelport.core.errors import Unauthorized

__all__ = ["check_bearer", "is_loopback"]


def is_loopback(host: str) -> bool:
    """True when ``host`` only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bearer(authorization: str | None, token: str | None) -> None:
    """Raise ``Unauthorized`` unless ``authorization`` carries ``token`` (no token configured: open)."""
    if token is None:
        return
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise Unauthorized("a valid bearer token is required (Authorization: Bearer <token>)")
