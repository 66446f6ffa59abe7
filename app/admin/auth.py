"""Admin API authentication (contract 3.1).

`Authorization: Bearer <JWT>` (case-sensitive scheme), the JWT signed RS256 by a key of the
`admin-api.auth` key set, chosen by the header's `kid`; `aud` (string or array) must contain the
project ID; `exp` is required, and `exp`, `iat` and `nbf` (when present) are checked with 5 minutes
of clock skew (RFC 7519 section 4.1). A token may live at most `MAX_LIFETIME_SECONDS` (24 hours): `exp`
no later than that after `iat`, nor after now. Authgear itself only checks `exp`/`iat`/`nbf` when
present (pkg/lib/admin/authz), and issues 5-minute tokens; its documented example payload spans
24 hours, hence the cap. Any failure is the same 403 for the caller; the reason is only logged.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey
from joserfc.jwt import JWTClaimsRegistry

from app.crypto import b64url_decode

log = logging.getLogger(__name__)

CLOCK_SKEW_SECONDS = 300
MAX_LIFETIME_SECONDS = 24 * 3600
MAX_TOKEN_LENGTH = 16 * 1024
_BEARER = re.compile(r"^Bearer (.*)$")


class AdminAuthError(Exception):
    """The request is not from an administrator; the message says why (for logs only)."""


class AdminAuthenticator:
    def __init__(self, jwks: dict[str, Any], project_id: str, now: Callable[[], int]) -> None:
        self.keys: dict[str, RSAKey] = {}
        for key in KeySet.import_key_set(jwks).keys if jwks.get("keys") else []:
            if isinstance(key, RSAKey) and key.kid:
                # Verification needs only the public half; never keep the private one around here.
                self.keys[key.kid] = RSAKey.import_key(key.as_dict(private=False))
        self.project_id = project_id
        self.now = now

    def verify(self, authorization: str | None) -> dict[str, Any]:
        """The JWT's claims, or `AdminAuthError`."""
        match = _BEARER.match(authorization or "")
        if match is None:
            raise AdminAuthError("missing or malformed Authorization header")
        token = match.group(1).strip()
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise AdminAuthError("empty or oversized token")
        header = _header(token)
        if header.get("alg") != "RS256":
            raise AdminAuthError(f"algorithm {header.get('alg')!r} is not RS256")
        key = self.keys.get(header.get("kid")) if isinstance(header.get("kid"), str) else None
        if key is None:
            raise AdminAuthError("unknown kid")
        try:
            decoded = jwt.decode(token, key, algorithms=["RS256"])
            JWTClaimsRegistry(
                now=self.now,
                leeway=CLOCK_SKEW_SECONDS,
                aud={"essential": True, "value": self.project_id},
                exp={"essential": True},
            ).validate(decoded.claims)
        except (JoseError, ValueError, TypeError) as exc:
            raise AdminAuthError(f"{type(exc).__name__}: {exc}") from None
        claims = decoded.claims
        # The registry has checked that exp (and iat, when present) are numbers.
        if claims["exp"] > self.now() + MAX_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS:
            raise AdminAuthError("exp is further away than the maximum token lifetime")
        if "iat" in claims and claims["exp"] - claims["iat"] > MAX_LIFETIME_SECONDS:
            raise AdminAuthError("exp - iat exceeds the maximum token lifetime")
        return claims


def _header(token: str) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        raise AdminAuthError("not a compact JWS")
    try:
        header = json.loads(b64url_decode(parts[0]))
    except (ValueError, UnicodeDecodeError) as exc:
        raise AdminAuthError("unreadable header") from exc
    if not isinstance(header, dict):
        raise AdminAuthError("header is not an object")
    return header
