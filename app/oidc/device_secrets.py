"""Device secrets (Authgear's device SSO, after OpenID Connect Native SSO for Mobile Apps 1.0).

A client with `x_pre_authenticated_url_enabled` may ask for the `device_sso` scope. When its code is
exchanged and an offline grant (with its refresh token) is created, the answer carries a
`device_secret`: 32 characters of [A-Za-z0-9], of which the grant keeps only the SHA-256 hex
(`offline_grants.device_secret_hash`). Every ID token issued for that grant carries the hash as
`ds_hash`, so the app holding the ID token and the secret proves both belong to the same session
(the token exchange of app/oidc/pre_authenticated_urls.py).

As in Authgear (pkg/lib/oauth/handler/handler_token.go), the secret lives as long as its grant and is
replaced, the old one no longer valid:
- at every refresh of a grant whose scopes hold `device_sso` (the new secret in the answer);
- at the id-token grant when the request's `device_secret` is the grant's current one;
- at every pre-authenticated URL token exchange.
"""

from __future__ import annotations

import hmac
from typing import Any

from app.crypto import random_alnum, sha256_hex
from app.extensions import db
from app.oidc.scopes import DEVICE_SSO
from app.sessions.models import OfflineGrant

DEVICE_SECRET_PARAM = "device_secret"  # noqa: S105 (a parameter name)
_MAX_SECRET_LENGTH = 200


def wants_device_secret(scopes: list[str]) -> bool:
    return DEVICE_SSO in scopes


def issue(grant: OfflineGrant, body: dict[str, Any]) -> str:
    """A new device secret for `grant` (the old one stops working), written to the token answer;
    returns its hash, the `ds_hash` of ID tokens from now on."""
    secret = random_alnum(32)
    grant.device_secret_hash = sha256_hex(secret)
    db.session.flush()
    body[DEVICE_SECRET_PARAM] = secret
    return grant.device_secret_hash


def rotate_if_device_sso(grant: OfflineGrant, scopes: list[str], body: dict[str, Any]) -> str | None:
    """Authgear's rotateDeviceSecretIfSufficientScope: a new secret when the grant's scopes hold
    `device_sso`; returns the grant's hash, rotated or not."""
    if wants_device_secret(scopes):
        return issue(grant, body)
    return grant.device_secret_hash


def matches(grant: OfflineGrant, secret: object) -> bool:
    """Whether `secret` is the grant's current device secret (constant time)."""
    if not isinstance(secret, str) or not secret or len(secret) > _MAX_SECRET_LENGTH or not grant.device_secret_hash:
        return False
    return hmac.compare_digest(sha256_hex(secret), grant.device_secret_hash)


def rotate_if_presented(grant: OfflineGrant, secret: object, body: dict[str, Any]) -> str | None:
    """Authgear's rotateDeviceSecretIfDeviceSecretIsPresentAndValid (the id-token grant): a new secret
    only for a request that shows the current one, on a grant with `device_sso`."""
    if not matches(grant, secret):
        return grant.device_secret_hash
    return rotate_if_device_sso(grant, list(grant.scopes or []), body)
