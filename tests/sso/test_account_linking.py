"""Account linking of an incoming provider account at signup (`account_linking.oauth[]`): Authgear's
default refuses with DuplicatedIdentity; `login_and_link` offers `account_linking_identification_data`,
logs in to the chosen account (a login ID with its password, or another provider) and links the
provider account to it. Over the Flow API and on the hosted account_linking page."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import select

from app.extensions import db
from app.identities.models import Identity
from tests.factories import make_user
from tests.sso.conftest import google_provider
from tests.sso.flowapi import REDIRECT_URI, callback_query, choose_provider, create, error, ok, send
from tests.sso.test_pages import SAME_ORIGIN, _callback, _choose, _entry, _leave

PASSWORD = "linking-Passw0rd!"
LINK_GOOGLE = {
    "account_linking": {
        "oauth": [
            {
                "name": "google-email",
                "alias": "google",
                "oauth_claim": {"pointer": "/email"},
                "user_profile": {"pointer": "/email"},
                "action": "login_and_link",
            }
        ]
    }
}


def _app(sso_app, overrides=None, providers=None):
    providers = providers or [google_provider()]
    return sso_app(providers, {p["alias"]: "google-secret" for p in providers}, overrides=overrides)


def _user(app, email):
    with app.app_context():
        return make_user(app.extensions["gatehouse"], email, PASSWORD).id


def _oauth_owner(app, subject):
    with app.app_context():
        identity = db.session.scalar(select(Identity).where(Identity.provider_subject_id == subject))
        return identity.user_id if identity else None


def _signup_with_google(client, standins):
    data = choose_provider(client, create(client, "signup")["state_token"], "google")
    query = callback_query(standins, data["action"]["data"]["oauth_authorization_url"])
    return send(client, data["state_token"], {"query": query})


def test_default_rule_refuses_a_provider_account_whose_email_is_taken(sso_app, standins):
    app = _app(sso_app)
    _user(app, "taken@example.com")
    standins.next_user["google"] = {"sub": "al-1", "email": "taken@example.com", "email_verified": True}
    err = error(_signup_with_google(app.test_client(), standins))
    assert (err["reason"], err["info"]["cause"]) == ("InvariantViolated", {"kind": "DuplicatedIdentity"})
    assert err["info"]["IdentityTypeExisting"] == "login_id" and err["info"]["LoginIDTypeExisting"] == "email"
    assert err["info"]["ExistingIdentities"] == [{"IdentityType": "login_id", "LoginIDType": "email"}]
    assert _oauth_owner(app, "al-1") is None


def test_login_and_link_to_the_login_id_account(sso_app, standins):
    app = _app(sso_app, LINK_GOOGLE)
    user_id = _user(app, "linkme@example.com")
    standins.next_user["google"] = {"sub": "al-2", "email": "linkme@example.com", "email_verified": True}
    client = app.test_client()
    result = ok(_signup_with_google(client, standins))
    action = result["action"]
    assert (action["type"], action["identification"]) == ("identify", "oauth")
    assert action["data"]["type"] == "account_linking_identification_data"
    assert action["data"]["options"] == [
        {
            "identification": "email",
            "masked_display_name": action["data"]["options"][0]["masked_display_name"],
            "action": "login_and_link",
        }
    ]
    assert "linkme@example.com" not in action["data"]["options"][0]["masked_display_name"]
    # Not an index offered.
    assert error(send(client, result["state_token"], {"index": 1}))["reason"] == "ValidationFailed"
    step = ok(send(client, result["state_token"], {"index": 0}))
    assert step["type"] == "login" and step["action"]["type"] == "authenticate"
    # A wrong password links nothing.
    wrong = send(client, step["state_token"], {"authentication": "primary_password", "password": "nope-nope-1"})
    assert error(wrong)["reason"] == "InvalidCredentials" and _oauth_owner(app, "al-2") is None
    done = ok(send(client, step["state_token"], {"authentication": "primary_password", "password": PASSWORD}))
    assert done["action"]["type"] == "finished"
    assert _oauth_owner(app, "al-2") == user_id
    # From now on the provider account logs in to that user.
    data = choose_provider(client, create(client, "login")["state_token"], "google")
    query = callback_query(standins, data["action"]["data"]["oauth_authorization_url"])
    assert ok(send(client, data["state_token"], {"query": query}))["action"]["type"] == "finished"


def test_login_and_link_through_another_provider(sso_app, standins):
    providers = [google_provider(), google_provider("google2")]
    app = _app(sso_app, LINK_GOOGLE, providers)
    client = app.test_client()
    # The existing account: signed up with the second alias.
    standins.next_user["google"] = {"sub": "al-3", "email": "two@gmail.com", "email_verified": True}
    data = choose_provider(client, create(client, "signup")["state_token"], "google2")
    ok(
        send(
            client,
            data["state_token"],
            {"query": callback_query(standins, data["action"]["data"]["oauth_authorization_url"])},
        )
    )
    owner = _oauth_owner(app, "al-3")

    standins.next_user["google"] = {"sub": "al-4", "email": "two@gmail.com", "email_verified": True}
    result = ok(_signup_with_google(client, standins))
    option = result["action"]["data"]["options"][0]
    assert (option["identification"], option["alias"], option["provider_type"]) == ("oauth", "google2", "google")
    assert error(send(client, result["state_token"], {"index": 0}))["reason"] == "ValidationFailed"  # redirect_uri
    step = ok(send(client, result["state_token"], {"index": 0, "redirect_uri": REDIRECT_URI}))
    assert step["action"]["data"]["type"] == "oauth_data" and step["action"]["data"]["alias"] == "google2"
    # The provider must answer with the chosen account.
    standins.next_user["google"] = {"sub": "al-3", "email": "two@gmail.com", "email_verified": True}
    query = callback_query(standins, step["action"]["data"]["oauth_authorization_url"])
    assert ok(send(client, step["state_token"], {"query": query}))["action"]["type"] == "finished"
    assert _oauth_owner(app, "al-4") == owner


def test_a_flow_may_override_the_action_by_name(sso_app, standins):
    flows = {
        "authentication_flow": {
            "signup_flows": [
                {
                    "name": "default",
                    "steps": [
                        {
                            "type": "identify",
                            "one_of": [
                                {
                                    "identification": "oauth",
                                    "account_linking": {"oauth": [{"name": "google-email", "action": "error"}]},
                                }
                            ],
                        }
                    ],
                }
            ]
        }
    }
    app = _app(sso_app, {**LINK_GOOGLE, **flows})
    _user(app, "over@example.com")
    standins.next_user["google"] = {"sub": "al-5", "email": "over@example.com", "email_verified": True}
    err = error(_signup_with_google(app.test_client(), standins))
    assert err["info"]["cause"] == {"kind": "DuplicatedIdentity"}


def test_the_hosted_account_linking_page(sso_app, standins):
    app = _app(sso_app, LINK_GOOGLE)
    user_id = _user(app, "page-link@example.com")
    standins.next_user["google"] = {"sub": "al-6", "email": "page-link@example.com", "email_verified": True}
    client = app.test_client()
    back = client.get(_callback(standins, _leave(client, _choose(client, _entry(client, "signup"), "google"))))
    assert back.status_code == 303 and back.headers["Location"].startswith("/authflow/v2/account_linking?")
    page = client.get(back.headers["Location"])
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "Existing account found" in body and 'name="x_index" value="0"' in body
    resp = client.post(back.headers["Location"], data={"x_index": "0"}, headers=SAME_ORIGIN)
    assert resp.status_code == 303 and urlsplit(resp.headers["Location"]).path == "/authflow/v2/enter_password"
    done = client.post(resp.headers["Location"], data={"x_password": PASSWORD}, headers=SAME_ORIGIN)
    assert done.status_code == 303 and done.headers["Location"].startswith("/authflow/v2/finish"), done.data
    assert _oauth_owner(app, "al-6") == user_id
