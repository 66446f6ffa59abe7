"""Helpers for the OIDC tests: the test project's clients, PKCE pairs, sessions and URL parsing."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import KeySet

from app.extensions import db
from app.identities.models import User
from app.services import Services
from tests.factories import make_user

SPA = "spa-client"
SPA_CB = "http://localhost:4000/callback"
WEB = "confidential-client"
WEB_CB = "http://localhost:4000/cb"
THIRD = "third-party"
THIRD_CB = "https://partner.example/cb"
M2M = "m2m-client"
ROTATING = "rotating-native"
ROTATING_CB = "com.example.app://callback"
JWT_SPA = "jwt-spa"
CUSTOM_UI = "custom-ui-spa"
NO_REFRESH = "no-refresh-spa"
THIRD_SECRET = "third-party-secret-" + "x" * 20

CLIENTS: list[dict[str, Any]] = [
    {
        "client_id": SPA,
        "name": "SPA",
        "x_application_type": "spa",
        "redirect_uris": [SPA_CB],
        "post_logout_redirect_uris": ["http://localhost:4000/bye"],
    },
    {
        "client_id": WEB,
        "name": "Web",
        "client_name": "Web",
        "x_application_type": "confidential",
        "redirect_uris": [WEB_CB, "http://localhost:4000/cb?tenant=a"],
        "response_types": ["code", "none"],
        "post_logout_redirect_uris": ["http://localhost:4000/bye"],
    },
    {
        "client_id": THIRD,
        "name": "Partner",
        "client_name": "Partner App",
        "x_application_type": "third_party_app",
        "redirect_uris": [THIRD_CB],
    },
    {"client_id": M2M, "name": "Backend job", "x_application_type": "m2m", "issue_jwt_access_token": True},
    {
        "client_id": ROTATING,
        "name": "Native",
        "x_application_type": "native",
        "redirect_uris": [ROTATING_CB],
        "refresh_token_rotation_enabled": True,
    },
    {
        "client_id": JWT_SPA,
        "name": "JWT SPA",
        "x_application_type": "spa",
        "redirect_uris": [SPA_CB],
        "issue_jwt_access_token": True,
    },
    {
        "client_id": CUSTOM_UI,
        "name": "Custom UI",
        "x_application_type": "spa",
        "redirect_uris": [SPA_CB],
        "x_custom_ui_uri": "https://login.example.com/start?theme=blue",
    },
    {
        "client_id": NO_REFRESH,
        "name": "No refresh",
        "x_application_type": "spa",
        "redirect_uris": [SPA_CB],
        "grant_types": ["authorization_code"],
    },
]


def oidc_overrides(public_origin: str = "http://localhost:3000") -> dict[str, Any]:
    return {"http": {"public_origin": public_origin}, "oauth": {"clients": CLIENTS}}


def oidc_secrets(secrets_items: list[dict[str, Any]]) -> dict[str, Any]:
    out = {i["key"]: i["data"] for i in secrets_items}
    items = list(out["oauth.client_secrets"]["items"])
    items.append({"client_id": THIRD, "keys": [{"kid": "t1", "kty": "oct", "k": THIRD_SECRET}]})
    out["oauth.client_secrets"] = {"items": items}
    return out


def client_secret(app: Any, client_id: str) -> str:
    return app.extensions["gatehouse"].config.client_secret_keys(client_id)[0]["k"]


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def new_session(svc: Services, user: User | None = None, amr: list[str] | None = None) -> tuple[User, str]:
    """A user (new unless given) with a committed IdP session; returns the cookie value."""
    user = user or make_user(svc)
    _, token = svc.sessions.create(user.id, amr or ["pwd"])
    db.session.commit()
    return user, token


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def fragment_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).fragment).items()}


def decode_jwt(token: str, jwks: dict[str, Any]) -> Any:
    return jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["RS256"])


def authorize_params(
    client_id: str = SPA, redirect_uri: str = SPA_CB, scope: str = "openid", pkce: str | None = None, **extra: str
) -> dict[str, str]:
    """An authorization request; `pkce` is a code challenge (public clients need one)."""
    params = {"client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code", "scope": scope}
    if pkce:
        params.update(code_challenge=pkce, code_challenge_method="S256")
    params.update(extra)
    return params


def x_ref_of(location: str) -> str:
    return query_of(location)["x_ref"]


def get_code(
    client: Any,
    client_id: str = SPA,
    redirect_uri: str = SPA_CB,
    scope: str = "openid offline_access",
    pkce: bool = True,
    **extra: str,
) -> tuple[str, str]:
    """Runs authorize and consent with the browser's session cookie; returns (code, code_verifier)."""
    verifier, challenge = pkce_pair()
    params = authorize_params(client_id, redirect_uri, scope=scope, pkce=challenge if pkce else None, **extra)
    location = client.get("/oauth2/authorize", query_string=params).headers["Location"]
    location = continued(location)
    assert location.startswith("/oauth2/consent?"), location
    done = client.get(location)
    assert done.status_code == 302, done.get_data(as_text=True)
    return query_of(done.headers["Location"])["code"], verifier


def continued(location: str) -> str:
    """Where "continue as" (/authflow/v2/select_account, the page /oauth2/authorize shows a browser
    with an IdP session) ends: consent with the same x_ref. Other locations are returned as they are.
    tests/oidc/test_select_account.py drives the page itself."""
    if location.startswith("/authflow/v2/select_account?"):
        return "/oauth2/consent?" + urlencode({"x_ref": x_ref_of(location)})
    return location


def exchange(
    client: Any, code: str, verifier: str | None, client_id: str = SPA, redirect_uri: str = SPA_CB, **extra: Any
) -> Any:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "client_id": client_id}
    if verifier:
        data["code_verifier"] = verifier
    data.update(extra.pop("data", {}))
    return client.post("/oauth2/token", data=data, **extra)


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def register_resource(app: Any, uri: str, client_ids: list[str], scopes: list[str] | None = None) -> None:
    """A committed resource with scopes, linked to the clients with all its scopes (what the Admin
    API's createResource, createScope, addResourceToClientID and addScopesToClientID do)."""
    from app.resources.service import ResourceService

    with app.app_context():
        service = ResourceService(lambda _: True)
        service.create_resource(uri)
        for scope in scopes or []:
            service.create_scope(uri, scope)
        for client_id in client_ids:
            service.add_resource_to_client(uri, client_id)
            service.add_scopes_to_client(uri, client_id, scopes or [])
        db.session.commit()


def app_session_user(app: Any, response: Any) -> str | None:
    """The user of the app session cookie the response sets (app/oidc/app_sessions.py)."""
    from app.oidc import app_sessions
    from app.oidc.provider import oidc_provider

    name = app_sessions.cookie_name(app.extensions["gatehouse"].config)
    cookies = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(name + "=")]
    if not cookies:
        return None
    value = cookies[0].split(";")[0].split("=", 1)[1]
    with app.app_context():
        found = app_sessions.resolve(oidc_provider(), value)
        return found.user.id if found else None
