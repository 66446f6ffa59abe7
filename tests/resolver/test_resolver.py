"""`/_resolver/resolve`: the headers of contract section 2 for every kind of credential."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.extensions import db
from app.sessions.models import AccessToken, IdPSession

PATHS = ["/_resolver/resolve", "/resolve"]


def _x_headers(resp):
    return {k: v for k, v in resp.headers.items() if k.lower().startswith("x-authgear-")}


@pytest.mark.embedded
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_no_credentials_means_no_session_header(resolver_app, path, method):
    resp = resolver_app.test_client().open(path, method=method)
    assert resp.status_code == 200
    assert resp.data == b""
    assert _x_headers(resp) == {}


@pytest.mark.embedded
def test_idp_session_cookie_resolves_with_every_header(resolver_app, issuer):
    user_id = issuer.user()
    with resolver_app.app_context():
        svc = resolver_app.extensions["gatehouse"]
        role = svc.roles.create_role("editor")
        other = svc.roles.create_role("admin")
        svc.roles.add_user_to_roles(user_id, [role.key, other.key])
        db.session.commit()
    session_id, token = issuer.session(user_id, amr=("pwd", "otp", "mfa"))
    client = resolver_app.test_client()
    client.set_cookie("session", token)
    resp = client.get("/_resolver/resolve")
    assert resp.status_code == 200 and resp.data == b""
    headers = _x_headers(resp)
    with resolver_app.app_context():
        authenticated_at = db.session.get(IdPSession, session_id).authenticated_at
    assert headers == {
        "X-Authgear-Session-Valid": "true",
        "X-Authgear-User-Id": user_id,
        "X-Authgear-User-Anonymous": "false",
        "X-Authgear-User-Verified": "false",
        "X-Authgear-User-Can-Reauthenticate": "true",
        "X-Authgear-User-Roles": "admin,editor",
        "X-Authgear-Session-Amr": "pwd otp mfa",
        "X-Authgear-Session-Authenticated-At": str(int(authenticated_at.timestamp())),
    }


@pytest.mark.embedded
def test_verified_email_makes_the_user_verified(resolver_app, issuer):
    user_id = issuer.user()
    with resolver_app.app_context():
        svc = resolver_app.extensions["gatehouse"]
        email = svc.users.identities_of(user_id)[0].login_id
        svc.users.mark_verified(user_id, "email", email)
        db.session.commit()
    _, token = issuer.session(user_id)
    client = resolver_app.test_client()
    client.set_cookie("session", token)
    headers = _x_headers(client.get("/resolve"))
    assert headers["X-Authgear-User-Verified"] == "true"
    assert "X-Authgear-User-Roles" not in headers


@pytest.mark.embedded
def test_unknown_cookie_is_invalid_and_cleared(resolver_app):
    client = resolver_app.test_client()
    client.set_cookie("session", "not-a-session")
    resp = client.get("/_resolver/resolve")
    assert _x_headers(resp) == {"X-Authgear-Session-Valid": "false"}
    cleared = [c for c in resp.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cleared and ("Max-Age=0" in cleared[0] or "expires=Thu, 01 Jan 1970" in cleared[0])


@pytest.mark.parametrize(
    "change",
    [
        {"is_disabled": True},
        {"is_deactivated": True},
        {"account_valid_until": datetime.now(UTC) - timedelta(days=1)},
        {"account_valid_from": datetime.now(UTC) + timedelta(days=1)},
        {"delete_at": datetime.now(UTC) + timedelta(days=30)},
    ],
)
def test_inactive_users_resolve_as_invalid(resolver_app, issuer, change):
    user_id = issuer.user(**change)
    session_id, cookie = issuer.session(user_id)
    bearer = issuer.access_token(user_id, session_id)
    client = resolver_app.test_client()
    client.set_cookie("session", cookie)
    assert _x_headers(client.get("/resolve"))["X-Authgear-Session-Valid"] == "false"
    plain = resolver_app.test_client()
    resp = plain.get("/resolve", headers={"Authorization": f"Bearer {bearer}"})
    assert _x_headers(resp) == {"X-Authgear-Session-Valid": "false"}


@pytest.mark.parametrize("client_id", ["spa-client", "jwt-client"])
def test_bearer_token_resolves_until_revoked(resolver_app, issuer, client_id):
    user_id = issuer.user()
    session_id, _ = issuer.session(user_id, amr=("pwd",))
    token = issuer.access_token(user_id, session_id, client_id)
    assert (token.count(".") == 2) == (client_id == "jwt-client")
    client = resolver_app.test_client()
    for scheme in ("Bearer", "bearer"):
        headers = _x_headers(client.get("/resolve", headers={"Authorization": f"{scheme} {token}"}))
        assert headers["X-Authgear-Session-Valid"] == "true"
        assert headers["X-Authgear-User-Id"] == user_id
        assert headers["X-Authgear-Session-Amr"] == "pwd"
    with resolver_app.app_context():
        db.session.query(AccessToken).delete()
        db.session.commit()
    revoked = client.get("/resolve", headers={"Authorization": f"Bearer {token}"})
    assert _x_headers(revoked) == {"X-Authgear-Session-Valid": "false"}


def test_revoking_the_session_invalidates_its_cookie_and_tokens(resolver_app, issuer):
    user_id = issuer.user()
    session_id, cookie = issuer.session(user_id)
    token = issuer.access_token(user_id, session_id)
    with resolver_app.app_context():
        resolver_app.extensions["gatehouse"].sessions.revoke(session_id)
        db.session.commit()
    client = resolver_app.test_client()
    client.set_cookie("session", cookie)
    assert _x_headers(client.get("/resolve"))["X-Authgear-Session-Valid"] == "false"
    bearer = resolver_app.test_client().get("/resolve", headers={"Authorization": f"Bearer {token}"})
    assert _x_headers(bearer)["X-Authgear-Session-Valid"] == "false"


def test_bearer_wins_over_cookies_and_a_bad_bearer_falls_back(resolver_app, issuer):
    alice, bob = issuer.user(), issuer.user()
    alice_session, _ = issuer.session(alice)
    alice_token = issuer.access_token(alice, alice_session)
    _, bob_cookie = issuer.session(bob)
    client = resolver_app.test_client()
    client.set_cookie("session", bob_cookie)
    both = client.get("/resolve", headers={"Authorization": f"Bearer {alice_token}"})
    assert _x_headers(both)["X-Authgear-User-Id"] == alice
    fallback = client.get("/resolve", headers={"Authorization": "Bearer forged"})
    assert _x_headers(fallback)["X-Authgear-User-Id"] == bob
    client.set_cookie("app_access_token", alice_token)
    cookie_token = client.get("/resolve")
    assert _x_headers(cookie_token)["X-Authgear-User-Id"] == alice


def test_last_access_is_written_at_most_once_a_minute(resolver_app, issuer):
    user_id = issuer.user()
    session_id, cookie = issuer.session(user_id, age=timedelta(minutes=5))
    client = resolver_app.test_client()
    client.set_cookie("session", cookie)

    def last_access():
        with resolver_app.app_context():
            return db.session.get(IdPSession, session_id).last_access_at

    before = last_access()
    client.get("/resolve", headers={"User-Agent": "gateway-test"})
    touched = last_access()
    assert touched > before + timedelta(minutes=4)
    client.get("/resolve")
    assert last_access() == touched


@pytest.mark.embedded
@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer " + "A" * 20000,
        "Bearer a.b.c",
        "Bearer \u00e9\u00e9",
        "Bearer x y z",
    ],
)
def test_hostile_authorization_headers_are_just_invalid(resolver_app, authorization):
    resp = resolver_app.test_client().get("/resolve", headers={"Authorization": authorization})
    assert resp.status_code == 200 and resp.data == b""
    assert _x_headers(resp).get("X-Authgear-Session-Valid") in (None, "false")


@pytest.mark.embedded
def test_other_methods_are_refused_with_the_envelope(resolver_app):
    resp = resolver_app.test_client().post("/_resolver/resolve", data=b"x")
    assert resp.status_code in (400, 405)
    assert "error" in resp.get_json()
