"""`/api/anonymous_user/signup` and `/api/anonymous_user/promotion_code` (contract 1.9): what the Web
SDK calls for `authenticateAnonymously()` and `startPromoteAnonymousUser()`, as Authgear's
`AnonymousUserHandler`.

- signup, `session_type: cookie`: the browser's IdP session of an anonymous user is kept (`{}`), a
  normal user's is refused (`Invalid` "user logged in as normal user"), otherwise a new anonymous
  user is signed in with the IdP session cookie.
- signup, `session_type: refresh_token`: with the `refresh_token` of an anonymous user, a new
  access token for it; without, a new anonymous user and its tokens (app.oidc.device_grants).
- promotion_code: a one-use, five-minute code naming the anonymous user of the cookie or refresh
  token, for `login_hint=https://authgear.com/login_hint?type=anonymous&promotion_code=...`.

Like the Flow API: JSON only, CORS with credentials for `http.allowed_origins`, and a page of any
other origin may not sign a visitor in (login CSRF).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.api import json_api
from app.cross_origin import check_cross_origin
from app.errors import AppError, Forbidden, Invalid, Unauthorized, error_response
from app.extensions import db
from app.flows.inputs import validate
from app.identities.anonymous import AnonymousIdentityService, promotion_codes
from app.identities.models import User
from app.oidc.app_session_tokens import check_refresh_token
from app.oidc.blueprint import authorization_server
from app.oidc.device_grants import UNSUPPORTED_CLIENT, anonymous_identities, issue_device_session
from app.oidc.offline_grants import RefreshCheck, RefreshStatus
from app.oidc.provider import OIDCProvider, oidc_provider
from app.oidc.scopes import FULL_ACCESS
from app.services import services
from app.transport import (
    json_body,
    request_context,
    require_json_content_type,
    session_cookie_name,
    set_session_cookie,
)

bp = Blueprint("anonymous_user_api", __name__, url_prefix="/api/anonymous_user")

SESSION_TYPES = ["cookie", "refresh_token"]
SIGNUP_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "client_id": {"type": "string"},
        "session_type": {"type": "string", "enum": SESSION_TYPES},
        "refresh_token": {"type": "string"},
    },
    "required": ["session_type"],
    "allOf": [
        {"if": {"properties": {"session_type": {"const": "refresh_token"}}}, "then": {"required": ["client_id"]}}
    ],
}
PROMOTION_CODE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"session_type": {"type": "string", "enum": SESSION_TYPES}, "refresh_token": {"type": "string"}},
    "required": ["session_type"],
}


class AuthenticationRequired(Unauthorized):
    def __init__(self) -> None:
        super().__init__("Unauthorized", "authentication required")


def _trusted_origins() -> list[str]:
    cfg = services().config
    return [cfg.public_origin, *cfg.project["http"]["allowed_origins"]]


@bp.before_request
def _preflight_and_origin() -> Response | None:
    if request.method == "OPTIONS":
        return Response(status=204)
    try:
        require_json_content_type()
        check_cross_origin(_trusted_origins())
    except AppError as error:
        return error_response(error)
    return None


bp.after_request(json_api.cors)


def _cookie_user(provider: OIDCProvider) -> User | None:
    live = provider.live_session(request.cookies.get(session_cookie_name(provider.config)))
    return live[1] if live else None


def _refresh_grant(provider: OIDCProvider, refresh_token: str) -> RefreshCheck | None:
    """The check of a valid refresh token, or None (a reused one is revoked on the way)."""
    check = check_refresh_token(provider, refresh_token)
    return check if check.status is RefreshStatus.OK and check.grant is not None else None


def _signup(provider: OIDCProvider, body: dict[str, Any]) -> Response:
    identities = anonymous_identities(provider.svc)
    ctx = request_context()
    rule = provider.config.project["authentication"].get("rate_limits", {}).get("signup_anonymous", {}).get("per_ip")
    if body["session_type"] == "cookie":
        user = _cookie_user(provider)
        if user is not None:
            identities.anonymous_identity(user.id)  # a normal user's session: refused
            return jsonify({"result": {}})
        provider.svc.rate_limiter.check("authentication.signup_anonymous", "SignupAnonymousPerIP", ctx.ip or "", rule)
        user, _ = identities.create_user(ctx)
        _, token = provider.svc.sessions.create(user.id, [], ctx)
        provider.svc.audit.write("user.authenticated", ctx, user.id, {"amr": []})
        db.session.commit()
        resp = jsonify({"result": {}})
        set_session_cookie(resp, token, provider.config)
        return resp
    client = provider.clients.get(body["client_id"])
    if client is None:
        raise Invalid("Invalid", "invalid client ID")
    if not client.full_access_allowed:
        raise Invalid("Invalid", UNSUPPORTED_CLIENT)
    if body.get("refresh_token"):
        check = _refresh_grant(provider, body["refresh_token"])
        if check is None or check.grant.client_id != client.client_id:
            db.session.commit()
            raise Invalid("Invalid", "invalid refresh token")
        identities.anonymous_identity(check.grant.user_id)
        result = authorization_server().issuance.for_refresh(
            client, check.grant, check.token_hash, list(check.grant.scopes or []), check.user, ctx, facts=check.facts
        )
        db.session.commit()
        return jsonify({"result": result})
    provider.svc.rate_limiter.check("authentication.signup_anonymous", "SignupAnonymousPerIP", ctx.ip or "", rule)
    user, _ = identities.create_user(ctx)
    result = issue_device_session(provider, client, user, [], ctx)
    db.session.commit()
    return jsonify({"result": result})


def _promotion_code(provider: OIDCProvider, body: dict[str, Any]) -> Response:
    identities: AnonymousIdentityService = anonymous_identities(provider.svc)
    if body["session_type"] == "refresh_token":
        if not body.get("refresh_token"):
            raise AuthenticationRequired()
        check = _refresh_grant(provider, body["refresh_token"])
        db.session.commit()
        if check is None:
            raise Forbidden("Forbidden", "invalid_grant: invalid refresh token")
        if not provider.authorizations.covers(check.grant.user_id, check.grant.client_id, [FULL_ACCESS]):
            raise Forbidden("Forbidden", "the client is not authorized to have full user access")
        user_id = check.grant.user_id
    else:
        user = _cookie_user(provider)
        if user is None:
            raise AuthenticationRequired()
        user_id = user.id
    identity = identities.anonymous_identity(user_id)
    code, expire_at = promotion_codes(provider.svc.store, provider.clock).issue(
        {"user_id": user_id, "identity_id": identity.id}
    )
    return jsonify({"result": {"promotion_code": code, "expire_at": expire_at.isoformat().replace("+00:00", "Z")}})


@bp.route("/signup", methods=["POST", "OPTIONS"])
def signup() -> Response:
    body = _body(SIGNUP_SCHEMA)
    return _signup(oidc_provider(), body)


@bp.route("/promotion_code", methods=["POST", "OPTIONS"])
def promotion_code() -> Response:
    body = _body(PROMOTION_CODE_SCHEMA)
    return _promotion_code(oidc_provider(), body)


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    body = json_body()
    validate(body, schema)
    return body
