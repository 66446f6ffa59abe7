"""Request JWTs signed by a device key (anonymous and biometric requests, contract 1.4, 1.9).

Authgear's SDKs keep a key pair on the device and send a compact JWS whose header has `typ`
(`vnd.authgear.anonymous-request` or `vnd.authgear.biometric-request`), `alg`, and either the
public `jwk` (first use: the key becomes the identity) or only its `kid`; the payload holds the
`challenge` of `/oauth2/challenge`, the `action` and `iat`/`exp`. As Authgear's providers do, the
request is first read unverified (to find the key), its times checked with a five-minute skew, and
then its signature verified with the key the identity already holds, else with the header's key.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import import_key

from app.crypto import b64url_decode

KEY_ID_FORMAT = re.compile(r"^[-\w]{8,64}$")
CLOCK_SKEW_SECONDS = 5 * 60
# Asymmetric algorithms only: a device key is never a shared secret.
ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "EdDSA"]
MAX_JWT_LENGTH = 16 * 1024


class _DeviceRequestRegistry(jws.JWSRegistry):
    # The header carries the device's public JWK: an RSA-4096 key alone is about 800 bytes, beyond
    # joserfc's default header limit of 512.
    max_header_length = 4096


_REGISTRY = _DeviceRequestRegistry(algorithms=ALGORITHMS)


class InvalidDeviceRequest(Exception):
    """The JWT is malformed, expired, of another type or badly signed (Authgear: InvalidCredentials)."""


@dataclass(frozen=True)
class DeviceRequest:
    key_id: str
    jwk: dict[str, Any] | None  # the public key of the header, when sent
    payload: dict[str, Any]
    raw: str

    @property
    def challenge(self) -> str:
        value = self.payload.get("challenge")
        return value if isinstance(value, str) else ""

    @property
    def action(self) -> str:
        value = self.payload.get("action")
        return value if isinstance(value, str) else ""


def _segment(text: str) -> dict[str, Any]:
    try:
        value = json.loads(b64url_decode(text))
    except (ValueError, TypeError) as exc:
        raise InvalidDeviceRequest("invalid JWT") from exc
    if not isinstance(value, dict):
        raise InvalidDeviceRequest("invalid JWT")
    return value


def parse_unverified(token: object, typ: str, now: datetime) -> DeviceRequest:
    """Reads a request without its signature (to find the key it names); checks its type, times and
    key ID."""
    if not isinstance(token, str) or not token or len(token) > MAX_JWT_LENGTH or token.count(".") != 2:
        raise InvalidDeviceRequest("invalid JWT")
    head, body, _ = token.split(".")
    header, payload = _segment(head), _segment(body)
    if header.get("typ") != typ:
        raise InvalidDeviceRequest("invalid JWT type")
    ts = now.timestamp()
    for claim, late in (("exp", False), ("iat", True), ("nbf", True)):
        value = payload.get(claim)
        if value is None:
            continue
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise InvalidDeviceRequest("invalid JWT")
        # exp must not have passed; iat and nbf must not lie in the future (with the skew).
        if (not late and value + CLOCK_SKEW_SECONDS < ts) or (late and value - CLOCK_SKEW_SECONDS > ts):
            raise InvalidDeviceRequest("invalid JWT")
    jwk = header.get("jwk")
    if jwk is not None:
        if not isinstance(jwk, dict) or "d" in jwk:
            raise InvalidDeviceRequest("invalid JWK")
        key_id = jwk.get("kid")
    else:
        key_id = header.get("kid")
    if not isinstance(key_id, str) or not KEY_ID_FORMAT.match(key_id):
        raise InvalidDeviceRequest("invalid key ID format")
    return DeviceRequest(key_id=key_id, jwk=jwk, payload=payload, raw=token)


def verify(request: DeviceRequest, jwk: dict[str, Any] | None) -> None:
    """Checks the signature with `jwk` (the key on record), else the header's own key."""
    key_data = jwk or request.jwk
    if key_data is None:
        raise InvalidDeviceRequest("no key provided")
    try:
        key = import_key({k: v for k, v in key_data.items() if k not in ("alg", "use", "key_ops")})
        jws.deserialize_compact(request.raw, key, registry=_REGISTRY)
    except (JoseError, ValueError, TypeError) as exc:
        raise InvalidDeviceRequest("invalid signature") from exc


def public_jwk(request: DeviceRequest) -> dict[str, Any]:
    """The header's key as it is kept on the identity (public members only)."""
    assert request.jwk is not None
    try:
        key = import_key({k: v for k, v in request.jwk.items() if k not in ("alg", "use", "key_ops")})
    except (JoseError, ValueError, TypeError) as exc:
        raise InvalidDeviceRequest("invalid JWK") from exc
    return {**key.as_dict(private=False), "kid": request.key_id}
