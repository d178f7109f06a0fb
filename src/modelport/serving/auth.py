"""The bearer-token check: one constant-time comparison for the management API, the data plane's
routes (with ``auth.protect_inference``) and gRPC calls."""

from __future__ import annotations

import hmac

from modelport.core.errors import InvalidInput, Unauthorized
from modelport.core.settings import AuthSettings

__all__ = ["bearer_matches", "inference_token", "unauthorized"]


def bearer_matches(authorization: bytes | None, token: bytes) -> bool:
    """True when an ``Authorization`` value is ``Bearer <token>`` (the scheme in any case)."""
    scheme, _, given = (authorization or b"").partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), token)


def unauthorized(where: str = "Authorization: Bearer <token>") -> Unauthorized:
    return Unauthorized(f"a valid bearer token is required ({where})")


def inference_token(auth: AuthSettings) -> bytes | None:
    """The token the data plane asks for, or ``None`` when inference is open.

    ``protect_inference`` without a token is refused: it would leave inference open while the
    setting says otherwise."""
    if not auth.protect_inference:
        return None
    if not auth.token:
        raise InvalidInput(
            "auth.protect_inference is on but no token is set: set MODELPORT_AUTH__TOKEN, "
            "or turn MODELPORT_AUTH__PROTECT_INFERENCE off"
        )
    return auth.token.encode()
