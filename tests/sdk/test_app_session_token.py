"""`POST /oauth2/app_session_token` and the `app_session_token` login hint (contract 1.8): a native
app's refresh token opens Gatehouse's pages signed in as its user, once."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

from app.oidc.scopes import FULL_ACCESS
from app.transport import session_cookie_name
from tests.oidc.helpers import SPA, SPA_CB, app_session_user, exchange, get_code, new_session, pkce_pair, query_of
from tests.sdk.conftest import SDK_ORIGIN

HINT = "https://authgear.com/login_hint?"
SETTINGS = "http://localhost:3000/settings"


def _refresh_token(app: Any, scope: str = f"openid offline_access {FULL_ACCESS}") -> tuple[Any, str]:
    """A user signed in to the SPA client through the code flow; their refresh token."""
    browser = app.test_client()
    with app.app_context():
        user, cookie = new_session(app.extensions["gatehouse"])
    browser.set_cookie(session_cookie_name(app.extensions["gatehouse"].config), cookie)
    code, verifier = get_code(browser, scope=scope)
    body = exchange(browser, code, verifier).get_json()
    return user, body["refresh_token"]


def _app_session_token(client: Any, refresh_token: str) -> Any:
    return client.post("/oauth2/app_session_token", json={"refresh_token": refresh_token})


def _open_settings(client: Any, token: str, **extra: str) -> Any:
    params = {
        "client_id": SPA,
        "redirect_uri": SETTINGS,
        "response_type": "none",
        "prompt": "none",
        "scope": "openid",
        "login_hint": HINT + urlencode({"type": "app_session_token", "app_session_token": token}),
        **extra,
    }
    return client.get("/oauth2/authorize", query_string=params)


def test_app_session_token_signs_the_browser_in_once(sdk_app):
    user, refresh_token = _refresh_token(sdk_app)
    api = sdk_app.test_client()
    resp = _app_session_token(api, refresh_token)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    result = resp.get_json()["result"]
    assert set(result) == {"app_session_token", "expire_at"} and result["expire_at"].endswith("Z")

    browser = sdk_app.test_client()
    opened = _open_settings(browser, result["app_session_token"])
    assert opened.status_code == 302 and opened.headers["Location"] == SETTINGS
    assert app_session_user(sdk_app, opened) == user.id
    # The settings page now answers as that user instead of sending the browser to log in.
    page = browser.get("/settings")
    assert page.status_code == 200

    again = _open_settings(sdk_app.test_client(), result["app_session_token"])
    assert query_of(again.headers["Location"])["error"] == "invalid_request"
    assert app_session_user(sdk_app, again) is None


def test_settings_action_with_app_session_token_reaches_its_page(sdk_app):
    user, refresh_token = _refresh_token(sdk_app)
    token = _app_session_token(sdk_app.test_client(), refresh_token).get_json()["result"]["app_session_token"]
    _, challenge = pkce_pair()
    browser = sdk_app.test_client()
    params = {
        "client_id": SPA,
        "redirect_uri": SPA_CB,
        "response_type": "urn:authgear:params:oauth:response-type:settings-action",
        "x_settings_action": "change_password",
        "scope": "openid",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "login_hint": HINT + urlencode({"type": "app_session_token", "app_session_token": token}),
    }
    first = browser.get("/oauth2/authorize", query_string=params)
    assert first.status_code == 302 and first.headers["Location"].startswith("/oauth2/consent?")
    assert app_session_user(sdk_app, first) == user.id
    page = browser.get(first.headers["Location"])
    assert urlsplit(page.headers["Location"]).path == "/settings/change_password"
    # The page answers the app's user (who has no password yet: its create-password page).
    shown = browser.get(page.headers["Location"], follow_redirects=True)
    assert shown.status_code == 200 and shown.request.path == "/settings/create_password"


def test_refresh_token_without_full_access_is_refused(sdk_app):
    _, refresh_token = _refresh_token(sdk_app, scope="openid offline_access")
    resp = _app_session_token(sdk_app.test_client(), refresh_token)
    assert resp.status_code == 403
    assert resp.get_json()["error"]["name"] == "Forbidden"


def test_invalid_refresh_token_is_invalid_grant(sdk_app):
    resp = _app_session_token(sdk_app.test_client(), "00000000-0000-0000-0000-000000000000.nope")
    assert resp.status_code == 403
    assert (resp.get_json()["error"]["name"], resp.get_json()["error"]["reason"]) == ("Forbidden", "InvalidGrant")
    missing = sdk_app.test_client().post("/oauth2/app_session_token", json={})
    assert missing.status_code == 400 and missing.get_json()["error"]["reason"] == "ValidationFailed"


def test_cors_preflight_from_an_allowed_origin(sdk_app):
    client = sdk_app.test_client()
    for path in ("/oauth2/app_session_token", "/oauth2/challenge"):
        resp = client.options(
            path,
            headers={
                "Origin": SDK_ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert resp.status_code == 204
        assert resp.headers["Access-Control-Allow-Origin"] == SDK_ORIGIN
        assert "Content-Type" in resp.headers["Access-Control-Allow-Headers"]
    foreign = client.options("/oauth2/app_session_token", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in foreign.headers


def test_own_origin_redirect_only_for_response_type_none(sdk_app):
    client = sdk_app.test_client()
    verifier, challenge = pkce_pair()
    params = {
        "client_id": SPA,
        "redirect_uri": SETTINGS,
        "response_type": "code",
        "scope": "openid",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    resp = client.get("/oauth2/authorize", query_string=params)
    assert resp.status_code == 400  # shown on a page: no code is ever sent to an unregistered URI
