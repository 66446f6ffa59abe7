"""Settings actions started by an app (contract 1.3, 1.8): authorize with the settings-action
response type, the settings page, the redirect back with a code, and the settings-action grant."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from app.extensions import db
from app.identities.models import User
from tests.factories import random_email, random_password
from tests.oidc.helpers import pkce_pair
from tests.settings.conftest import audit_types, sign_in, text_of

SPA, SPA_CB = "spa-client", "http://localhost:4000/callback"
RESPONSE_TYPE = "urn:authgear:params:oauth:response-type:settings-action"
GRANT = "urn:authgear:params:oauth:grant-type:settings-action"
THIRD_PARTY = {
    "oauth": {
        "clients": [
            {"client_id": SPA, "name": "SPA", "x_application_type": "spa", "redirect_uris": [SPA_CB]},
            {
                "client_id": "partner",
                "name": "Partner",
                "client_name": "Partner",
                "x_application_type": "third_party_app",
                "redirect_uris": ["https://partner.example/cb"],
            },
        ]
    }
}


def _query(location):
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _authorize_query(action, challenge, **extra):
    """The authorization request of a settings action; an `extra` of None leaves that parameter out."""
    params = {
        "client_id": SPA,
        "redirect_uri": SPA_CB,
        "response_type": RESPONSE_TYPE,
        "scope": "openid",
        "x_settings_action": action,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": "st-1",
        **extra,
    }
    return {k: v for k, v in params.items() if v is not None}


def _authorize(acc, action, challenge, **extra):
    return acc.client.get("/oauth2/authorize", query_string=_authorize_query(action, challenge, **extra))


def _open_action(acc, action, challenge, **extra):
    """authorize -> consent -> the settings page of the action; returns its URL."""
    resp = _authorize(acc, action, challenge, **extra)
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/oauth2/consent?x_ref="), resp.headers
    resp = acc.client.get(resp.headers["Location"])
    assert resp.status_code == 302
    return resp.headers["Location"]


def _exchange(acc, code, verifier, **extra):
    data = {"grant_type": GRANT, "client_id": SPA, "code": code, "redirect_uri": SPA_CB, "code_verifier": verifier}
    data.update(extra)
    return acc.app.test_client().post("/oauth2/token", data=data)


def test_change_password_action_returns_to_the_app_with_a_code_the_grant_accepts(account):
    verifier, challenge = pkce_pair()
    url = _open_action(account, "change_password", challenge)
    assert url.startswith("/settings/change_password?x_ref=")
    page = account.get(url)
    assert page.status_code == 200
    assert "form-action 'self' http://localhost:4000" in page.headers["Content-Security-Policy"]
    assert "SPA asked you to make this change." in text_of(page)
    new = random_password()
    resp = account.post(url, {"current_password": account.password, "new_password": new, "confirm_password": new})
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith(SPA_CB + "?")
    back = _query(resp.headers["Location"])
    assert back["state"] == "st-1" and len(back["code"]) == 32
    # The code is not an authorization code.
    plain = account.app.test_client().post(
        "/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "client_id": SPA,
            "code": back["code"],
            "redirect_uri": SPA_CB,
            "code_verifier": verifier,
        },
    )
    assert plain.status_code == 400 and plain.json["error"] == "invalid_grant"
    assert _exchange(account, back["code"], "x" * 43).json["error"] == "invalid_grant"
    assert _exchange(account, back["code"], verifier, redirect_uri=SPA_CB + "x").json["error"] == "invalid_grant"
    resp = _exchange(account, back["code"], verifier)
    assert resp.status_code == 200 and resp.json == {}
    # One use.
    assert _exchange(account, back["code"], verifier).json["error"] == "invalid_grant"
    with account.app.app_context():
        assert account.svc.passwords.verify(account.user_id, new) is not None
    types = audit_types(account.app, account.user_id)
    assert "authenticator.password.changed" in types and "settings_action.completed" in types


def test_add_email_action_goes_through_verification_and_back(account, smtp_server):
    verifier, challenge = pkce_pair()
    url = _open_action(account, "add_email", challenge, x_settings_action_query="utm=app&x_ref=evil")
    assert url.startswith("/settings/identity/add_email?utm=app&x_ref=") and "evil" not in url
    new = random_email().lower()
    resp = account.post(url, {"value": new})
    verify_url = resp.headers["Location"]
    assert "x_pending=" in verify_url and "x_ref=" in verify_url
    resp = account.post(verify_url, {"code": smtp_server.last_code(new)})
    assert resp.status_code == 302 and resp.headers["Location"].startswith(SPA_CB)
    assert _exchange(account, _query(resp.headers["Location"])["code"], verifier).status_code == 200


def test_change_username_without_a_username_goes_to_add(settings_app):
    acc = sign_in(settings_app())
    _, challenge = pkce_pair()
    url = _open_action(acc, "change_username", challenge)
    resp = acc.get(url)
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/settings/identity/add_username?x_ref=")


def test_delete_account_action_signs_out_and_returns_with_a_code(account):
    verifier, challenge = pkce_pair()
    url = _open_action(account, "delete_account", challenge)
    resp = account.post(url, {"confirm": "y"})
    assert resp.status_code == 302 and resp.headers["Location"].startswith(SPA_CB)
    assert any(c.startswith("session=;") for c in resp.headers.getlist("Set-Cookie"))
    with account.app.app_context():
        assert db.session.get(User, account.user_id).deletion_scheduled_by == "end_user"
    assert _exchange(account, _query(resp.headers["Location"])["code"], verifier).status_code == 200


def test_delete_account_action_needs_deletion_enabled(settings_app):
    acc = sign_in(settings_app({"account_deletion": {"scheduled_by_end_user_enabled": False}}))
    resp = _authorize(acc, "delete_account", pkce_pair()[1])
    assert resp.status_code == 302 and _query(resp.headers["Location"])["error"] == "invalid_request"


def test_without_a_session_the_action_starts_with_login(settings_app):
    client = settings_app().test_client()
    resp = client.get("/oauth2/authorize", query_string=_authorize_query("change_password", pkce_pair()[1], state=None))
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login?x_ref=")


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"x_settings_action": "fly"}, "invalid_request"),
        ({"x_settings_action": "link_oauth"}, "invalid_request"),
        ({"code_challenge": None}, "invalid_request"),
        ({"client_id": "partner", "redirect_uri": "https://partner.example/cb"}, "unauthorized_client"),
    ],
)
def test_invalid_settings_action_requests(settings_app, extra, error):
    acc = sign_in(settings_app(THIRD_PARTY))
    resp = _authorize(acc, "change_password", pkce_pair()[1], state=None, **extra)
    assert resp.status_code == 302 and _query(resp.headers["Location"])["error"] == error


def test_an_x_ref_for_another_action_or_another_user_issues_no_code(settings_app):
    app = settings_app()
    acc = sign_in(app)
    _, challenge = pkce_pair()
    url = _open_action(acc, "add_username", challenge)
    x_ref = _query(url)["x_ref"]
    # A different settings page does its own change but does not answer the app.
    new = random_password()
    resp = acc.post(
        f"/settings/change_password?x_ref={x_ref}",
        {"current_password": acc.password, "new_password": new, "confirm_password": new},
    )
    assert resp.status_code == 303 and resp.headers["Location"].startswith("/settings")
    # Another user holding the x_ref gets no code either.
    other = sign_in(app)
    resp = other.post(f"/settings/identity/add_username?x_ref={x_ref}", {"value": "someone_else"})
    assert resp.status_code in (302, 303)
    if resp.status_code == 302:
        assert resp.headers["Location"].startswith(SPA_CB)
        pytest.fail("an x_ref must be bound to the user who opened it")


def test_settings_action_grant_hostile_input(account):
    for data in (
        {"grant_type": GRANT, "client_id": SPA},
        {"grant_type": GRANT, "client_id": SPA, "code": "x" * 5000, "redirect_uri": SPA_CB, "code_verifier": "v"},
        {"grant_type": GRANT, "client_id": "nope", "code": "abc", "redirect_uri": SPA_CB},
        {"grant_type": GRANT, "client_id": SPA, "code": ["a", "b"], "redirect_uri": SPA_CB},
    ):
        resp = account.app.test_client().post("/oauth2/token", data=data)
        assert resp.status_code in (400, 401) and resp.json["error"] in (
            "invalid_request",
            "invalid_grant",
            "invalid_client",
        )
