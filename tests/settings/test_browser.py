"""The settings pages in Chromium (Playwright, Debian chromium), each page checked by axe-core:
the user-visible cases of the settings UI, against PostgreSQL and Redis."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pyotp
import pytest
import requests

from app.config import deep_merge
from app.context import RequestContext
from tests.factories import random_email, random_password
from tests.oidc.helpers import pkce_pair
from tests.settings.conftest import SETTINGS_PROJECT

pytestmark = pytest.mark.usefixtures("_catalogs")
APP_CB = "http://localhost:4000/callback"


def serve(web, overrides=None):
    return web(deep_merge(SETTINGS_PROJECT, overrides or {}))


def signed_in(in_app, server, page, user_agent="Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36"):
    """A user with a password and an IdP session whose cookie the browser holds."""
    email, password = random_email().lower(), random_password()
    with in_app(server) as svc:
        user = svc.users.create_user([("email", email)])
        svc.passwords.create(user.id, password, check_policy=False)
        svc.users.mark_verified(user.id, "email", email)
        _, token = svc.sessions.create(user.id, ["pwd"], RequestContext(ip="127.0.0.1", user_agent=user_agent))
        user_id = user.id
    page.context.add_cookies([{"name": "session", "value": token, "url": server.origin}])
    return user_id, email, password


def submit(page, label=None):
    button = page.get_by_role("button", name=label) if label else page.locator("main form button[type=submit]").first
    button.click()
    page.wait_for_load_state("load")


def test_wrong_current_password_then_change_and_language_switch(web, page, shots, in_app):
    server = serve(web)
    _, _, password = signed_in(in_app, server, page)
    page.goto(server.url("/settings"))
    shots.visit(page, "settings-home")
    page.get_by_role("link", name="Password").click()
    shots.visit(page, "settings-change_password")
    new = random_password()
    page.get_by_label("Current password").fill("wrong-" + password)
    page.get_by_label("New password").fill(new)
    page.get_by_label("Confirm password").fill(new)
    submit(page, "Change password")
    error = page.locator("#current_password-error")
    assert error.inner_text().endswith("The current password is incorrect.")
    assert page.get_by_label("Current password").get_attribute("aria-invalid") == "true"
    shots.visit(page, "settings-change_password-error")
    page.get_by_label("Current password").fill(password)
    page.get_by_label("New password").fill(new)
    page.get_by_label("Confirm password").fill(new)
    submit(page, "Change password")
    assert urlsplit(page.url).path == "/settings"
    assert page.get_by_role("status").inner_text() == "Your password has been changed."
    # Language switch: the footer's language menu, remembered for the next pages.
    page.locator(".langs__button").click()
    page.get_by_role("link", name="日本語").click()
    page.wait_for_load_state("load")
    assert page.locator("html").get_attribute("lang") == "ja"
    assert page.locator("h1").inner_text() == "アカウント設定"
    shots.visit(page, "settings-home-ja")
    page.goto(server.url("/settings/sessions"))
    assert page.locator("html").get_attribute("lang") == "ja"


def test_profile_edit_is_refused_for_a_readonly_attribute(web, page, shots, in_app):
    server = serve(web)
    user_id, _, _ = signed_in(in_app, server, page)
    with in_app(server) as svc:
        user = svc.users.get(user_id)
        user.standard_attributes = {**user.standard_attributes, "nickname": "original"}
    page.goto(server.url("/settings/profile"))
    shots.visit(page, "settings-profile")
    page.get_by_role("link", name="Edit Name").click()
    shots.visit(page, "settings-profile-name")
    nickname = page.get_by_label("Nickname")
    assert nickname.is_disabled()
    page.get_by_label("Full name").fill("Ada Lovelace")
    # A user who re-enables the field in the browser is still refused.
    nickname.evaluate("el => { el.disabled = false; el.value = 'changed'; }")
    submit(page, "Save")
    assert page.get_by_role("alert").inner_text() == "You can't change this information here."
    with in_app(server) as svc:
        attrs = svc.users.get(user_id).standard_attributes
        assert attrs["nickname"] == "original" and "name" not in attrs
    page.get_by_label("Full name").fill("Ada Lovelace")
    submit(page, "Save")
    assert urlsplit(page.url).path == "/settings/profile"
    assert "Ada Lovelace" in page.locator("main").inner_text()


def test_last_login_id_cannot_be_removed_and_another_session_is_revoked(web, page, shots, in_app):
    server = serve(web)
    user_id, email, _ = signed_in(in_app, server, page)
    with in_app(server) as svc:
        _, other_token = svc.sessions.create(
            user_id,
            ["pwd"],
            RequestContext(ip="203.0.113.9", user_agent="Mozilla/5.0 (iPhone) Version/17.0 Safari/605.1"),
        )
    page.goto(server.url("/settings/identity/email"))
    shots.visit(page, "settings-identity-email")
    page.get_by_role("link", name=f"Manage {email}").click()
    shots.visit(page, "settings-identity-view")
    submit(page, "Remove")
    assert "it is your only way to sign in" in page.get_by_role("alert").inner_text()
    shots.visit(page, "settings-identity-remove-refused")

    def resolve():
        resp = requests.get(server.url("/_resolver/resolve"), cookies={"session": other_token}, timeout=5)
        return resp.headers.get("X-Authgear-Session-Valid")

    assert resolve() == "true"
    page.goto(server.url("/settings/sessions"))
    shots.visit(page, "settings-sessions")
    assert "Safari on iPhone" in page.locator("main").inner_text()
    page.get_by_role("button", name="Sign out Safari on iPhone").click()
    page.wait_for_load_state("load")
    assert page.get_by_role("status").inner_text() == "That session has been signed out."
    assert "Safari on iPhone" not in page.locator("main").inner_text()
    assert resolve() == "false"


def test_totp_enrolment_with_a_real_code(web, page, shots, in_app):
    server = serve(web)
    user_id, _, _ = signed_in(in_app, server, page)
    page.goto(server.url("/settings/mfa"))
    shots.visit(page, "settings-mfa")
    page.get_by_role("link", name="Authenticator app").click()
    page.get_by_role("link", name="Add an authenticator app").click()
    page.wait_for_load_state("load")
    shots.visit(page, "settings-create_totp")
    assert page.get_by_role("img", name="QR code for your authenticator app").is_visible()
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.get_by_role("textbox", name="Code").fill("000000")
    submit(page, "Verify")
    assert "That code doesn't match." in page.locator("#code-error").inner_text()
    page.get_by_role("textbox", name="Code").fill(pyotp.TOTP(secret).now())
    submit(page, "Verify")
    assert urlsplit(page.url).path == "/settings/mfa/view_recovery_code"
    shots.visit(page, "settings-recovery-codes")
    assert page.locator("#recovery-codes li").count() == 16
    page.get_by_role("link", name="I've saved my codes").click()
    page.wait_for_load_state("load")
    assert "1 added" in page.locator("main").inner_text()
    with in_app(server) as svc:
        assert len(svc.totp.list_for_user(user_id)) == 1


def test_settings_action_started_by_an_app_returns_with_a_code(web, page, shots, in_app):
    server = serve(web)
    _, _, password = signed_in(in_app, server, page)
    verifier, challenge = pkce_pair()
    seen = []

    def app_callback(route):
        seen.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<!doctype html><title>App</title><h1>App</h1>")

    page.route("http://localhost:4000/**", app_callback)
    params = {
        "client_id": "spa-client",
        "redirect_uri": APP_CB,
        "response_type": "urn:authgear:params:oauth:response-type:settings-action",
        "x_settings_action": "change_password",
        "scope": "openid",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": "app-state",
    }
    page.goto(server.url("/oauth2/authorize?" + urlencode(params)))
    assert urlsplit(page.url).path == "/settings/change_password"
    shots.visit(page, "settings-action-change_password")
    assert "SPA asked you to make this change." in page.locator("main").inner_text()
    new = random_password()
    page.get_by_label("Current password").fill(password)
    page.get_by_label("New password").fill(new)
    page.get_by_label("Confirm password").fill(new)
    page.get_by_role("button", name="Change password").click()
    page.wait_for_url(APP_CB + "?*")
    back = {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}
    assert back["state"] == "app-state" and seen
    resp = requests.post(
        server.url("/oauth2/token"),
        data={
            "grant_type": "urn:authgear:params:oauth:grant-type:settings-action",
            "client_id": "spa-client",
            "code": back["code"],
            "redirect_uri": APP_CB,
            "code_verifier": verifier,
        },
        timeout=5,
    )
    assert resp.status_code == 200 and resp.json() == {}
