"""`/api/v1/account`: Authgear's Account Management API, the routes it serves (contract 6):

- `POST /identification` `{"identification": "oauth", "alias", "redirect_uri",
  "exclude_state_in_authorization_url"?}` -> `{"result": {"token", "authorization_url"}}`;
- `POST /identification/oauth` `{"token", "query"}` -> `{"result": {}}`.

For a signed-in user (a bearer access token, or the browser's app or IdP session cookie; otherwise
`401 Unauthorized` "authentication required"), 1,200 requests per minute per IP (Authgear's fixed
AccountManagementAPIPerIP). The rules are `app.identities.account_management`'s.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Response, jsonify, request

from app.api import json_api
from app.errors import InputSchemaInvalid, Unauthorized
from app.extensions import db
from app.flows.inputs import STRING, validate
from app.identities.account_management import AccountManagement
from app.identities.models import User
from app.oidc import app_sessions
from app.oidc.provider import oidc_provider
from app.services import services
from app.transport import json_body, request_context

bp = Blueprint("account_management_api", __name__, url_prefix="/api/v1/account")
PER_IP = {"enabled": True, "period": "1m", "burst": 1200}
START = {
    "type": "object",
    "properties": {
        "identification": {"type": "string", "const": "oauth"},
        "alias": STRING,
        "redirect_uri": {"type": "string", "format": "uri"},
        "exclude_state_in_authorization_url": {"type": "boolean"},
    },
    "required": ["identification", "alias", "redirect_uri"],
}
FINISH = {
    "type": "object",
    "properties": {"token": {"type": "string", "minLength": 1}, "query": {"type": "string", "minLength": 1}},
    "required": ["token", "query"],
}


@bp.before_request
def _guard() -> Response | None:
    return json_api.guard("AccountManagementAPIPerIP", PER_IP)


bp.after_request(json_api.cors)


def _user() -> User:
    """Authgear's RequireAuthenticatedMiddleware over its session middleware."""
    provider = oidc_provider()
    scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        access = provider.resolve_access_token(token.strip())
        user = access.user if access is not None else None
    else:
        live = app_sessions.browser_session(provider, request.cookies)
        user = live[1] if live is not None else None
    if user is None:
        raise Unauthorized("Unauthorized", "authentication required")
    return user


def _absolute_uri(value: str) -> None:
    """JSON Schema's `"format": "uri"`, which the validator does not check on its own."""
    parts = urlsplit(value)
    if not parts.scheme or not (parts.netloc or parts.path):
        raise InputSchemaInvalid([{"location": "/redirect_uri", "kind": "format", "details": {"format": "uri"}}])


@bp.route("/identification", methods=["POST", "OPTIONS"])
def identification() -> Response:
    user = _user()
    body = json_body()
    validate(body, START)
    _absolute_uri(body["redirect_uri"])
    bind_state = not body.get("exclude_state_in_authorization_url", False)
    token, url = AccountManagement(services()).start(user, body["alias"], body["redirect_uri"], bind_state)
    return jsonify({"result": {"token": token, "authorization_url": url}})


@bp.route("/identification/oauth", methods=["POST", "OPTIONS"])
def identification_oauth() -> Response:
    user = _user()
    body = json_body()
    validate(body, FINISH)
    AccountManagement(services()).finish(user, body["token"], body["query"], request_context())
    db.session.commit()
    return jsonify({"result": {}})
