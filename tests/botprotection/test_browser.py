"""The hosted pages with bot protection in Chromium. The providers' real widget scripts cannot be
loaded here, so GATEHOUSE_BOT_PROTECTION_SCRIPT_URL (bot_protection_script_url) points the pages at
the stand-in's script, which has Turnstile's and reCAPTCHA's explicit-render API."""

from __future__ import annotations

import re

import pytest

from tests.botprotection.conftest import bot_protection_config
from tests.factories import make_user, random_email, random_password
from tests.web.conftest import LiveServer


@pytest.fixture
def bp_web(bp_app, standin):
    servers = []

    def build(overrides, provider="cloudflare", **fields):
        server = LiveServer()
        servers.append(server)
        server.app = bp_app({"http": {"public_origin": server.origin}, **overrides}, provider=provider, **fields)
        return server

    yield build
    for server in servers:
        server.stop()


def _user(server, password):
    email = random_email()
    with server.app.app_context():
        make_user(server.app.extensions["gatehouse"], email=email, password=password)
    return email


@pytest.mark.parametrize("provider", ["cloudflare", "recaptchav2"])
def test_login_with_the_widget(bp_web, standin, page, provider):
    server = bp_web(bot_protection_config(provider, signup_or_login="always"), provider=provider)
    password = random_password()
    email = _user(server, password)
    response = page.goto(server.url("/login"))
    csp = response.headers["content-security-policy"]
    assert f"script-src 'self' {standin.origin}" in csp and f"frame-src {standin.origin}" in csp
    page.fill("input[name=x_login_id]", email)
    # Sent before the challenge is done: the page asks for it, and nothing reaches the provider.
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/login\?"))
    assert "Please complete the captcha to continue." in page.inner_text("main")
    assert standin.requests == []
    page.fill("input[name=x_login_id]", email)
    page.click("text=I am human")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/authflow/v2/enter_password"))
    # The password page needs no captcha: no widget and no exception in its CSP.
    assert page.locator("[data-bot-protection]").count() == 0
    page.fill("input[name=x_password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/(settings|authflow/v2/finish)"))
    [req] = standin.requests
    assert req["provider"] == provider
    assert req["form"]["response"] == "pass" and req["form"]["remoteip"] == "127.0.0.1"


def test_a_failed_captcha_ends_the_flow_with_a_message(bp_web, standin, page):
    standin.widget_token = "robot"
    server = bp_web(bot_protection_config(signup_or_login="always"))
    page.goto(server.url("/login"))
    page.fill("input[name=x_login_id]", random_email())
    page.click("text=I am human")
    page.click("button[type=submit]")
    page.wait_for_selector("text=Captcha verification failed. Please start again.")


def test_provider_down_says_so(bp_web, standin, page):
    server = bp_web(bot_protection_config(signup_or_login="always"))
    # siteverify does not answer in time
    standin.widget_token = "slow"
    page.goto(server.url("/login"))
    page.fill("input[name=x_login_id]", random_email())
    page.click("text=I am human")
    page.click("button[type=submit]")
    page.wait_for_selector("text=The captcha service is not responding right now. Please try again in a moment.")
    # and the script cannot be loaded at all
    server2 = bp_web(
        bot_protection_config(signup_or_login="always"), bot_protection_script_url=standin.origin + "/missing.js"
    )
    page.goto(server2.url("/login"))
    page.wait_for_selector("[data-bot-protection-unavailable]", state="visible", timeout=15000)


def test_verify_bot_protection_page_before_a_login_code(bp_web, standin, page):
    project = bot_protection_config(oob_otp_email="always")
    project["authentication"] = {"primary_authenticators": ["oob_otp_email"], "identities": ["login_id"]}
    server = bp_web(project)
    email = _user(server, None)
    page.goto(server.url("/login"))
    page.fill("input[name=x_login_id]", email)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/authflow/v2/verify_bot_protection"))
    assert "Checking your system" in page.inner_text("main")
    page.click("text=I am human")  # the page goes on by itself once the challenge is done
    page.wait_for_url(re.compile(r"/authflow/v2/enter_oob_otp"))
    assert standin.requests[0]["form"]["response"] == "pass"
