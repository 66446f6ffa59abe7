"""The demo project's client app at `/demo/`: a small relying party on the same origin, so a newcomer
sees the whole OpenID Connect round trip in the browser after `make run`.

It is a real client of Gatehouse's own endpoints over HTTP (authlib's OAuth 2.0 client, the
authorization code flow with PKCE and a nonce, the ID token checked against the published JWKS,
UserInfo, RP-initiated logout), exactly what an app written elsewhere would do. It answers only while
the project has the demo client registered with this origin's callback; otherwise 404.
"""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import urlencode

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask import Blueprint, Response, abort, redirect, render_template, request, session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from werkzeug.wrappers import Response as BaseResponse

from app.project_files import DEMO_CALLBACK_PATH, DEMO_CLIENT_ID, DEMO_HOME_PATH
from app.services import services

bp = Blueprint("demo", __name__, url_prefix="/demo")

SCOPE = "openid offline_access"
HTTP_TIMEOUT = 10
_PENDING = "demo_pending"  # state, code verifier and nonce of the authorization in progress
_SIGNED_IN = "demo_signed_in"  # the ID token, its claims and the UserInfo answer


class DemoError(Exception):
    """Something the demo page shows instead of the claims (an OAuth error, a bad ID token)."""


def _origin() -> str:
    return services().config.public_origin


def _client() -> tuple[str, str]:
    """The demo client's ID and secret, or 404 when the project has no demo client for this origin."""
    cfg = services().config
    callback = _origin() + DEMO_CALLBACK_PATH
    for entry in cfg.project["oauth"]["clients"]:
        if entry.get("client_id") == DEMO_CLIENT_ID and callback in (entry.get("redirect_uris") or []):
            keys = cfg.client_secret_keys(DEMO_CLIENT_ID)
            secret = next((str(k["k"]) for k in keys if isinstance(k, dict) and k.get("k")), "")
            return DEMO_CLIENT_ID, secret
    abort(404)


@bp.route("/")
def home() -> Response:
    _client()
    if request.args.get("state") and request.args.get("state") == session.get("demo_logout_state"):
        session.pop(_SIGNED_IN, None)  # back from end_session
        session.pop("demo_logout_state", None)
    signed_in = session.get(_SIGNED_IN)
    logout_url = None
    if signed_in:
        state = secrets.token_urlsafe(16)
        session["demo_logout_state"] = state
        query = {
            "id_token_hint": signed_in["id_token"],
            "post_logout_redirect_uri": _origin() + DEMO_HOME_PATH,
            "state": state,
        }
        logout_url = f"{_origin()}/oauth2/end_session?{urlencode(query)}"
    return Response(
        render_template("demo/home.html", page="demo", signed_in=signed_in, logout_url=logout_url),
        mimetype="text/html",
    )


@bp.route("/login")
def login() -> BaseResponse:
    client_id, _ = _client()
    pending = {
        "state": secrets.token_urlsafe(16),
        "verifier": secrets.token_urlsafe(48),
        "nonce": secrets.token_urlsafe(16),
    }
    session[_PENDING] = pending
    query = {
        "client_id": client_id,
        "redirect_uri": _origin() + DEMO_CALLBACK_PATH,
        "response_type": "code",
        "scope": SCOPE,
        "state": pending["state"],
        "nonce": pending["nonce"],
        "code_challenge": create_s256_code_challenge(pending["verifier"]),
        "code_challenge_method": "S256",
    }
    if request.args.get("ui_locales"):
        query["ui_locales"] = request.args["ui_locales"][:100]
    return redirect(f"{_origin()}/oauth2/authorize?{urlencode(query)}", 302)


@bp.route("/callback")
def callback() -> BaseResponse:
    client_id, client_secret = _client()
    pending = session.pop(_PENDING, None)
    try:
        if request.args.get("error"):
            raise DemoError(f"{request.args['error']}: {request.args.get('error_description', '')}".strip(": "))
        if not pending or request.args.get("state") != pending["state"] or not request.args.get("code"):
            raise DemoError("This sign-in answer does not belong to a sign-in started here. Start again.")
        session[_SIGNED_IN] = _complete(client_id, client_secret, request.args["code"], pending)
    except DemoError as exc:
        return Response(
            render_template("demo/home.html", page="demo", signed_in=None, error=str(exc)),
            status=400,
            mimetype="text/html",
        )
    return redirect(DEMO_HOME_PATH, 303)


def _complete(client_id: str, client_secret: str, code: str, pending: dict[str, str]) -> dict[str, Any]:
    """The code exchange, the ID token's checks (OIDC Core 3.1.3.7) and UserInfo, over HTTP."""
    origin = _origin()
    auth_method = "client_secret_basic"  # noqa: S105 (a method name, not a secret)
    with OAuth2Session(client_id, client_secret, token_endpoint_auth_method=auth_method) as oauth:
        try:
            token = oauth.fetch_token(
                f"{origin}/oauth2/token",
                code=code,
                redirect_uri=origin + DEMO_CALLBACK_PATH,
                code_verifier=pending["verifier"],
                timeout=HTTP_TIMEOUT,
            )
        except Exception as exc:  # authlib raises its OAuth errors and requests' network errors
            raise DemoError(f"The code exchange failed: {exc}") from None
        jwks = requests.get(f"{origin}/oauth2/jwks", timeout=HTTP_TIMEOUT).json()
        try:
            decoded = jwt.decode(token["id_token"], KeySet.import_key_set(jwks))
        except (JoseError, KeyError, ValueError) as exc:
            raise DemoError(f"The ID token does not verify: {exc}") from None
        claims = dict(decoded.claims)
        audience = claims.get("aud")
        if (
            claims.get("iss") != origin
            or client_id not in (audience if isinstance(audience, list) else [audience])
            or claims.get("nonce") != pending["nonce"]
            or not isinstance(claims.get("exp"), int)
            or claims["exp"] < time.time()
        ):
            raise DemoError("The ID token is not for this sign-in (issuer, audience, nonce or expiry).")
        userinfo = oauth.get(f"{origin}/oauth2/userinfo", timeout=HTTP_TIMEOUT).json()
    return {"id_token": token["id_token"], "claims": claims, "userinfo": userinfo}
