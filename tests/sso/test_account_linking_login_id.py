"""Account linking of an incoming login ID at signup (`account_linking.login_id[]`): an email signing up
that another user's provider account holds. Authgear's default refuses with DuplicatedIdentity;
`login_and_link` offers that account, logs in to it through its provider and adds the email to it."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.identities.models import Identity
from tests.sso.conftest import google_provider
from tests.sso.flowapi import REDIRECT_URI, callback_query, create, error, ok, send, sign_in_with

LINK_EMAIL = {
    "account_linking": {
        "login_id": [
            {"name": "email", "key": "email", "user_profile": {"pointer": "/email"}, "action": "login_and_link"}
        ]
    }
}


def _app(sso_app, overrides=None):
    return sso_app([google_provider()], {"google": "google-secret"}, overrides=overrides)


def _google_user(app, standins, sub, email):
    standins.next_user["google"] = {"sub": sub, "email": email, "email_verified": True}
    sign_in_with(app.test_client(), standins, "signup", "google")
    with app.app_context():
        return db.session.scalar(select(Identity.user_id).where(Identity.provider_subject_id == sub))


def _signup_with_email(client, email):
    start = create(client, "signup")
    return send(client, start["state_token"], {"identification": "email", "login_id": email})


def test_default_rule_refuses_an_email_a_provider_account_holds(sso_app, standins):
    app = _app(sso_app)
    _google_user(app, standins, "li-1", "held@gmail.com")
    err = error(_signup_with_email(app.test_client(), "Held@gmail.com"))
    assert (err["reason"], err["info"]["cause"]) == ("InvariantViolated", {"kind": "DuplicatedIdentity"})
    assert err["info"]["IdentityTypeIncoming"] == "login_id" and err["info"]["LoginIDTypeIncoming"] == "email"
    assert err["info"]["IdentityTypeExisting"] == "oauth" and err["info"]["OAuthProviderTypeExisting"] == "google"
    assert err["info"]["ExistingIdentities"] == [{"IdentityType": "oauth", "OAuthProviderType": "google"}]


def test_login_and_link_adds_the_email_to_the_provider_account(sso_app, standins):
    app = _app(sso_app, LINK_EMAIL)
    owner = _google_user(app, standins, "li-2", "mine@gmail.com")
    client = app.test_client()
    result = ok(_signup_with_email(client, "mine@gmail.com"))
    action = result["action"]
    assert (action["type"], action["identification"]) == ("identify", "email")
    assert action["data"]["type"] == "account_linking_identification_data"
    (option,) = action["data"]["options"]
    assert (option["identification"], option["alias"], option["action"]) == ("oauth", "google", "login_and_link")
    step = ok(send(client, result["state_token"], {"index": 0, "redirect_uri": REDIRECT_URI}))
    assert step["type"] == "login" and step["action"]["data"]["type"] == "oauth_data"
    standins.next_user["google"] = {"sub": "li-2", "email": "mine@gmail.com", "email_verified": True}
    query = callback_query(standins, step["action"]["data"]["oauth_authorization_url"])
    assert ok(send(client, step["state_token"], {"query": query}))["action"]["type"] == "finished"
    with app.app_context():
        login_ids = db.session.scalars(select(Identity).where(Identity.type == "login_id")).all()
        assert [(i.user_id, i.login_id) for i in login_ids] == [(owner, "mine@gmail.com")]


def test_login_and_link_must_log_in_to_the_account_offered(sso_app, standins):
    app = _app(sso_app, LINK_EMAIL)
    _google_user(app, standins, "li-3", "offered@gmail.com")
    _google_user(app, standins, "li-4", "someone@gmail.com")
    client = app.test_client()
    result = ok(_signup_with_email(client, "offered@gmail.com"))
    step = ok(send(client, result["state_token"], {"index": 0, "redirect_uri": REDIRECT_URI}))
    standins.next_user["google"] = {"sub": "li-4", "email": "someone@gmail.com", "email_verified": True}
    query = callback_query(standins, step["action"]["data"]["oauth_authorization_url"])
    assert error(send(client, step["state_token"], {"query": query}))["reason"] == "AuthenticationFlowDifferentUserID"
    with app.app_context():
        assert db.session.scalar(select(Identity).where(Identity.type == "login_id")) is None
