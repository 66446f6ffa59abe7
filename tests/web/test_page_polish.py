"""The hosted pages' polish (issue 21) in Chromium, each page axe-checked (shots.visit): the client
named on the login page, re-authentication saying whom and why, forms naming every missing field,
the resend countdown, the identity chip, the password toggle and the username for password
managers, the language menu on a phone, copy that follows the configuration, rate-limit waits,
scopes in words on the settings page, and the profile's time zones and birthday."""

from __future__ import annotations

import re
import time
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
    smtp_server.last_code(email)  # the first message has arrived
    sent = len(smtp_server.all_for(email))
    resend.click()
    page.wait_for_load_state("load")
    assert page.get_by_role("button", name=re.compile("^Send a new code")).is_disabled()
    deadline = time.monotonic() + 5
    while len(smtp_server.all_for(email)) == sent and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(smtp_server.all_for(email)) == sent + 1  # the resend mailed one new message
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


# -- 7. copy that follows the configuration ----------------------------------------------------------
PHONE_WORDS = re.compile(r"phone|text message|\bSMS\b", re.IGNORECASE)
EMAIL_ONLY = {
    "identity": {"login_id": {"keys": [{"key": "email", "type": "email"}]}},
    "authentication": {"secondary_authenticators": ["totp", "oob_otp_email"]},
}


def _no_phone_words(page):
    text = page.locator("main").inner_text()
    assert not PHONE_WORDS.search(text), text


def test_an_email_only_project_never_mentions_phones_or_text_messages(web, page, shots, in_app, smtp_server):
    server = web(EMAIL_ONLY)
    email, password = _email(), random_password()
    make_user(in_app, server, email, password)
    page.goto(server.url("/login"))
    expect(page.get_by_label("Email address", exact=True)).to_be_visible()
    _no_phone_words(page)
    submit(page)  # nothing typed: the field is named as the page labels it
    assert page.locator("#login_id-error").inner_text().endswith("Please fill in Email address.")
    page.get_by_label("Email address", exact=True).fill("nobody-" + email)
    submit(page)
    assert page.locator("#login_id-error").inner_text().endswith("We couldn't find an account with that email address.")
    _no_phone_words(page)
    shots.visit(page, "login-email-only-not-found")
    page.goto(server.url("/signup"))
    page.get_by_label("Email address", exact=True).fill(email)
    submit(page)
    if "/authflow/v2/enter_oob_otp" in page.url:  # the address is verified before the account is made
        page.get_by_role("textbox", name="Code").fill(smtp_server.last_code(email))
        submit(page)
    assert page.locator("#login_id-error").inner_text().endswith("An account with this email address already exists.")
    _no_phone_words(page)
    page.goto(server.url("/authflow/v2/forgot_password"))
    assert page.locator(".lead").first.inner_text() == (
        "Enter the email address of your account and we'll send you a code."
    )
    _no_phone_words(page)
    shots.visit(page, "forgot_password-email-only")
    # The settings home names the second factors the project offers.
    context = page.context
    _signed_in(in_app, server, context, _email(), random_password())
    page.goto(server.url("/settings"))
    row = page.get_by_role("link", name=re.compile("Two-factor authentication"))
    assert row.locator(".row__meta").inner_text() == "Authenticator apps, codes by email, and recovery codes"
    _no_phone_words(page)
    shots.visit(page, "settings-home-email-only")


def test_an_email_or_username_project_says_so(web, page, shots):
    keys = [{"key": "email", "type": "email"}, {"key": "username", "type": "username"}]
    server = web({"identity": {"login_id": {"keys": keys}}})
    page.goto(server.url("/login"))
    page.get_by_label("Email or username", exact=True).fill("nobody-at-all")
    submit(page)
    assert (
        page.locator("#login_id-error")
        .inner_text()
        .endswith("We couldn't find an account with that email or username.")
    )
    _no_phone_words(page)
    shots.visit(page, "login-email-username-not-found")


def test_copy_table_covers_every_combination():
    from app.web.messages import BY_LOGIN_ID_KINDS, enabled_login_id_kinds, login_id_text, sms_enabled

    for key in ("not_found", "exists", "invalid", "remove_last"):
        for kinds in ({"email"}, {"phone"}, {"username"}, {"email", "phone"}, {"email", "username"}):
            assert frozenset(kinds) in BY_LOGIN_ID_KINDS[key]
    project = {"authentication": {"identities": ["login_id"], "secondary_authenticators": ["oob_otp_sms"]}}
    project["identity"] = {"login_id": {"keys": [{"key": "phone", "type": "phone"}]}}
    assert enabled_login_id_kinds(project) == {"phone"} and sms_enabled(project)
    assert enabled_login_id_kinds({**project, "authentication": {"identities": ["oauth"]}}) == frozenset()
    from flask import Flask
    from flask_babel import Babel

    app = Flask(__name__)
    Babel(app)
    with app.test_request_context():
        assert login_id_text("not_found", {"phone"}) == "We couldn't find an account with that phone number."
        assert login_id_text("forgot_password", {"email", "username"}) == (
            "Enter the email address of your account and we'll send you a code."
        )
        # Phone numbers and usernames without email: all three named.
        assert "email, phone number or username" in login_id_text("exists", {"phone", "username"})


# -- 10. the profile: no repeated labels, time zones by region and searchable, the birthday ----------
def test_profile_time_zone_search_and_birthday(web, context_factory, shots, in_app):
    server = web({"localization": {"fallback_language": "en", "supported_languages": ["en", "de", "ar"]}})
    context = context_factory()
    page = context.new_page()
    _signed_in(in_app, server, context, _email(), random_password())
    page.goto(server.url("/settings/profile"))
    gender = page.locator("section", has=page.get_by_role("heading", name="Gender"))
    assert gender.locator("dt").count() == 0  # the heading names the value: no "Gender" label again
    assert gender.locator(".fact").inner_text() == "Not specified"
    shots.visit(page, "settings-profile")

    # Time zones: grouped by region, each with its offset now, filtered by the search box.
    page.goto(server.url("/settings/profile/zoneinfo/edit"))
    # The heading names the field: its label is kept for screen readers only.
    assert page.locator("label[for=std_zoneinfo]").get_attribute("class") == "visually-hidden"
    select = page.get_by_label("Time zone", exact=True)
    groups = select.locator("optgroup")
    assert groups.count() >= 9
    assert groups.first.get_attribute("label") == "Africa"
    hong_kong = select.locator("option[value='Asia/Hong_Kong']")
    assert hong_kong.inner_text().replace("\u2066", "").replace("\u2069", "") == "(UTC+08:00) Hong Kong"
    assert hong_kong.locator("xpath=..").get_attribute("label") == "Asia"
    search = page.get_by_label("Search time zones")
    search.fill("hong")
    visible = select.locator("option:not([hidden])").all_inner_texts()
    assert [t for t in visible if "Hong Kong" in t] and all("Hong Kong" in t for t in visible[1:]), visible
    assert select.locator("optgroup:not([hidden])").count() == 1
    shots.visit(page, "settings-profile-zoneinfo-search")
    search.fill("utc+5:45")  # an offset finds Kathmandu
    assert "Kathmandu" in " ".join(select.locator("option:not([hidden])").all_inner_texts())
    search.fill("hong kong")
    search.press("Enter")  # the first match, not the form
    assert select.input_value() == "Asia/Hong_Kong"
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state("load")
    zone = page.locator("section", has=page.get_by_role("heading", name="Time zone")).locator(".fact")
    assert zone.inner_text().replace("\u2066", "").replace("\u2069", "") == "(UTC+08:00) Hong Kong"

    # Birthday: a date picker that stops at today; a future date is refused on the field.
    page.goto(server.url("/settings/profile/birthdate/edit"))
    field = page.get_by_label("Birthday", exact=True)
    assert field.get_attribute("type") == "date" and field.get_attribute("max")
    field.fill("2999-01-01")
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state("load")
    field = page.get_by_label("Birthday", exact=True)
    assert field.get_attribute("aria-invalid") == "true"
    assert page.locator("#std_birthdate-error").inner_text() == "Your birthday can't be in the future."
    shots.visit(page, "settings-profile-birthdate-future")
    field.fill("1990-02-03")
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state("load")
    birthday = page.locator("section", has=page.get_by_role("heading", name="Birthday")).locator(".fact")
    assert birthday.inner_text() == "February 3, 1990"
    # In the page's language (CLDR's long date).
    page.goto(server.url("/settings/profile?ui_locales=de"))
    assert (
        page.locator("section", has=page.get_by_role("heading", name="Geburtsdatum")).locator(".fact").inner_text()
        == "3. Februar 1990"
    )
    shots.visit(page, "settings-profile-de")
    page.goto(server.url("/settings/profile/zoneinfo/edit?ui_locales=ar"))
    shots.visit(page, "settings-profile-zoneinfo-ar")
    assert page.locator("optgroup").first.get_attribute("label") == "أفريقيا"
