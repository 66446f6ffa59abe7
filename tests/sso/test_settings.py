"""Linked providers in the settings (`/settings/identity/oauth`): link through the provider's round
trip, unlink, `create_disabled` / `delete_disabled`, the last way to sign in, an account another user
holds, a cancel; the SDK's `link_oauth` / `unlink_oauth` settings actions back to the app with a code.
The provider is the Google stand-in (tests/sso/standins.py); tests/sso/test_settings_browser.py does
it in Chromium against node oidc-provider."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pytest
from sqlalchemy import select

from app.extensions import db
from app.identities.models import Identity
from tests.oidc.helpers import pkce_pair
from tests.settings.conftest import sign_in, text_of
from tests.sso.conftest import google_provider
from tests.sso.flowapi import follow

SPA, SPA_CB = "spa-client", "http://localhost:4000/callback"
CLIENTS = {
    "oauth": {"clients": [{"client_id": SPA, "name": "SPA", "x_application_type": "spa", "redirect_uris": [SPA_CB]}]}
}
PAGE = "/settings/identity/oauth"


def _google(sub: str, email: str) -> dict[str, object]:
    return {"sub": sub, "email": email, "email_verified": True, "name": "Linked Person"}


@pytest.fixture
def linkable(sso_app, standins):
    def build(**provider_extra):
        app = sso_app([google_provider(**provider_extra)], {"google": "google-secret"}, overrides=CLIENTS)
        return sign_in(app)

    return build


def _path(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(("", "", parts.path, parts.query, ""))


def _oauth_identities(acc) -> list[Identity]:
    with acc.app.app_context():
        return list(
            db.session.scalars(select(Identity).where(Identity.user_id == acc.user_id, Identity.type == "oauth"))
        )


def _to_provider(acc, resp) -> str:
    """From the link request through the leave page: the provider's URL."""
    assert resp.status_code in (302, 303) and resp.headers["Location"].startswith(PAGE + "/leave?"), resp.headers
    page = acc.get(resp.headers["Location"])
    assert page.status_code == 200
    found = re.search(r'http-equiv="refresh" content="0;url=([^"]+)"', page.get_data(as_text=True))
    assert found
    return html.unescape(found.group(1))


def _link(acc, standins, alias: str = "google", query: str = "") -> object:
    """Connect -> leave page -> the stand-in -> the callback; returns the callback's answer."""
    resp = acc.post(PAGE + "/link" + query, {"x_provider_alias": alias})
    back = follow(standins, _to_provider(acc, resp))
    assert back.status_code == 302, back.text
    return acc.client.get(_path(back.headers["Location"]))


def test_link_then_unlink_a_provider(linkable, standins):
    acc = linkable()
    page = acc.get("/settings")
    assert f'href="{PAGE}"' in page.get_data(as_text=True)
    listed = text_of(acc.get(PAGE))
    assert "Google" in listed and "Not connected" in listed and "Connect" in listed

    standins.next_user["google"] = _google("2001", "linked.one@gmail.com")
    resp = _link(acc, standins)
    assert resp.status_code == 303 and resp.headers["Location"].startswith(PAGE + "/linked?")
    shown = acc.get(resp.headers["Location"])
    assert shown.status_code == 303
    body = text_of(acc.get(shown.headers["Location"]))
    assert "The account has been connected" in body and "linked.one@gmail.com" in body and "Disconnect" in body
    (identity,) = _oauth_identities(acc)
    assert identity.provider_subject_id == "2001"
    # The one-time key of the confirmation is spent.
    assert acc.get(resp.headers["Location"]).headers["Location"] == PAGE

    resp = acc.post(PAGE + "/unlink", {"id": identity.id})
    assert resp.status_code == 303
    assert "The account has been disconnected." in text_of(acc.get(resp.headers["Location"]))
    assert _oauth_identities(acc) == []


def test_the_last_way_to_sign_in_cannot_be_unlinked(linkable, standins):
    acc = linkable()
    standins.next_user["google"] = _google("2002", "only.way@gmail.com")
    _link(acc, standins)
    (identity,) = _oauth_identities(acc)
    with acc.app.app_context():
        svc = acc.svc
        (email,) = svc.users.identities_of(acc.user_id, "login_id")
        svc.accounts.delete_identity(email)
        db.session.commit()
    resp = acc.post(PAGE + "/unlink", {"id": identity.id})
    assert resp.status_code == 400, resp.status_code
    assert "it is your only way to sign in" in text_of(resp)
    assert len(_oauth_identities(acc)) == 1


def test_create_disabled_and_delete_disabled(linkable, standins):
    acc = linkable(create_disabled=True)
    body = text_of(acc.get(PAGE))
    assert "Not connected" in body and 'name="x_provider_alias"' not in body
    resp = acc.post(PAGE + "/link", {"x_provider_alias": "google"})
    assert resp.status_code == 400 and "This can't be changed here." in text_of(resp)

    acc = linkable(delete_disabled=True)
    standins.next_user["google"] = _google("2003", "kept@gmail.com")
    _link(acc, standins)
    (identity,) = _oauth_identities(acc)
    assert "Disconnect" not in text_of(acc.get(PAGE))
    resp = acc.post(PAGE + "/unlink", {"id": identity.id})
    assert resp.status_code == 400
    assert len(_oauth_identities(acc)) == 1


def test_an_account_another_user_holds_is_refused_and_a_cancel_is_said(linkable, standins):
    acc = linkable()
    other = sign_in(acc.app)
    standins.next_user["google"] = _google("2004", other.email)
    resp = _link(acc, standins)
    assert resp.status_code == 303 and "q_sso_error=1" in resp.headers["Location"]
    body = text_of(acc.get(resp.headers["Location"]))
    assert "belongs to another account here" in body
    assert _oauth_identities(acc) == []

    standins.deny.add("google")
    try:
        resp = _link(acc, standins)
    finally:
        standins.deny.discard("google")
    assert "You cancelled signing in with Google." in text_of(acc.get(resp.headers["Location"]))


def test_a_callback_for_another_signed_in_user_links_nothing(linkable, standins):
    acc = linkable()
    resp = acc.post(PAGE + "/link", {"x_provider_alias": "google"})
    standins.next_user["google"] = _google("2005", "elsewhere@gmail.com")
    back = follow(standins, _to_provider(acc, resp))
    # The same browser, now signed in as someone else: the state names the first user.
    sign_in(acc.app, client=acc.client)
    resp = acc.client.get(_path(back.headers["Location"]))
    assert resp.status_code == 303 and resp.headers["Location"] == "/settings"
    assert _oauth_identities(acc) == []


def _grant(acc, code, verifier):
    data = {
        "grant_type": "urn:authgear:params:oauth:grant-type:settings-action",
        "client_id": SPA,
        "code": code,
        "redirect_uri": SPA_CB,
        "code_verifier": verifier,
    }
    return acc.app.test_client().post("/oauth2/token", data=data)


def _open_action(acc, action, challenge, alias="google"):
    params = {
        "client_id": SPA,
        "redirect_uri": SPA_CB,
        "response_type": "urn:authgear:params:oauth:response-type:settings-action",
        "scope": "openid",
        "x_settings_action": action,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": "st-9",
    }
    if alias:
        params["x_oauth_provider_alias"] = alias
    resp = acc.client.get("/oauth2/authorize", query_string=params)
    if resp.status_code != 302 or not resp.headers["Location"].startswith("/oauth2/consent"):
        return resp
    return acc.client.get(resp.headers["Location"])


def test_link_oauth_and_unlink_oauth_settings_actions(linkable, standins):
    acc = linkable()
    # Without the provider's alias: refused at the authorization endpoint.
    refused = _open_action(acc, "link_oauth", pkce_pair()[1], alias=None)
    assert "oauthProviderAlias" in parse_qs(urlsplit(refused.headers["Location"]).query)["error_description"][0]

    verifier, challenge = pkce_pair()
    resp = _open_action(acc, "link_oauth", challenge)
    page = resp.headers["Location"]
    assert page.startswith(PAGE + "?") and "x_provider_alias=google" in page
    # The page goes straight to the provider.
    standins.next_user["google"] = _google("2006", "action.link@gmail.com")
    back = follow(standins, _to_provider(acc, acc.get(page)))
    resp = acc.client.get(_path(back.headers["Location"]))
    resp = acc.get(resp.headers["Location"])
    assert resp.status_code in (302, 303) and resp.headers["Location"].startswith(SPA_CB + "?"), resp.headers
    query = parse_qs(urlsplit(resp.headers["Location"]).query)
    assert query["state"] == ["st-9"]
    assert _grant(acc, query["code"][0], verifier).get_json() == {}
    (identity,) = _oauth_identities(acc)

    # link_oauth again: the account is linked already, so the page says so instead of leaving.
    resp = _open_action(acc, "link_oauth", pkce_pair()[1])
    shown = acc.get(resp.headers["Location"])
    assert shown.status_code == 200 and "Your Google account is already connected." in text_of(shown)

    verifier, challenge = pkce_pair()
    resp = _open_action(acc, "unlink_oauth", challenge)
    page = resp.headers["Location"]
    assert "x_settings_action=unlink_oauth" in page
    body = text_of(acc.get(page))
    assert "Disconnect" in body
    action_url = html.unescape(re.search(r'action="([^"]*/unlink[^"]*)"', acc.get(page).get_data(as_text=True))[1])
    resp = acc.post(action_url, {"id": identity.id})
    assert resp.headers["Location"].startswith(SPA_CB + "?"), resp.headers
    code = parse_qs(urlsplit(resp.headers["Location"]).query)["code"][0]
    assert _grant(acc, code, verifier).get_json() == {}
    assert _oauth_identities(acc) == []
