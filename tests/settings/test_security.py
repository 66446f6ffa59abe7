"""Password, re-authentication and second factors on the settings pages."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

from app.authenticators.recovery_codes import normalize
from app.extensions import db
from app.sessions.models import IdPSession
from tests.factories import random_email, random_password
from tests.settings.conftest import audit_types, sign_in, text_of


def _age_session(acc, seconds=3600):
    """Pretend the last authentication happened `seconds` ago."""
    with acc.app.app_context():
        session = db.session.get(IdPSession, acc.session_id)
        session.authenticated_at = session.authenticated_at - timedelta(seconds=seconds)
        db.session.commit()


def _secondaries(acc):
    with acc.app.app_context():
        return sorted(
            (a.type, a.oob_target or a.totp_display_name or "")
            for a in acc.svc.oob.list_for_user(acc.user_id, "secondary") + acc.svc.totp.list_for_user(acc.user_id)
        )


# -- password ---------------------------------------------------------------------------------------
def test_wrong_current_password_is_refused_and_counted(settings_app):
    acc = sign_in(settings_app({"authentication": {"lockout": {"max_attempts": 3, "minimum_duration": "5m"}}}))
    new = random_password()
    for _ in range(2):
        resp = acc.post(
            "/settings/change_password", {"current_password": "wrong", "new_password": new, "confirm_password": new}
        )
        assert resp.status_code == 401
        html = text_of(resp)
        assert "The current password is incorrect." in html
        assert 'id="current_password-error"' in html
    # The third failure locks the account, like a failed login would.
    acc.post("/settings/change_password", {"current_password": "wrong", "new_password": new, "confirm_password": new})
    resp = acc.post(
        "/settings/change_password", {"current_password": acc.password, "new_password": new, "confirm_password": new}
    )
    assert resp.status_code == 429 and "Too many failed attempts." in text_of(resp)
    with acc.app.app_context():
        assert acc.svc.passwords.verify(acc.user_id, acc.password) is not None
    # Each refusal leaves its audit row, as at login.
    refused = [t for t in audit_types(acc.app, acc.user_id) if t.startswith("authentication.")]
    assert refused == ["authentication.primary.password.failed"] * 3 + ["authentication.blocked"]


def test_change_password_applies_the_policy_and_history(settings_app):
    policy = {"min_length": 10, "digit_required": True, "history_size": 3}
    acc = sign_in(settings_app({"authenticator": {"password": {"policy": policy}}}), password=random_password() + "1")
    resp = acc.post(
        "/settings/change_password",
        {"current_password": acc.password, "new_password": "short", "confirm_password": "short"},
    )
    assert resp.status_code == 400
    html = text_of(resp)
    assert "doesn't meet the requirements" in html and "rules__item--broken" in html
    resp = acc.post(
        "/settings/change_password",
        {"current_password": acc.password, "new_password": acc.password, "confirm_password": acc.password},
    )
    assert resp.status_code == 400 and "Choose a password you have not used recently." in text_of(resp)
    new = random_password() + "7"
    resp = acc.post(
        "/settings/change_password",
        {"current_password": acc.password, "new_password": new, "confirm_password": new + "x"},
    )
    assert resp.status_code == 400 and "The passwords don't match." in text_of(resp)
    resp = acc.post(
        "/settings/change_password", {"current_password": acc.password, "new_password": new, "confirm_password": new}
    )
    assert resp.status_code == 303 and resp.headers["Location"] == "/settings"
    with acc.app.app_context():
        assert acc.svc.passwords.verify(acc.user_id, new) is not None
        assert acc.svc.passwords.verify(acc.user_id, acc.password) is None
    assert "authenticator.password.changed" in audit_types(acc.app, acc.user_id)
    assert "Your password has been changed." in text_of(acc.get("/settings"))


def test_a_user_without_a_password_sets_one(settings_app):
    app = settings_app()
    acc = sign_in(app)
    with app.app_context():
        db.session.delete(acc.svc.passwords.get(acc.user_id))
        db.session.commit()
    assert acc.get("/settings/change_password").headers["Location"] == "/settings/create_password"
    new = random_password()
    assert acc.post("/settings/create_password", {"new_password": new, "confirm_password": new}).status_code == 303
    with app.app_context():
        assert acc.svc.passwords.verify(acc.user_id, new) is not None


# -- reauthentication -------------------------------------------------------------------------------
def test_sensitive_pages_ask_for_the_password_again_and_come_back(account):
    _age_session(account)
    resp = account.get("/settings/mfa/create_oob_otp_email")
    assert resp.status_code == 302
    step = resp.headers["Location"]
    assert step.startswith("/authflow/v2/enter_password?x_step=")
    page = account.get(step)
    assert page.status_code == 200
    # A change posted while the authentication is old is not made either.
    resp = account.post("/settings/identity/add_username", {"value": "someone"})
    assert resp.status_code == 303 and resp.headers["Location"].startswith("/authflow/v2/enter_password")
    token = account.csrf()
    resp = account.client.post(
        step, data={"csrf_token": token, "password": account.password}, headers={"Accept": "text/html"}
    )
    assert resp.status_code == 303 and resp.headers["Location"].startswith("/authflow/v2/finish")
    finish = text_of(account.get(resp.headers["Location"]))
    assert "http://localhost:3000/settings/mfa/create_oob_otp_email" in finish
    assert account.get("/settings/mfa/create_oob_otp_email").status_code == 200
    assert "user.reauthenticated" in audit_types(account.app, account.user_id)


def test_reauth_max_age_is_configurable(settings_app):
    acc = sign_in(settings_app({"ui": {"settings_reauth_max_age_seconds": 0}}))
    _age_session(acc, 10 * 86400)
    assert acc.get("/settings/mfa/create_oob_otp_email").status_code == 200
    acc = sign_in(settings_app({"ui": {"settings_reauth_max_age_seconds": 7200}}))
    _age_session(acc, 3600)
    assert acc.get("/settings/delete_account").status_code == 200
    _age_session(acc, 7200)
    assert acc.get("/settings/delete_account").status_code == 302


# -- TOTP -------------------------------------------------------------------------------------------
def test_totp_enrolment_with_a_real_code_then_recovery_codes(account):
    resp = account.get("/settings/mfa/create_totp")
    url = resp.headers["Location"]
    page = text_of(account.get(url))
    assert '<svg role="img" aria-label="QR code for your authenticator app"' in page
    secret = "".join(page.split('<code id="totp-secret">')[1].split("</code>")[0].split())
    resp = account.post(url, {"code": "000000"})
    assert resp.status_code == 400 and "That code doesn't match." in text_of(resp)
    resp = account.post(url, {"code": pyotp.TOTP(secret).now(), "display_name": "My phone"})
    assert resp.status_code == 303
    codes_url = resp.headers["Location"]
    assert codes_url.startswith("/settings/mfa/view_recovery_code?x_codes=")
    codes_page = text_of(account.get(codes_url))
    codes = [c.split("</code>")[0] for c in codes_page.split("<li><code>")[1:]]
    assert len(codes) == 16 and all(normalize(c) for c in codes)
    download = account.get(codes_url.replace("view_recovery_code?", "view_recovery_code/download?"))
    assert download.headers["Content-Disposition"].startswith("attachment") and codes[0] in download.get_data(
        as_text=True
    )
    assert _secondaries(account) == [("totp", "My phone")]
    with account.app.app_context():
        assert account.svc.recovery_codes.consume(account.user_id, codes[0])
    types = audit_types(account.app, account.user_id)
    assert "authenticator.totp.created" in types and "authenticator.recovery_codes.replaced" in types
    # The enrolment secret is gone once used.
    assert account.post(url, {"code": pyotp.TOTP(secret).now()}).status_code == 404


def test_remove_totp_and_the_last_factor_when_required(settings_app):
    app = settings_app({"authentication": {"secondary_authentication_mode": "required"}})
    acc = sign_in(app)
    with app.app_context():
        auth = acc.svc.totp.create(acc.user_id, pyotp.random_base32(32), "TOTP")
        second = acc.svc.totp.create(acc.user_id, pyotp.random_base32(32), "Backup")
        db.session.commit()
        first_id, second_id = auth.id, second.id
    assert acc.post("/settings/mfa/totp/remove", {"id": first_id}).status_code == 303
    resp = acc.post("/settings/mfa/totp/remove", {"id": second_id})
    assert resp.status_code == 400 and "you can't remove your last second factor" in text_of(resp)
    assert _secondaries(acc) == [("totp", "Backup")]
    assert "authenticator.totp.deleted" in audit_types(app, acc.user_id)


def test_someone_elses_authenticator_is_not_found(settings_app):
    app = settings_app()
    owner, other = sign_in(app), sign_in(app)
    with app.app_context():
        auth_id = owner.svc.totp.create(owner.user_id, pyotp.random_base32(32), "TOTP").id
        db.session.commit()
    assert other.post("/settings/mfa/totp/remove", {"id": auth_id}).status_code == 404
    assert other.post("/settings/mfa/oob_otp/remove", {"id": auth_id}).status_code == 404
    assert len(_secondaries(owner)) == 1


# -- codes by email ---------------------------------------------------------------------------------
def test_secondary_email_otp_add_and_remove(account, smtp_server):
    target = random_email().lower()
    resp = account.post("/settings/mfa/create_oob_otp_email", {"target": target})
    assert resp.status_code == 303
    url = resp.headers["Location"]
    assert account.post(url, {"code": "999999"}).status_code == 403
    resp = account.post(url, {"code": smtp_server.last_code(target)})
    assert resp.status_code == 303 and "view_recovery_code" in resp.headers["Location"]
    assert _secondaries(account) == [("oob_otp_email", target)]
    # The same address twice is refused.
    resp = account.post("/settings/mfa/create_oob_otp_email", {"target": target})
    assert resp.status_code == 400 and "You have already added this." in text_of(resp)
    with account.app.app_context():
        auth_id = account.svc.oob.list_for_user(account.user_id, "secondary")[0].id
    assert account.post("/settings/mfa/oob_otp/remove", {"id": auth_id}).status_code == 303
    assert _secondaries(account) == []
    with account.app.app_context():
        # Without a second factor the recovery codes go too.
        assert account.svc.recovery_codes.remaining(account.user_id) == 0


def test_sms_codes_are_not_offered_unless_configured(account):
    assert account.get("/settings/mfa/oob_otp_sms").status_code == 404
    assert account.get("/settings/mfa/create_oob_otp_sms").status_code == 404


# -- secondary password and recovery codes ----------------------------------------------------------
def test_secondary_password_create_change_remove(account):
    first = random_password()
    assert account.get("/settings/mfa/change_password").headers["Location"] == "/settings/mfa/create_password"
    resp = account.post("/settings/mfa/create_password", {"new_password": first, "confirm_password": first})
    assert resp.status_code == 303
    with account.app.app_context():
        assert account.svc.passwords.verify(account.user_id, first, "secondary") is not None
    second = random_password()
    assert (
        account.post("/settings/mfa/change_password", {"new_password": second, "confirm_password": second}).status_code
        == 303
    )
    with account.app.app_context():
        auth = account.svc.passwords.get(account.user_id, "secondary")
        assert account.svc.passwords.verify(account.user_id, second, "secondary") is not None
        auth_id = auth.id
    assert account.post("/settings/mfa/password/remove", {"id": auth_id}).status_code == 303
    with account.app.app_context():
        assert account.svc.passwords.get(account.user_id, "secondary") is None


def test_recovery_codes_regenerate_and_are_shown_to_their_owner_only(settings_app):
    app = settings_app()
    acc, other = sign_in(app), sign_in(app)
    assert acc.get("/settings/mfa/view_recovery_code").status_code == 404  # no second factor yet
    with app.app_context():
        acc.svc.totp.create(acc.user_id, pyotp.random_base32(32), "TOTP")
        db.session.commit()
    page = text_of(acc.get("/settings/mfa/view_recovery_code"))
    assert "You have 0 unused codes." in page
    resp = acc.post("/settings/mfa/view_recovery_code")
    assert resp.status_code == 303
    url = resp.headers["Location"]
    token = parse_qs(urlsplit(url).query)["x_codes"][0]
    assert len(text_of(acc.get(url)).split("<li><code>")) == 17
    with app.app_context():
        other.svc.totp.create(other.user_id, pyotp.random_base32(32), "TOTP")
        db.session.commit()
    assert other.get(f"/settings/mfa/view_recovery_code?x_codes={token}").status_code == 404
    assert other.get(f"/settings/mfa/view_recovery_code/download?x_codes={token}").status_code == 404


@pytest.mark.parametrize("path", ["/settings/mfa", "/settings/mfa/totp", "/settings/mfa/password"])
def test_mfa_pages_are_not_found_when_disabled(settings_app, path):
    acc = sign_in(settings_app({"authentication": {"secondary_authentication_mode": "disabled"}}))
    assert acc.get(path).status_code == 404
