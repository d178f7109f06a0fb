"""The bearer-token check: one constant-time comparison for the management API, the data plane's
routes (with ``auth.protect_inference``) and gRPC calls.

Credentials must be unambiguous: a request carrying ``Authorization`` twice (or gRPC metadata
``authorization`` twice) is refused with 401 whatever the values, so no layer can pick the right one
where another would pick the wrong one."""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from modelport.core.errors import InvalidInput, Unauthorized
from modelport.core.settings import AuthSettings

__all__ = ["bearer_matches", "inference_token", "request_headers", "single_bearer_matches", "unauthorized"]

_AUTHORIZATION = b"authorization"


def bearer_matches(authorization: bytes | None, token: bytes) -> bool:
    """True when an ``Authorization`` value is ``Bearer <token>`` (the scheme in any case)."""
    scheme, _, given = (authorization or b"").partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), token)


def single_bearer_matches(authorizations: Sequence[bytes], token: bytes) -> bool:
    """True when there is exactly one ``Authorization`` value and it is ``Bearer <token>``."""
    return len(authorizations) == 1 and bearer_matches(authorizations[0], token)


def request_headers(pairs: Sequence[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """A request's headers by (lower-case) name, the last value winning, except ``Authorization``:
    repeated, its values are joined with ", " as HTTP combines a field's lines, a value that is no
    bearer token."""
    headers = dict(pairs)
    if len(headers) < len(pairs):  # some name repeats: rare, so the common case pays one len()
        authorizations = [value for name, value in pairs if name == _AUTHORIZATION]
        if len(authorizations) > 1:
            headers[_AUTHORIZATION] = b", ".join(authorizations)
    return headers


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
