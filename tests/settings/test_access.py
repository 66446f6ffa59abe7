"""Who may see the settings pages: anonymous visitors are sent to sign in, every form needs its CSRF
token, the session cookie is checked on every request, and hostile input gets a page, never a 500."""

from __future__ import annotations

import pytest

from app.extensions import db
from tests.settings.conftest import ALL_LOGIN_ID_KEYS, HTML, csrf_of, sign_in, text_of

GET_PAGES = [
    "/settings",
    "/settings/profile",
    "/settings/v2/profile",
    "/settings/profile/name/edit",
    "/settings/profile/custom_attributes/edit",
    "/settings/identity/email",
    "/settings/identity/add_email",
    "/settings/identity/phone",
    "/settings/identity/add_phone",
    "/settings/identity/username",
    "/settings/identity/add_username",
    "/settings/change_password",
    "/settings/mfa",
    "/settings/mfa/totp",
    "/settings/mfa/oob_otp_email",
    "/settings/mfa/create_oob_otp_email",
    "/settings/mfa/password",
    "/settings/mfa/create_password",
    "/settings/sessions",
    "/settings/advanced_settings",
    "/settings/delete_account",
]
POSTS = [
    "/settings/profile/name/edit",
    "/settings/identity/add_email",
    "/settings/identity/remove",
    "/settings/identity/change_primary_email",
    "/settings/change_password",
    "/settings/mfa/create_oob_otp_email",
    "/settings/mfa/totp/remove",
    "/settings/mfa/oob_otp/remove",
    "/settings/mfa/password/remove",
    "/settings/mfa/create_password",
    "/settings/mfa/view_recovery_code",
    "/settings/sessions/revoke",
    "/settings/sessions/revoke_all",
    "/settings/authorizations/revoke",
    "/settings/delete_account",
]


@pytest.mark.embedded
def test_anonymous_home_goes_to_login_and_sub_pages_to_settings(settings_app):
    client = settings_app().test_client()
    resp = client.get("/settings", headers=HTML)
    assert resp.status_code == 302 and resp.headers["Location"] == "/login?redirect_uri=%2Fsettings"
    for path in GET_PAGES[1:]:
        resp = client.get(path, headers=HTML)
        assert resp.status_code == 302 and resp.headers["Location"] == "/settings", path
    # A cookie that names no live session is anonymous too.
    client.set_cookie("session", "not-a-session")
    assert client.get("/settings/profile").headers["Location"] == "/settings"


@pytest.mark.embedded
def test_anonymous_post_with_a_valid_csrf_token_changes_nothing(settings_app):
    app = settings_app()
    client = app.test_client()
    token = csrf_of(text_of(client.get(client.get("/login").headers["Location"])))
    resp = client.post("/settings/sessions/revoke_all", data={"csrf_token": token}, headers=HTML)
    assert resp.status_code == 303 and resp.headers["Location"] == "/settings"


def test_every_page_renders_for_a_signed_in_user(settings_app):
    acc = sign_in(settings_app(ALL_LOGIN_ID_KEYS))
    for path in GET_PAGES:
        resp = acc.get(path)
        assert resp.status_code in (200, 302), (path, resp.status_code)
        if resp.status_code == 200:
            html = text_of(resp)
            assert resp.headers["Cache-Control"] == "no-store"
            assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
            assert '<html lang="en"' in html and 'href="/static/settings/settings.css"' in html


@pytest.mark.parametrize("path", POSTS)
def test_every_form_needs_its_csrf_token(account, path):
    before = account.get("/settings/sessions")
    assert before.status_code == 200
    resp = account.post(path, {"id": account.session_id, "confirm": "y"}, csrf=False)
    assert resp.status_code == 400
    assert "This form has expired or was sent from another page." in text_of(resp)
    resp = account.client.post(path, data={"csrf_token": "forged", "id": account.session_id}, headers=HTML)
    assert resp.status_code == 400


def test_a_revoked_or_expired_session_signs_out_of_settings(account):
    with account.app.app_context():
        account.svc.sessions.revoke(account.session_id)
        db.session.commit()
    assert account.get("/settings").headers["Location"] == "/login?redirect_uri=%2Fsettings"


def test_a_disabled_user_is_anonymous_to_settings(account):
    with account.app.app_context():
        user = account.svc.users.get(account.user_id)
        account.svc.accounts.set_disabled(user, True, "test")
        db.session.commit()
    assert account.get("/settings/sessions").headers["Location"] == "/settings"


def test_settings_disabled_by_config_are_not_found(settings_app):
    acc = sign_in(settings_app({"ui": {"settings_disabled": True}}))
    assert acc.get("/settings").status_code == 404
    assert acc.get("/settings/profile").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/settings/profile/nope/edit",
        "/settings/identity/fax",
        "/settings/identity/view_email?identity_id=' OR 1=1 --",
        "/settings/identity/view_email?identity_id=00000000-0000-0000-0000-000000000000",
        "/settings/identity/change_email?identity_id=" + "x" * 5000,
        "/settings/identity/verify_email?x_pending=../../etc",
        "/settings/identity/verify_email?x_pending=" + "A" * 32,
        "/settings/mfa/enter_oob_otp?x_pending=%00",
        "/settings/mfa/view_recovery_code/download?x_codes=zzz",
        "/settings/mfa/create_totp?x_totp=%F0%9F%92%A5",
        "/settings/profile?x_ref=" + "r" * 4000,
        "/settings?ui_locales=" + "x" * 300,
        "/settings?x_color_scheme=<script>",
    ],
)
def test_hostile_queries_get_a_page_not_a_500(account, path):
    resp = account.get(path)
    assert resp.status_code in (200, 302, 400, 404, 410), (path, resp.status_code)
    assert resp.mimetype == "text/html"
    assert "<script>" not in resp.get_data(as_text=True)


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/settings/identity/add_email", {"value": "a" * 100_000}),
        ("/settings/identity/add_email", {"value": "\x00@example.com"}),
        ("/settings/identity/add_phone", {"value": "+1 (555) <b>"}),
        ("/settings/identity/remove", {"id": "' OR 1=1 --"}),
        ("/settings/identity/remove", {"id": "00000000-0000-0000-0000-000000000000"}),
        ("/settings/sessions/revoke", {"id": ["a", "b"]}),
        ("/settings/authorizations/revoke", {"id": "x" * 70}),
        ("/settings/mfa/totp/remove", {"id": "💥"}),
        ("/settings/profile/name/edit", {"std_name": "x" * 5000}),
        ("/settings/profile/birthdate/edit", {"std_birthdate": "31/02/1999"}),
        ("/settings/profile/custom_attributes/edit", {"custom_member_no": "1e999"}),
        ("/settings/profile/custom_attributes/edit", {"custom_member_no": "12.5"}),
        ("/settings/change_password", {"current_password": "x", "new_password": "y" * 2000, "confirm_password": "y"}),
    ],
)
def test_hostile_forms_get_a_page_not_a_500(settings_app, path, data):
    acc = sign_in(settings_app(ALL_LOGIN_ID_KEYS))
    resp = acc.post(path, data)
    assert resp.status_code in (303, 400, 401, 403, 404, 413), (path, resp.status_code)
    assert resp.mimetype == "text/html"
    assert "<b>" not in resp.get_data(as_text=True)


def test_an_oversized_body_is_refused(account):
    resp = account.client.post("/settings/profile/name/edit", data={"std_name": "x" * (2 * 1024 * 1024)}, headers=HTML)
    assert resp.status_code == 413


def test_settings_pages_speak_the_chosen_language(account):
    resp = account.get("/settings?ui_locales=fr")
    assert "ui_locales=fr" in resp.headers.get("Set-Cookie", "")
    html = text_of(resp)
    assert '<html lang="fr"' in html and "Paramètres du compte" in html
    # The cookie keeps it for the next pages; errors are translated too.
    resp = account.post(
        "/settings/change_password", {"current_password": "x", "new_password": "y" * 9, "confirm_password": "y" * 9}
    )
    assert "Le mot de passe actuel est incorrect." in text_of(resp)
    page = account.client.get("/settings/sessions", headers={"Accept": "text/html", "Accept-Language": "ja"})
    assert "Appareils connectés" in text_of(page)
