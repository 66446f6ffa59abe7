"""createSession: signs a user in to a first-party client on the administrator's word (Authgear's
OAuthFacade.CreateSession), answering the tokens an app would get from its own login. Off unless
`admin_api.create_session_enabled` is true in authgear.features.yaml, as in Authgear."""

from __future__ import annotations

import binascii
import json
from typing import Any

from app.admin.context import AdminContext
from app.admin.ids import from_global_id
from app.admin.resolvers.mutation import admin_mutation
from app.crypto import b64url_decode
from app.errors import Forbidden, Invalid
from app.extensions import db
from app.identities.models import User
from app.identities.service import UserNotFound
from app.oidc.issuance import TokenIssuance
from app.oidc.provider import oidc_provider


def _enabled(ctx: AdminContext) -> bool:
    features = getattr(ctx.services.config, "features", None) or {}
    return bool((features.get("admin_api") or {}).get("create_session_enabled", False))


def _device_info(raw: str | None) -> dict[str, Any] | None:
    """Authgear takes base64url JSON; Gatehouse checks it and keeps nothing of it (it has no
    device records)."""
    if raw is None:
        return None
    try:
        value = json.loads(b64url_decode(raw))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise Invalid("Invalid", "invalid device info") from None
    if not isinstance(value, dict):
        raise Invalid("Invalid", "invalid device info")
    return value


@admin_mutation("createSession")
def create_session(ctx: AdminContext, input: dict[str, Any]) -> tuple[dict[str, Any], str]:  # noqa: A002
    if not _enabled(ctx):
        raise Forbidden("Forbidden", "CreateSession is disabled")
    parsed = from_global_id(input["userID"])
    if parsed is None or parsed[0] != "User":
        raise Invalid("Invalid", "invalid user ID")
    _device_info(input.get("deviceInfo"))
    provider = oidc_provider()
    client = provider.clients.get(input["clientID"])
    if client is None:
        raise Invalid("Invalid", "invalid client ID")
    if not client.is_first_party:
        raise Forbidden("Forbidden", "cannot create session for non-first party client")
    user = db.session.get(User, parsed[1])
    if user is None:
        raise UserNotFound()
    body = TokenIssuance(provider).for_admin_session(client, user, ctx.request)
    payload = {
        "refreshToken": body["refresh_token"],
        "accessToken": body["access_token"],
        "tokenType": body["token_type"],
        "expiresIn": body["expires_in"],
    }
    return payload, user.id


BINDABLES: list[Any] = []  # the mutation registers itself on the shared Mutation type
