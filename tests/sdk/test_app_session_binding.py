"""The browser session an app session token opens is an app session (app/oidc/app_sessions.py), as
Authgear's `app_session` cookie: it lives only as long as the app's offline grant, and it never
stands for a login (`prompt=none`, "continue as") unless the grant holds the pre-authenticated-url
scope."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from app.oidc import app_sessions
from app.transport import session_cookie_name
from tests.oidc.helpers import SPA, SPA_CB, authorize_params, pkce_pair, query_of
from tests.sdk.test_app_session_token import _app_session_token, _open_settings, _refresh_token

FLOWS = "/api/v1/authentication_flows"


def _settings_browser(app: Any) -> tuple[Any, Any, str]:
    """A browser the app opened settings in; the user and the app's refresh token."""
    user, refresh_token = _refresh_token(app)
    token = _app_session_token(app.test_client(), refresh_token).get_json()["result"]["app_session_token"]
    browser = app.test_client()
    opened = _open_settings(browser, token)
    assert opened.status_code == 302, opened.get_data(as_text=True)
    config = app.extensions["gatehouse"].config
    names = {h.split("=", 1)[0] for h in opened.headers.getlist("Set-Cookie")}
    # Authgear's cookie, and no IdP session.
    assert app_sessions.cookie_name(config) in names and session_cookie_name(config) not in names
    page = browser.get("/settings")
    assert page.status_code == 200
    return browser, user, refresh_token


def _resolve(browser: Any) -> dict[str, str]:
    resp = browser.get("/_resolver/resolve")
    assert resp.status_code == 200
    return {k: v for k, v in resp.headers.items() if k.lower().startswith("x-authgear-")}


def test_revoking_the_grant_signs_the_browser_out(sdk_app):
    browser, user, refresh_token = _settings_browser(sdk_app)
    assert _resolve(browser)["X-Authgear-User-Id"] == user.id
    info = browser.get("/oauth2/userinfo")
    assert info.status_code == 200 and info.get_json()["sub"] == user.id

    # The app signs out: its refresh token is revoked, and its grant with it.
    revoked = sdk_app.test_client().post("/oauth2/revoke", data={"token": refresh_token})
    assert revoked.status_code == 200

    page = browser.get("/settings")
    assert page.status_code == 302 and urlsplit(page.headers["Location"]).path == "/login"
    assert _resolve(browser) == {"X-Authgear-Session-Valid": "false"}
    assert browser.get("/oauth2/userinfo").status_code == 401


def test_revoking_the_app_in_the_admin_api_signs_the_browser_out(sdk_app):
    browser, user, refresh_token = _settings_browser(sdk_app)
    with sdk_app.app_context():
        from app.extensions import db
        from app.services import services

        grant_id = refresh_token.partition(".")[0]
        services().accounts.revoke_session(grant_id, None)  # the Admin API's revokeSession
        db.session.commit()
    assert browser.get("/settings").status_code == 302
    assert _resolve(browser) == {"X-Authgear-Session-Valid": "false"}


def test_prompt_none_with_only_the_app_session_is_login_required(sdk_app):
    browser, _, _ = _settings_browser(sdk_app)
    _, challenge = pkce_pair()
    resp = browser.get("/oauth2/authorize", query_string=authorize_params(pkce=challenge, prompt="none", state="s"))
    assert resp.status_code == 302 and resp.headers["Location"].startswith(SPA_CB)
    assert query_of(resp.headers["Location"])["error"] == "login_required"


def test_the_login_page_does_not_offer_continue_as(sdk_app):
    browser, user, _ = _settings_browser(sdk_app)
    _, challenge = pkce_pair()
    resp = browser.get("/oauth2/authorize", query_string=authorize_params(pkce=challenge))
    assert resp.status_code == 302 and urlsplit(resp.headers["Location"]).path == "/login"
    options = browser.post(FLOWS, json={"type": "login", "name": "default", "url_query": ""}).get_json()
    identifications = [o["identification"] for o in options["result"]["action"]["data"]["options"]]
    assert "select_account" not in identifications
    page = browser.get(resp.headers["Location"], headers={"Accept": "text/html"}, follow_redirects=True)
    assert page.request.path != "/authflow/v2/select_account"
    assert not re.search(r'name="x_action" value="continue"', page.get_data(as_text=True))


def test_signing_out_on_the_logout_page_ends_the_app_session_and_its_grant(sdk_app):
    """As Authgear's /logout (session.Manager.Logout): the session the browser holds is ended, an app
    session with its offline grant, and its cookie cleared; the app's refresh token stops working."""
    browser, user, refresh_token = _settings_browser(sdk_app)
    name = app_sessions.cookie_name(sdk_app.extensions["gatehouse"].config)
    cookie = browser.get_cookie(name).value
    page = browser.get("/logout", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "Sign out" in page.get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    resp = browser.post("/logout", data={"csrf_token": csrf}, headers={"Accept": "text/html"})
    assert resp.status_code == 200 and "You are signed out" in resp.get_data(as_text=True)
    assert any(c.startswith(f"{name}=;") for c in resp.headers.getlist("Set-Cookie"))
    replayed = sdk_app.test_client()
    replayed.set_cookie(name, cookie)
    assert _resolve(replayed) == {"X-Authgear-Session-Valid": "false"}
    refreshed = sdk_app.test_client().post(
        "/oauth2/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": SPA}
    )
    assert refreshed.status_code == 400 and refreshed.get_json()["error"] == "invalid_grant"


def test_end_session_with_only_an_app_session_asks_to_sign_out(sdk_app):
    """RP-initiated logout sees the app session as a session: without a hint of its group the user
    confirms on /logout (before, the browser went on signed in)."""
    browser, _user, _refresh_token = _settings_browser(sdk_app)
    resp = browser.get("/oauth2/end_session")
    assert resp.status_code == 302 and urlsplit(resp.headers["Location"]).path == "/logout"


def test_the_admin_api_lists_the_grant_not_its_app_session(sdk_app):
    """Authgear lists IdP sessions and offline grants; the app session is a way into the grant."""
    from tests.admin.conftest import GRAPHQL_PATH, gid
    from tests.sdk.test_biometric import admin_headers

    _browser, user, refresh_token = _settings_browser(sdk_app)
    query = """query($id: ID!) { node(id: $id) { ... on User { sessions { edges { node { id type } } } } } }"""
    resp = sdk_app.test_client().post(
        GRAPHQL_PATH, json={"query": query, "variables": {"id": gid("User", user.id)}}, headers=admin_headers(sdk_app)
    )
    sessions = [e["node"] for e in resp.get_json()["data"]["node"]["sessions"]["edges"]]
    grant_id = refresh_token.partition(".")[0]
    offline = [s for s in sessions if s["type"] == "OFFLINE_GRANT"]
    assert [s["id"] for s in offline] == [gid("Session", grant_id)]
    assert len(sessions) == len(offline) + _idp_sessions_of(sdk_app, user.id)


def _idp_sessions_of(app: Any, user_id: str) -> int:
    """The user's IdP sessions proper (not app sessions)."""
    from sqlalchemy import func, select

    from app.extensions import db
    from app.sessions.models import IdPSession

    with app.app_context():
        stmt = select(func.count()).where(IdPSession.user_id == user_id, IdPSession.offline_grant_id.is_(None))
        return db.session.scalar(stmt)
