"""`/oauth2/userinfo` (contract 1.6) and `/oauth2/revoke` (1.5); `/oauth2/end_session` in test_end_session.py."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import insert, select
from werkzeug.datastructures import MultiDict

from app.extensions import db
from app.identities.models import User
from app.roles.models import Group, Role, group_roles, user_groups, user_roles
from app.sessions.models import OfflineGrant
from tests.oidc.helpers import (
    SPA,
    SPA_CB,
    THIRD,
    THIRD_CB,
    THIRD_SECRET,
    basic,
    continued,
    exchange,
    get_code,
    query_of,
)

CUSTOM = "https://authgear.com/claims/user/"


def _tokens(client, scope="openid offline_access", client_id=SPA, redirect_uri=SPA_CB):
    code, verifier = get_code(client, client_id, redirect_uri, scope=scope)
    return exchange(client, code, verifier, client_id, redirect_uri).get_json()


def _third_party_tokens(client, scope):
    """Consent once on the page, then exchange with the client secret."""
    params = {"client_id": THIRD, "redirect_uri": THIRD_CB, "response_type": "code", "scope": scope}
    page = client.get(continued(client.get("/oauth2/authorize", query_string=params).headers["Location"])).get_data(
        as_text=True
    )
    form = {
        "x_ref": re.search(r'name="x_ref" value="([^"]+)"', page).group(1),
        "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1),
        "x_action": "consent",
    }
    code = query_of(client.post("/oauth2/consent", data=form).headers["Location"])["code"]
    return exchange(client, code, None, THIRD, THIRD_CB, headers=basic(THIRD, THIRD_SECRET)).get_json()


def _set_profile(app, user_id, **attrs):
    with app.app_context():
        user = db.session.get(User, user_id)
        user.standard_attributes = {**user.standard_attributes, **attrs}
        db.session.commit()


@pytest.mark.embedded
def test_userinfo_by_header_and_by_body(oidc_client, login):
    user = login(oidc_client)
    access_token = _tokens(oidc_client)["access_token"]
    get = oidc_client.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {access_token}"})
    post_header = oidc_client.post("/oauth2/userinfo", headers={"Authorization": f"bearer {access_token}"})
    post_body = oidc_client.post("/oauth2/userinfo", data={"access_token": access_token})
    for resp in (get, post_header, post_body):
        assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
        body = resp.get_json()
        assert body["sub"] == user.id and body["email"] == user.standard_attributes["email"]
        assert body[CUSTOM + "is_anonymous"] is False and body[CUSTOM + "can_reauthenticate"] is False
        assert body["custom_attributes"] == {} and body["x_web3"] == {"accounts": []}
        assert isinstance(body["updated_at"], int)


@pytest.mark.parametrize(
    "how",
    ["none", "garbage", "query", "both", "basic-scheme", "twice-in-body"],
)
def test_userinfo_without_a_valid_token(oidc_client, login, how):
    login(oidc_client)
    access_token = _tokens(oidc_client)["access_token"]
    kwargs = {
        "none": {},
        "garbage": {"headers": {"Authorization": "Bearer not-a-token"}},
        "query": {"query_string": {"access_token": access_token}},
        "both": {"headers": {"Authorization": f"Bearer {access_token}"}, "data": {"access_token": access_token}},
        "basic-scheme": {"headers": {"Authorization": f"Basic {access_token}"}},
        "twice-in-body": {"data": MultiDict([("access_token", access_token), ("access_token", access_token)])},
    }[how]
    if how in ("none", "query"):
        # Without any bearer token the IdP session cookie would answer (cookie sessions, tests/sdk).
        oidc_client.delete_cookie("session")
    resp = oidc_client.post("/oauth2/userinfo", **kwargs)
    assert resp.status_code == 401
    assert resp.get_json() == {"error": "invalid_grant", "error_description": "invalid session"}
    assert resp.headers["WWW-Authenticate"] == 'Bearer error="invalid_grant", error_description="invalid session"'


def test_userinfo_claims_of_the_user(oidc_client, login, oidc_app):
    user = login(oidc_client)
    _set_profile(oidc_app, user.id, given_name="Jane", family_name="Doe")
    with oidc_app.app_context():
        svc = oidc_app.extensions["gatehouse"]
        svc.users.mark_verified(user.id, "email", user.standard_attributes["email"])
        admin = Role(key="admin")
        staff = Group(key="staff")
        editor = Role(key="editor")
        db.session.add_all([admin, staff, editor])
        db.session.flush()
        db.session.execute(insert(user_roles).values(user_id=user.id, role_id=admin.id))
        db.session.execute(insert(user_groups).values(user_id=user.id, group_id=staff.id))
        db.session.execute(insert(group_roles).values(group_id=staff.id, role_id=editor.id))
        db.session.commit()
    body = oidc_client.get(
        "/oauth2/userinfo", headers={"Authorization": f"Bearer {_tokens(oidc_client)['access_token']}"}
    ).get_json()
    assert body["given_name"] == "Jane" and body["family_name"] == "Doe"
    assert body["email_verified"] is True and body[CUSTOM + "is_verified"] is True
    assert body[CUSTOM + "roles"] == ["admin", "editor"]
    assert CUSTOM + "authenticators" not in body  # needs full-access or full-userinfo


def test_full_access_scope_adds_identities_and_authenticators(oidc_client, login, oidc_app):
    user = login(oidc_client)
    with oidc_app.app_context():
        oidc_app.extensions["gatehouse"].passwords.create(user.id, "Correct-Horse-42")
        db.session.commit()
    tokens = _tokens(oidc_client, scope="openid offline_access https://authgear.com/scopes/full-access")
    body = oidc_client.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).get_json()
    assert [a["type"] for a in body[CUSTOM + "authenticators"]] == ["password"]
    assert body[CUSTOM + "authenticators"][0]["kind"] == "primary"
    identity = body[CUSTOM + "identities"][0]
    assert identity["type"] == "login_id" and identity["login_id_key"] == "email"
    assert body[CUSTOM + "recovery_code_enabled"] is False
    assert body[CUSTOM + "can_reauthenticate"] is True


def test_third_party_userinfo_is_limited_by_scope(oidc_client, login, oidc_app):
    user = login(oidc_client)
    _set_profile(oidc_app, user.id, given_name="Jane")
    tokens = _third_party_tokens(oidc_client, "openid email")
    body = oidc_client.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).get_json()
    assert body["email"] == user.standard_attributes["email"] and body["email_verified"] is False
    assert "given_name" not in body and "updated_at" not in body
    assert "custom_attributes" not in body and "x_web3" not in body
    assert body["sub"] == user.id and CUSTOM + "roles" in body


def test_hidden_standard_attributes_stay_hidden(make_oidc_app, login):
    app = make_oidc_app(
        {
            "user_profile": {
                "standard_attributes": {
                    "access_control": [{"pointer": "/given_name", "access_control": {"bearer": "hidden"}}]
                }
            }
        }
    )
    client = app.test_client()
    from app.transport import session_cookie_name
    from tests.oidc.helpers import new_session

    with app.app_context():
        user, token = new_session(app.extensions["gatehouse"])
    _set_profile(app, user.id, given_name="Jane", family_name="Doe")
    client.set_cookie(session_cookie_name(app.extensions["gatehouse"].config), token)
    body = client.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {_tokens(client)['access_token']}"})
    assert "given_name" not in body.get_json() and body.get_json()["family_name"] == "Doe"


@pytest.mark.embedded
def test_revoking_a_refresh_token_ends_its_grant(oidc_client, login, oidc_app):
    login(oidc_client)
    tokens = _tokens(oidc_client)
    resp = oidc_client.post("/oauth2/revoke", data={"token": tokens["refresh_token"]})
    assert resp.status_code == 200 and resp.get_data() == b""
    assert (
        oidc_client.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).status_code
        == 401
    )
    refresh = oidc_client.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": SPA},
    )
    assert refresh.get_json()["error"] == "invalid_grant"
    with oidc_app.app_context():
        assert db.session.scalar(select(OfflineGrant)) is None


def test_revoking_an_access_token_leaves_the_refresh_token(oidc_client, login):
    login(oidc_client)
    tokens = _tokens(oidc_client)
    assert (
        oidc_client.post("/oauth2/revoke", data={"token": tokens["access_token"], "token_type_hint": "x"}).status_code
        == 200
    )
    assert (
        oidc_client.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).status_code
        == 401
    )
    refresh = oidc_client.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": SPA},
    )
    assert refresh.status_code == 200


def test_revoke_with_unknown_tokens_succeeds_and_changes_nothing(oidc_client, login, oidc_app):
    login(oidc_client)
    tokens = _tokens(oidc_client)
    grant_id = tokens["refresh_token"].split(".")[0]
    for token in ("unknown", f"{grant_id}.{'A' * 32}", "a.b", "x.y.z"):
        assert oidc_client.post("/oauth2/revoke", data={"token": token}).status_code == 200
    with oidc_app.app_context():
        assert db.session.get(OfflineGrant, grant_id) is not None  # the grant ID alone revokes nothing


@pytest.mark.parametrize("data", [{}, {"token": ""}, MultiDict([("token", "a"), ("token", "b")])])
def test_revoke_with_a_malformed_form(oidc_client, data):
    resp = oidc_client.post("/oauth2/revoke", data=data)
    assert resp.status_code == 400 and resp.mimetype == "text/plain"
