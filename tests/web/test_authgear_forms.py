"""The hosted pages take the forms Authgear's authflowv2 templates post (`x_login_id`, `x_password`,
`x_code`, ... and `q_login_id_key`), render the same names, and apply Authgear's cross-origin
protection: a POST the browser says is same-origin needs no form token; one it says is cross-origin
is refused whatever it carries; one with neither header needs the token."""

from __future__ import annotations

import re

import pytest

from app.extensions import db
from app.transport import session_cookie_name
from tests.factories import make_user, random_password
from tests.oidc.helpers import THIRD, THIRD_CB, new_session, oidc_overrides, oidc_secrets, query_of
from tests.web.test_pages_http import HTML, csrf_of, open_page

ORIGIN = "http://localhost:3000"  # the test project's public origin
SAME_ORIGIN = {**HTML, "Sec-Fetch-Site": "same-origin", "Origin": ORIGIN}


def _user(app, login_id="form-user@example.com"):
    password = random_password()
    with app.app_context():
        make_user(app.extensions["gatehouse"], login_id, password)
        db.session.commit()
    return login_id, password


@pytest.mark.embedded
def test_pages_render_authgear_field_names(make_app):
    client = make_app().test_client()
    _, page = open_page(client, "/login")
    html = page.get_data(as_text=True)
    assert 'name="x_login_id"' in html and 'id="login_id"' in html
    assert not re.search(r'name="login_id"', html)


@pytest.mark.embedded
def test_a_login_posted_with_authgear_names_and_no_token_signs_in(make_app):
    app = make_app()
    login_id, password = _user(app)
    client = app.test_client()
    url, _ = open_page(client, "/login")
    resp = client.post(url, data={"x_login_id": login_id, "x_login_id_input_type": "email"}, headers=SAME_ORIGIN)
    assert resp.status_code == 303 and "/authflow/v2/enter_password" in resp.headers["Location"]
    password_page = resp.headers["Location"]
    page = client.get(password_page, headers=HTML).get_data(as_text=True)
    assert 'name="x_password"' in page
    done = client.post(password_page, data={"x_password": password, "x_action": "submit"}, headers=SAME_ORIGIN)
    assert done.status_code == 303
    assert any(c.startswith("session=") for c in done.headers.getlist("Set-Cookie"))


@pytest.mark.embedded
def test_gatehouse_earlier_names_still_work(make_app):
    app = make_app()
    login_id, _ = _user(app)
    client = app.test_client()
    url, page = open_page(client, "/login")
    resp = client.post(url, data={"login_id": login_id, "csrf_token": csrf_of(page.get_data(as_text=True))})
    assert resp.status_code == 303 and "/authflow/v2/enter_password" in resp.headers["Location"]


@pytest.mark.embedded
def test_the_login_id_key_of_the_page_decides_the_identification(make_app):
    """`q_login_id_key=username`: a value with an @ is then a username (not found), as on Authgear's
    username input; without it the @ makes it an email address."""
    app = make_app()
    login_id, _ = _user(app)
    client = app.test_client()
    url, _ = open_page(client, "/login?q_login_id_key=username")
    resp = client.post(url + "&q_login_id_key=username", data={"x_login_id": login_id}, headers=SAME_ORIGIN)
    assert resp.status_code == 303 and "enter_password" not in resp.headers["Location"]
    url, _ = open_page(client, "/login")
    resp = client.post(url, data={"x_login_id": login_id, "x_login_id_key": "email"}, headers=SAME_ORIGIN)
    assert "/authflow/v2/enter_password" in resp.headers["Location"]


@pytest.mark.embedded
@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "same-site", "Origin": "http://other.localhost:3000"},
        {"Origin": "https://evil.example"},  # no Fetch Metadata: the Origin decides
    ],
    ids=["cross-site", "same-site", "foreign-origin"],
)
def test_a_post_the_browser_says_is_cross_origin_is_refused_even_with_its_token(make_app, headers):
    app = make_app()
    login_id, _ = _user(app)
    client = app.test_client()
    url, page = open_page(client, "/login")
    token = csrf_of(page.get_data(as_text=True))
    resp = client.post(url, data={"x_login_id": login_id, "csrf_token": token}, headers={**HTML, **headers})
    assert resp.status_code == 400
    assert "This form has expired" in resp.get_data(as_text=True)


@pytest.mark.embedded
def test_same_origin_by_origin_alone_passes_and_neither_header_needs_the_token(make_app):
    app = make_app()
    login_id, _ = _user(app)
    client = app.test_client()
    url, _ = open_page(client, "/login")
    by_origin = client.post(url, data={"x_login_id": login_id}, headers={**HTML, "Origin": ORIGIN})
    assert by_origin.status_code == 303 and "enter_password" in by_origin.headers["Location"]
    url, _ = open_page(client, "/login")
    bare = client.post(url, data={"x_login_id": login_id}, headers=HTML)
    assert bare.status_code == 400


def test_third_party_consent_posted_same_origin_without_token_is_accepted(make_app, secrets_items):
    app = make_app(oidc_overrides(), secrets=oidc_secrets(secrets_items))
    client = app.test_client()
    with app.app_context():
        _, token = new_session(app.extensions["gatehouse"])
    client.set_cookie(session_cookie_name(app.extensions["gatehouse"].config), token)
    params = {"client_id": THIRD, "redirect_uri": THIRD_CB, "response_type": "code", "scope": "openid"}
    page_url = client.get("/oauth2/authorize", query_string=params).headers["Location"]
    x_ref = query_of(page_url)["x_ref"]
    refused = client.post("/oauth2/consent", data={"x_ref": x_ref, "x_action": "consent"}, headers=HTML)
    assert refused.status_code == 400  # no token, and nothing says where the POST came from
    done = client.post("/oauth2/consent", data={"x_ref": x_ref, "x_action": "consent"}, headers=SAME_ORIGIN)
    assert done.status_code == 302 and query_of(done.headers["Location"])["code"]
