"""Webhook delivery over HTTP(S), as Authgear's (pkg/lib/hook/hook_web.go, http.go).

`POST` of the event as JSON with `x-authgear-body-signature`: the hex HMAC-SHA256 of the exact
body bytes, keyed with the `webhook` secret's first octet key. A 2xx answer is success; a blocking
handler's body is its answer. Timeouts are the caller's: `sync_hook_timeout_seconds` for blocking
events, 60 seconds for non-blocking ones (Authgear's async client).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from typing import Any

import requests

from app.hooks.errors import HookDeliveryTimeout, HookDeliveryUnknownFailure, HookInvalidResponse

SIGNATURE_HEADER = "x-authgear-body-signature"
NON_BLOCKING_TIMEOUT_SECONDS = 60.0

_local = threading.local()


def webhook_key(secrets: dict[str, Any]) -> bytes | None:
    """The first octet key of the `webhook` secret (a JWK set, as Authgear generates it)."""
    for key in (secrets.get("webhook") or {}).get("keys") or []:
        if isinstance(key, dict) and key.get("kty") == "oct" and isinstance(key.get("k"), str):
            raw = key["k"]
            return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    return None


def sign(body: bytes, key: bytes) -> str:
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _session() -> requests.Session:
    """One keep-alive session per thread: a login that calls a hook reuses its connection."""
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
        session.trust_env = False  # no proxy or netrc from the environment
    return session


def post(url: str, event: dict[str, Any], key: bytes, timeout: float) -> requests.Response:
    """Delivers one event; a 2xx response, or Authgear's delivery error."""
    body = encode(event)
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, key)}
    try:
        resp = _session().post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)
    except requests.Timeout:
        raise HookDeliveryTimeout() from None
    except requests.RequestException:
        raise HookDeliveryUnknownFailure() from None
    if not 200 <= resp.status_code < 300:
        raise HookInvalidResponse("invalid status code", {"status_code": resp.status_code})
    return resp


def call_blocking(url: str, event: dict[str, Any], key: bytes, timeout: float) -> Any:
    """The handler's JSON answer (checked by the caller against the event's schema)."""
    resp = post(url, event, key, timeout)
    try:
        return resp.json()
    except ValueError:
        raise HookInvalidResponse("invalid response body") from None
