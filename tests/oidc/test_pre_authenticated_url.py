"""Pre-authenticated URLs and device secrets (Authgear's docs/specs/pre-authenticated-url.md): a native
app signed in with `device_sso` gets a `device_secret` (`ds_hash` in its ID tokens), trades it with the
token exchange grant for a one-use pre-authenticated URL token, and the browser opening authorize with
that token is signed in as the same user."""

from __future__ import annotations

import hashlib
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from app.extensions import db
from app.oidc import pre_authenticated_urls
from app.sessions.models import OfflineGrant
from app.transport import session_cookie_name
from tests.oidc.helpers import CLIENTS, app_session_user, decode_jwt, exchange, get_code, new_session, query_of

ORIGIN = "http://localhost:3000"
NATIVE, NATIVE_CB = "preauth-native", "com.example.preauth://callback"
PLAIN_NATIVE, PLAIN_NATIVE_CB = "plain-native", "com.example.plain://callback"
WEBAPP, WEBAPP_CB = "preauth-web", "https://www.example.com/callback"
WEB_ORIGIN = "https://www.example.com"
PRE_AUTH_SCOPE = "https://authgear.com/scopes/pre-authenticated-url"
SSO_SCOPES = f"openid offline_access device_sso {PRE_AUTH_SCOPE}"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
PRE_AUTH_TOKEN_TYPE = "urn:authgear:params:oauth:token-type:pre-authenticated-url-token"
RESPONSE_TYPE = "urn:authgear:params:oauth:response-type:pre-authenticated-url token"


def preauth_clients() -> list[dict[str, Any]]:
    return [
        *CLIENTS,
        {
            "client_id": NATIVE,
            "name": "Mobile",
            "x_application_type": "native",
            "redirect_uris": [NATIVE_CB],
            "x_pre_authenticated_url_enabled": True,
        },
        {
            "client_id": PLAIN_NATIVE,
            "name": "Mobile without pre-authenticated URLs",
            "x_application_type": "native",
            "redirect_uris": [PLAIN_NATIVE_CB],
        },
        {
            "client_id": WEBAPP,
            "name": "Web app",
            "x_application_type": "traditional_webapp",
            "redirect_uris": [WEBAPP_CB],
            "post_logout_redirect_uris": [WEB_ORIGIN],
            "x_pre_authenticated_url_enabled": True,
            "x_pre_authenticated_url_allowed_origins": [WEB_ORIGIN],
        },
    ]


@pytest.fixture
def pre_app(make_oidc_app):
    return make_oidc_app({"oauth": {"clients": preauth_clients()}})


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def jwks(app: Any) -> dict[str, Any]:
    return app.test_client().get("/oauth2/jwks").get_json()


def claims_of(app: Any, id_token: str) -> dict[str, Any]:
    return dict(decode_jwt(id_token, jwks(app)).claims)


def native_sign_in(app: Any, scope: str = SSO_SCOPES, client_id: str = NATIVE, cb: str = NATIVE_CB) -> tuple[Any, Any]:
    """The native app's sign-in (the code flow); the user and the token answer."""
    client = app.test_client()
    with app.app_context():
        user, cookie = new_session(app.extensions["gatehouse"])
        user_email = user.standard_attributes.get("email")
    client.set_cookie(session_cookie_name(app.extensions["gatehouse"].config), cookie)
    code, verifier = get_code(client, client_id=client_id, redirect_uri=cb, scope=scope)
    resp = exchange(client, code, verifier, client_id=client_id, redirect_uri=cb)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return (user.id, user_email), resp.get_json()


def token_exchange(app: Any, id_token: str, device_secret: str, **extra: str) -> Any:
    data = {
        "grant_type": TOKEN_EXCHANGE,
        "client_id": WEBAPP,
        "subject_token": id_token,
        "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
        "actor_token": device_secret,
        "actor_token_type": "urn:x-oath:params:oauth:token-type:device-secret",
        "requested_token_type": PRE_AUTH_TOKEN_TYPE,
        "audience": ORIGIN,
        **extra,
    }
    return app.test_client().post("/oauth2/token", data={k: v for k, v in data.items() if v is not None})


def open_url(browser: Any, id_token: str, token: str, **extra: str) -> Any:
    params = {
        "client_id": WEBAPP,
        "redirect_uri": WEB_ORIGIN + "/landing?from=app",
        "response_type": RESPONSE_TYPE,
        "response_mode": "cookie",
        "prompt": "none",
        "id_token_hint": id_token,
        "x_pre_authenticated_url_token": token,
        "state": "s-123",
        **extra,
    }
    return browser.get("/oauth2/authorize", query_string=params)


def error_of(resp: Any) -> tuple[int, str, str]:
    body = resp.get_json()
    return resp.status_code, body["error"], body.get("error_description", "")


def pre_authenticated(app: Any) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Sign-in and token exchange; the user, the native app's tokens and the exchange answer."""
    user, tokens = native_sign_in(app)
    resp = token_exchange(app, tokens["id_token"], tokens["device_secret"])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return user, tokens, resp.get_json()


@pytest.mark.embedded
def test_pre_authenticated_url_signs_the_browser_in_as_the_app_user(pre_app):
    (user_id, email), tokens = native_sign_in(pre_app)
    # The code exchange answers a device secret; the ID token and the grant carry its hash.
    secret = tokens["device_secret"]
    assert len(secret) == 32 and secret.isalnum()
    claims = claims_of(pre_app, tokens["id_token"])
    assert claims["ds_hash"] == sha256_hex(secret) and claims["sub"] == user_id
    with pre_app.app_context():
        grant = db.session.get(OfflineGrant, tokens["refresh_token"].partition(".")[0])
        assert grant.device_secret_hash == sha256_hex(secret)

    resp = token_exchange(pre_app, tokens["id_token"], secret)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert set(body) == {"access_token", "token_type", "issued_token_type", "expires_in", "device_secret", "id_token"}
    assert body["issued_token_type"] == PRE_AUTH_TOKEN_TYPE and body["token_type"] == "Bearer"
    assert body["expires_in"] == 300
    assert body["device_secret"] != secret
    new_claims = claims_of(pre_app, body["id_token"])
    assert new_claims["aud"] == WEBAPP and new_claims["sub"] == user_id and new_claims["sid"] == claims["sid"]
    assert new_claims["ds_hash"] == sha256_hex(body["device_secret"])
    # The old device secret was replaced.
    assert error_of(token_exchange(pre_app, tokens["id_token"], secret)) == (
        400,
        "invalid_grant",
        "the device_secret (actor_token) does not bind to the session",
    )

    browser = pre_app.test_client()
    opened = open_url(browser, body["id_token"], body["access_token"])
    assert opened.status_code == 302, opened.get_data(as_text=True)
    location = urlsplit(opened.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == WEB_ORIGIN + "/landing"
    assert query_of(opened.headers["Location"]) == {"from": "app", "state": "s-123"}
    assert app_session_user(pre_app, opened) == user_id
    # The browser is signed in: the settings page and the cookie's userinfo answer as that user.
    page = browser.get("/settings")
    assert page.status_code == 200 and email in page.get_data(as_text=True)
    info = browser.get("/oauth2/userinfo")
    assert info.status_code == 200 and info.get_json()["sub"] == user_id


@pytest.mark.embedded
def test_refresh_and_id_token_grant_rotate_the_device_secret(pre_app):
    _, tokens = native_sign_in(pre_app)
    refreshed = pre_app.test_client().post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "client_id": NATIVE, "refresh_token": tokens["refresh_token"]},
    )
    assert refreshed.status_code == 200
    body = refreshed.get_json()
    assert body["device_secret"] != tokens["device_secret"]
    assert claims_of(pre_app, body["id_token"])["ds_hash"] == sha256_hex(body["device_secret"])
    # Only the newest secret works.
    stale = token_exchange(pre_app, tokens["id_token"], tokens["device_secret"])
    assert error_of(stale)[2] == "the device_secret (actor_token) does not bind to the session"

    # The id-token grant rotates it for a request showing the current secret, and only then.
    def id_token_grant(device_secret: dict[str, str]) -> Any:
        return pre_app.test_client().post(
            "/oauth2/token",
            data={"grant_type": "urn:authgear:params:oauth:grant-type:id-token", "client_id": NATIVE, **device_secret},
            headers={"Authorization": "Bearer " + body["access_token"]},
        )

    wrong = id_token_grant({"device_secret": "x" * 32})
    assert wrong.status_code == 200 and "device_secret" not in wrong.get_json()
    assert claims_of(pre_app, wrong.get_json()["id_token"])["ds_hash"] == sha256_hex(body["device_secret"])
    right = id_token_grant({"device_secret": body["device_secret"]}).get_json()
    assert right["device_secret"] != body["device_secret"]
    assert claims_of(pre_app, right["id_token"])["ds_hash"] == sha256_hex(right["device_secret"])
    assert token_exchange(pre_app, right["id_token"], right["device_secret"]).status_code == 200


def test_wrong_device_secret_and_bad_exchange_requests_are_refused(pre_app):
    _, tokens = native_sign_in(pre_app)
    id_token, secret = tokens["id_token"], tokens["device_secret"]
    assert error_of(token_exchange(pre_app, id_token, "A" * 32)) == (
        400,
        "invalid_grant",
        "the device_secret (actor_token) does not bind to the session",
    )
    cases = [
        ({"requested_token_type": None}, "invalid_request", "requested_token_type not supported"),
        (
            {"actor_token_type": "x"},
            "invalid_request",
            "expected actor_token_type = urn:x-oath:params:oauth:token-type:device-secret",
        ),
        (
            {"subject_token_type": None},
            "invalid_request",
            "expected subject_token_type = urn:ietf:params:oauth:token-type:id_token",
        ),
        ({"subject_token": "not-a-jwt"}, "invalid_request", "subject_token is not a valid id token"),
        ({"audience": WEB_ORIGIN}, "invalid_request", f"expected audience to be {ORIGIN}"),
        ({"scope": "openid profile"}, "invalid_scope", "requesting extra scopes is not allowed"),
    ]
    for extra, error, description in cases:
        data = {"subject_token": id_token, **extra}
        resp = token_exchange(pre_app, data.pop("subject_token"), secret, **data)
        assert error_of(resp) == (400, error, description), extra
    # None of the refusals used up the device secret.
    assert token_exchange(pre_app, id_token, secret).status_code == 200


def test_replayed_pre_authenticated_url_token_is_refused(pre_app):
    (user_id, _), _, body = pre_authenticated(pre_app)
    first = open_url(pre_app.test_client(), body["id_token"], body["access_token"])
    assert app_session_user(pre_app, first) == user_id
    again = open_url(pre_app.test_client(), body["id_token"], body["access_token"])
    assert again.status_code == 302
    assert query_of(again.headers["Location"]) == {
        "from": "app",
        "error": "invalid_request",
        "error_description": "invalid x_pre_authenticated_url_token",
        "state": "s-123",
    }
    assert app_session_user(pre_app, again) is None


def test_expired_pre_authenticated_url_token_is_refused(pre_app, monkeypatch):
    from datetime import timedelta

    monkeypatch.setattr(pre_authenticated_urls, "TOKEN_LIFETIME", timedelta(milliseconds=300))
    _, _, body = pre_authenticated(pre_app)
    time.sleep(0.6)
    resp = open_url(pre_app.test_client(), body["id_token"], body["access_token"])
    assert query_of(resp.headers["Location"])["error_description"] == "invalid x_pre_authenticated_url_token"
    assert app_session_user(pre_app, resp) is None


def test_origin_not_allowed_is_refused_without_using_the_token(pre_app):
    (user_id, _), _, body = pre_authenticated(pre_app)
    browser = pre_app.test_client()
    refused = open_url(browser, body["id_token"], body["access_token"], redirect_uri="https://evil.example/landing")
    assert refused.status_code == 400 and "Location" not in refused.headers
    assert "redirect URI is not allowed" in refused.get_data(as_text=True)
    assert app_session_user(pre_app, refused) is None
    # Checked before the token is used, as in Authgear: the right origin still works.
    assert app_session_user(pre_app, open_url(browser, body["id_token"], body["access_token"])) == user_id


def test_authorize_request_rules(pre_app):
    _, _, body = pre_authenticated(pre_app)
    browser = pre_app.test_client()
    cases = [
        ({"prompt": "login"}, "only 'prompt=none' is supported when using pre-authenticated url"),
        ({"response_mode": "query"}, "only 'response_mode=cookie' is supported when using pre-authenticated url"),
        ({"id_token_hint": ""}, "id_token_hint is required when using pre-authenticated url"),
        ({"id_token_hint": "x.y.z"}, "invalid id_token_hint"),
    ]
    for extra, description in cases:
        resp = open_url(browser, body["id_token"], body["access_token"], **extra)
        assert query_of(resp.headers["Location"])["error_description"] == description, extra
        assert app_session_user(pre_app, resp) is None
    # The token is bound to the client it was issued for.
    other = open_url(browser, body["id_token"], body["access_token"], client_id=NATIVE, redirect_uri=NATIVE_CB)
    assert query_of(other.headers["Location"])["error_description"] == "incorrect client_id"


def test_clients_without_pre_authenticated_urls_cannot_ask_for_the_scopes(pre_app):
    browser = pre_app.test_client()
    with pre_app.app_context():
        _, cookie = new_session(pre_app.extensions["gatehouse"])
    browser.set_cookie(session_cookie_name(pre_app.extensions["gatehouse"].config), cookie)
    cases = [
        (PLAIN_NATIVE, PLAIN_NATIVE_CB, "openid device_sso", "device_sso is not allowed for this client"),
        (
            PLAIN_NATIVE,
            PLAIN_NATIVE_CB,
            f"openid {PRE_AUTH_SCOPE}",
            "device_sso must be requested when using pre-authenticated url",
        ),
        (
            NATIVE,
            NATIVE_CB,
            f"openid {PRE_AUTH_SCOPE} device_sso",
            "device_sso must be requested when using pre-authenticated url",
        ),
    ]
    for client_id, cb, scope, description in cases:
        params = {
            "client_id": client_id,
            "redirect_uri": cb,
            "response_type": "code",
            "scope": scope,
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256",
        }
        resp = browser.get("/oauth2/authorize", query_string=params)
        got = query_of(resp.headers["Location"])
        assert (got["error"], got["error_description"]) == ("invalid_scope", description), scope


def test_session_without_the_pre_authenticated_url_scope_is_refused(pre_app):
    # device_sso alone: a device secret, but no pre-authenticated URL.
    _, tokens = native_sign_in(pre_app, scope="openid offline_access device_sso")
    resp = token_exchange(pre_app, tokens["id_token"], tokens["device_secret"])
    assert error_of(resp) == (400, "insufficient_scope", "pre-authenticated url is not allowed for this session")
    # Without device_sso there is no device secret at all.
    _, plain = native_sign_in(pre_app, scope="openid offline_access")
    assert "device_secret" not in plain and "ds_hash" not in claims_of(pre_app, plain["id_token"])


def test_the_browser_is_signed_out_with_the_app_grant(pre_app):
    """Authgear's `app_access_token` is an access token of the app's grant: revoking the grant ends it."""
    (user_id, _), tokens, body = pre_authenticated(pre_app)
    browser = pre_app.test_client()
    assert app_session_user(pre_app, open_url(browser, body["id_token"], body["access_token"])) == user_id
    assert browser.get("/settings").status_code == 200
    revoked = pre_app.test_client().post("/oauth2/revoke", data={"token": tokens["refresh_token"], "client_id": NATIVE})
    assert revoked.status_code == 200
    assert browser.get("/settings").status_code == 302
    assert browser.get("/_resolver/resolve").headers["X-Authgear-Session-Valid"] == "false"
