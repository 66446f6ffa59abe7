"""Account linking by email on the hosted pages, in Chromium against node oidc-provider: Authgear's
default (`error`) shows the duplicated-account message on the signup page; `login_and_link` shows the
account_linking page, signs in to the existing account with its password and links the provider
account, so a later sign-in with the provider reaches the same user."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.identities.models import Identity
from tests.factories import make_user
from tests.sso.test_pages import _at_provider_sign_in, oidc_web  # noqa: F401 (fixture)
from tests.web.conftest import (  # noqa: F401 (fixtures)
    LiveServer,
    _catalogs,
    browser,
    context_factory,
    screenshot_dir,
    shots,
)

PASSWORD = "linking-Passw0rd!"
LINK_CORP = {
    "account_linking": {
        "oauth": [
            {
                "name": "corp-email",
                "alias": "corp",
                "oauth_claim": {"pointer": "/email"},
                "user_profile": {"pointer": "/email"},
                "action": "login_and_link",
            }
        ]
    }
}


@pytest.fixture
def linking_web(oidc_web):  # noqa: F811
    """The SSO pages' live server with Alice, who has a password, already signed up."""

    def build(overrides=None):
        server = oidc_web(overrides)
        with server.app.app_context():
            user_id = make_user(server.app.extensions["gatehouse"], "alice@example.com", PASSWORD).id
        return server, user_id

    return build


def _oauth_owners(app) -> list[str]:
    with app.app_context():
        return [str(u) for u in db.session.scalars(select(Identity.user_id).where(Identity.type == "oauth"))]


def test_browser_default_linking_refuses_with_the_duplicated_account_message(linking_web, context_factory, shots):  # noqa: F811
    server, _ = linking_web()
    page = context_factory().new_page()
    page.goto(server.url("/signup"))
    page.click('button[data-provider="oidc"]')
    _at_provider_sign_in(page, "alice")  # alice@example.com: the email of the existing account
    page.wait_for_url(re.compile(r"/signup\?"))
    alert = page.locator(".alert")
    alert.wait_for()
    assert "An account with the same email already exists" in alert.inner_text()
    assert "Corp" in alert.inner_text()
    shots.visit(page, "signup-oauth-duplicated-account")
    assert _oauth_owners(server.app) == []


def test_browser_login_and_link_through_the_account_linking_page(linking_web, context_factory, shots):  # noqa: F811
    server, user_id = linking_web(LINK_CORP)
    page = context_factory().new_page()
    page.goto(server.url("/signup"))
    page.click('button[data-provider="oidc"]')
    _at_provider_sign_in(page, "alice")
    page.wait_for_url(re.compile(r"/authflow/v2/account_linking\?"))
    assert "Existing account found" in page.locator("h1").inner_text()
    shots.visit(page, "account-linking")
    choice = page.locator('button[name="x_index"][value="0"]')
    assert "@example.com" in choice.inner_text()
    choice.click()
    page.wait_for_url(re.compile(r"/authflow/v2/enter_password\?"))
    shots.visit(page, "account-linking-enter-password")
    page.fill('input[name="x_password"]', PASSWORD)
    page.click('button[type="submit"]:has-text("Continue")')
    page.wait_for_url(re.compile(r"/authflow/v2/finish"))
    assert _oauth_owners(server.app) == [user_id]

    # A later sign-in with the provider, in a new browser, reaches the same user.
    page2 = context_factory().new_page()
    page2.goto(server.url("/login"))
    page2.click('button[data-provider="oidc"]')
    _at_provider_sign_in(page2, "alice")
    page2.wait_for_url(re.compile(r"/authflow/v2/finish"))
    # The finish page moves on to the settings page by itself (a second navigation would race it).
    page2.wait_for_url(re.compile(r"/settings$"))
    page2.wait_for_load_state("load")
    assert "alice@example.com" in page2.locator("main").inner_text()
    assert _oauth_owners(server.app) == [user_id]
