"""The stash of a POSTed end_session request (Authgear's `x_end_session_ref`).

A cross-site POST to `/oauth2/end_session` does not carry the SameSite=Lax session cookie, so the
request is sealed and the browser sent back to the endpoint with a top-level GET, which does carry
it. The request travels in the URL sealed with AES-256-GCM under a fresh key; the key travels in a
short-lived cookie scoped to the endpoint. Neither alone reveals the request (it may hold an ID
token), and a stale link from the history opens nothing once the cookie is gone.
"""

from __future__ import annotations

import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.crypto import b64url, b64url_decode

STASH_PARAM = "x_end_session_ref"
KEY_COOKIE_SUFFIX = "end_session_ref_key"
KEY_COOKIE_MAX_AGE = 300  # one redirect round trip
_NONCE_BYTES = 12
_MAX_SEALED = 16384


def seal(request: dict[str, str]) -> tuple[str, str]:
    """(key for the cookie, sealed request for the URL), both base64url."""
    key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(_NONCE_BYTES)
    sealed = nonce + AESGCM(key).encrypt(nonce, json.dumps(request).encode(), None)
    return b64url(key), b64url(sealed)


def open_sealed(key: str | None, sealed: str) -> dict[str, str] | None:
    """The stashed request, or None for a missing cookie, a mismatched pair or anything malformed:
    the caller then treats it as a request without parameters."""
    if not key or not sealed or len(sealed) > _MAX_SEALED:
        return None
    try:
        key_bytes = b64url_decode(key)
        data = b64url_decode(sealed)
        if len(key_bytes) != 32 or len(data) <= _NONCE_BYTES:
            return None
        plain = AESGCM(key_bytes).decrypt(data[:_NONCE_BYTES], data[_NONCE_BYTES:], None)
        request = json.loads(plain)
    except (ValueError, InvalidTag):
        return None
    if not isinstance(request, dict) or not all(isinstance(v, str) for v in request.values()):
        return None
    return request
