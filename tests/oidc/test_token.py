"""`/oauth2/token` (contract 1.4): every grant, client authentication, ID token and JWT access token
claims (1.7), refresh rotation with reuse detection, and the OAuth error JSON."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.crypto import b64url_decode
from app.extensions import db
from app.identities.models import User
from app.sessions.models import AccessToken, OAuthCode, OfflineGrant
from tests.oidc.helpers import (
    JWT_SPA,
    M2M,
    NO_REFRESH,
    ROTATING,
    ROTATING_CB,
    SPA,
    THIRD,
    THIRD_CB,
    THIRD_SECRET,
    WEB,
    WEB_CB,
    basic,
    client_secret,
    decode_jwt,
    exchange,
    get_code,
    register_resource,
)

REFRESH_TOKEN = re.compile(r"^[0-9a-f-]{36}\.[A-Za-z0-9]{32}$")
CUSTOM = "https://authgear.com/claims/user/"


def _jwks(client):
    return client.get("/oauth2/jwks").get_json()


def _userinfo_status(client, access_token):
    return client.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {access_token}"}).status_code


def _refresh(client, refresh_token, client_id=SPA, **extra):
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id, **extra}
    return client.post("/oauth2/token", data=data)


@pytest.mark.embedded
def test_code_exchange_for_a_public_client(oidc_client, login):
    user = login(oidc_client)
    code, verifier = get_code(oidc_client, nonce="nonce-1")
    resp = exchange(oidc_client, code, verifier)
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "no-store" and resp.mimetype == "application/json"
    body = resp.get_json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "refresh_token", "id_token"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 1800
    assert body["scope"] == "openid offline_access"
    assert re.fullmatch(r"[A-Za-z0-9]{32}", body["access_token"])
    assert REFRESH_TOKEN.match(body["refresh_token"])
    token = decode_jwt(body["id_token"], _jwks(oidc_client))
    claims = token.claims
    assert token.header["alg"] == "RS256" and token.header["kid"] == _jwks(oidc_client)["keys"][0]["kid"]
    assert claims["iss"] == "http://localhost:3000" and claims["aud"] == SPA and claims["sub"] == user.id
    assert claims["exp"] - claims["iat"] == 300
    assert claims["nonce"] == "nonce-1" and claims["amr"] == ["pwd"] and claims["auth_time"] <= claims["iat"]
    kind, _, grant_id = b64url_decode(claims["sid"]).decode().partition(":")
    assert kind == "offline_grant" and body["refresh_token"].startswith(grant_id + ".")
    assert claims[CUSTOM + "is_anonymous"] is False and claims[CUSTOM + "roles"] == []
    assert "email" not in claims  # SPA clients get no personal data in ID tokens
    assert _userinfo_status(oidc_client, body["access_token"]) == 200


def test_without_offline_access_the_token_lives_on_the_idp_session(oidc_client, login):
    login(oidc_client)
    code, verifier = get_code(oidc_client, scope="openid")
    body = exchange(oidc_client, code, verifier).get_json()
    assert "refresh_token" not in body
    claims = decode_jwt(body["id_token"], _jwks(oidc_client)).claims
    assert b64url_decode(claims["sid"]).decode().startswith("idp:")
    # Signing out of the browser ends the token too.
    oidc_client.get("/oauth2/end_session", query_string={"id_token_hint": body["id_token"]})
    assert _userinfo_status(oidc_client, body["access_token"]) == 401


def test_confidential_client_with_basic_and_post_auth(oidc_client, login, oidc_app):
    login(oidc_client)
    secret = client_secret(oidc_app, WEB)
    code, _ = get_code(oidc_client, WEB, WEB_CB, scope="openid email", pkce=False)
    resp = exchange(oidc_client, code, None, WEB, WEB_CB, headers=basic(WEB, secret))
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert "refresh_token" not in body  # no offline_access
    claims = decode_jwt(body["id_token"], _jwks(oidc_client)).claims
    assert "@example.com" in claims["email"] and claims["email_verified"] is False  # PII for confidential
    assert "name" not in claims  # but only what the scopes release

    code, _ = get_code(oidc_client, WEB, WEB_CB, scope="openid offline_access", pkce=False)
    resp = exchange(oidc_client, code, None, WEB, WEB_CB, data={"client_secret": secret})
    assert resp.status_code == 200 and REFRESH_TOKEN.match(resp.get_json()["refresh_token"])


def test_a_secret_in_the_body_wins_over_a_proxys_basic_header(oidc_client, login, oidc_app):
    """Authgear's e2e oauth_idp/token_client_secret_basic: the client's own credentials in the body,
    a proxy's Basic credentials in the header."""
    login(oidc_client)
    code, _ = get_code(oidc_client, WEB, WEB_CB, scope="openid", pkce=False)
    data = {"client_secret": client_secret(oidc_app, WEB)}
    proxy = basic("someproxyuser", "someproxypassword")
    resp = exchange(oidc_client, code, None, WEB, WEB_CB, data=data, headers=proxy)
    assert resp.status_code == 200, resp.get_json()


@pytest.mark.parametrize("auth", ["wrong-basic", "wrong-post", "missing", "unknown-client"])
def test_confidential_client_secret_is_checked(oidc_client, login, oidc_app, auth):
    login(oidc_client)
    code, _ = get_code(oidc_client, WEB, WEB_CB, scope="openid", pkce=False)
    kwargs = {}
    if auth == "wrong-basic":
        kwargs["headers"] = basic(WEB, "not-the-secret")
    elif auth == "wrong-post":
        kwargs["data"] = {"client_secret": "not-the-secret"}
    elif auth == "unknown-client":
        kwargs["headers"] = basic("no-such-client", "x")
    resp = exchange(oidc_client, code, None, WEB, WEB_CB, **kwargs)
    # RFC 6749 section 5.2: 401 with a Basic challenge, as the token endpoint accepts Basic.
    assert resp.status_code == 401
    assert resp.get_json()["error"] == "invalid_client"
    assert resp.headers["WWW-Authenticate"].startswith("Basic ")
    # The code was not spent by the failed attempt.
    ok = exchange(oidc_client, code, None, WEB, WEB_CB, headers=basic(WEB, client_secret(oidc_app, WEB)))
    assert ok.status_code == 200


def test_unknown_client_id(oidc_client):
    resp = oidc_client.post(
        "/oauth2/token", data={"grant_type": "authorization_code", "code": "x", "client_id": "nope"}
    )
    assert resp.status_code in (400, 401) and resp.get_json()["error"] == "invalid_client"


def test_replayed_code_is_refused_and_revokes_what_it_issued(oidc_client, login, oidc_app):
    login(oidc_client)
    code, verifier = get_code(oidc_client)
    first = exchange(oidc_client, code, verifier).get_json()
    second = exchange(oidc_client, code, verifier)
    assert second.status_code == 400 and second.get_json()["error"] == "invalid_grant"
    assert _userinfo_status(oidc_client, first["access_token"]) == 401
    assert _refresh(oidc_client, first["refresh_token"]).get_json()["error"] == "invalid_grant"
    with oidc_app.app_context():
        assert db.session.scalar(select(OfflineGrant)) is None
        assert db.session.scalar(select(AccessToken)) is None


@pytest.mark.parametrize(
    ("verifier", "error"),
    [(None, "invalid_request"), ("x" * 43, "invalid_grant"), ("short", "invalid_request")],
)
def test_code_needs_its_pkce_verifier(oidc_client, login, verifier, error):
    login(oidc_client)
    code, good = get_code(oidc_client)
    resp = exchange(oidc_client, code, verifier)
    assert resp.status_code == 400 and resp.get_json()["error"] == error
    # An interceptor without the verifier did not burn the code for its owner.
    assert exchange(oidc_client, code, good).status_code == 200


def test_code_is_bound_to_client_and_redirect_uri(oidc_client, login):
    login(oidc_client)
    code, verifier = get_code(oidc_client)
    assert exchange(oidc_client, code, verifier, client_id=JWT_SPA).get_json()["error"] == "invalid_grant"
    wrong_uri = exchange(oidc_client, code, verifier, redirect_uri="http://localhost:4000/other")
    assert wrong_uri.get_json()["error"] == "invalid_grant"


def test_expired_code(oidc_client, login, oidc_app):
    login(oidc_client)
    code, verifier = get_code(oidc_client)
    with oidc_app.app_context():
        row = db.session.scalar(select(OAuthCode))
        row.expires_at -= timedelta(minutes=10)
        db.session.commit()
    assert exchange(oidc_client, code, verifier).get_json()["error"] == "invalid_grant"


def test_unsupported_grant_types(oidc_client):
    for grant in ("password", "implicit", "urn:ietf:params:oauth:grant-type:device_code", ""):
        resp = oidc_client.post("/oauth2/token", data={"grant_type": grant, "client_id": SPA})
        assert resp.status_code == 400 and resp.get_json()["error"] == "unsupported_grant_type"


def test_refresh_without_rotation_keeps_the_refresh_token(oidc_client, login):
    login(oidc_client)
    code, verifier = get_code(oidc_client)
    first = exchange(oidc_client, code, verifier).get_json()
    resp = _refresh(oidc_client, first["refresh_token"])
    assert resp.status_code == 200
    body = resp.get_json()
    assert "refresh_token" not in body and body["access_token"] != first["access_token"]
    assert body["scope"] == "openid offline_access" and "id_token" in body
    assert _userinfo_status(oidc_client, body["access_token"]) == 200
    assert _refresh(oidc_client, first["refresh_token"]).status_code == 200  # still usable


@pytest.mark.embedded
@pytest.mark.parametrize("client_id", [SPA, JWT_SPA])
def test_refreshed_tokens_carry_the_users_current_facts(oidc_client, login, oidc_app, client_id):
    """The ID token (and a JWT access token) of a refresh state the user's roles and verification as
    they are now, not as they were when the grant was made."""
    user = login(oidc_client)
    code, verifier = get_code(oidc_client, client_id=client_id)
    first = exchange(oidc_client, code, verifier, client_id=client_id).get_json()
    jwks = _jwks(oidc_client)
    before = decode_jwt(first["id_token"], jwks).claims
    assert before[CUSTOM + "roles"] == [] and before[CUSTOM + "is_verified"] is False
    with oidc_app.app_context():
        svc = oidc_app.extensions["gatehouse"]
        svc.roles.create_role("editor")
        svc.roles.add_user_to_roles(user.id, ["editor"])
        email = next(i.login_id for i in svc.users.get(user.id).identities if i.login_id_type == "email")
        svc.users.mark_verified(user.id, "email", email)
        db.session.commit()
    body = _refresh(oidc_client, first["refresh_token"], client_id=client_id).get_json()
    tokens = [body["id_token"]] + ([body["access_token"]] if client_id == JWT_SPA else [])
    for token in tokens:
        claims = decode_jwt(token, jwks).claims
        assert claims["sub"] == user.id
        assert claims[CUSTOM + "roles"] == ["editor"] and claims[CUSTOM + "is_verified"] is True


@pytest.mark.embedded
def test_refreshed_tokens_carry_only_their_own_users_roles(oidc_client, login, oidc_app):
    """Roles given to another user, directly or through a group, never appear in this user's tokens."""
    user = login(oidc_client)
    code, verifier = get_code(oidc_client, client_id=JWT_SPA)
    first = exchange(oidc_client, code, verifier, client_id=JWT_SPA).get_json()
    other = login(oidc_app.test_client())
    with oidc_app.app_context():
        svc = oidc_app.extensions["gatehouse"]
        svc.roles.create_role("admin")
        svc.roles.create_role("auditor")
        svc.roles.add_user_to_roles(other.id, ["admin"])
        svc.roles.create_group("staff")
        svc.roles.add_group_to_roles("staff", ["auditor"])
        svc.roles.add_user_to_groups(other.id, ["staff"])
        db.session.commit()
    body = _refresh(oidc_client, first["refresh_token"], client_id=JWT_SPA).get_json()
    for token in (body["id_token"], body["access_token"]):
        claims = decode_jwt(token, _jwks(oidc_client)).claims
        assert claims["sub"] == user.id and claims[CUSTOM + "roles"] == []


def test_refresh_token_is_bound_to_its_client(oidc_client, login):
    login(oidc_client)
    code, verifier = get_code(oidc_client)
    refresh_token = exchange(oidc_client, code, verifier).get_json()["refresh_token"]
    assert _refresh(oidc_client, refresh_token, client_id=JWT_SPA).get_json()["error"] == "invalid_grant"
    assert _refresh(oidc_client, refresh_token).status_code == 200


def test_refresh_scope_may_narrow_but_not_widen(oidc_client, login):
    login(oidc_client)
    code, verifier = get_code(oidc_client, scope="openid offline_access email")
    refresh_token = exchange(oidc_client, code, verifier).get_json()["refresh_token"]
    narrow = _refresh(oidc_client, refresh_token, scope="openid")
    assert narrow.status_code == 200 and narrow.get_json()["scope"] == "openid"
    assert _refresh(oidc_client, refresh_token, scope="openid profile").get_json()["error"] == "invalid_scope"


@pytest.mark.embedded
def test_rotation_and_reuse_detection(oidc_client, login, oidc_app):
    login(oidc_client)
    code, verifier = get_code(oidc_client, ROTATING, ROTATING_CB)
    first = exchange(oidc_client, code, verifier, ROTATING, ROTATING_CB).get_json()
    rotated = _refresh(oidc_client, first["refresh_token"], client_id=ROTATING).get_json()
    second_rt = rotated["refresh_token"]
    assert second_rt != first["refresh_token"] and second_rt.split(".")[0] == first["refresh_token"].split(".")[0]
    third_rt = _refresh(oidc_client, second_rt, client_id=ROTATING).get_json()["refresh_token"]
    # The first token comes back: it leaked. The whole grant is revoked, the newest token with it.
    reused = _refresh(oidc_client, first["refresh_token"], client_id=ROTATING)
    assert reused.status_code == 400 and reused.get_json()["error"] == "invalid_grant"
    assert _refresh(oidc_client, third_rt, client_id=ROTATING).get_json()["error"] == "invalid_grant"
    assert _userinfo_status(oidc_client, rotated["access_token"]) == 401
    with oidc_app.app_context():
        assert db.session.scalar(select(OfflineGrant)) is None


def test_refresh_token_idle_timeout_and_lifetime(oidc_client, login, oidc_app):
    login(oidc_client)
    tokens = []
    for _ in range(2):
        code, verifier = get_code(oidc_client)
        tokens.append(exchange(oidc_client, code, verifier).get_json()["refresh_token"])
    with oidc_app.app_context():
        idle, expired = (db.session.get(OfflineGrant, t.split(".")[0]) for t in tokens)
        idle.last_access_at -= timedelta(days=31)  # default idle timeout: 30 days
        expired.expires_at = expired.created_at  # past its lifetime
        db.session.commit()
    for token in tokens:
        assert _refresh(oidc_client, token).get_json()["error"] == "invalid_grant"


def test_a_disabled_user_cannot_refresh(oidc_client, login, oidc_app):
    user = login(oidc_client)
    code, verifier = get_code(oidc_client)
    body = exchange(oidc_client, code, verifier).get_json()
    with oidc_app.app_context():
        db.session.get(User, user.id).is_disabled = True
        db.session.commit()
    assert _refresh(oidc_client, body["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert _userinfo_status(oidc_client, body["access_token"]) == 401


def test_jwt_access_token_for_a_user(oidc_client, login):
    user = login(oidc_client)
    code, verifier = get_code(oidc_client, JWT_SPA)
    body = exchange(oidc_client, code, verifier, JWT_SPA).get_json()
    token = decode_jwt(body["access_token"], _jwks(oidc_client))
    assert token.header["typ"] == "at+jwt" and token.header["kid"]
    claims = token.claims
    assert claims["iss"] == "http://localhost:3000" and claims["aud"] == ["http://localhost:3000"]
    assert claims["sub"] == user.id and claims["client_id"] == JWT_SPA
    assert claims["scope"] == "openid offline_access" and claims["exp"] - claims["iat"] == 1800
    assert re.fullmatch(r"[0-9a-f]{64}", claims["jti"]) and claims["amr"] == ["pwd"]
    assert claims[CUSTOM + "is_verified"] is False and CUSTOM + "roles" in claims
    assert _userinfo_status(oidc_client, body["access_token"]) == 200
    oidc_client.post("/oauth2/revoke", data={"token": body["access_token"]})
    assert _userinfo_status(oidc_client, body["access_token"]) == 401


def test_client_credentials_jwt_for_m2m(oidc_client, oidc_app):
    register_resource(oidc_app, "https://api.example.com", [M2M], ["read:orders", "write:orders"])
    secret = client_secret(oidc_app, M2M)
    resp = oidc_client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "resource": "https://api.example.com", "scope": "read:orders"},
        headers=basic(M2M, secret),
    )
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"} and body["scope"] == "read:orders"
    token = decode_jwt(body["access_token"], _jwks(oidc_client))
    assert token.header["typ"] == "at+jwt"
    assert token.claims["aud"] == ["https://api.example.com"] and token.claims["sub"] == f"client_id_{M2M}"
    assert token.claims["client_id"] == M2M and token.claims["scope"] == "read:orders"
    # No user behind it: userinfo refuses it.
    assert _userinfo_status(oidc_client, body["access_token"]) == 401


def test_client_credentials_opaque_for_a_confidential_client(oidc_client, oidc_app):
    register_resource(oidc_app, "https://api.example.com", [WEB])
    resp = oidc_client.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "resource": "https://api.example.com",
            "client_id": WEB,
            "client_secret": client_secret(oidc_app, WEB),
        },
    )
    body = resp.get_json()
    assert resp.status_code == 200 and re.fullmatch(r"[A-Za-z0-9]{32}", body["access_token"])
    assert body["scope"] == ""  # the client has no scope on the resource; Authgear still writes the key


@pytest.mark.parametrize(
    "resource",
    [None, "not-a-uri", "https://api.example.com/#frag", "http://localhost:3000/oauth2/userinfo", "ftp://x"],
)
def test_client_credentials_needs_a_proper_resource(oidc_client, oidc_app, resource):
    register_resource(oidc_app, "https://api.example.com", [M2M])
    data = {"grant_type": "client_credentials"}
    if resource:
        data["resource"] = resource
    resp = oidc_client.post("/oauth2/token", data=data, headers=basic(M2M, client_secret(oidc_app, M2M)))
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_target"


def test_client_credentials_is_not_for_public_or_third_party_clients(oidc_client):
    public = oidc_client.post(
        "/oauth2/token", data={"grant_type": "client_credentials", "resource": "https://a.example", "client_id": SPA}
    )
    assert public.get_json()["error"] == "invalid_client"
    third = oidc_client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "resource": "https://a.example"},
        headers=basic(THIRD, THIRD_SECRET),
    )
    assert third.get_json()["error"] == "unauthorized_client"


def test_m2m_clients_only_use_client_credentials(oidc_client, oidc_app):
    resp = oidc_client.post(
        "/oauth2/token",
        data={"grant_type": "authorization_code", "code": "x", "redirect_uri": THIRD_CB},
        headers=basic(M2M, client_secret(oidc_app, M2M)),
    )
    assert resp.get_json()["error"] == "unauthorized_client"


def test_id_token_grant_reissues_an_id_token_for_the_session(oidc_client, login):
    user = login(oidc_client)
    code, verifier = get_code(oidc_client)
    body = exchange(oidc_client, code, verifier).get_json()
    grant = "urn:authgear:params:oauth:grant-type:id-token"
    resp = oidc_client.post(
        "/oauth2/token",
        data={"grant_type": grant, "client_id": SPA},
        headers={"Authorization": f"Bearer {body['access_token']}"},
    )
    assert resp.status_code == 200 and set(resp.get_json()) == {"id_token"}
    claims = decode_jwt(resp.get_json()["id_token"], _jwks(oidc_client)).claims
    original = decode_jwt(body["id_token"], _jwks(oidc_client)).claims
    assert claims["sub"] == user.id and claims["sid"] == original["sid"] and claims["aud"] == SPA
    no_session = oidc_client.post("/oauth2/token", data={"grant_type": grant, "client_id": SPA})
    assert no_session.status_code == 401 and no_session.get_json()["error"] == "invalid_grant"


def test_id_token_grant_is_for_first_party_public_clients(oidc_client, oidc_app):
    resp = oidc_client.post(
        "/oauth2/token",
        data={"grant_type": "urn:authgear:params:oauth:grant-type:id-token"},
        headers=basic(WEB, client_secret(oidc_app, WEB)),
    )
    assert resp.get_json()["error"] == "unauthorized_client"


def test_no_refresh_token_for_a_client_without_the_refresh_grant(oidc_client, login):
    login(oidc_client)
    code, verifier = get_code(oidc_client, NO_REFRESH, scope="openid")
    body = exchange(oidc_client, code, verifier, NO_REFRESH).get_json()
    assert "refresh_token" not in body
    resp = oidc_client.post(
        "/oauth2/token", data={"grant_type": "refresh_token", "refresh_token": "a.b", "client_id": NO_REFRESH}
    )
    assert resp.get_json()["error"] == "unauthorized_client"


def test_one_session_per_user_when_the_client_says_so(make_oidc_app, login):
    from tests.oidc.helpers import CLIENTS

    clients = [dict(c, x_max_concurrent_session=1) if c["client_id"] == SPA else c for c in CLIENTS]
    app = make_oidc_app({"oauth": {"clients": clients}})
    client = app.test_client()
    from app.transport import session_cookie_name
    from tests.oidc.helpers import new_session

    with app.app_context():
        _, token = new_session(app.extensions["gatehouse"])
    client.set_cookie(session_cookie_name(app.extensions["gatehouse"].config), token)
    first = exchange(client, *get_code(client)).get_json()
    second = exchange(client, *get_code(client)).get_json()
    assert _refresh(client, first["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert _refresh(client, second["refresh_token"]).status_code == 200


def test_token_endpoint_cors_for_a_registered_origin(oidc_client):
    preflight = oidc_client.options("/oauth2/token", headers={"Origin": "http://localhost:4000"})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "http://localhost:4000"
    other = oidc_client.options("/oauth2/token", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
