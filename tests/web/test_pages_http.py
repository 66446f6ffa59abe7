"""The hosted pages over plain HTTP: redirects, CSRF, state kept server-side, hostile input, the
finish redirect, logout and the theme. (The flows themselves run in Chromium: test_browser_flows.)"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from app.web.steps import WebStep, WebSteps
from tests.factories import make_user, random_password

HTML = {"Accept": "text/html"}


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def open_page(client, path: str):
    """GET an entry page and follow its redirect to the step; (url, response)."""
    resp = client.get(path, headers=HTML)
    assert resp.status_code == 302, resp.status_code
    url = resp.headers["Location"]
    page = client.get(url, headers=HTML)
    assert page.status_code == 200
    return url, page


def browser_id(client) -> str:
    with client.session_transaction() as session:
        return session["wb"]


# -- `/` --------------------------------------------------------------------------------------------
@pytest.mark.embedded
def test_root_redirects_to_signup_then_login_keeping_the_query(make_app):
    client = make_app().test_client()
    resp = client.get("/?x_ref=abc&ui_locales=ja")
    assert resp.status_code == 302 and resp.headers["Location"] == "/signup?x_ref=abc&ui_locales=ja"
    assert client.get("/?x_page=login&x_ref=abc").headers["Location"] == "/login?x_ref=abc"
    client.set_cookie("signed_up", "true")
    assert client.get("/").headers["Location"] == "/login"
    assert client.get("/?x_page=signup").headers["Location"] == "/signup"


@pytest.mark.embedded
def test_root_goes_to_login_when_public_signup_is_disabled(make_app):
    client = make_app({"authentication": {"public_signup_disabled": True}}).test_client()
    assert client.get("/").headers["Location"] == "/login"
    assert client.get("/?x_page=signup").headers["Location"] == "/login"
    resp = client.get("/signup", headers=HTML)
    assert resp.status_code == 403
    assert "New accounts cannot be created here." in resp.get_data(as_text=True)


# -- pages and their state --------------------------------------------------------------------------
@pytest.mark.embedded
def test_login_page_keeps_the_state_token_on_the_server(make_app):
    client = make_app().test_client()
    url, page = open_page(client, "/login")
    assert set(parse_qs(urlsplit(url).query)) == {"x_step"}
    html = page.get_data(as_text=True)
    assert "authflowstate_" not in html and "authflow_" not in html
    cookies = page.headers.getlist("Set-Cookie")
    assert not any("authflowstate_" in c for c in cookies)
    assert page.headers["Cache-Control"] == "no-store"
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert '<html lang="en"' in html and '<label class="field__label" for="login_id">' in html


@pytest.mark.embedded
def test_signup_login_flow_when_enabled(make_app):
    client = make_app({"ui": {"signup_login_flow_enabled": True}}).test_client()
    _, page = open_page(client, "/login")
    assert "Sign in or sign up" in page.get_data(as_text=True)


@pytest.mark.embedded
def test_a_step_of_another_browser_is_not_found(make_app):
    app = make_app()
    alice, mallory = app.test_client(), app.test_client()
    url, _ = open_page(alice, "/login")
    resp = mallory.get(url, headers=HTML)
    # Mallory's browser knows no such step: a fresh flow of its own, never Alice's.
    assert resp.status_code == 302 and resp.headers["Location"] != url
    resp = mallory.post(url, data={"login_id": "x"}, headers=HTML)
    assert resp.status_code in (400, 410)


@pytest.mark.embedded
@pytest.mark.parametrize(
    "x_step", ["", "short", "a" * 500, "../../etc/passwd", "<script>alert(1)</script>", "%00", "x_step[]"]
)
def test_hostile_x_step_values_are_an_expired_page_not_an_error(make_app, x_step):
    client = make_app().test_client()
    resp = client.get("/authflow/v2/enter_password", query_string={"x_step": x_step}, headers=HTML)
    assert resp.status_code == 410
    text = resp.get_data(as_text=True)
    assert "This page has expired." in text and "<script>alert" not in text


@pytest.mark.embedded
def test_unknown_step_page_is_a_404_page(make_app):
    resp = make_app().test_client().get("/authflow/v2/no_such_page?x_step=abc", headers=HTML)
    assert resp.status_code == 404
    assert "This page doesn&#39;t exist." in resp.get_data(as_text=True)


@pytest.mark.embedded
def test_post_without_csrf_token_is_a_400_page(make_app):
    client = make_app().test_client()
    url, _ = open_page(client, "/login")
    resp = client.post(url, data={"login_id": "a@example.com"}, headers=HTML)
    assert resp.status_code == 400
    assert resp.mimetype == "text/html"
    assert "This form has expired or was sent from another page." in resp.get_data(as_text=True)
    resp = client.post(url, data={"login_id": "a@example.com", "csrf_token": "forged"}, headers=HTML)
    assert resp.status_code == 400


@pytest.mark.embedded
@pytest.mark.parametrize(
    "login_id",
    ["", "a" * 5000, "\x00\x01", "<script>alert(1)</script>", "not an email@", "+", "@@@", "ü" * 400],
)
def test_hostile_login_ids_come_back_as_a_message(make_app, login_id):
    client = make_app().test_client()
    url, page = open_page(client, "/login")
    resp = client.post(url, data={"login_id": login_id, "csrf_token": csrf_of(page.get_data(as_text=True))})
    assert resp.status_code == 303 and resp.headers["Location"] == url
    shown = client.get(url, headers=HTML)
    text = shown.get_data(as_text=True)
    assert shown.status_code == 200
    assert 'role="alert"' in text or 'class="field__error"' in text
    assert "<script>alert" not in text


@pytest.mark.embedded
def test_oversized_and_odd_bodies_never_500(make_app):
    client = make_app().test_client()
    url, page = open_page(client, "/login")
    token = csrf_of(page.get_data(as_text=True))
    big = client.post(url, data={"login_id": "x" * (1024 * 1024 + 10), "csrf_token": token}, headers=HTML)
    assert big.status_code == 413 and big.mimetype == "text/html"
    odd = client.post(url, data=b"\xff\xfe\x00=&&==", content_type="application/x-www-form-urlencoded", headers=HTML)
    assert odd.status_code == 400
    repeated = client.post(url, data={"login_id": ["a@example.com", "b@example.com"], "csrf_token": token})
    assert repeated.status_code == 303
    as_json = client.post(url, json={"login_id": "a@example.com"}, headers=HTML)
    assert as_json.status_code == 400


@pytest.mark.embedded
def test_login_over_plain_http_with_the_form_fields(make_app):
    app = make_app()
    email, password = "plain-http@example.com", random_password()
    with app.app_context():
        make_user(app.extensions["gatehouse"], email=email, password=password)
    client = app.test_client()
    url, page = open_page(client, "/login")
    resp = client.post(url, data={"login_id": email, "csrf_token": csrf_of(page.get_data(as_text=True))})
    assert resp.status_code == 303 and resp.headers["Location"].startswith("/authflow/v2/enter_password?x_step=")
    step_url = resp.headers["Location"]
    page = client.get(step_url)
    assert email in page.get_data(as_text=True)  # which account is signing in
    token = csrf_of(page.get_data(as_text=True))
    done = client.post(step_url, data={"password": password, "csrf_token": token})
    assert done.status_code == 303 and done.headers["Location"].startswith("/authflow/v2/finish?x_step=")
    assert any(c.startswith("session=") and "HttpOnly" in c for c in done.headers.getlist("Set-Cookie"))


# -- finish -----------------------------------------------------------------------------------------
def _finished_step(app, client, uri: str) -> str:
    open_page(client, "/login")
    with app.app_context():
        return WebSteps(app.extensions["gatehouse"].store, browser_id(client)).save(
            WebStep(state_token="authflowstate_x", flow_type="login", finish_redirect_uri=uri)
        )


@pytest.mark.embedded
@pytest.mark.parametrize(
    "uri",
    [
        "https://evil.example/oauth2/consent?x_ref=a",
        "//evil.example/",
        "javascript:alert(1)",
        "http://localhost:3000.evil.example/oauth2/consent",
        "http://localhost:3000/no/such/page",
        "",
    ],
)
def test_finish_never_sends_the_browser_elsewhere(make_app, uri):
    app = make_app()
    client = app.test_client()
    x_step = _finished_step(app, client, uri)
    resp = client.get(f"/authflow/v2/finish?x_step={x_step}", headers=HTML)
    assert resp.status_code == 200
    text = resp.get_data(as_text=True)
    assert "http-equiv" not in text and "evil" not in text and "javascript:" not in text


@pytest.mark.embedded
def test_finish_moves_on_to_consent(make_app):
    app = make_app()
    client = app.test_client()
    x_step = _finished_step(app, client, "http://localhost:3000/oauth2/consent?x_ref=abc")
    text = client.get(f"/authflow/v2/finish?x_step={x_step}", headers=HTML).get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="0;url=http://localhost:3000/oauth2/consent?x_ref=abc">' in text


# -- logout -----------------------------------------------------------------------------------------
@pytest.mark.embedded
def test_logout_needs_csrf_and_revokes_the_session(make_app):
    app = make_app()
    with app.app_context():
        svc = app.extensions["gatehouse"]
        user = make_user(svc)
        _, token = svc.sessions.create(user.id, ["pwd"])
        from app.extensions import db

        db.session.commit()
    client = app.test_client()
    client.set_cookie("session", token)
    page = client.get("/logout", headers=HTML)
    assert page.status_code == 200 and "Sign out" in page.get_data(as_text=True)
    assert client.post("/logout", data={}, headers=HTML).status_code == 400
    resp = client.post("/logout", data={"csrf_token": csrf_of(page.get_data(as_text=True))}, headers=HTML)
    assert resp.status_code == 200 and "You are signed out" in resp.get_data(as_text=True)
    assert any(c.startswith("session=;") for c in resp.headers.getlist("Set-Cookie"))
    with app.app_context():
        assert app.extensions["gatehouse"].sessions.resolve(token) is None


@pytest.mark.embedded
def test_logout_page_when_signed_out(make_app):
    resp = make_app().test_client().get("/logout", headers=HTML)
    assert resp.status_code == 200 and "You are signed out" in resp.get_data(as_text=True)


# -- theme ------------------------------------------------------------------------------------------
@pytest.mark.embedded
def test_theme_css_from_config_and_bad_values_ignored(make_app):
    good = make_app({"ui": {"theme": {"primary_color": "#ffcc00", "dark_primary_color": "#123"}}}).test_client()
    css = good.get("/theme.css").get_data(as_text=True)
    assert "--primary: #ffcc00; --on-primary: #000000;" in css
    assert "--primary: #123; --on-primary: #ffffff;" in css
    hostile = {"primary_color": "red;}</style><script>", "logo_uri": "javascript:alert(1)", "app_name": 5}
    bad = make_app({"ui": {"theme": hostile, "unknown_key": True}}).test_client()
    css = bad.get("/theme.css").get_data(as_text=True)
    assert "--primary: #2457d6;" in css and "script" not in css
    _, page = open_page(bad, "/login")
    text = page.get_data(as_text=True)
    assert "javascript:" not in text and "gatehouse-test" in text


@pytest.mark.embedded
def test_external_logo_is_allowed_by_the_csp(make_app):
    client = make_app(
        {"ui": {"theme": {"logo_uri": "https://cdn.example.com/logo.png", "app_name": "Acme"}}}
    ).test_client()
    _, page = open_page(client, "/login")
    assert "img-src 'self' data: https://cdn.example.com;" in page.headers["Content-Security-Policy"]
    assert 'src="https://cdn.example.com/logo.png"' in page.get_data(as_text=True)


@pytest.mark.embedded
def test_dark_theme_disabled_forces_light(make_app):
    client = make_app({"ui": {"dark_theme_disabled": True}}).test_client()
    resp = client.get("/login?x_color_scheme=dark")
    page = client.get(resp.headers["Location"])
    assert 'data-color-scheme="light"' in page.get_data(as_text=True)


@pytest.mark.embedded
def test_recovery_code_download_needs_a_step_showing_codes(make_app):
    client = make_app().test_client()
    url, _ = open_page(client, "/login")
    x_step = parse_qs(urlsplit(url).query)["x_step"][0]
    assert client.get(f"/authflow/v2/view_recovery_code/download?x_step={x_step}").status_code == 404
    assert client.get("/authflow/v2/view_recovery_code/download?x_step=nope").status_code == 404


@pytest.mark.embedded
def test_first_page_keeps_the_authorization_request_across_a_lost_browser_session(make_app):
    app = make_app()
    email, password = "keeps-x-ref@example.com", random_password()
    with app.app_context():
        make_user(app.extensions["gatehouse"], email=email, password=password)
    url = app.test_client().get("/login?x_ref=abc123", headers=HTML).headers["Location"]
    assert url.startswith("/login?x_ref=abc123&x_step=")
    # Another browser (or one whose web_session expired) reloads it: a new flow, same request.
    client = app.test_client()
    resp = client.get(url, headers=HTML)
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login?x_ref=abc123&x_step=")
    page = client.get(resp.headers["Location"])
    step = client.post(
        resp.headers["Location"], data={"login_id": email, "csrf_token": csrf_of(page.get_data(as_text=True))}
    )
    page = client.get(step.headers["Location"])
    done = client.post(
        step.headers["Location"], data={"password": password, "csrf_token": csrf_of(page.get_data(as_text=True))}
    )
    finish = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "url=http://localhost:3000/oauth2/consent?x_ref=abc123" in finish
