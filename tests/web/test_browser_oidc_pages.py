"""The OAuth pages in a browser: a third-party client's consent page and RP-initiated logout through
the hosted `/logout` page, themed and localized like the other hosted pages (axe-checked)."""

from __future__ import annotations

import html
import threading
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from werkzeug.serving import make_server

from tests.factories import random_password
from tests.web.test_browser_flows import _email, make_user, session_cookie, submit

pytestmark = pytest.mark.usefixtures("_catalogs")

THEME = {
    "ui": {"theme": {"app_name": "Acme", "primary_color": "#2457d6"}},
    "localization": {"fallback_language": "en", "supported_languages": ["en", "ja"]},
}


class ClientApp:
    """The relying party on another site (`localhost`, while Gatehouse is served on 127.0.0.1): its
    callback, its post-logout page and a page with a "sign out" link to `link`."""

    def __init__(self) -> None:
        self.link = ""
        self._server = make_server("127.0.0.1", 0, self._app)
        self.origin = f"http://localhost:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _app(self, environ, start_response):
        if environ["PATH_INFO"] == "/start":
            start_response("200 OK", [("Content-Type", "text/html")])
            return [f'<!doctype html><a id="out" href="{html.escape(self.link)}">Sign out</a>'.encode()]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"client app"]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def client_app():
    app = ClientApp()
    yield app
    app.stop()


def _third_party(client_app):
    return {
        "client_id": "partner",
        "name": "Partner Reports",
        "client_name": "Partner Reports",
        "x_application_type": "third_party_app",
        "redirect_uris": [f"{client_app.origin}/callback"],
        "post_logout_redirect_uris": [f"{client_app.origin}/bye"],
    }


def _sign_in(page, server, email, password, query=""):
    page.goto(server.url("/login" + query))
    page.get_by_label("Email, phone number or username").fill(email)
    submit(page)
    page.get_by_label("Password").fill(password)
    submit(page)
    page.wait_for_load_state("networkidle")


def test_third_party_consent_page_is_themed_and_localized(web, page, shots, in_app, client_app):
    server = web({**THEME, "oauth": {"clients": [_third_party(client_app)]}})
    email, password = _email(), random_password()
    make_user(in_app, server, email, password)
    _sign_in(page, server, email, password)
    query = {
        "client_id": "partner",
        "redirect_uri": f"{client_app.origin}/callback",
        "response_type": "code",
        "scope": "openid email",
        "state": "s-1",
        "code_challenge": "a" * 43,
        "code_challenge_method": "S256",
        "ui_locales": "ja",
    }
    page.goto(server.url("/oauth2/authorize?" + urlencode(query)))
    # A signed-in browser is asked first whether to continue as this user (Authgear's select_account).
    assert urlsplit(page.url).path == "/authflow/v2/select_account"
    page.locator("main form button[value=continue]").click()
    page.wait_for_url(server.url("/oauth2/consent") + "?*")  # through the flow's finish page
    shots.visit(page, "consent")
    assert page.locator("html").get_attribute("lang") == "ja"
    assert page.locator("h1").inner_text() == "Partner Reports があなたのアカウントへのアクセスを求めています"
    assert page.locator(".brand__name").inner_text() == "Acme"  # the project's theme
    assert "メールアドレスを見る" in page.locator("main").inner_text()
    page.get_by_role("button", name="許可").click()
    page.wait_for_url(f"{client_app.origin}/callback?*")
    params = parse_qs(urlsplit(page.url).query)
    assert params["state"] == ["s-1"] and params["code"][0]


def test_rp_initiated_logout_confirms_on_the_hosted_page(web, page, shots, in_app, client_app):
    server = web({**THEME, "oauth": {"clients": [_third_party(client_app)]}})
    email, password = _email(), random_password()
    make_user(in_app, server, email, password)
    _sign_in(page, server, email, password)
    assert session_cookie(page, server) is not None
    query = {"client_id": "partner", "post_logout_redirect_uri": f"{client_app.origin}/bye", "state": "out-1"}
    # A link on the client's site: a cross-site navigation, so the user is asked (a URL typed into
    # Gatehouse's own tab would be same-site and sign out at once, as Authgear does).
    client_app.link = server.url("/oauth2/end_session?" + urlencode(query))
    page.goto(f"{client_app.origin}/start")
    page.click("#out")
    page.wait_for_load_state("load")
    assert urlsplit(page.url).path == "/logout"
    shots.visit(page, "logout_confirm")
    assert email in page.locator("main").inner_text()
    assert page.locator(".brand__name").inner_text() == "Acme"
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{client_app.origin}/bye?*")
    assert parse_qs(urlsplit(page.url).query) == {"state": ["out-1"]}
    assert session_cookie(page, server) is None
    with in_app(server) as svc:
        assert svc.sessions.list_for_user(svc.users.find_identity("email", email).user_id) == []
