"""The "continue as" page (Authgear's /authflow/v2/select_account) in a browser: a second app of the
project signs the user in with one click, without a password, keeping the IdP session; "use
another account" goes to the login page. Themed and localized like the other pages (axe-checked)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.factories import random_password
from tests.web.test_browser_flows import _email, make_user, session_cookie
from tests.web.test_browser_oidc_pages import THEME, _sign_in, client_app  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("_catalogs")


def _app_client(client_app):  # noqa: F811
    return {
        "client_id": "second-app",
        "name": "Second App",
        "x_application_type": "spa",
        "redirect_uris": [f"{client_app.origin}/callback"],
    }


def _authorize_url(server, client_app, **extra):  # noqa: F811
    query = {
        "client_id": "second-app",
        "redirect_uri": f"{client_app.origin}/callback",
        "response_type": "code",
        "scope": "openid",
        "state": "s-2",
        "code_challenge": "a" * 43,
        "code_challenge_method": "S256",
        **extra,
    }
    return server.url("/oauth2/authorize?" + urlencode(query))


def test_continue_as_the_signed_in_user(web, page, shots, in_app, client_app):  # noqa: F811
    server = web({**THEME, "oauth": {"clients": [_app_client(client_app)]}})
    email, password = _email(), random_password()
    make_user(in_app, server, email, password)
    _sign_in(page, server, email, password)
    cookie = session_cookie(page, server)
    assert cookie is not None

    page.goto(_authorize_url(server, client_app, ui_locales="ja"))
    assert urlsplit(page.url).path == "/authflow/v2/select_account"
    shots.visit(page, "select_account")
    assert page.locator("html").get_attribute("lang") == "ja"
    assert page.locator(".brand__name").inner_text() == "Acme"
    assert email in page.locator("main").inner_text()
    page.get_by_role("button", name="続行").click()
    page.wait_for_url(f"{client_app.origin}/callback?*")
    params = parse_qs(urlsplit(page.url).query)
    assert params["state"] == ["s-2"] and params["code"][0]
    assert session_cookie(page, server)["value"] == cookie["value"]  # the session went on as it was


def test_use_another_account_goes_to_login(web, page, in_app, client_app):  # noqa: F811
    server = web({**THEME, "oauth": {"clients": [_app_client(client_app)]}})
    email, password = _email(), random_password()
    make_user(in_app, server, email, password)
    _sign_in(page, server, email, password)
    page.goto(_authorize_url(server, client_app))
    page.get_by_role("button", name="Use another account").click()
    page.wait_for_load_state("load")
    assert urlsplit(page.url).path == "/login"
    assert page.get_by_label("Email, phone number or username").is_visible()


def test_prompt_login_skips_continue_as(web, page, in_app, client_app):  # noqa: F811
    server = web({**THEME, "oauth": {"clients": [_app_client(client_app)]}})
    email, password = _email(), random_password()
    make_user(in_app, server, email, password)
    _sign_in(page, server, email, password)
    page.goto(_authorize_url(server, client_app, prompt="login"))
    assert urlsplit(page.url).path == "/login"
