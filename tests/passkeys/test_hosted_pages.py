"""The hosted pages of a project with passkeys, without a browser: a login with a password goes on to
the prompt to create a passkey, whose "Not now" finishes it (tests/passkeys/test_browser_passkeys.py
runs the ceremonies in Chromium)."""

from __future__ import annotations

import json
import re

from tests.factories import make_user, random_email, random_password
from tests.passkeys.authenticator import SoftAuthenticator
from tests.web.test_pages_http import HTML, csrf_of, open_page


def test_password_login_finishes_on_a_passkey_project(passkey_app):
    app = passkey_app()
    email, password = random_email(), random_password()
    with app.app_context():
        make_user(app.extensions["gatehouse"], email=email, password=password)
    client = app.test_client()
    url, page = open_page(client, "/login")
    resp = client.post(url, data={"login_id": email, "csrf_token": csrf_of(page.get_data(as_text=True))}, headers=HTML)
    assert resp.status_code == 303, resp.status_code
    url = resp.headers["Location"]
    assert "/authflow/v2/enter_password" in url
    page = client.get(url, headers=HTML)
    resp = client.post(
        url, data={"password": password, "csrf_token": csrf_of(page.get_data(as_text=True))}, headers=HTML
    )
    assert resp.status_code == 303
    url = resp.headers["Location"]
    assert "/authflow/v2/prompt_create_passkey" in url
    page = client.get(url, headers=HTML)
    assert page.status_code == 200 and "data-passkey-options" in page.get_data(as_text=True)
    token = csrf_of(page.get_data(as_text=True))
    resp = client.post(url, data={"x_action": "skip", "csrf_token": token}, headers=HTML)
    assert resp.status_code == 303
    assert "/authflow/v2/finish" in resp.headers["Location"]
    # The flow finished: the IdP session is set and the finish page moves on (not "expired").
    assert any("session" in c for c in resp.headers.getlist("Set-Cookie"))
    finish = client.get(resp.headers["Location"], headers=HTML)
    assert finish.status_code == 200


def _login_passkey_options(html: str) -> dict:
    from html import unescape

    return json.loads(unescape(re.search(r"data-passkey-options='([^']*)'", html).group(1)))


def test_login_page_offers_the_passkey_and_says_when_it_names_no_account(passkey_app):
    app = passkey_app()
    client = app.test_client()
    url, page = open_page(client, "/login")
    html = page.get_data(as_text=True)
    assert 'autocomplete="username webauthn"' in html
    options = _login_passkey_options(html)
    assert options["publicKey"]["rpId"] == "localhost" and "allowCredentials" not in options["publicKey"]
    stranger = SoftAuthenticator()
    data = {
        "x_action": "passkey",
        "x_assertion_response": json.dumps(stranger.get(options)),
        "csrf_token": csrf_of(html),
    }
    resp = client.post(url, data=data, headers=HTML)
    assert resp.status_code == 303 and resp.headers["Location"] == url
    shown = client.get(url, headers=HTML).get_data(as_text=True)
    assert "This passkey is not linked to an account here." in shown


def test_login_page_refuses_a_malformed_passkey_response(passkey_app):
    client = passkey_app().test_client()
    url, page = open_page(client, "/login")
    html = page.get_data(as_text=True)
    data = {"x_action": "passkey", "x_assertion_response": "{not json", "csrf_token": csrf_of(html)}
    resp = client.post(url, data=data, headers=HTML)
    assert resp.status_code == 303
    shown = client.get(resp.headers["Location"], headers=HTML).get_data(as_text=True)
    assert 'role="alert"' in shown and "Please check" in shown


def test_login_page_without_passkeys_has_no_passkey_button(make_app):
    client = make_app().test_client()
    _, page = open_page(client, "/login")
    html = page.get_data(as_text=True)
    assert "data-passkey" not in html and 'autocomplete="username"' in html
