"""Social login on the hosted pages: the provider buttons, `/sso/oauth2/callback/<alias>` (GET, and
POST for form_post), errors and cancel on the page, a tampered or replayed state refused,
`x_oauth_provider_alias`; then the whole round trip in Chromium against node oidc-provider.

Over HTTP the test client plays the browser and the stand-ins play Google and Apple (tests/sso/standins.py).
In Chromium the provider is the generic `oidc` type on node oidc-provider: it listens on loopback over
plain HTTP, so the browser opens its login and consent pages directly, with no proxy or test CA in
the browser (the Google stand-in answers only through the CONNECT proxy at Google's real host name).
"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.identities.models import Identity
from tests.sso.conftest import UPSTREAM_SECRET, google_provider
from tests.sso.flowapi import follow
from tests.sso.test_flow_providers import _Form
from tests.web.conftest import (  # noqa: F401 (fixtures)
    LiveServer,
    _catalogs,
    browser,
    context_factory,
    screenshot_dir,
    shots,
)

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}
ALICE = {
    "sub": "108000000000000000777",
    "email": "alice.pages@gmail.com",
    "email_verified": True,
    "name": "Alice Pages",
    "given_name": "Alice",
}


def _google_app(sso_app, **extra):
    return sso_app([google_provider()], {"google": "google-secret"}, **extra)


def _path(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(("", "", parts.path, parts.query, ""))


def _entry(client, page: str = "signup", query: str = "") -> str:
    """Open the page; returns its URL with `x_step`."""
    resp = client.get(f"/{page}" + (f"?{query}" if query else ""))
    assert resp.status_code == 302, resp.data
    return resp.headers["Location"]


def _choose(client, page_url: str, alias: str) -> Any:
    return client.post(page_url, data={"x_action": "oauth", "x_provider_alias": alias}, headers=SAME_ORIGIN)


def _leave(client, resp) -> str:
    """The page that moves on to the provider: returns the provider's URL it goes to."""
    assert resp.status_code == 303 and resp.headers["Location"].startswith("/sso/oauth2/leave?"), resp.data
    page = client.get(resp.headers["Location"])
    assert page.status_code == 200
    target = re.search(r'http-equiv="refresh" content="0;url=([^"]+)"', page.get_data(as_text=True))
    assert target, page.get_data(as_text=True)
    return html.unescape(target.group(1))


def _callback(standins, provider_url: str) -> str:
    resp = follow(standins, provider_url)
    assert resp.status_code == 302, resp.text
    return _path(resp.headers["Location"])


def _finished(resp) -> None:
    assert resp.status_code == 303, resp.data
    assert resp.headers["Location"].startswith("/authflow/v2/finish?"), resp.headers["Location"]


def _identities(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Identity).where(Identity.type == "oauth"))


def test_login_and_signup_pages_show_a_button_per_provider(sso_app):
    providers = [google_provider(), {**google_provider("google2"), "client_id": "other"}]
    app = sso_app(providers, {"google": "s", "google2": "t"})
    client = app.test_client()
    for page in ("login", "signup"):
        body = client.get(_entry(client, page)).get_data(as_text=True)
        assert body.count('name="x_action" value="oauth"') == 2
        assert 'name="x_provider_alias" value="google2"' in body
        assert "Continue with Google" in body and "/static/web/brands/google.svg" in body


def test_sign_up_then_log_in_with_google_through_the_callback(sso_app, standins):
    app = _google_app(sso_app)
    standins.next_user["google"] = ALICE
    client = app.test_client()
    signup = _entry(client, "signup")
    url = _leave(client, _choose(client, signup, "google"))
    q = parse_qs(urlsplit(url).query)
    assert q["redirect_uri"] == ["http://localhost:3000/sso/oauth2/callback/google"] or q["redirect_uri"][0].endswith(
        "/sso/oauth2/callback/google"
    )
    assert q["response_mode"] == ["form_post"] and len(q["state"][0]) == 32
    _finished(client.get(_callback(standins, url)))
    assert _identities(app) == 1

    other = app.test_client()
    login = _entry(other, "login")
    resp = other.get(_callback(standins, _leave(other, _choose(other, login, "google"))))
    _finished(resp)
    assert _identities(app) == 1


def test_cancel_at_the_provider_shows_the_page_again_with_the_reason(sso_app, standins):
    app = _google_app(sso_app)
    client = app.test_client()
    signup = _entry(client, "signup")
    standins.deny.add("google")
    try:
        callback = _callback(standins, _leave(client, _choose(client, signup, "google")))
    finally:
        standins.deny.discard("google")
    resp = client.get(callback)
    assert resp.status_code == 303 and resp.headers["Location"] == _path(signup)
    body = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "You cancelled signing in with Google." in body
    # The page works again: the same browser signs up with the provider.
    standins.next_user["google"] = {**ALICE, "sub": "108000000000000000778", "email": "x2@gmail.com"}
    _finished(client.get(_callback(standins, _leave(client, _choose(client, signup, "google")))))


def test_a_tampered_replayed_or_foreign_state_is_refused(sso_app, standins):
    app = _google_app(sso_app)
    standins.next_user["google"] = {**ALICE, "sub": "108000000000000000779", "email": "x3@gmail.com"}
    client = app.test_client()
    callback = _callback(standins, _leave(client, _choose(client, _entry(client), "google")))
    parts = urlsplit(callback)
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    tampered = {**q, "state": q["state"][:-1] + ("A" if q["state"][-1] != "A" else "B")}
    resp = client.get(f"{parts.path}?{urlencode(tampered)}")
    assert resp.status_code == 400
    assert "invalid or has already been used" in resp.get_data(as_text=True)
    # Another browser with the real state: refused, and the state is spent.
    assert app.test_client().get(callback).status_code == 400
    assert client.get(callback).status_code == 400
    # A state of one alias at another alias's callback.
    again = _callback(standins, _leave(client, _choose(client, _entry(client), "google")))
    assert client.get(again.replace("/callback/google", "/callback/apple")).status_code == 400
    assert _identities(app) == 0


def test_apple_form_post_is_received_by_post_and_continued_by_get(sso_app, standins):
    conf = standins.clients["apple"]
    provider = {"alias": "apple", "type": "apple", **{k: conf[k] for k in ("client_id", "team_id", "key_id")}}
    app = sso_app([provider], {"apple": conf["client_secret"]})
    standins.next_user["apple"] = {"sub": "000777.pages", "email": "pages@privaterelay.appleid.com"}
    client = app.test_client()
    url = _leave(client, _choose(client, _entry(client), "apple"))
    form = _Form()
    form.feed(follow(standins, url).text)
    assert form.action.endswith("/sso/oauth2/callback/apple")
    # A cross-site POST: no form token and no cookie needed; the answer is kept for the GET.
    posted = app.test_client().post(
        "/sso/oauth2/callback/apple", data=form.fields, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert posted.status_code == 303 and "x_resume=" in posted.headers["Location"]
    _finished(client.get(posted.headers["Location"]))
    assert client.get(posted.headers["Location"]).status_code == 400  # once only
    assert _identities(app) == 1


def test_x_oauth_provider_alias_goes_straight_to_the_provider(sso_app, standins):
    app = _google_app(
        sso_app,
        overrides={
            "oauth": {
                "clients": [
                    {
                        "client_id": "pages-app",
                        "name": "Pages",
                        "x_application_type": "spa",
                        "redirect_uris": ["https://app.example.com/cb"],
                    }
                ]
            }
        },
    )
    client = app.test_client()
    query = {
        "client_id": "pages-app",
        "redirect_uri": "https://app.example.com/cb",
        "response_type": "code",
        "scope": "openid",
        "code_challenge": "a" * 43,
        "code_challenge_method": "S256",
        "x_oauth_provider_alias": "google",
    }
    resp = client.get("/oauth2/authorize?" + urlencode(query))
    page_url = resp.headers["Location"]
    for _ in range(3):
        resp = client.get(page_url)
        if resp.headers.get("Location", "").startswith("/sso/oauth2/leave"):
            break
        page_url = resp.headers["Location"]
    assert resp.headers["Location"].startswith("/sso/oauth2/leave?"), resp.headers
    provider_url = _leave(client, type("R", (), {"status_code": 303, "headers": resp.headers})())
    assert urlsplit(provider_url).netloc == "accounts.google.com"
    standins.deny.add("google")
    try:
        back = client.get(_callback(standins, provider_url))
    finally:
        standins.deny.discard("google")
    # After the error the page stays, showing it, rather than leaving for the provider again.
    shown = client.get(back.headers["Location"])
    assert shown.status_code == 200 and "You cancelled signing in with Google." in shown.get_data(as_text=True)
    assert client.get(back.headers["Location"]).status_code == 200


# -- in Chromium --------------------------------------------------------------------------------------
@pytest.fixture
def oidc_web(sso_app, upstream):
    servers: list[LiveServer] = []

    def build(overrides: dict[str, Any] | None = None) -> LiveServer:
        server = LiveServer()
        servers.append(server)
        upstream.start([server.url("/sso/oauth2/callback/corp")])
        provider = {
            "alias": "corp",
            "type": "oidc",
            "client_id": "gatehouse",
            "discovery_document_endpoint": upstream.discovery,
        }
        server.app = sso_app(
            [provider],
            {"corp": UPSTREAM_SECRET},
            overrides={"http": {"public_origin": server.origin}, **(overrides or {})},
            sso_http_proxy=None,
            sso_tls_ca_cert_file=None,
        )
        return server

    yield build
    for server in servers:
        server.stop()


def _at_provider_sign_in(page, login: str) -> None:
    page.wait_for_url(re.compile(r"http://127\.0\.0\.1:\d+/interaction/"), wait_until="commit")
    page.fill('input[name="login"]', login)
    page.fill('input[name="password"]', "any")
    page.click('button[type="submit"]', no_wait_after=True)
    page.wait_for_url(re.compile(r"/interaction/"), wait_until="commit")
    consent = page.locator('button:has-text("Continue")')
    consent.wait_for()
    consent.click(no_wait_after=True)


def test_browser_sign_up_log_in_cancel_and_tampered_state(oidc_web, context_factory, shots, upstream):  # noqa: F811
    server = oidc_web()
    page = context_factory().new_page()
    page.goto(server.url("/signup"))
    shots.visit(page, "signup-with-providers")
    page.click('button[data-provider="oidc"]')
    _at_provider_sign_in(page, "alice")
    page.wait_for_url(re.compile(r"/authflow/v2/finish"))
    assert _identities(server.app) == 1

    # A new browser logs in with the same provider account.
    page2 = context_factory().new_page()
    page2.goto(server.url("/login"))
    shots.visit(page2, "login-with-providers")
    page2.click('button[data-provider="oidc"]')
    _at_provider_sign_in(page2, "alice")
    page2.wait_for_url(re.compile(r"/authflow/v2/finish"))

    # Cancel at the provider: back on the login page with the reason.
    page3 = context_factory().new_page()
    page3.goto(server.url("/login"))
    page3.click('button[data-provider="oidc"]')
    page3.wait_for_url(re.compile(r"/interaction/"), wait_until="commit")
    page3.click("text=[ Cancel ]", no_wait_after=True)
    page3.wait_for_url(re.compile(r"/login\?"))
    alert = page3.locator(".alert")
    alert.wait_for()
    assert "You cancelled signing in with Corp." in alert.inner_text()
    shots.visit(page3, "login-oauth-cancelled")

    # A callback whose state was tampered with: the error page.
    page3.click('button[data-provider="oidc"]')
    page3.wait_for_url(re.compile(r"/interaction/"), wait_until="commit")
    page3.goto(server.url("/sso/oauth2/callback/corp?code=forged&state=" + "A" * 32))
    assert "invalid or has already been used" in page3.locator("main").inner_text()
    shots.visit(page3, "sso-callback-invalid-state")
    assert _identities(server.app) == 1
