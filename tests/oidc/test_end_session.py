"""`/oauth2/end_session` as Authgear answers it (contract 1.8): silent logout for a first-party hint of
the same SSO group, the `/logout` confirmation page otherwise, 303 to the registered
post_logout_redirect_uri, and the POST stash round trip."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from app.extensions import db
from app.sessions.models import IdPSession, OfflineGrant
from tests.oidc.helpers import SPA, exchange, get_code
from tests.oidc.test_userinfo_revoke_logout import _third_party_tokens

BYE = "http://localhost:4000/bye"
ORIGIN = "http://localhost:3000"


def _tokens(client, scope="openid offline_access"):
    code, verifier = get_code(client, scope=scope)
    return exchange(client, code, verifier).get_json()


def _sessions(app):
    with app.app_context():
        return list(db.session.scalars(select(IdPSession.id))), list(db.session.scalars(select(OfflineGrant.id)))


def _cookie_headers(resp):
    return resp.headers.getlist("Set-Cookie")


def _logout_target(location):
    """The end_session URL that /logout comes back to, as a dict of its parameters."""
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{ORIGIN}/logout"
    back = parse_qs(parts.query)["redirect_uri"][0]
    assert back.startswith(f"{ORIGIN}/oauth2/end_session")
    return back, {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}


@pytest.mark.embedded
def test_first_party_hint_of_an_offline_grant_signs_out_at_once(oidc_client, login, oidc_app):
    login(oidc_client)
    tokens = _tokens(oidc_client)  # offline_access: the ID token's sid names the grant, not the cookie's session
    resp = oidc_client.get(
        "/oauth2/end_session",
        query_string={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": BYE, "state": "s-1"},
    )
    assert resp.status_code == 303 and resp.headers["Location"] == f"{BYE}?state=s-1"
    cookies = _cookie_headers(resp)
    assert any(c.startswith("session=;") and "Max-Age=0" in c for c in cookies)
    assert any(c.startswith("same_site_strict=;") and "Max-Age=0" in c for c in cookies)
    assert _sessions(oidc_app) == ([], [])  # the session and the grants of its SSO group
    assert (
        oidc_client.post(
            "/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": SPA},
        ).status_code
        == 400
    )


def test_first_party_hint_naming_the_session_itself_signs_out(oidc_client, login, oidc_app):
    login(oidc_client)
    tokens = _tokens(oidc_client, scope="openid")  # no grant: the sid is the IdP session
    resp = oidc_client.get("/oauth2/end_session", query_string={"id_token_hint": tokens["id_token"]})
    assert resp.status_code == 302 and resp.headers["Location"] == f"{ORIGIN}/settings"
    assert _sessions(oidc_app)[0] == []


def test_hint_from_another_login_asks_on_the_logout_page(oidc_client, login, oidc_app):
    user = login(oidc_client)
    old = _tokens(oidc_client)
    login(oidc_client, user)  # the browser signs in again: a new session, another SSO group
    resp = oidc_client.get(
        "/oauth2/end_session",
        query_string={"id_token_hint": old["id_token"], "post_logout_redirect_uri": BYE, "client_id": SPA},
    )
    assert resp.status_code == 302
    _, params = _logout_target(resp.headers["Location"])
    assert params == {"post_logout_redirect_uri": BYE, "client_id": SPA}  # the hint is not passed on
    assert len(_sessions(oidc_app)[0]) == 2


@pytest.mark.parametrize("hint", ["third-party", "garbage", "a.b.c"])
def test_third_party_or_malformed_hint_asks_on_the_logout_page(oidc_client, login, oidc_app, hint):
    login(oidc_client)
    token = _third_party_tokens(oidc_client, "openid")["id_token"] if hint == "third-party" else hint
    resp = oidc_client.get("/oauth2/end_session", query_string={"id_token_hint": token})
    assert resp.status_code == 302
    _logout_target(resp.headers["Location"])
    assert len(_sessions(oidc_app)[0]) == 1


@pytest.mark.embedded
def test_no_session_goes_straight_to_the_registered_uri(oidc_client):
    resp = oidc_client.get("/oauth2/end_session", query_string={"post_logout_redirect_uri": BYE, "state": "x y"})
    assert resp.status_code == 303 and resp.headers["Location"] == f"{BYE}?state=x+y"
    unregistered = oidc_client.get(
        "/oauth2/end_session", query_string={"post_logout_redirect_uri": "https://evil.example/"}
    )
    assert unregistered.status_code == 302 and unregistered.headers["Location"] == f"{ORIGIN}/settings"


def test_same_site_strict_marker_without_hint_signs_out_at_once(oidc_client, login, oidc_app):
    login(oidc_client)
    oidc_client.set_cookie("same_site_strict", "true")
    resp = oidc_client.get("/oauth2/end_session", query_string={"post_logout_redirect_uri": BYE})
    assert resp.status_code == 303 and resp.headers["Location"] == BYE
    assert _sessions(oidc_app)[0] == []


@pytest.mark.embedded
def test_post_is_stashed_then_answered_as_a_get(oidc_client, login, oidc_app):
    login(oidc_client)
    tokens = _tokens(oidc_client)
    posted = oidc_client.post(
        "/oauth2/end_session",
        data={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": BYE, "state": "p"},
    )
    assert posted.status_code == 302
    location = posted.headers["Location"]
    assert location.startswith(f"{ORIGIN}/oauth2/end_session?x_end_session_ref=") and "id_token_hint" not in location
    key_cookie = next(c for c in _cookie_headers(posted) if c.startswith("end_session_ref_key="))
    assert "Path=/oauth2/end_session" in key_cookie and "HttpOnly" in key_cookie and "Max-Age=300" in key_cookie
    assert len(_sessions(oidc_app)[0]) == 1  # nothing happens on the POST itself

    resumed = oidc_client.get(location)
    assert resumed.status_code == 303 and resumed.headers["Location"] == f"{BYE}?state=p"
    assert any(c.startswith("end_session_ref_key=;") for c in _cookie_headers(resumed))
    assert _sessions(oidc_app) == ([], [])


def test_a_stale_stash_is_a_request_without_parameters(oidc_client, login, oidc_app):
    login(oidc_client)
    tokens = _tokens(oidc_client)
    location = oidc_client.post(
        "/oauth2/end_session", data={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": BYE}
    ).headers["Location"]
    oidc_client.delete_cookie("end_session_ref_key", path="/oauth2/end_session")
    resp = oidc_client.get(location)
    assert resp.status_code == 302
    back, params = _logout_target(resp.headers["Location"])
    assert params == {} and back == f"{ORIGIN}/oauth2/end_session"
    assert len(_sessions(oidc_app)[0]) == 1
    tampered = oidc_client.get("/oauth2/end_session", query_string={"x_end_session_ref": "AAAA" * 20})
    assert tampered.status_code == 302 and "/logout?" in tampered.headers["Location"]


def test_confirmation_on_the_logout_page_comes_back_and_redirects(oidc_client, login, oidc_app):
    login(oidc_client)
    location = oidc_client.get(
        "/oauth2/end_session",
        query_string={"id_token_hint": "garbage", "post_logout_redirect_uri": BYE, "client_id": SPA, "state": "c"},
    ).headers["Location"]
    page = oidc_client.get(location, headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert 'class="title"' in html and "Sign out" in html  # the hosted page, themed and localized
    assert "form-action 'self' http://localhost:4000" in page.headers["Content-Security-Policy"]
    assert len(_sessions(oidc_app)[0]) == 1  # a link alone signs nobody out

    forged = oidc_client.post(location, data={}, headers={"Accept": "text/html"})
    assert forged.status_code == 400 and len(_sessions(oidc_app)[0]) == 1
    csrf_token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    done = oidc_client.post(location, data={"csrf_token": csrf_token}, headers={"Accept": "text/html"})
    assert done.status_code == 302
    back = done.headers["Location"]
    assert back.startswith(f"{ORIGIN}/oauth2/end_session?")
    assert _sessions(oidc_app)[0] == []
    final = oidc_client.get(back)
    assert final.status_code == 303 and final.headers["Location"] == f"{BYE}?state=c"


def test_logout_page_never_redirects_off_the_origin(oidc_client, login):
    for target in ("https://evil.example/x", "//evil.example/x", "javascript:alert(1)", "/logout"):
        login(oidc_client)
        page = oidc_client.get("/logout", query_string={"redirect_uri": target}, headers={"Accept": "text/html"})
        csrf_token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)).group(1)
        done = oidc_client.post(
            "/logout",
            query_string={"redirect_uri": target},
            data={"csrf_token": csrf_token},
            headers={"Accept": "text/html"},
        )
        assert done.status_code == 200 and "Location" not in done.headers, target
