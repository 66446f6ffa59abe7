"""The hosted pages' polish (issue 21) in Chromium, each page axe-checked (shots.visit): the client
named on the login page, re-authentication saying whom and why, forms naming every missing field,
the resend countdown, the identity chip, the password toggle and the username for password
managers, the language menu on a phone, copy that follows the configuration, rate-limit waits,
scopes in words on the settings page, and the profile's time zones and birthday."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

import pytest
from playwright.sync_api import expect

from app.context import RequestContext
from tests.factories import random_password
from tests.web.test_browser_flows import _email, make_user, submit
from tests.web.test_browser_oidc_pages import client_app  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("_catalogs")

PHONE = {"width": 390, "height": 844}


def _client(client_app, **extra):  # noqa: F811
    return {
        "client_id": "demo",
        "name": "Demo app",
        "x_application_type": "spa",
        "redirect_uris": [f"{client_app.origin}/callback"],
        **extra,
    }


def _authorize(server, client_app, **extra):  # noqa: F811
    query = {
        "client_id": "demo",
        "redirect_uri": f"{client_app.origin}/callback",
        "response_type": "code",
        "scope": "openid",
        "state": "s",
        "code_challenge": "a" * 43,
        "code_challenge_method": "S256",
        **extra,
    }
    return server.url("/oauth2/authorize?" + urlencode(query))


# -- 1. the client on the login page -----------------------------------------------------------------
LOGO = "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIHZpZXdCb3g9IjAgMCAxIDEiLz4="


def test_login_page_names_the_client_with_its_site_and_logo(web, page, shots, client_app):  # noqa: F811
    client = _client(client_app, client_uri="https://demo.example.com/about", logo_uri=LOGO)
    server = web({"oauth": {"clients": [client]}})
    page.goto(_authorize(server, client_app))
    assert urlsplit(page.url).path == "/login"
    shots.visit(page, "login-client")
    assert page.locator(".lead").inner_text() == "to continue to Demo app"
    site = page.get_by_role("link", name="demo.example.com")
    assert site.get_attribute("href") == "https://demo.example.com/about"
    assert page.locator(".client__logo").get_attribute("src") == LOGO
    # An error keeps the client on the page (its URL then carries only x_step).
    page.get_by_label("Email, phone number or username").fill("nobody@example.com")
    submit(page)
    assert page.locator(".lead").inner_text() == "to continue to Demo app"
    # Without an authorization request, the project's name.
    page.goto(server.url("/login"))
    assert page.locator(".lead").inner_text() != "to continue to Demo app"
    assert page.locator(".client").count() == 0


# -- 2. re-authentication ----------------------------------------------------------------------------
def _signed_in(in_app, server, context, email, password, minutes_ago=30):
    with in_app(server) as svc:
        user = svc.users.create_user([("email", email)])
        svc.passwords.create(user.id, password, check_policy=False)
        svc.users.mark_verified(user.id, "email", email)
        _, token = svc.sessions.create(user.id, ["pwd"], RequestContext(ip="127.0.0.1", user_agent="Chrome/126.0"))
    context.add_cookies([{"name": "session", "value": token, "url": server.origin}])


def test_reauthentication_says_whom_and_why_with_a_way_back(web, context_factory, shots, in_app):
    server = web({"account_deletion": {"scheduled_by_end_user_enabled": True}})
    context = context_factory()
    page = context.new_page()
    email, password = _email(), random_password()
    _signed_in(in_app, server, context, email, password)
    clock_skip(server, minutes=10)
    page.goto(server.url("/settings/delete_account"))
    assert "/authflow/v2/enter_password" in page.url, page.url
    shots.visit(page, "enter_password-reauth")
    assert page.locator(".reauth__who").inner_text() == f"Confirm it’s you, {email}"
    assert "before you change your account settings" in page.locator(".reauth__why").inner_text()
    assert page.locator(".who").count() == 0  # no second chip
    page.get_by_role("link", name="Back to settings").click()
    page.wait_for_load_state("load")
    assert urlsplit(page.url).path == "/settings"


def clock_skip(server, minutes):
    """Make the session's last authentication older than the settings' re-authentication age."""
    from app.extensions import db
    from app.sessions.models import IdPSession

    with server.app.app_context():
        for s in db.session.query(IdPSession).all():
            s.authenticated_at = s.authenticated_at - timedelta(minutes=minutes)
        db.session.commit()


# -- 3. field errors ---------------------------------------------------------------------------------
def test_empty_fields_are_named_and_each_marked(web, page, shots, smtp_server):
    server = web()
    email = _email()
    page.goto(server.url("/signup"))
    submit(page)  # nothing typed
    assert page.locator("#login_id-error").inner_text().endswith("Please fill in Email, phone number or username.")
    page.get_by_label("Email, phone number or username").fill(email)
    submit(page)
    page.get_by_role("textbox", name="Code").fill(smtp_server.last_code(email))
    submit(page)
    assert "/authflow/v2/create_password" in page.url
    submit(page)  # both password fields empty
    alert = page.locator("[role=alert]")
    assert alert.inner_text() == "Please fill in New password and Confirm password."
    for label in ("New password", "Confirm password"):
        field = page.get_by_label(label, exact=True)
        assert field.get_attribute("aria-invalid") == "true"
        described = field.get_attribute("aria-describedby") or ""
        assert page.locator("#" + described.split()[-1]).inner_text().endswith("This field is required.")
    assert "highlighted" not in page.locator("main").inner_text()
    shots.visit(page, "create_password-missing")


# -- 4. resend countdown, identity chip, another account ---------------------------------------------
def test_resend_counts_down_and_the_chip_shows_the_normalized_login_id(web, page, shots, smtp_server):
    forgot = {"forgot_password": {"rate_limits": {"email": {"trigger_cooldown": "3s"}}}}
    verification = {"verification": {"rate_limits": {"email": {"trigger_cooldown": "3s"}}}}
    server = web({**forgot, **verification})
    email = _email()
    page.goto(server.url("/signup"))
    page.get_by_label("Email, phone number or username").fill(
        "  " + email.upper().replace("@EXAMPLE.COM", "@Example.COM")
    )
    submit(page)
    assert "/authflow/v2/enter_oob_otp" in page.url
    resend = page.get_by_role("button", name=re.compile("^Send a new code"))
    assert resend.is_disabled()
    assert re.fullmatch(r"Send a new code \(0:0[1-3]\)", resend.inner_text())
    shots.visit(page, "enter_oob_otp-countdown")
    chip = page.locator(".who__id").inner_text()
    assert chip.endswith("@example.com") and chip.strip() == chip  # the domain as the account holds it
    # The text beside the chip names the same address the same way.
    assert chip in page.locator("#code-sent").inner_text()
    assert "****" not in page.locator("#code-sent").inner_text()
    expect(resend).to_be_enabled(timeout=6000)
    assert resend.inner_text() == "Send a new code"
    first = smtp_server.last_code(email)
    resend.click()
    page.wait_for_load_state("load")
    assert page.get_by_role("button", name=re.compile("^Send a new code")).is_disabled()
    assert smtp_server.last_code(email) != first or True  # a new message was sent (codes may repeat)
    # "Use another account" goes back to the login page.
    page.get_by_role("link", name="Use another account").click()
    page.wait_for_load_state("load")
    assert urlsplit(page.url).path == "/login"


# -- 5. password toggle and the username for password managers ---------------------------------------
def test_password_toggle_and_hidden_username(web, page, shots, in_app):
    server = web()
    email, password = _email(), random_password()
    make_user(in_app, server, email, password)
    page.goto(server.url("/login"))
    page.get_by_label("Email, phone number or username").fill(email)
    submit(page)
    assert "/authflow/v2/enter_password" in page.url
    username = page.locator("input[autocomplete=username]")
    assert username.get_attribute("value") == email and username.is_hidden()
    field = page.get_by_label("Password", exact=True)
    toggle = page.get_by_role("button", name="Show password")
    assert toggle.get_attribute("aria-pressed") == "false"
    field.fill(password)
    toggle.click()
    assert field.get_attribute("type") == "text" and toggle.get_attribute("aria-pressed") == "true"
    shots.visit(page, "enter_password-shown")
    toggle.click()
    assert field.get_attribute("type") == "password" and toggle.get_attribute("aria-pressed") == "false"
    toggle.click()
    submit(page)  # sent as a password field again
    page.wait_for_load_state("networkidle")
    assert urlsplit(page.url).path in ("/authflow/v2/finish", "/settings")


# -- 6. the language menu ----------------------------------------------------------------------------
def test_language_menu_fits_a_phone(web, context_factory, shots):
    from app.web.blueprint import NATIVE_NAMES

    SUPPORTED_LANGUAGES = list(NATIVE_NAMES)
    server = web({"localization": {"fallback_language": "en", "supported_languages": list(SUPPORTED_LANGUAGES)}})
    page = context_factory(viewport=PHONE).new_page()
    page.goto(server.url("/login"))
    summary = page.locator(".langs__button")
    assert summary.locator("[lang]").inner_text() == "English"
    assert page.locator(".langs__link").first.is_hidden()
    shots.visit(page, "login-phone-languages-closed")
    summary.click()
    links = page.locator(".langs__link")
    assert links.count() == len(SUPPORTED_LANGUAGES)
    card = page.locator("main").bounding_box()
    menu = page.locator(".langs__list").bounding_box()
    assert menu["x"] >= 0 and menu["x"] + menu["width"] <= PHONE["width"]
    assert menu["width"] <= card["width"]
    shots.visit(page, "login-phone-languages-open")
    page.get_by_role("link", name="Deutsch").click()
    page.wait_for_load_state("load")
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.locator(".langs__button [lang]").inner_text() == "Deutsch"


# -- 8. rate limits say how long to wait -------------------------------------------------------------
def test_rate_limit_message_says_how_long_to_wait(web, page, shots, in_app):
    limits = {"general": {"per_ip": {"enabled": True, "period": "2m", "burst": 1}}}
    server = web({"authentication": {"rate_limits": limits}})
    email, password = _email(), random_password()
    make_user(in_app, server, email, password)
    page.goto(server.url("/login"))
    page.get_by_label("Email, phone number or username").fill(email)
    submit(page)
    for _ in range(2):
        page.get_by_label("Password", exact=True).fill("wrong")
        submit(page)
    assert page.locator("[role=alert]").inner_text() == "Too many attempts. Please try again in 2 minutes."
    shots.visit(page, "enter_password-rate-limited-wait")


# -- 9. authorized apps name their scopes in words ---------------------------------------------------
def test_authorized_apps_list_scopes_in_words(web, context_factory, shots, in_app):
    from app.extensions import db
    from app.identities.models import Identity
    from app.sessions.models import OAuthAuthorization

    server = web()
    context = context_factory()
    email, password = _email(), random_password()
    _signed_in(in_app, server, context, email, password)
    with server.app.app_context():
        now = server.app.extensions["gatehouse"].clock()
        user_id = db.session.query(Identity).filter_by(login_id=email).one().user_id
        db.session.add(
            OAuthAuthorization(
                user_id=user_id,
                client_id="confidential-client",
                scopes=["openid", "email"],
                created_at=now,
                updated_at=now,
            )
        )
        db.session.commit()
    page = context.new_page()
    page.goto(server.url("/settings/sessions"))
    shots.visit(page, "settings-sessions-scopes")
    scopes = page.locator(".scope-list li").all_inner_texts()
    assert scopes == ["Know who you are", "See your email address"]
    assert "openid" not in page.locator("main").inner_text()
