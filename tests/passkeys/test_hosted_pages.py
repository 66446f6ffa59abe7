"""The hosted pages of a project with passkeys: until they have passkey pages of their own, a
login with a password still finishes (the prompt to create a passkey is skipped)."""

from __future__ import annotations

from tests.factories import make_user, random_email, random_password
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
    assert "/authflow/v2/finish" in resp.headers["Location"]
    # The flow finished: the IdP session is set and the finish page moves on (not "expired").
    assert any("session" in c for c in resp.headers.getlist("Set-Cookie"))
    finish = client.get(resp.headers["Location"], headers=HTML)
    assert finish.status_code == 200
