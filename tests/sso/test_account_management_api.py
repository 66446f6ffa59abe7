"""Authgear's Account Management API for OAuth identities: a signed-in user's app starts the link
(`POST /api/v1/account/identification`), sends the user to the provider (a stand-in speaking
Google's formats), and finishes with the provider's answer (`POST /api/v1/account/identification/oauth`)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

from sqlalchemy import select

from app.extensions import db
from app.identities.models import Identity
from tests.sso.conftest import google_provider
from tests.sso.flowapi import FLOWS, REDIRECT_URI, callback_query

START = "/api/v1/account/identification"
FINISH = "/api/v1/account/identification/oauth"
PASSWORD_LOGIN = {"authentication": {"identities": ["oauth", "login_id"], "primary_authenticators": ["password"]}}


def _app(sso_app):
    return sso_app([google_provider()], {"google": "google-secret"}, overrides=PASSWORD_LOGIN)


def _signed_in(app, username):
    """A test client holding the IdP session cookie of a new user (signed up over the Flow API)."""
    client = app.test_client()
    resp = client.post(
        FLOWS,
        json={
            "type": "signup",
            "name": "default",
            "batch_input": [
                {"identification": "username", "login_id": username},
                {"authentication": "primary_password", "new_password": "Account-api-1234"},
            ],
        },
    )
    assert resp.status_code == 200 and resp.get_json()["result"]["action"]["type"] == "finished", resp.get_json()
    return client


def _start(client, **extra):
    body = {"identification": "oauth", "alias": "google", "redirect_uri": REDIRECT_URI, **extra}
    return client.post(START, json=body)


def _oauth_identities(app):
    with app.app_context():
        return list(db.session.scalars(select(Identity).where(Identity.type == "oauth")))


def test_a_signed_in_user_links_a_google_account(sso_app, standins):
    app = _app(sso_app)
    client = _signed_in(app, "linker1")
    standins.next_user["google"] = {"sub": "108000000000000000777", "email": "linker@gmail.com", "email_verified": True}
    started = _start(client)
    assert started.status_code == 200, started.get_json()
    result = started.get_json()["result"]
    assert set(result) == {"token", "authorization_url"} and len(result["token"]) == 32
    url = urlsplit(result["authorization_url"])
    params = parse_qs(url.query)
    assert url.netloc == "accounts.google.com" and params["redirect_uri"] == [REDIRECT_URI]
    assert len(params["state"][0]) == 32  # bound to the token
    query = callback_query(standins, result["authorization_url"])
    finished = client.post(FINISH, json={"token": result["token"], "query": "?" + query})
    assert (finished.status_code, finished.get_json()) == (200, {"result": {}})
    [identity] = _oauth_identities(app)
    assert (identity.provider_alias, identity.provider_subject_id) == ("google", "108000000000000000777")
    # The token is used once.
    again = client.post(FINISH, json={"token": result["token"], "query": query})
    assert again.status_code == 400
    assert again.get_json()["error"]["reason"] == "AccountManagementOAuthTokenInvalid"


def test_the_state_must_be_the_tokens_unless_the_app_keeps_it(sso_app, standins):
    app = _app(sso_app)
    client = _signed_in(app, "linker2")
    standins.next_user["google"] = {"sub": "108000000000000000778", "email": "l2@gmail.com", "email_verified": True}
    result = _start(client).get_json()["result"]
    query = parse_qs(callback_query(standins, result["authorization_url"]))
    forged = urlencode({"code": query["code"][0], "state": "A" * 32})
    refused = client.post(FINISH, json={"token": result["token"], "query": forged})
    assert refused.status_code == 400
    assert refused.get_json()["error"] == {
        "name": "Invalid",
        "reason": "AccountManagementOAuthStateNotBoundToToken",
        "message": "the state parameter in query is not bound to token",
        "code": 400,
    }
    assert _oauth_identities(app) == []
    # exclude_state_in_authorization_url: no state in the URL, none checked.
    result = _start(client, exclude_state_in_authorization_url=True).get_json()["result"]
    assert "state" not in parse_qs(urlsplit(result["authorization_url"]).query)
    query = callback_query(standins, result["authorization_url"])
    assert client.post(FINISH, json={"token": result["token"], "query": query}).status_code == 200


def test_a_token_serves_only_its_user(sso_app, standins):
    app = _app(sso_app)
    alice, bob = _signed_in(app, "alice_am"), _signed_in(app, "bob_am")
    standins.next_user["google"] = {"sub": "108000000000000000779", "email": "a3@gmail.com", "email_verified": True}
    result = _start(alice).get_json()["result"]
    query = callback_query(standins, result["authorization_url"])
    refused = bob.post(FINISH, json={"token": result["token"], "query": query})
    assert refused.status_code == 400
    assert refused.get_json()["error"]["reason"] == "AccountManagementOAuthTokenNotBoundToUser"
    assert _oauth_identities(app) == []


def test_what_the_api_refuses(sso_app):
    app = _app(sso_app)
    anonymous = app.test_client()
    resp = _start(anonymous)
    assert resp.status_code == 401
    assert resp.get_json()["error"] == {
        "name": "Unauthorized",
        "reason": "Unauthorized",
        "message": "authentication required",
        "code": 401,
    }
    client = _signed_in(app, "refused1")
    bad = client.post(START, json={"identification": "login_id", "alias": "google", "redirect_uri": "x"})
    assert bad.status_code == 400 and bad.get_json()["error"]["reason"] == "ValidationFailed"
    relative = _start(client, redirect_uri="/callback")
    assert relative.get_json()["error"]["info"]["causes"] == [
        {"location": "/redirect_uri", "kind": "format", "details": {"format": "uri"}}
    ]
    unknown = client.post(START, json={"identification": "oauth", "alias": "nope", "redirect_uri": REDIRECT_URI})
    assert unknown.status_code == 404 and unknown.get_json()["error"]["reason"] == "OAuthProviderNotFound"
    # A page of another site cannot use the browser's session (login CSRF), nor post a form.
    foreign = client.post(START, json={}, headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403 and foreign.get_json()["error"]["reason"] == "CrossOriginRequest"
    form = client.post(START, data="identification=oauth", content_type="text/plain")
    assert form.status_code == 400


def test_an_apps_access_token_signs_the_calls(sso_app, standins):
    """Native apps and SPAs call with their access token (Authgear's session middleware takes both)."""
    from app.identities.models import User
    from app.oidc.id_token import SID_IDP, encode_sid
    from app.sessions.models import IdPSession

    spa = {"client_id": "am-spa", "name": "App", "x_application_type": "spa", "redirect_uris": [REDIRECT_URI]}
    overrides = {**PASSWORD_LOGIN, "oauth": {"clients": [spa]}}
    app = sso_app([google_provider()], {"google": "google-secret"}, overrides=overrides)
    _signed_in(app, "bearer1")
    with app.app_context():
        provider = app.extensions["gatehouse_oidc"]
        session = db.session.scalars(select(IdPSession)).one()
        token = provider.access_tokens.issue_for_user(
            client=provider.clients.get("am-spa"),
            user_id=session.user_id,
            scopes=["openid", "https://authgear.com/scopes/full-access"],
            offline_grant_id=None,
            idp_session_id=session.id,
            sid=encode_sid(SID_IDP, session.id),
            auth_time=session.authenticated_at,
            amr=["pwd"],
            user_claims=provider.claims.user_facts(db.session.get_one(User, session.user_id)).custom_claims(),
        ).token
        db.session.commit()
    cookieless = app.test_client()
    started = cookieless.post(
        START,
        json={"identification": "oauth", "alias": "google", "redirect_uri": REDIRECT_URI},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert started.status_code == 200, started.get_json()
    wrong = cookieless.post(
        START,
        json={"identification": "oauth", "alias": "google", "redirect_uri": REDIRECT_URI},
        headers={"Authorization": "Bearer not-a-token"},
    )
    assert wrong.status_code == 401
