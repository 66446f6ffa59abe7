"""App2app (Authgear's app-to-app authorization): a device key bound at the code exchange
(`x_app2app_device_key_jwt`), the app2app-request grant issuing another app's code, Authgear's
errors, the client keys and the feature switch; device keys are made here."""

from __future__ import annotations

import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from app.config import deep_merge
from app.extensions import db
from app.features import default_features
from app.sessions.models import OfflineGrant
from app.transport import session_cookie_name
from tests.oidc.helpers import CLIENTS, SPA, SPA_CB, exchange, get_code, new_session, pkce_pair
from tests.sdk.test_anonymous import challenge, device_key

GRANT = "urn:authgear:params:oauth:grant-type:app2app-request"
TYP = "vnd.authgear.app2app-request"
APP_A, A_CB = "app2app-a", "com.example.a://callback"
APP_B, B_CB = "app2app-b", "com.example.b://callback"
INSECURE, INSECURE_CB = "app2app-insecure", "com.example.c://callback"


def app2app_clients() -> list[dict[str, Any]]:
    def native(client_id: str, cb: str, **extra: Any) -> dict[str, Any]:
        return {
            "client_id": client_id,
            "name": client_id,
            "x_application_type": "native",
            "redirect_uris": [cb],
            **extra,
        }

    return [
        *CLIENTS,
        native(APP_A, A_CB, x_app2app_enabled=True),
        native(APP_B, B_CB, x_app2app_enabled=True),
        native(INSECURE, INSECURE_CB, x_app2app_enabled=True, x_app2app_insecure_device_key_binding_enabled=True),
    ]


@pytest.fixture
def make_a2a_app(make_app, secrets_items):
    from tests.oidc.helpers import oidc_secrets
    from tests.sdk.conftest import sdk_overrides

    def build(feature: bool = True) -> Any:
        features = deep_merge(default_features(), {"oauth": {"client": {"app2app_enabled": feature}}})
        overrides = sdk_overrides()
        overrides["oauth"] = {"clients": app2app_clients()}
        return make_app(overrides, secrets=oidc_secrets(secrets_items), features=features)

    return build


@pytest.fixture
def a2a_app(make_a2a_app):
    return make_a2a_app()


def a2a_jwt(key: Any, chal: str, *, exp_in: int = 300, typ: str = TYP) -> str:
    now = int(time.time())
    alg = "ES256" if isinstance(key, ECKey) else "RS256"
    header = {"alg": alg, "typ": typ, "jwk": key.as_dict(private=False)}
    return jwt.encode(header, {"challenge": chal, "iat": now, "exp": now + exp_in}, key)


def signed_in(app: Any, client_id: str, cb: str, key: Any | None) -> tuple[Any, dict[str, Any], str]:
    """App A's sign-in (the code flow), binding `key` when given; the test client, tokens, user ID."""
    client = app.test_client()
    with app.app_context():
        user, cookie = new_session(app.extensions["gatehouse"])
        user_id = user.id
    client.set_cookie(session_cookie_name(app.extensions["gatehouse"].config), cookie)
    code, verifier = get_code(client, client_id=client_id, redirect_uri=cb, scope="openid offline_access")
    data = {"x_app2app_device_key_jwt": a2a_jwt(key, challenge(client, "app2app_request"))} if key else {}
    resp = exchange(client, code, verifier, client_id=client_id, redirect_uri=cb, data=data)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return client, resp.get_json(), user_id


def a2a_request(client: Any, refresh_token: str, token: str, client_id: str = APP_B, **form: str) -> Any:
    data = {
        "grant_type": GRANT,
        "client_id": client_id,
        "redirect_uri": B_CB,
        "refresh_token": refresh_token,
        "jwt": token,
        **form,
    }
    return client.post("/oauth2/token", data=data)


def bound_key(app: Any, refresh_token: str) -> Any:
    with app.app_context():
        return db.session.get(OfflineGrant, refresh_token.partition(".")[0]).app2app_device_key


def error_of(resp: Any) -> tuple[int, str, str]:
    body = resp.get_json()
    return resp.status_code, body["error"], body.get("error_description", "")


def test_app2app_round_trip(a2a_app):
    key = device_key()
    client, tokens, user_id = signed_in(a2a_app, APP_A, A_CB, key)
    bound = bound_key(a2a_app, tokens["refresh_token"])
    assert bound["kid"] == key.kid and "d" not in bound

    verifier, pkce = pkce_pair()
    resp = a2a_request(
        client,
        tokens["refresh_token"],
        a2a_jwt(key, challenge(client, "app2app_request")),
        code_challenge=pkce,
        code_challenge_method="S256",
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert set(resp.get_json()) == {"code"}
    # App B exchanges the code with its PKCE verifier: a session of the same user.
    b = exchange(client, resp.get_json()["code"], verifier, client_id=APP_B, redirect_uri=B_CB)
    assert b.status_code == 200, b.get_data(as_text=True)
    body = b.get_json()
    assert set(body["scope"].split()) == {"openid", "offline_access"}
    assert body["refresh_token"] and body["id_token"]
    info = client.get("/oauth2/userinfo", headers={"Authorization": "Bearer " + body["access_token"]})
    assert info.get_json()["sub"] == user_id
    # A's session goes on.
    again = client.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "client_id": APP_A, "refresh_token": tokens["refresh_token"]},
    )
    assert again.status_code == 200


def test_ec_key(a2a_app):
    key = ECKey.generate_key("P-256", private=True)
    key.ensure_kid()
    client, tokens, _ = signed_in(a2a_app, APP_A, A_CB, key)
    token = a2a_jwt(key, challenge(client, "app2app_request"))
    resp = a2a_request(client, tokens["refresh_token"], token)
    assert resp.status_code == 200, resp.get_data(as_text=True)


def test_replayed_challenge_wrong_key_and_expired_jwt(a2a_app):
    key = device_key()
    client, tokens, _ = signed_in(a2a_app, APP_A, A_CB, key)
    refresh = tokens["refresh_token"]

    token = a2a_jwt(key, challenge(client, "app2app_request"))
    assert a2a_request(client, refresh, token).status_code == 200
    # The same JWT again: its challenge is used.
    assert error_of(a2a_request(client, refresh, token)) == (400, "invalid_request", "invalid app2app jwt challenge")
    # A challenge of another purpose, and an unknown one.
    other = a2a_jwt(key, challenge(client, "biometric_request"))
    assert error_of(a2a_request(client, refresh, other))[2] == "invalid app2app jwt challenge"
    assert error_of(a2a_request(client, refresh, a2a_jwt(key, "0" * 32)))[2] == "invalid app2app jwt challenge"
    # Another key, even one claiming the bound key's ID.
    impostor = RSAKey.import_key({**RSAKey.generate_key(2048, private=True).as_dict(private=True), "kid": key.kid})
    for wrong in (impostor, device_key()):
        resp = a2a_request(client, refresh, a2a_jwt(wrong, challenge(client, "app2app_request")))
        assert error_of(resp) == (400, "invalid_request", "invalid app2app jwt signature")
    # Expired beyond the five-minute skew; another JWT type; no key in the header.
    expired = a2a_jwt(key, challenge(client, "app2app_request"), exp_in=-600)
    assert error_of(a2a_request(client, refresh, expired)) == (400, "invalid_request", "invalid app2app jwt payload")
    biometric = a2a_jwt(key, challenge(client, "app2app_request"), typ="vnd.authgear.biometric-request")
    assert error_of(a2a_request(client, refresh, biometric))[2] == "invalid app2app jwt payload"
    now = int(time.time())
    kid_only = jwt.encode(
        {"alg": "RS256", "typ": TYP, "kid": key.kid},
        {"challenge": challenge(client, "app2app_request"), "iat": now, "exp": now + 300},
        key,
    )
    assert error_of(a2a_request(client, refresh, kid_only))[2] == "invalid app2app jwt payload"
    # A bad refresh token.
    good = a2a_jwt(key, challenge(client, "app2app_request"))
    assert error_of(a2a_request(client, refresh + "x", good))[:2] == (400, "invalid_grant")
    # The key still works.
    assert a2a_request(client, refresh, a2a_jwt(key, challenge(client, "app2app_request"))).status_code == 200


def test_code_exchange_device_key_errors(a2a_app):
    client = a2a_app.test_client()
    with a2a_app.app_context():
        _, cookie = new_session(a2a_app.extensions["gatehouse"])
    client.set_cookie(session_cookie_name(a2a_app.extensions["gatehouse"].config), cookie)
    code, verifier = get_code(client, client_id=APP_A, redirect_uri=A_CB)
    key = device_key()
    token = a2a_jwt(key, challenge(client, "app2app_request"), exp_in=-600)
    resp = exchange(
        client, code, verifier, client_id=APP_A, redirect_uri=A_CB, data={"x_app2app_device_key_jwt": token}
    )
    assert error_of(resp) == (400, "invalid_request", "invalid app2app jwt payload")
    # The code was not used up by the refused request.
    token = a2a_jwt(key, challenge(client, "app2app_request"))
    resp = exchange(
        client, code, verifier, client_id=APP_A, redirect_uri=A_CB, data={"x_app2app_device_key_jwt": token}
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)

    # A client without app2app ignores the parameter, as Authgear does: nothing is bound.
    code, verifier = get_code(client, client_id=SPA, redirect_uri=SPA_CB)
    token = a2a_jwt(key, challenge(client, "app2app_request"))
    resp = exchange(client, code, verifier, data={"x_app2app_device_key_jwt": token})
    assert resp.status_code == 200
    assert bound_key(a2a_app, resp.get_json()["refresh_token"]) is None


def test_grant_without_key_and_insecure_binding(a2a_app):
    client, tokens, _ = signed_in(a2a_app, APP_A, A_CB, None)
    key = device_key()
    resp = a2a_request(client, tokens["refresh_token"], a2a_jwt(key, challenge(client, "app2app_request")))
    assert error_of(resp) == (400, "invalid_grant", "app2app is not allowed in current session")

    # With x_app2app_insecure_device_key_binding_enabled the first request's key is bound.
    client, tokens, _ = signed_in(a2a_app, INSECURE, INSECURE_CB, None)
    refresh = tokens["refresh_token"]
    assert a2a_request(client, refresh, a2a_jwt(key, challenge(client, "app2app_request"))).status_code == 200
    assert bound_key(a2a_app, refresh)["kid"] == key.kid
    resp = a2a_request(client, refresh, a2a_jwt(device_key(), challenge(client, "app2app_request")))
    assert error_of(resp)[2] == "invalid app2app jwt signature"


def test_client_keys_feature_and_request_checks(a2a_app, make_a2a_app):
    key = device_key()
    client, tokens, _ = signed_in(a2a_app, APP_A, A_CB, key)
    refresh = tokens["refresh_token"]
    # The app asking must have x_app2app_enabled.
    resp = a2a_request(client, refresh, a2a_jwt(key, challenge(client, "app2app_request")), client_id=SPA)
    assert error_of(resp) == (400, "unauthorized_client", "this client may not use app2app authentication")
    # Its redirect URI must be registered.
    token = a2a_jwt(key, challenge(client, "app2app_request"))
    assert error_of(a2a_request(client, refresh, token, redirect_uri=A_CB))[:2] == (400, "invalid_request")
    # Missing parameters and plain PKCE.
    assert error_of(a2a_request(client, refresh, ""))[2] == "jwt is required"
    assert error_of(a2a_request(client, "", token))[2] == "refresh token is required"
    assert error_of(a2a_request(client, refresh, token, redirect_uri=""))[2] == "redirect uri is required"
    plain = a2a_request(client, refresh, token, code_challenge="x" * 43, code_challenge_method="plain")
    assert error_of(plain)[2] == "only 'S256' PKCE transform is supported"

    off = make_a2a_app(feature=False)
    client, tokens, _ = signed_in(off, APP_A, A_CB, key)
    resp = a2a_request(client, tokens["refresh_token"], a2a_jwt(key, challenge(client, "app2app_request")))
    assert error_of(resp) == (400, "invalid_request", "app2app disabled")
