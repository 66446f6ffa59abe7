"""Biometric sign-in (contract 1.4, 1.9): the biometric-request grant with device keys made here
(setup with the user's full-access token, authenticate), Authgear's errors, the identities on the
Admin API."""

from __future__ import annotations

import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from app.extensions import db
from app.identities.models import Identity
from app.sessions.models import OfflineGrant
from app.transport import session_cookie_name
from tests.admin.conftest import GRAPHQL_PATH, admin_key, gid
from tests.oidc.helpers import SPA, WEB, basic, client_secret, exchange, get_code, new_session
from tests.sdk.test_anonymous import challenge, device_key
from tests.sdk.test_anonymous import grant as anonymous_grant
from tests.sdk.test_anonymous import request_jwt as anonymous_jwt

GRANT = "urn:authgear:params:oauth:grant-type:biometric-request"
TYP = "vnd.authgear.biometric-request"
FULL_ACCESS = "https://authgear.com/scopes/full-access"
ANDROID = {"android": {"Build": {"MANUFACTURER": "Google", "MODEL": "Pixel 8"}}}
IOS = {"ios": {"uname": {"machine": "iPhone15,2"}, "UIDevice": {"name": "Ada's iPhone"}}}


@pytest.fixture
def bio_app(make_sdk_app):
    return make_sdk_app(authentication={"identities": ["login_id", "anonymous", "biometric"]})


def bio_jwt(
    key: Any,
    chal: str,
    action: str,
    *,
    with_jwk: bool = False,
    device_info: dict[str, Any] | None = None,
    exp_in: int = 300,
    alg: str = "RS256",
) -> str:
    now = int(time.time())
    header: dict[str, Any] = {"alg": alg, "typ": TYP}
    if with_jwk:
        header["jwk"] = key.as_dict(private=False)
    else:
        header["kid"] = key.kid
    payload: dict[str, Any] = {"challenge": chal, "action": action, "iat": now, "exp": now + exp_in}
    if device_info is not None:
        payload["device_info"] = device_info
    return jwt.encode(header, payload, key)


def post_grant(client: Any, token: str, access_token: str | None = None, **form: str) -> Any:
    headers = {"Authorization": "Bearer " + access_token} if access_token else {}
    data = {"grant_type": GRANT, "client_id": SPA, "jwt": token, **form}
    return client.post("/oauth2/token", data=data, headers=headers)


def user_token(app: Any) -> tuple[str, str]:
    """A signed-in user's full-access access token from the authorization code flow, and the user ID."""
    client = app.test_client()
    with app.app_context():
        user, cookie = new_session(app.extensions["gatehouse"])
        user_id = user.id
    client.set_cookie(session_cookie_name(app.extensions["gatehouse"].config), cookie)
    code, verifier = get_code(client, scope=f"openid offline_access {FULL_ACCESS}")
    body = exchange(client, code, verifier).get_json()
    return body["access_token"], user_id


def set_up(app: Any, client: Any, key: Any, access_token: str, device_info: dict[str, Any] | None = None) -> Any:
    token = bio_jwt(
        key, challenge(client, "biometric_request"), "setup", with_jwk=True, device_info=device_info or ANDROID
    )
    return post_grant(client, token, access_token)


def sign_in(client: Any, key: Any, **form: str) -> Any:
    return post_grant(client, bio_jwt(key, challenge(client, "biometric_request"), "authenticate"), **form)


def test_setup_then_authenticate(bio_app):
    client = bio_app.test_client()
    access, user_id = user_token(bio_app)
    key = device_key()
    resp = set_up(bio_app, client, key, access)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json() == {}
    with bio_app.app_context():
        identity = db.session.query(Identity).filter_by(user_id=user_id, type="biometric").one()
        assert identity.claims["https://authgear.com/claims/biometric/key_id"] == key.kid
        assert identity.claims["https://authgear.com/claims/biometric/formatted_device_info"] == "Google Pixel 8"
        assert "d" not in identity.provider_profile["jwk"]

    first = sign_in(client, key)
    assert first.status_code == 200, first.get_data(as_text=True)
    body = first.get_json()
    assert set(body["scope"].split()) == {"openid", "offline_access", FULL_ACCESS}
    assert body["refresh_token"] and body["id_token"]
    info = client.get("/oauth2/userinfo", headers={"Authorization": "Bearer " + body["access_token"]})
    assert info.get_json()["sub"] == user_id

    # A new sign-in with the same key replaces the grant the last one made (as Authgear does).
    second = sign_in(client, key)
    assert second.status_code == 200
    old = client.post(
        "/oauth2/token", data={"grant_type": "refresh_token", "client_id": SPA, "refresh_token": body["refresh_token"]}
    )
    assert old.status_code == 400
    with bio_app.app_context():
        grants = db.session.query(OfflineGrant).filter_by(user_id=user_id).all()
        assert ["x_biometric"] in [g.amr for g in grants]
        assert sum(g.amr == ["x_biometric"] for g in grants) == 1


def test_ec_key_and_requested_scopes(bio_app):
    client = bio_app.test_client()
    access, _ = user_token(bio_app)
    key = ECKey.generate_key("P-256", private=True)
    key.ensure_kid()
    token = bio_jwt(key, challenge(client, "biometric_request"), "setup", with_jwk=True, device_info=IOS, alg="ES256")
    assert post_grant(client, token, access).status_code == 200
    auth = bio_jwt(key, challenge(client, "biometric_request"), "authenticate", alg="ES256")
    resp = post_grant(client, auth, scope=f"openid offline_access {FULL_ACCESS} email")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert "email" in resp.get_json()["scope"].split()
    auth = bio_jwt(key, challenge(client, "biometric_request"), "authenticate", alg="ES256")
    resp = post_grant(client, auth, scope="openid offline_access")
    assert resp.status_code == 400
    assert resp.get_json() == {
        "error": "invalid_scope",
        "error_description": "offline_access and full-access must be requested",
    }


def _invalid_credentials(resp: Any) -> None:
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert resp.get_json()["error"] == "invalid_grant"
    assert resp.get_json()["error_description"] == "InvalidCredentials"


def test_replayed_challenge_wrong_key_and_expired_jwt(bio_app):
    client = bio_app.test_client()
    access, _ = user_token(bio_app)
    key = device_key()
    assert set_up(bio_app, client, key, access).status_code == 200

    token = bio_jwt(key, challenge(client, "biometric_request"), "authenticate")
    assert post_grant(client, token).status_code == 200
    _invalid_credentials(post_grant(client, token))  # the same JWT again: its challenge is used

    # Another key claiming the registered key ID.
    impostor = RSAKey.import_key({**RSAKey.generate_key(2048, private=True).as_dict(private=True), "kid": key.kid})
    _invalid_credentials(sign_in(client, impostor))
    # A key never set up.
    _invalid_credentials(sign_in(client, device_key()))
    # Expired (beyond the five-minute skew).
    expired = bio_jwt(key, challenge(client, "biometric_request"), "authenticate", exp_in=-600)
    _invalid_credentials(post_grant(client, expired))
    # A challenge made for another purpose, and an unknown one.
    _invalid_credentials(post_grant(client, bio_jwt(key, challenge(client, "anonymous_request"), "authenticate")))
    _invalid_credentials(post_grant(client, bio_jwt(key, "0" * 32, "authenticate")))
    # A JWT of another type.
    other = jwt.encode(
        {"alg": "RS256", "typ": "vnd.authgear.anonymous-request", "kid": key.kid},
        {"challenge": challenge(client, "biometric_request"), "action": "authenticate"},
        key,
    )
    _invalid_credentials(post_grant(client, other))
    bad_action = post_grant(client, bio_jwt(key, challenge(client, "biometric_request"), "promote"))
    assert bad_action.status_code == 400 and bad_action.get_json()["error"] == "invalid_request"


def test_setup_needs_the_users_full_access_token_and_device_info(bio_app):
    client = bio_app.test_client()
    key = device_key()
    resp = set_up(bio_app, client, key, "not-a-token")
    assert resp.status_code == 401
    assert resp.get_json() == {
        "error": "invalid_grant",
        "error_description": "biometric setup requires authenticated user",
    }
    access, _ = user_token(bio_app)
    _invalid_credentials(set_up(bio_app, client, key, access, device_info={"web": {}}))
    # The same key twice.
    assert set_up(bio_app, client, key, access).status_code == 200
    again = set_up(bio_app, client, key, access)
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_request"


def test_disallowed_and_clients(make_sdk_app, bio_app):
    app = make_sdk_app()  # biometric not among the identities
    client = app.test_client()
    access, _ = user_token(app)
    resp = set_up(app, client, device_key(), access)
    assert resp.status_code == 400
    assert resp.get_json() == {"error": "unauthorized_client", "error_description": "BiometricDisallowed"}
    key = device_key()
    resp = sign_in(client, key)
    assert resp.get_json()["error_description"] == "BiometricDisallowed"

    # Confidential clients have no full-access scope.
    client = bio_app.test_client()
    token = bio_jwt(key, challenge(client, "biometric_request"), "authenticate")
    resp = client.post(
        "/oauth2/token",
        data={"grant_type": GRANT, "jwt": token},
        headers=basic(WEB, client_secret(bio_app, WEB)),
    )
    assert resp.get_json()["error"] in ("unauthorized_client", "invalid_client")


def test_anonymous_user_cannot_set_up(bio_app):
    client = bio_app.test_client()
    anon = anonymous_grant(client, anonymous_jwt(device_key(), challenge(client))).get_json()
    resp = set_up(bio_app, client, device_key(), anon["access_token"])
    assert resp.status_code == 400
    assert resp.get_json() == {"error": "unauthorized_client", "error_description": "AnonymousUserAddIdentity"}


def admin_headers(app: Any) -> dict[str, str]:
    key = admin_key(app)
    now = int(time.time())
    token = jwt.encode(
        {"alg": "RS256", "typ": "JWT", "kid": key.kid},
        {"aud": [app.extensions["gatehouse"].config.project["id"]], "iat": now, "exp": now + 300},
        key,
    )
    return {"Authorization": "Bearer " + token}


def test_admin_api_lists_and_deletes(bio_app):
    client = bio_app.test_client()
    access, user_id = user_token(bio_app)
    key = device_key()
    assert set_up(bio_app, client, key, access).status_code == 200
    headers = admin_headers(bio_app)
    query = """query($id: ID!) { node(id: $id) { ... on User {
        identities(identityType: BIOMETRIC) { edges { node { id type claims } } } } } }"""
    resp = client.post(GRAPHQL_PATH, json={"query": query, "variables": {"id": gid("User", user_id)}}, headers=headers)
    edges = resp.get_json()["data"]["node"]["identities"]["edges"]
    assert [e["node"]["type"] for e in edges] == ["BIOMETRIC"]
    claims = edges[0]["node"]["claims"]
    assert claims["https://authgear.com/claims/biometric/key_id"] == key.kid
    assert claims["https://authgear.com/claims/biometric/device_info"] == ANDROID
    delete = """mutation($id: ID!) { deleteIdentity(input: {identityID: $id}) { user { id } } }"""
    resp = client.post(
        GRAPHQL_PATH, json={"query": delete, "variables": {"id": edges[0]["node"]["id"]}}, headers=headers
    )
    assert "errors" not in resp.get_json(), resp.get_json()
    _invalid_credentials(sign_in(client, key))


def test_settings_list_and_remove(make_sdk_app):
    from tests.settings.conftest import sign_in as settings_sign_in

    hidden = make_sdk_app(authentication={"identities": ["login_id", "biometric"]})
    account = settings_sign_in(hidden)
    assert account.get("/settings/biometric").status_code == 404
    assert "/settings/biometric" not in account.get("/settings").get_data(as_text=True)

    app = make_sdk_app(
        authentication={"identities": ["login_id", "biometric"]}, identity={"biometric": {"list_enabled": True}}
    )
    account = settings_sign_in(app)
    assert "/settings/biometric" in account.get("/settings").get_data(as_text=True)
    with app.app_context():
        from app.identities.biometric import BiometricIdentityService

        svc = app.extensions["gatehouse"]
        user = svc.users.get(account.user_id)
        key = device_key()
        jwk = {**key.as_dict(private=False), "kid": key.kid}
        identity = BiometricIdentityService(svc.config.project, svc.audit, svc.clock).create(
            user, key.kid, jwk, ANDROID, None
        )
        db.session.commit()
        identity_id = identity.id
    page = account.get("/settings/biometric").get_data(as_text=True)
    assert "Google Pixel 8" in page
    csrf = account.csrf("/settings/biometric")
    resp = account.post("/settings/biometric/remove", {"id": identity_id, "csrf_token": csrf}, csrf=False)
    assert resp.status_code == 303, resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Identity, identity_id) is None
    assert "Google Pixel 8" not in account.get("/settings/biometric").get_data(as_text=True)
    # Another user's identity ID is not found.
    resp = account.post("/settings/biometric/remove", {"id": identity_id, "csrf_token": csrf}, csrf=False)
    assert resp.status_code == 404
