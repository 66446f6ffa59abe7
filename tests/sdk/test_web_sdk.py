"""Authgear's Web SDK (@authgear/web, pinned in package.json) in Chromium against Gatehouse: the
test app (page/) is served from another origin listed in `http.allowed_origins` and calls only the
SDK's public methods. Same site, other port: the IdP session cookie (SameSite=Lax) reaches Gatehouse
from the app's fetches, as for an app and its auth server on subdomains of one site."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from app.config import deep_merge
from tests.factories import random_password
from tests.oidc.helpers import oidc_secrets
from tests.web.conftest import _catalogs, browser, context_factory  # noqa: F401 (fixtures)

HERE = Path(__file__).parent
SDK_JS = HERE / "node_modules" / "@authgear" / "web" / "dist" / "authgear-web.iife.js"
PAGE = HERE / "page"
CLIENT = "sdk-spa"


@pytest.fixture(autouse=True)
def _sdk_installed() -> None:
    """`make test` installs the SDK; a missing one fails the tests instead of skipping them."""
    assert SDK_JS.exists(), (
        "run `make tests/sdk/node_modules/@authgear/web/dist/authgear-web.iife.js` (npm ci in tests/sdk)"
    )


class Server:
    """A WSGI app on a free loopback port, named `http://localhost:<port>`."""

    def __init__(self, app: Any) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.app = app
        self._server = make_server("127.0.0.1", 0, lambda e, s: self.app(e, s), threaded=True)
        self.origin = f"http://localhost:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _static(environ: Any, start_response: Any) -> Any:
    path = Request(environ).path
    if path == "/authgear-web.iife.js":
        resp = Response(SDK_JS.read_bytes(), mimetype="text/javascript")
    elif path == "/app.js":
        resp = Response((PAGE / "app.js").read_bytes(), mimetype="text/javascript")
    else:
        resp = Response((PAGE / "index.html").read_bytes(), mimetype="text/html")
    return resp(environ, start_response)


@pytest.fixture
def sdk_env(make_app, secrets_items) -> Iterator[tuple[Server, Server]]:
    app_page = Server(_static)
    gatehouse = Server(None)
    overrides = {
        "http": {"public_origin": gatehouse.origin, "allowed_origins": [app_page.origin]},
        "identity": {"login_id": {"keys": [{"type": "username", "key": "username"}]}},
        "authentication": {"identities": ["login_id", "anonymous"], "primary_authenticators": ["password"]},
        "oauth": {
            "clients": [
                {
                    "client_id": CLIENT,
                    "name": "SDK app",
                    "x_application_type": "spa",
                    "redirect_uris": [app_page.origin + "/callback", app_page.origin + "/"],
                    "post_logout_redirect_uris": [app_page.origin + "/"],
                }
            ]
        },
    }
    gatehouse.app = make_app(deep_merge({}, overrides), secrets=oidc_secrets(secrets_items))
    yield gatehouse, app_page
    gatehouse.stop()
    app_page.stop()


def _user(gatehouse: Server) -> tuple[str, str, str]:
    from app.extensions import db

    username, password = "u" + random_password().lower()[:10], random_password()
    with gatehouse.app.app_context():
        svc = gatehouse.app.extensions["gatehouse"]
        user = svc.users.create_user([("username", username)])
        svc.passwords.create(user.id, password, check_policy=False)
        db.session.commit()
        return user.id, username, password


def _open_app(page: Any, app_page: Server, gatehouse: Server, session_type: str = "refresh_token") -> None:
    page.goto(app_page.origin + "/")
    page.evaluate("([e, c, t]) => window.sdk.configure(e, c, t)", [gatehouse.origin, CLIENT, session_type])


def _submit(page: Any) -> None:
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_load_state("load")


def _hosted_login(page: Any, username: str, password: str) -> None:
    page.locator("input[name=x_login_id]").fill(username)
    _submit(page)
    page.locator("input[type=password]").first.fill(password)
    _submit(page)


def _back_in_app(page: Any, app_page: Server) -> None:
    page.wait_for_url(app_page.origin + "/callback*")
    page.evaluate("window.sdkReady")


def test_sign_in_userinfo_refresh_change_password_and_logout(sdk_env, context_factory):  # noqa: F811
    gatehouse, app_page = sdk_env
    user_id, username, password = _user(gatehouse)
    page = context_factory().new_page()
    _open_app(page, app_page, gatehouse)
    page.evaluate("(cb) => window.sdk.container.startAuthentication({redirectURI: cb})", app_page.origin + "/callback")
    page.wait_for_url(gatehouse.origin + "/login*")
    _hosted_login(page, username, password)
    _back_in_app(page, app_page)
    result = page.evaluate("window.sdk.container.finishAuthentication().then(r => r.userInfo)")
    assert result["sub"] == user_id
    info = page.evaluate("window.sdk.container.fetchUserInfo()")
    assert info["sub"] == user_id and info["isAnonymous"] is False
    # Refresh: the SDK's refresh token buys a new access token.
    before = page.evaluate("window.sdk.container.accessToken")
    page.evaluate("window.sdk.container.refreshAccessToken()")
    assert page.evaluate("window.sdk.container.accessToken") not in (None, before)

    # A settings action: app_session_token login hint -> change password page -> back to the app.
    new_password = random_password()
    page.evaluate("(cb) => window.sdk.container.startChangePassword({redirectURI: cb})", app_page.origin + "/callback")
    page.wait_for_url(gatehouse.origin + "/settings/change_password*")
    page.get_by_label("Current password").fill(password)
    page.get_by_label("New password").fill(new_password)
    page.get_by_label("Confirm password").fill(new_password)
    _submit(page)
    _back_in_app(page, app_page)
    page.evaluate("window.sdk.container.finishChangePassword()")

    page.evaluate("(u) => window.sdk.container.logout({redirectURI: u})", app_page.origin + "/")
    page.wait_for_load_state("load")
    assert page.evaluate("window.sdk.container.sessionState") == "NO_SESSION"

    # The new password works in a fresh browser; the old one does not.
    fresh = context_factory().new_page()
    _open_app(fresh, app_page, gatehouse)
    fresh.evaluate("(cb) => window.sdk.container.startAuthentication({redirectURI: cb})", app_page.origin + "/callback")
    fresh.wait_for_url(gatehouse.origin + "/login*")
    _hosted_login(fresh, username, password)
    assert urlsplit(fresh.url).netloc == urlsplit(gatehouse.origin).netloc  # refused, still on Gatehouse
    fresh.locator("input[type=password]").first.fill(new_password)
    _submit(fresh)
    _back_in_app(fresh, app_page)
    assert fresh.evaluate("window.sdk.container.finishAuthentication().then(r => r.userInfo.sub)") == user_id


def test_anonymous_sign_in_then_promotion_keeps_the_sub(sdk_env, context_factory):  # noqa: F811
    gatehouse, app_page = sdk_env
    page = context_factory().new_page()
    _open_app(page, app_page, gatehouse)
    anonymous = page.evaluate("window.sdk.container.authenticateAnonymously().then(r => r.userInfo)")
    assert anonymous["isAnonymous"] is True
    page.evaluate(
        "(cb) => window.sdk.container.startPromoteAnonymousUser({redirectURI: cb})", app_page.origin + "/callback"
    )
    page.wait_for_url(gatehouse.origin + "/signup*")
    username, password = "p" + random_password().lower()[:10], random_password()
    page.locator("input[name=x_login_id]").fill(username)
    _submit(page)
    for field in page.locator("input[type=password]").all():
        field.fill(password)
    _submit(page)
    _back_in_app(page, app_page)
    promoted = page.evaluate("window.sdk.container.finishPromoteAnonymousUser().then(r => r.userInfo)")
    assert promoted["sub"] == anonymous["sub"] and promoted["isAnonymous"] is False


def test_cookie_session_mode(sdk_env, context_factory):  # noqa: F811
    gatehouse, app_page = sdk_env
    user_id, username, password = _user(gatehouse)
    page = context_factory().new_page()
    _open_app(page, app_page, gatehouse, session_type="cookie")
    page.evaluate("(cb) => window.sdk.container.startAuthentication({redirectURI: cb})", app_page.origin + "/callback")
    page.wait_for_url(gatehouse.origin + "/login*")
    _hosted_login(page, username, password)
    _back_in_app(page, app_page)
    assert page.evaluate("window.sdk.container.finishAuthentication().then(r => r.userInfo.sub)") == user_id
    # No token in the app: UserInfo answers from the IdP session cookie.
    assert page.evaluate("window.sdk.container.accessToken") is None
    assert page.evaluate("window.sdk.container.fetchUserInfo().then(u => u.sub)") == user_id
    page.evaluate("(u) => window.sdk.container.logout({redirectURI: u})", app_page.origin + "/")
    page.wait_for_url(lambda url: url.startswith(app_page.origin) and "/callback" not in url)
    page.wait_for_load_state("load")
    page.evaluate("window.sdk.reconfigure()")
    failed = page.evaluate("window.sdk.container.fetchUserInfo().then(() => 'ok', e => 'error')")
    assert failed == "error"
