"""The demo app of `make run` in Chromium: sign in from /demo/, see the ID token claims and UserInfo
that the demo client got over HTTP from Gatehouse's own endpoints, sign out through end_session."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

import pytest

from app.config import deep_merge
from app.project_files import default_project
from tests.factories import random_password
from tests.web.conftest import LiveServer
from tests.web.test_browser_flows import _email, make_user, session_cookie, submit

pytestmark = pytest.mark.usefixtures("_catalogs")


@pytest.fixture
def demo_server(make_app, make_config, smtp_server):
    server = LiveServer()
    demo_client = default_project(server.origin)["oauth"]["clients"]
    secrets_ = smtp_server.secrets(dict(make_config().secrets))
    items = [
        *secrets_["oauth.client_secrets"]["items"],
        {"client_id": "demo", "keys": [{"kid": "d1", "kty": "oct", "k": secrets.token_urlsafe(32)}]},
    ]
    secrets_["oauth.client_secrets"] = {"items": items}
    overrides = deep_merge({"http": {"public_origin": server.origin}}, {"oauth": {"clients": demo_client}})
    server.app = make_app(overrides, secrets=secrets_)
    yield server
    server.stop()


def test_demo_app_round_trip(demo_server, page, shots, in_app):
    server = demo_server
    email, password = _email(), random_password()
    make_user(in_app, server, email, password)
    page.goto(server.url("/demo/"))
    shots.visit(page, "demo_home")
    page.get_by_role("link", name="Sign in").click()
    page.wait_for_load_state("load")
    assert urlsplit(page.url).path == "/login"
    page.get_by_label("Email, phone number or username").fill(email)
    submit(page)
    page.get_by_label("Password").fill(password)
    submit(page)
    page.wait_for_url(server.url("/demo/"))
    shots.visit(page, "demo_signed_in")
    main = page.locator("main").inner_text()
    assert email in main and "nonce" in main and '"sub"' in main and server.origin in main
    page.get_by_role("link", name="Sign out").click()
    page.wait_for_url(server.url("/demo/") + "?*")
    assert session_cookie(page, server) is None
    assert page.get_by_role("link", name="Sign in").is_visible()


def test_demo_app_refuses_a_callback_it_did_not_start(demo_server, page):
    page.goto(demo_server.url("/demo/callback?code=forged&state=forged"))
    assert "does not belong to a sign-in started here" in page.locator("main").inner_text()


def test_demo_app_is_absent_without_the_demo_client(web, page):
    server = web()
    response = page.goto(server.url("/demo/"))
    assert response is not None and response.status == 404
