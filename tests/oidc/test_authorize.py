"""`/oauth2/authorize` and `/oauth2/consent`: validation, the x_ref hand-off, SSO, prompt, max_age,
response modes, consent for third-party clients (contract 1.3)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from app.extensions import db
from app.identities.models import User
from app.sessions.models import IdPSession, OAuthAuthorization, OAuthCode
from tests.oidc.helpers import (
    CUSTOM_UI,
    NO_REFRESH,
    SPA,
    SPA_CB,
    THIRD,
    THIRD_CB,
    WEB,
    WEB_CB,
    authorize_params,
    continued,
    fragment_of,
    pkce_pair,
    query_of,
    x_ref_of,
)


def _challenge() -> str:
    return pkce_pair()[1]


def _pending(app, x_ref):
    raw = app.extensions["gatehouse"].store.get(f"oauth_session:{x_ref}")
    return json.loads(raw) if raw is not None else None


def _finish(client, location):
    """What the browser does when the flow engine finishes: go to consent with the x_ref."""
    return client.get("/oauth2/consent", query_string={"x_ref": x_ref_of(location)})


@pytest.mark.embedded
def test_without_session_the_browser_goes_to_the_login_page_with_a_pending_request(oidc_client, oidc_app):
    resp = oidc_client.get(
        "/oauth2/authorize",
        query_string=authorize_params(pkce=_challenge(), state="st-1", nonce="n-1", ui_locales="zh-HK en"),
    )
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert location.startswith("/login?x_ref=")
    x_ref = x_ref_of(location)
    assert re.fullmatch(r"[A-Za-z0-9]{32}", x_ref)
    pending = _pending(oidc_app, x_ref)
    assert pending["client_id"] == SPA and pending["redirect_uri"] == SPA_CB
    assert pending["state"] == "st-1" and pending["nonce"] == "n-1" and pending["ui_locales"] == "zh-HK en"
    assert pending["scopes"] == ["openid"] and pending["requested_at"] > 0
    ttl = oidc_app.extensions["gatehouse"].store.ttl(f"oauth_session:{x_ref}")
    assert 1100 < ttl <= 1200


def test_x_page_signup_opens_the_signup_page(oidc_client):
    resp = oidc_client.get("/oauth2/authorize", query_string=authorize_params(pkce=_challenge(), x_page="signup"))
    assert resp.headers["Location"].startswith("/signup?x_ref=")


def test_custom_ui_client_is_sent_to_its_own_ui_with_the_query(oidc_client):
    params = authorize_params(CUSTOM_UI, pkce=_challenge(), state="abc", ui_locales="ja", x_state="opaque")
    location = oidc_client.get("/oauth2/authorize", query_string=params).headers["Location"]
    assert location.startswith("https://login.example.com/start?theme=blue&")
    query = query_of(location)
    assert query["client_id"] == CUSTOM_UI and query["redirect_uri"] == SPA_CB
    assert query["state"] == "abc" and query["ui_locales"] == "ja" and query["x_state"] == "opaque"
    assert re.fullmatch(r"[A-Za-z0-9]{32}", query["x_ref"])


@pytest.mark.embedded
def test_with_a_session_the_code_is_issued_and_the_x_ref_is_used_once(oidc_client, login, oidc_app):
    user = login(oidc_client)
    resp = oidc_client.get("/oauth2/authorize", query_string=authorize_params(pkce=_challenge(), state="xyz"))
    assert resp.headers["Location"].startswith("/authflow/v2/select_account?x_ref=")  # "continue as"
    consent = continued(resp.headers["Location"])
    done = oidc_client.get(consent)
    assert done.status_code == 302
    target = urlsplit(done.headers["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == SPA_CB
    query = query_of(done.headers["Location"])
    assert query["state"] == "xyz" and re.fullmatch(r"[A-Za-z0-9]{32}", query["code"])
    with oidc_app.app_context():
        row = db.session.scalar(select(OAuthCode))
        assert row.user_id == user.id and row.code_hash != query["code"]  # stored hashed
    again = oidc_client.get(consent)
    assert again.status_code == 400 and "text/html" in again.content_type


def test_session_is_shared_between_clients(oidc_client, login):
    login(oidc_client)
    first = _finish(
        oidc_client,
        oidc_client.get("/oauth2/authorize", query_string=authorize_params(pkce=_challenge())).headers["Location"],
    )
    assert "code" in query_of(first.headers["Location"])
    # A second client in the same browser signs in without a login page (SSO): "continue as".
    second = oidc_client.get("/oauth2/authorize", query_string=authorize_params(WEB, WEB_CB))
    assert second.headers["Location"].startswith("/authflow/v2/select_account?")
    assert "code" in query_of(oidc_client.get(continued(second.headers["Location"])).headers["Location"])


def test_consent_without_a_session_sends_the_browser_back_to_login_and_keeps_the_request(oidc_client, oidc_app):
    location = oidc_client.get("/oauth2/authorize", query_string=authorize_params(pkce=_challenge())).headers[
        "Location"
    ]
    resp = _finish(oidc_client, location)
    assert resp.status_code == 302 and resp.headers["Location"] == location
    assert _pending(oidc_app, x_ref_of(location)) is not None


def test_a_disabled_users_session_is_not_used(oidc_client, login, oidc_app):
    user = login(oidc_client)
    with oidc_app.app_context():
        db.session.get(User, user.id).is_disabled = True
        db.session.commit()
    resp = oidc_client.get("/oauth2/authorize", query_string=authorize_params(pkce=_challenge()))
    assert resp.headers["Location"].startswith("/login?")


def test_prompt_none_without_session_returns_login_required(oidc_client):
    resp = oidc_client.get(
        "/oauth2/authorize", query_string=authorize_params(pkce=_challenge(), prompt="none", state="s")
    )
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith(SPA_CB + "?")
    assert query_of(resp.headers["Location"]) == {
        "error": "login_required",
        "error_description": "authentication required",
        "state": "s",
    }


def test_prompt_none_with_session_issues_a_code_silently(oidc_client, login):
    login(oidc_client)
    resp = oidc_client.get("/oauth2/authorize", query_string=authorize_params(pkce=_challenge(), prompt="none"))
    assert "code" in query_of(oidc_client.get(resp.headers["Location"]).headers["Location"])


def test_prompt_login_requires_a_login_after_the_request(oidc_client, login, oidc_app):
    login(oidc_client)
    location = oidc_client.get(
        "/oauth2/authorize", query_string=authorize_params(pkce=_challenge(), prompt="login")
    ).headers["Location"]
    assert location.startswith("/login?")
    # The old session does not satisfy consent either.
    assert _finish(oidc_client, location).headers["Location"] == location
    login(oidc_client)  # the hosted pages log the user in again
    assert "code" in query_of(_finish(oidc_client, location).headers["Location"])


def test_max_age_older_than_the_login_forces_a_new_login(oidc_client, login, oidc_app):
    user = login(oidc_client)
    with oidc_app.app_context():
        session = db.session.scalar(select(IdPSession).where(IdPSession.user_id == user.id))
        session.authenticated_at -= timedelta(seconds=120)
        db.session.commit()
    short = oidc_client.get("/oauth2/authorize", query_string=authorize_params(pkce=_challenge(), max_age="60"))
    assert short.headers["Location"].startswith("/login?")
    long = oidc_client.get("/oauth2/authorize", query_string=authorize_params(pkce=_challenge(), max_age="10000"))
    assert long.headers["Location"].startswith("/authflow/v2/select_account?")  # no new login


@pytest.mark.parametrize(
    ("extra", "description"),
    [
        ({"prompt": "none", "max_age": "10"}, "max_age cannot be present when prompt=none"),
        ({"prompt": "none login"}, "prompt cannot have other values when none is set"),
        ({"prompt": "sometimes"}, "unknown prompt value"),
        ({"max_age": "-1"}, "max_age must be a non-negative integer"),
        ({"max_age": "ten"}, "max_age must be a non-negative integer"),
        ({"x_page": "settings"}, "x_page must be login or signup"),
    ],
)
def test_invalid_prompt_and_max_age_are_sent_to_the_client(oidc_client, extra, description):
    resp = oidc_client.get("/oauth2/authorize", query_string=authorize_params(pkce=_challenge(), state="q", **extra))
    query = query_of(resp.headers["Location"])
    assert query == {"error": "invalid_request", "error_description": description, "state": "q"}


def test_fragment_response_mode(oidc_client, login):
    login(oidc_client)
    params = authorize_params(pkce=_challenge(), response_mode="fragment", state="f")
    done = oidc_client.get(continued(oidc_client.get("/oauth2/authorize", query_string=params).headers["Location"]))
    location = done.headers["Location"]
    assert location.startswith(SPA_CB + "#")
    assert fragment_of(location)["state"] == "f" and fragment_of(location)["code"]
    assert query_of(location) == {}


def test_form_post_response_mode_posts_the_code_to_the_client(oidc_client, login):
    login(oidc_client)
    params = authorize_params(pkce=_challenge(), response_mode="form_post", state="p<'\">")
    done = oidc_client.get(continued(oidc_client.get("/oauth2/authorize", query_string=params).headers["Location"]))
    assert done.status_code == 200 and done.mimetype == "text/html"
    html = done.get_data(as_text=True)
    assert f'action="{SPA_CB}"' in html
    assert re.search(r'name="code" value="[A-Za-z0-9]{32}"', html)
    assert 'name="state" value="p&lt;&#39;&#34;&gt;"' in html  # escaped, not injected
    csp = done.headers["Content-Security-Policy"]
    assert "form-action http://localhost:4000" in csp
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert f'<script nonce="{nonce}">' in html


def test_form_post_errors_are_posted_too(oidc_client):
    params = authorize_params(response_mode="form_post", state="e")  # no PKCE for a public client
    resp = oidc_client.get("/oauth2/authorize", query_string=params)
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert 'name="error" value="invalid_request"' in html and 'name="state" value="e"' in html


def test_response_type_none_sets_nothing_but_state(oidc_client, login, oidc_app):
    login(oidc_client)
    params = authorize_params(WEB, WEB_CB, state="n")
    params["response_type"] = "none"
    done = oidc_client.get(continued(oidc_client.get("/oauth2/authorize", query_string=params).headers["Location"]))
    assert done.headers["Location"] == WEB_CB + "?state=n"
    with oidc_app.app_context():
        assert db.session.scalar(select(OAuthCode)) is None


def test_response_type_none_only_for_clients_configured_with_it(oidc_client):
    # First-party clients may always use it (the Web SDK's cookie sessions, tests/sdk), as in Authgear.
    params = authorize_params(client_id=THIRD, redirect_uri=THIRD_CB, state="n")
    params["response_type"] = "none"
    query = query_of(oidc_client.get("/oauth2/authorize", query_string=params).headers["Location"])
    assert query["error"] == "unauthorized_client" and query["state"] == "n"


@pytest.mark.parametrize(
    ("extra", "error", "description"),
    [
        ({}, "invalid_request", "PKCE code challenge is required"),
        (
            {"code_challenge": "A" * 43, "code_challenge_method": "plain"},
            "invalid_request",
            "only 'S256' PKCE transform is supported",
        ),
        ({"code_challenge": "A" * 43}, "invalid_request", "only 'S256' PKCE transform is supported"),
        ({"code_challenge": "short", "code_challenge_method": "S256"}, "invalid_request", "invalid code_challenge"),
    ],
)
def test_public_clients_need_s256_pkce(oidc_client, extra, error, description):
    resp = oidc_client.get("/oauth2/authorize", query_string=authorize_params(**extra))
    assert query_of(resp.headers["Location"]) == {"error": error, "error_description": description}


def test_confidential_clients_may_skip_pkce(oidc_client):
    resp = oidc_client.get("/oauth2/authorize", query_string=authorize_params(WEB, WEB_CB))
    assert resp.headers["Location"].startswith("/login?")


@pytest.mark.parametrize(
    ("client_id", "scope", "error"),
    [
        (SPA, "profile", "invalid_scope"),  # openid is required
        (SPA, "openid admin", "invalid_scope"),
        (NO_REFRESH, "openid offline_access", "invalid_scope"),
        (WEB, "openid https://authgear.com/scopes/full-access", "invalid_scope"),
        (SPA, "", "invalid_request"),
    ],
)
def test_scope_rules(oidc_client, client_id, scope, error):
    params = authorize_params(client_id, WEB_CB if client_id == WEB else SPA_CB, scope=scope, pkce=_challenge())
    if not scope:
        del params["scope"]
    assert query_of(oidc_client.get("/oauth2/authorize", query_string=params).headers["Location"])["error"] == error


def test_login_hint_in_authgear_form_is_kept_for_the_login_page(oidc_client, oidc_app):
    hint = "https://authgear.com/login_hint?type=login_id&email=jane%40example.com&enforce=true"
    location = oidc_client.get(
        "/oauth2/authorize", query_string=authorize_params(pkce=_challenge(), login_hint=hint)
    ).headers["Location"]
    pending = _pending(oidc_app, x_ref_of(location))
    assert pending["login_hint"] == hint
    assert pending["login_hint_login_id"] == {"key": "email", "value": "jane@example.com", "enforce": True}


@pytest.mark.parametrize(
    "hint",
    [
        "jane@example.com",
        "https://authgear.com/login_hint?type=app_session_token&app_session_token=x",
        "https://authgear.com/login_hint?type=login_id",
        "https://authgear.com/login_hint?type=login_id&email=a&phone=b",
    ],
)
def test_other_login_hints_are_invalid_requests(oidc_client, hint):
    resp = oidc_client.get("/oauth2/authorize", query_string=authorize_params(pkce=_challenge(), login_hint=hint))
    assert query_of(resp.headers["Location"])["error"] == "invalid_request"


def test_third_party_client_asks_for_consent_once(oidc_client, login, oidc_app):
    user = login(oidc_client)
    params = authorize_params(THIRD, THIRD_CB, scope="openid email", state="t")
    page = oidc_client.get(continued(oidc_client.get("/oauth2/authorize", query_string=params).headers["Location"]))
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "Partner App" in html and "email" in html
    assert "form-action 'self' https://partner.example" in page.headers["Content-Security-Policy"]
    csrf_token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    x_ref = re.search(r'name="x_ref" value="([^"]+)"', html).group(1)

    forged = oidc_client.post("/oauth2/consent", data={"x_ref": x_ref, "x_action": "consent"})
    assert forged.status_code == 400  # no CSRF token: nothing issued
    # Authgear's consent form: `x_action` consent or cancel, anything else is refused.
    unknown = oidc_client.post("/oauth2/consent", data={"x_ref": x_ref, "x_action": "allow", "csrf_token": csrf_token})
    assert (unknown.status_code, unknown.get_data(as_text=True)) == (400, "Unknown action")
    # As Authgear's client posts it: to the page's own URL (x_ref in its query).
    allowed = oidc_client.post(f"/oauth2/consent?x_ref={x_ref}", data={"x_action": "consent", "csrf_token": csrf_token})
    assert allowed.status_code == 302 and allowed.headers["Location"].startswith(THIRD_CB + "?code=")
    with oidc_app.app_context():
        authz = db.session.scalar(select(OAuthAuthorization).where(OAuthAuthorization.client_id == THIRD))
        assert authz.user_id == user.id and set(authz.scopes) == {"openid", "email"}
    # Remembered: the next request for the same scopes skips the page.
    again = oidc_client.get(continued(oidc_client.get("/oauth2/authorize", query_string=params).headers["Location"]))
    assert again.status_code == 302 and "code" in query_of(again.headers["Location"])
    # A new scope asks again.
    wider = authorize_params(THIRD, THIRD_CB, scope="openid email profile")
    assert (
        oidc_client.get(
            continued(oidc_client.get("/oauth2/authorize", query_string=wider).headers["Location"])
        ).status_code
        == 200
    )


def test_third_party_consent_denied(oidc_client, login):
    login(oidc_client)
    params = authorize_params(THIRD, THIRD_CB, state="d")
    html = oidc_client.get(
        continued(oidc_client.get("/oauth2/authorize", query_string=params).headers["Location"])
    ).get_data(as_text=True)
    csrf_token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    x_ref = re.search(r'name="x_ref" value="([^"]+)"', html).group(1)
    denied = oidc_client.post("/oauth2/consent", data={"x_ref": x_ref, "x_action": "cancel", "csrf_token": csrf_token})
    assert query_of(denied.headers["Location"]) == {
        "error": "access_denied",
        "error_description": "authorization denied",
        "state": "d",
    }


def test_third_party_prompt_none_without_consent_is_denied(oidc_client, login):
    login(oidc_client)
    params = authorize_params(THIRD, THIRD_CB, prompt="none")
    done = oidc_client.get(continued(oidc_client.get("/oauth2/authorize", query_string=params).headers["Location"]))
    assert query_of(done.headers["Location"])["error"] == "access_denied"


def test_authorize_by_post_form(oidc_client, login):
    login(oidc_client)
    resp = oidc_client.post("/oauth2/authorize", data=authorize_params(pkce=_challenge()))
    assert resp.headers["Location"].startswith("/authflow/v2/select_account?")


@pytest.mark.parametrize(
    ("param", "error"),
    [("request", "request_not_supported"), ("request_uri", "request_uri_not_supported")],
)
def test_request_objects_are_rejected_as_unsupported(oidc_client, param, error):
    resp = oidc_client.get(
        "/oauth2/authorize", query_string=authorize_params(pkce=_challenge(), **{param: "eyJhbGciOiJub25lIn0.e30."})
    )
    assert query_of(resp.headers["Location"])["error"] == error


def test_redirect_uri_keeps_its_own_query(oidc_client, login):
    login(oidc_client)
    params = authorize_params(WEB, "http://localhost:4000/cb?tenant=a", state="k")
    done = oidc_client.get(continued(oidc_client.get("/oauth2/authorize", query_string=params).headers["Location"]))
    location = done.headers["Location"]
    assert location.startswith("http://localhost:4000/cb?tenant=a&")
    assert query_of(location)["tenant"] == "a" and query_of(location)["state"] == "k"
