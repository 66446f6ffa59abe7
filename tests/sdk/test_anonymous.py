"""Anonymous users (contract 1.4, 1.9): challenges, the anonymous-request grant with device keys
made here, the Web SDK's keyless signup, promotion codes and the promote flow keeping the user ID,
the Admin API's view and deletion."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from app.extensions import db
from app.identities.models import Identity, User
from app.transport import session_cookie_name
from tests.admin.conftest import GRAPHQL_PATH, admin_key, gid
from tests.factories import random_password
from tests.oidc.helpers import NO_REFRESH, SPA
from tests.sdk.conftest import SDK_ORIGIN

GRANT = "urn:authgear:params:oauth:grant-type:anonymous-request"
TYP = "vnd.authgear.anonymous-request"
IS_ANONYMOUS = "https://authgear.com/claims/user/is_anonymous"
HINT = "https://authgear.com/login_hint?"
FLOWS = "/api/v1/authentication_flows"


def challenge(client: Any, purpose: str = "anonymous_request") -> str:
    resp = client.post("/oauth2/challenge", json={"purpose": purpose})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    result = resp.get_json()["result"]
    assert result["expire_at"].endswith("Z")
    return result["token"]


def device_key(kid: str | None = None) -> RSAKey:
    key = RSAKey.generate_key(2048, private=True)
    key.ensure_kid()
    return RSAKey.import_key({**key.as_dict(private=True), "kid": kid or key.kid})


def request_jwt(
    key: RSAKey, chal: str, action: str = "auth", with_jwk: bool = True, exp_in: int = 300, typ: str = TYP
) -> str:
    now = int(time.time())
    header: dict[str, Any] = {"alg": "RS256", "typ": typ}
    if with_jwk:
        header["jwk"] = key.as_dict(private=False)
    else:
        header["kid"] = key.kid
    return jwt.encode(header, {"challenge": chal, "action": action, "iat": now, "exp": now + exp_in}, key)


def grant(client: Any, token: str, client_id: str = SPA) -> Any:
    return client.post("/oauth2/token", data={"grant_type": GRANT, "client_id": client_id, "jwt": token})


def userinfo(client: Any, access_token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {access_token}"} if access_token else {}
    return client.get("/oauth2/userinfo", headers=headers)


def test_device_key_signs_up_then_signs_in_as_the_same_user(sdk_app):
    client = sdk_app.test_client()
    key = device_key()
    first = grant(client, request_jwt(key, challenge(client)))
    assert first.status_code == 200, first.get_data(as_text=True)
    body = first.get_json()
    assert {"access_token", "refresh_token", "id_token", "expires_in"} <= set(body)
    info = userinfo(client, body["access_token"]).get_json()
    assert info[IS_ANONYMOUS] is True
    # Later, with only the key ID in the header: the same user, not a new one.
    again = grant(client, request_jwt(key, challenge(client), with_jwk=False))
    assert again.status_code == 200, again.get_data(as_text=True)
    assert userinfo(client, again.get_json()["access_token"]).get_json()["sub"] == info["sub"]
    # The refresh token works like any other.
    refreshed = client.post(
        "/oauth2/token", data={"grant_type": "refresh_token", "client_id": SPA, "refresh_token": body["refresh_token"]}
    )
    assert userinfo(client, refreshed.get_json()["access_token"]).get_json()["sub"] == info["sub"]


def test_replayed_challenge_wrong_key_and_expired_jwt_are_refused(sdk_app):
    client = sdk_app.test_client()
    key = device_key()
    chal = challenge(client)
    assert grant(client, request_jwt(key, chal)).status_code == 200
    replay = grant(client, request_jwt(key, chal))
    assert (replay.status_code, replay.get_json()["error"]) == (400, "invalid_grant")
    assert replay.get_json()["error_description"] == "InvalidCredentials"
    # Another key claiming the same key ID: the signature is checked with the key on record.
    impostor = device_key(kid=key.kid)
    wrong = grant(client, request_jwt(impostor, challenge(client)))
    assert (wrong.status_code, wrong.get_json()["error"]) == (400, "invalid_grant")
    expired = grant(client, request_jwt(key, challenge(client), exp_in=-3600))
    assert (expired.status_code, expired.get_json()["error"]) == (400, "invalid_grant")
    other_type = grant(client, request_jwt(key, challenge(client), typ="vnd.authgear.biometric-request"))
    assert other_type.get_json()["error"] == "invalid_grant"
    # A challenge made for another purpose does not do either.
    biometric = grant(client, request_jwt(key, challenge(client, "biometric_request")))
    assert biometric.get_json()["error"] == "invalid_grant"
    with sdk_app.app_context():
        kid_identities = db.session.query(Identity).filter(Identity.dedup_key == f"anonymous:{key.kid}").count()
    assert kid_identities == 1


def test_anonymous_users_off_is_unauthorized_client(make_sdk_app):
    app = make_sdk_app(authentication={"identities": ["login_id"]})
    client = app.test_client()
    resp = grant(client, request_jwt(device_key(), challenge(client)))
    assert (resp.status_code, resp.get_json()["error"]) == (400, "unauthorized_client")
    assert resp.get_json()["error_description"] == "AnonymousUserDisallowed"


def test_challenge_purpose_is_validated(sdk_app):
    resp = sdk_app.test_client().post("/oauth2/challenge", json={"purpose": "other"})
    assert resp.status_code == 400 and resp.get_json()["error"]["reason"] == "ValidationFailed"


def test_web_sdk_signup_with_refresh_token_session(sdk_app):
    client = sdk_app.test_client()
    resp = client.post(
        "/api/anonymous_user/signup",
        json={"client_id": SPA, "session_type": "refresh_token"},
        headers={"Origin": SDK_ORIGIN},
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.headers["Access-Control-Allow-Origin"] == SDK_ORIGIN
    tokens = resp.get_json()["result"]
    info = userinfo(client, tokens["access_token"]).get_json()
    assert info[IS_ANONYMOUS] is True
    # Signing up again with the refresh token keeps the same anonymous user.
    again = client.post(
        "/api/anonymous_user/signup",
        json={"client_id": SPA, "session_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    ).get_json()["result"]
    assert userinfo(client, again["access_token"]).get_json()["sub"] == info["sub"]
    missing_client = client.post("/api/anonymous_user/signup", json={"session_type": "refresh_token"})
    assert missing_client.status_code == 400


def test_web_sdk_signup_with_cookie_session_then_userinfo_by_cookie(sdk_app):
    client = sdk_app.test_client()
    resp = client.post("/api/anonymous_user/signup", json={"client_id": SPA, "session_type": "cookie"})
    assert resp.status_code == 200 and resp.get_json() == {"result": {}}
    name = session_cookie_name(sdk_app.extensions["gatehouse"].config)
    assert client.get_cookie(name) is not None
    info = client.get("/oauth2/userinfo")
    assert info.status_code == 200 and info.get_json()[IS_ANONYMOUS] is True
    # Again in the same browser: the same anonymous user, no new one.
    assert client.post("/api/anonymous_user/signup", json={"session_type": "cookie"}).get_json() == {"result": {}}
    assert client.get("/oauth2/userinfo").get_json()["sub"] == info.get_json()["sub"]
    # No cookie and no bearer token: the usual 401.
    assert sdk_app.test_client().get("/oauth2/userinfo").status_code == 401


def test_signup_refuses_clients_without_full_access_and_normal_users(sdk_app):
    from tests.oidc.helpers import THIRD, new_session

    client = sdk_app.test_client()
    third = client.post("/api/anonymous_user/signup", json={"client_id": THIRD, "session_type": "refresh_token"})
    assert third.status_code == 400 and third.get_json()["error"]["name"] == "Invalid"
    with sdk_app.app_context():
        _, cookie = new_session(sdk_app.extensions["gatehouse"])
    client.set_cookie(session_cookie_name(sdk_app.extensions["gatehouse"].config), cookie)
    normal = client.post("/api/anonymous_user/signup", json={"session_type": "cookie"})
    assert normal.status_code == 400 and normal.get_json()["error"]["message"] == "user logged in as normal user"
    code = client.post("/api/anonymous_user/promotion_code", json={"session_type": "cookie"})
    assert code.status_code == 400
    none = sdk_app.test_client().post("/api/anonymous_user/promotion_code", json={"session_type": "cookie"})
    assert none.status_code == 401 and none.get_json()["error"]["name"] == "Unauthorized"


def test_cross_origin_signup_from_an_unknown_site_is_refused(sdk_app):
    resp = sdk_app.test_client().post(
        "/api/anonymous_user/signup", json={"session_type": "cookie"}, headers={"Origin": "https://evil.example"}
    )
    assert resp.status_code == 403


@pytest.fixture
def promote_app(make_sdk_app):
    return make_sdk_app(
        identity={"login_id": {"keys": [{"type": "username", "key": "username"}]}},
        authentication={"identities": ["login_id", "anonymous"], "primary_authenticators": ["password"]},
    )


def _promote_over_flow_api(client: Any, hint: str) -> tuple[Any, str, str]:
    username, password = "u" + random_password().lower()[:12], random_password()
    resp = client.post(
        FLOWS,
        json={
            "type": "promote",
            "name": "default",
            "url_query": urlencode({"login_hint": hint}),
            "batch_input": [
                {"identification": "username", "login_id": username},
                {"authentication": "primary_password", "new_password": password},
            ],
        },
    )
    return resp, username, password


def test_promotion_code_and_flow_api_promote_keep_the_user_id(promote_app):
    client = promote_app.test_client()
    tokens = client.post(
        "/api/anonymous_user/signup", json={"client_id": SPA, "session_type": "refresh_token"}
    ).get_json()["result"]
    sub = userinfo(client, tokens["access_token"]).get_json()["sub"]
    code = client.post(
        "/api/anonymous_user/promotion_code",
        json={"session_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert code.status_code == 200, code.get_data(as_text=True)
    promotion_code = code.get_json()["result"]["promotion_code"]
    hint = HINT + urlencode({"type": "anonymous", "promotion_code": promotion_code})
    resp, username, password = _promote_over_flow_api(client, hint)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["result"]["action"]["type"] == "finished"
    # The promoted user signs in with the new username and password and is the same user.
    login = client.post(
        FLOWS,
        json={
            "type": "login",
            "name": "default",
            "batch_input": [
                {"identification": "username", "login_id": username},
                {"authentication": "primary_password", "password": password},
            ],
        },
    )
    assert login.get_json()["result"]["action"]["type"] == "finished"
    with promote_app.app_context():
        user = db.session.get(User, sub)
        assert [i.type for i in user.identities] == ["login_id"]
    # The app's refresh token still works and now says the user is no longer anonymous.
    refreshed = client.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "client_id": SPA, "refresh_token": tokens["refresh_token"]},
    ).get_json()
    info = userinfo(client, refreshed["access_token"]).get_json()
    assert info["sub"] == sub and info[IS_ANONYMOUS] is False
    # The code was used up.
    replay, _, _ = _promote_over_flow_api(promote_app.test_client(), hint)
    assert replay.status_code == 400


def test_device_key_user_promotes_with_a_jwt(promote_app):
    client = promote_app.test_client()
    key = device_key()
    tokens = grant(client, request_jwt(key, challenge(client))).get_json()
    sub = userinfo(client, tokens["access_token"]).get_json()["sub"]
    hint = HINT + urlencode({"type": "anonymous", "jwt": request_jwt(key, challenge(client), action="promote")})
    resp, _, _ = _promote_over_flow_api(client, hint)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    with promote_app.app_context():
        assert [i.type for i in db.session.get(User, sub).identities] == ["login_id"]


def test_admin_api_lists_anonymous_identity_and_deletion_removes_it(sdk_app):
    client = sdk_app.test_client()
    tokens = grant(client, request_jwt(device_key(), challenge(client))).get_json()
    sub = userinfo(client, tokens["access_token"]).get_json()["sub"]
    key = admin_key(sdk_app)
    now = int(time.time())
    token = jwt.encode(
        {"alg": "RS256", "typ": "JWT", "kid": key.kid},
        {"aud": [sdk_app.extensions["gatehouse"].config.project["id"]], "iat": now, "exp": now + 300},
        key,
    )
    headers = {"Authorization": f"Bearer {token}"}
    query = "query($id: ID!) { node(id: $id) { ... on User { isAnonymous identities { edges { node { type } } } } } }"
    body = client.post(GRAPHQL_PATH, json={"query": query, "variables": {"id": gid("User", sub)}}, headers=headers)
    node = body.get_json()["data"]["node"]
    assert node["isAnonymous"] is True
    assert [e["node"]["type"] for e in node["identities"]["edges"]] == ["ANONYMOUS"]
    delete = "mutation($id: ID!) { deleteUser(input: {userID: $id}) { deletedUserID } }"
    deleted = client.post(GRAPHQL_PATH, json={"query": delete, "variables": {"id": gid("User", sub)}}, headers=headers)
    assert "errors" not in deleted.get_json(), deleted.get_json()
    with sdk_app.app_context():
        assert db.session.query(Identity).filter(Identity.user_id == sub).count() == 0
    assert grant(client, request_jwt(device_key(), challenge(client)), client_id=NO_REFRESH).status_code == 200
