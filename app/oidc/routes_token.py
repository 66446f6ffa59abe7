"""`/oauth2/token` (contract 1.4), `/oauth2/userinfo` (1.6) and `/oauth2/revoke` (1.5)."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import OAuth2Error
from flask import Response, jsonify, request

from app.extensions import csrf, db
from app.oidc import app_sessions
from app.oidc.blueprint import authorization_server, bp, with_cors
from app.oidc.clients import OAuthClient
from app.oidc.provider import oidc_provider
from app.oidc.revocation import revoke_token
from app.oidc.scopes import FULL_ACCESS, OPENID
from app.transport import request_context

MAX_TOKEN_PARAM = 16 * 1024
# What an IdP session is to the claims: a first-party client of no particular ID.
IDP_SESSION_CLIENT = OAuthClient({"client_id": "", "x_application_type": "spa"})


def _preflight() -> Response:
    return with_cors(Response(status=204), oidc_provider())


@bp.route("/oauth2/token", methods=["POST", "OPTIONS"])
@csrf.exempt
def token() -> Response:
    if request.method == "OPTIONS":
        return _preflight()
    resp = authorization_server().token_response()
    # Errors commit too: a replayed code or refresh token has just revoked what it issued.
    db.session.commit()
    return with_cors(resp, oidc_provider())


def _invalid_session() -> Response:
    """Contract 1.6: 401 with an OAuth error body and an RFC 6750 section 3 challenge."""
    resp = jsonify({"error": "invalid_grant", "error_description": "invalid session"})
    resp.status_code = 401
    resp.headers["WWW-Authenticate"] = 'Bearer error="invalid_grant", error_description="invalid session"'
    return resp


def _bearer_token() -> str | None:
    """RFC 6750: the Authorization header (2.1) or, on a form POST, the `access_token` field (2.2);
    never both."""
    header = request.headers.get("Authorization") or ""
    scheme, _, value = header.partition(" ")
    from_header = value.strip() if scheme.lower() == "bearer" and value.strip() else None
    from_body = None
    if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
        values = request.form.getlist("access_token")
        if len(values) > 1:
            return None
        from_body = values[0] if values else None
    if from_header and from_body:
        return None
    token = from_header or from_body
    return token if token and len(token) <= MAX_TOKEN_PARAM else None


@bp.route("/oauth2/userinfo", methods=["GET", "POST", "OPTIONS"])
@csrf.exempt
def userinfo() -> Response:
    provider = oidc_provider()
    if request.method == "OPTIONS":
        return _preflight()
    token = _bearer_token()
    if token is None and not request.headers.get("Authorization") and "access_token" not in request.form:
        # The Web SDK's cookie sessions send no token: the app session or IdP session cookie answers,
        # as a first-party session with full access (Authgear's SessionClientLike of an IdP session).
        live = app_sessions.browser_session(provider, request.cookies)
        if live is None:
            return with_cors(_invalid_session(), provider)
        resp = jsonify(provider.claims.userinfo(live[1], IDP_SESSION_CLIENT, [OPENID, FULL_ACCESS]))
        resp.headers["Cache-Control"] = "no-store"
        return with_cors(resp, provider)
    access = provider.resolve_access_token(token)
    if access is None:
        return with_cors(_invalid_session(), provider)
    resp = jsonify(provider.claims.userinfo(access.user, access.client, access.scopes))
    resp.headers["Cache-Control"] = "no-store"
    return with_cors(resp, provider)


@bp.route("/oauth2/revoke", methods=["POST", "OPTIONS"])
@csrf.exempt
def revoke() -> Response:
    """RFC 7009: revokes a refresh token (its whole offline grant) or an access token, for the
    client it was issued to (app.oidc.revocation). Unknown tokens succeed too, so the answer says
    nothing about which tokens exist."""
    provider = oidc_provider()
    if request.method == "OPTIONS":
        return _preflight()
    values = request.form.getlist("token")
    if len(values) != 1 or not values[0] or len(values[0]) > MAX_TOKEN_PARAM:
        return with_cors(Response("invalid request", status=400, mimetype="text/plain"), provider)
    server = authorization_server()
    try:
        revoke_token(server, request, values[0], request_context())
    except OAuth2Error as error:
        return with_cors(server.handle_error_response(None, error), provider)
    db.session.commit()
    return with_cors(Response(status=200), provider)
