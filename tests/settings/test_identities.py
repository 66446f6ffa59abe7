"""Email, phone and username login IDs on the settings pages: add with a code, change, verify,
make primary, remove, and the refusal to remove the last way to sign in."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.factories import random_email
from tests.settings.conftest import ALL_LOGIN_ID_KEYS, audit_types, sign_in, text_of


def _identities(acc):
    with acc.app.app_context():
        return [(i.login_id_type, i.login_id, i.id) for i in acc.svc.users.identities_of(acc.user_id)]


def _verified(acc, claim, value):
    with acc.app.app_context():
        return acc.svc.users.is_verified(acc.user_id, claim, value)


def _pending_of(location):
    return parse_qs(urlsplit(location).query)["x_pending"][0]


def test_add_email_sends_a_code_and_adds_it_verified(settings_app, smtp_server):
    acc = sign_in(settings_app())
    new = random_email().lower()
    resp = acc.post("/settings/identity/add_email", {"value": new})
    assert resp.status_code == 303 and resp.headers["Location"].startswith("/settings/identity/verify_email?x_pending=")
    verify_url = resp.headers["Location"]
    page = text_of(acc.get(verify_url))
    assert "We sent a code to" in page and new not in page  # masked
    assert [i[1] for i in _identities(acc)] == [acc.email]  # not yet added
    wrong = acc.post(verify_url, {"code": "000000"})
    assert wrong.status_code == 403 and "That code is incorrect or has expired." in text_of(wrong)
    resp = acc.post(verify_url, {"code": smtp_server.last_code(new)})
    assert resp.status_code == 303 and resp.headers["Location"] == "/settings/identity/email"
    assert sorted(i[1] for i in _identities(acc)) == sorted([acc.email, new])
    assert _verified(acc, "email", new)
    types = audit_types(acc.app, acc.user_id)
    assert "identity.login_id.added" in types and "identity.email.verified" in types
    # The code works once.
    assert acc.post(verify_url, {"code": "123456"}).status_code == 404


def test_a_taken_email_is_refused_before_any_code(settings_app, smtp_server):
    app = settings_app()
    other = sign_in(app)
    acc = sign_in(app)
    smtp_server.clear()
    resp = acc.post("/settings/identity/add_email", {"value": other.email.upper()})
    assert resp.status_code == 400
    assert "An account with this email, phone number or username already exists." in text_of(resp)
    assert smtp_server.all_for(other.email) == []


def test_invalid_values_are_refused(settings_app):
    acc = sign_in(settings_app(ALL_LOGIN_ID_KEYS))
    resp = acc.post("/settings/identity/add_email", {"value": "not-an-email"})
    assert resp.status_code == 400 and "Enter a valid email address." in text_of(resp)
    resp = acc.post("/settings/identity/add_phone", {"value": "98765432"})
    assert resp.status_code == 400 and "Enter a phone number with its country code" in text_of(resp)
    resp = acc.post("/settings/identity/add_username", {"value": "admin"})
    assert resp.status_code == 400 and "Enter a valid username." in text_of(resp)


def test_username_is_added_without_a_code_and_removed(settings_app):
    acc = sign_in(settings_app(ALL_LOGIN_ID_KEYS))
    resp = acc.post("/settings/identity/add_username", {"value": "Ada_L"})
    assert resp.status_code == 303 and resp.headers["Location"] == "/settings/identity/username"
    username = next(i for i in _identities(acc) if i[0] == "username")
    assert username[1] == "ada_l"
    assert "It has been added to your account." in text_of(acc.get("/settings/identity/username"))
    resp = acc.post("/settings/identity/remove", {"id": username[2]})
    assert resp.status_code == 303
    assert [i[0] for i in _identities(acc)] == ["email"]
    assert "identity.removed" in audit_types(acc.app, acc.user_id)


def test_removing_the_last_login_id_is_refused(account):
    (only,) = _identities(account)
    resp = account.post("/settings/identity/remove", {"id": only[2]})
    assert resp.status_code == 400
    assert "it is your only way to sign in" in text_of(resp)
    assert _identities(account) == [only]


def test_someone_elses_identity_is_not_found(settings_app):
    app = settings_app()
    other, acc = sign_in(app), sign_in(app)
    theirs = _identities(other)[0][2]
    assert acc.post("/settings/identity/remove", {"id": theirs}).status_code == 404
    assert acc.get(f"/settings/identity/view_email?identity_id={theirs}").status_code == 404
    assert acc.get(f"/settings/identity/change_email?identity_id={theirs}").status_code == 404
    assert _identities(other)[0][2] == theirs


def test_change_email_verifies_the_new_address_then_replaces_it(settings_app, smtp_server):
    acc = sign_in(settings_app())
    (old,) = _identities(acc)
    # One email: the change page without an identity goes to that one.
    resp = acc.get("/settings/identity/change_email")
    assert resp.headers["Location"] == f"/settings/identity/change_email?identity_id={old[2]}"
    new = random_email().lower()
    resp = acc.post(resp.headers["Location"], {"value": new})
    resp = acc.post(resp.headers["Location"], {"code": smtp_server.last_code(new)})
    assert resp.status_code == 303
    assert [i[1] for i in _identities(acc)] == [new]
    with acc.app.app_context():
        assert acc.svc.users.get(acc.user_id).standard_attributes["email"] == new
    assert _verified(acc, "email", new)
    assert "identity.email.updated" in audit_types(acc.app, acc.user_id)


def test_verify_an_unverified_email_and_make_it_primary(settings_app, smtp_server):
    acc = sign_in(settings_app({"verification": {"claims": {"email": {"enabled": True, "required": False}}}}))
    new = random_email().lower()
    # Verification optional: added at once, unverified.
    assert acc.post("/settings/identity/add_email", {"value": new}).headers["Location"] == "/settings/identity/email"
    identity_id = next(i[2] for i in _identities(acc) if i[1] == new)
    assert not _verified(acc, "email", new)
    view = text_of(acc.get(f"/settings/identity/view_email?identity_id={identity_id}"))
    assert "Not verified" in view
    resp = acc.post(f"/settings/identity/start_verify_email?identity_id={identity_id}")
    assert resp.status_code == 303
    resp = acc.post(resp.headers["Location"], {"code": smtp_server.last_code(new)})
    assert resp.status_code == 303 and _verified(acc, "email", new)
    resp = acc.post("/settings/identity/change_primary_email", {"id": identity_id})
    assert resp.status_code == 303
    with acc.app.app_context():
        assert acc.svc.users.get(acc.user_id).standard_attributes["email"] == new


def test_resend_waits_for_the_cooldown(settings_app, smtp_server):
    acc = sign_in(settings_app())
    new = random_email().lower()
    url = acc.post("/settings/identity/add_email", {"value": new}).headers["Location"]
    resp = acc.post(url, {"x_action": "resend"})
    assert resp.status_code == 429
    assert re.search(r"Please wait (a moment|1 minute) before requesting another code\.", text_of(resp))


def test_key_flags_are_honoured(settings_app):
    frozen = {
        "identity": {
            "login_id": {"keys": [{"key": "email", "type": "email", "create_disabled": True, "delete_disabled": True}]}
        }
    }
    acc = sign_in(settings_app(frozen))
    assert acc.get("/settings/identity/add_email").status_code == 404
    (only,) = _identities(acc)
    view = text_of(acc.get(f"/settings/identity/view_email?identity_id={only[2]}"))
    assert ">Remove<" not in view
    resp = acc.post("/settings/identity/remove", {"id": only[2]})
    assert resp.status_code == 400 and "This can't be changed here." in text_of(resp)


def test_another_users_pending_code_cannot_be_used(settings_app, smtp_server):
    app = settings_app()
    victim, attacker = sign_in(app), sign_in(app)
    new = random_email().lower()
    url = victim.post("/settings/identity/add_email", {"value": new}).headers["Location"]
    resp = attacker.post(url, {"code": smtp_server.last_code(new)})
    assert resp.status_code == 404
    assert new not in [i[1] for i in _identities(attacker)]


@pytest.mark.parametrize("kind", ["phone", "username"])
def test_pages_of_disabled_login_id_types_are_not_found(settings_app, kind):
    acc = sign_in(settings_app({"identity": {"login_id": {"keys": [{"key": "email", "type": "email"}]}}}))
    assert acc.get(f"/settings/identity/{kind}").status_code == 404
    assert acc.get(f"/settings/identity/add_{kind}").status_code == 404
    assert f"/settings/identity/{kind}" not in text_of(acc.get("/settings"))


def test_phone_number_with_a_texted_code(settings_app, sms_webhook):
    # Texts go to the fake gateway (the true edge).
    acc = sign_in(settings_app(ALL_LOGIN_ID_KEYS, secrets=sms_webhook.secret))
    resp = acc.post("/settings/identity/add_phone", {"value": "+852 9876 5432"})
    assert resp.status_code == 303, text_of(resp)
    code = sms_webhook.last_code("+85298765432")
    assert re.fullmatch(r"\d{6}", code)
    assert acc.post(resp.headers["Location"], {"code": code}).status_code == 303
    assert ("phone", "+85298765432") in [(i[0], i[1]) for i in _identities(acc)]
    assert _verified(acc, "phone_number", "+85298765432")
