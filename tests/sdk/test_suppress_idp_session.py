"""`x_suppress_idp_session_cookie=true` (and `x_sso_enabled=false`) on /oauth2/authorize: the login
makes no IdP session and the browser gets no `session` cookie, as in Authgear; consent issues the code
from the login the flow handed over (app/flows/sessionless.py)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from app.extensions import db
from app.sessions.models import IdPSession
from app.transport import session_cookie_name
from tests.factories import make_user, random_password
from tests.oidc.helpers import NO_REFRESH, SPA, SPA_CB, authorize_params, exchange, new_session, pkce_pair, query_of

FLOWS = "/api/v1/authentication_flows"


def _user(app: Any) -> tuple[str, str, str]:
    password = random_password()
    with app.app_context():
        user = make_user(app.extensions["gatehouse"], password=password)
        return user.id, user.identities[0].login_id, password


def _login(client: Any, location: str, email: str, password: str) -> Any:
    body = {
        "type": "login",
        "name": "default",
        "url_query": urlsplit(location).query,
        "batch_input": [
            {"identification": "email", "login_id": email},
            {"authentication": "primary_password", "password": password},
        ],
    }
    return client.post(FLOWS, json=body)


def _session_cookies(resp: Any, app: Any) -> list[str]:
    name = session_cookie_name(app.extensions["gatehouse"].config)
    return [h for h in resp.headers.getlist("Set-Cookie") if h.startswith(name + "=")]


def _count_sessions(app: Any, user_id: str) -> int:
    with app.app_context():
        return db.session.query(IdPSession).filter_by(user_id=user_id).count()


@pytest.mark.parametrize("flag", [{"x_suppress_idp_session_cookie": "true"}, {"x_sso_enabled": "false"}])
def test_login_sets_no_session_cookie_and_issues_tokens(sdk_app, flag):
    client = sdk_app.test_client()
    user_id, email, password = _user(sdk_app)
    verifier, challenge = pkce_pair()
    params = authorize_params(SPA, SPA_CB, scope="openid offline_access", pkce=challenge, **flag)
    location = client.get("/oauth2/authorize", query_string=params).headers["Location"]
    assert location.startswith("/login?")

    resp = _login(client, location, email, password)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    action = resp.get_json()["result"]["action"]
    assert action["type"] == "finished"
    assert _session_cookies(resp, sdk_app) == []
    assert _count_sessions(sdk_app, user_id) == 0

    done = client.get(action["data"]["finish_redirect_uri"])
    assert done.status_code == 302, done.get_data(as_text=True)
    assert _session_cookies(done, sdk_app) == []
    code = query_of(done.headers["Location"])["code"]
    token = exchange(client, code, verifier)
    assert token.status_code == 200, token.get_data(as_text=True)
    body = token.get_json()
    assert body["refresh_token"] and body["id_token"]
    info = client.get("/oauth2/userinfo", headers={"Authorization": "Bearer " + body["access_token"]})
    assert info.get_json()["sub"] == user_id

    # The pending request is used up; the browser still holds no session: a new request logs in again.
    assert client.get(action["data"]["finish_redirect_uri"]).status_code != 302
    again = client.get("/oauth2/authorize", query_string=authorize_params(SPA, SPA_CB, pkce=challenge))
    assert again.headers["Location"].startswith("/login?")


def test_without_offline_access_the_code_still_buys_an_access_token(sdk_app):
    client = sdk_app.test_client()
    user_id, email, password = _user(sdk_app)
    verifier, challenge = pkce_pair()
    params = authorize_params(NO_REFRESH, SPA_CB, scope="openid", pkce=challenge, x_suppress_idp_session_cookie="true")
    location = client.get("/oauth2/authorize", query_string=params).headers["Location"]
    action = _login(client, location, email, password).get_json()["result"]["action"]
    done = client.get(action["data"]["finish_redirect_uri"])
    token = exchange(client, query_of(done.headers["Location"])["code"], verifier, client_id=NO_REFRESH)
    assert token.status_code == 200, token.get_data(as_text=True)
    assert "refresh_token" not in token.get_json()
    info = client.get("/oauth2/userinfo", headers={"Authorization": "Bearer " + token.get_json()["access_token"]})
    assert info.get_json()["sub"] == user_id


def test_existing_cookie_is_neither_used_nor_replaced(sdk_app):
    client = sdk_app.test_client()
    with sdk_app.app_context():
        other, cookie = new_session(sdk_app.extensions["gatehouse"])
        other_id = other.id
    name = session_cookie_name(sdk_app.extensions["gatehouse"].config)
    client.set_cookie(name, cookie)
    user_id, email, password = _user(sdk_app)
    verifier, challenge = pkce_pair()
    params = authorize_params(
        SPA, SPA_CB, scope="openid offline_access", pkce=challenge, x_suppress_idp_session_cookie="true"
    )
    location = client.get("/oauth2/authorize", query_string=params).headers["Location"]
    assert location.startswith("/login?")  # no "continue as" with the cookie's session
    resp = _login(client, location, email, password)
    action = resp.get_json()["result"]["action"]
    assert _session_cookies(resp, sdk_app) == []
    done = client.get(action["data"]["finish_redirect_uri"])
    token = exchange(client, query_of(done.headers["Location"])["code"], verifier).get_json()
    info = client.get("/oauth2/userinfo", headers={"Authorization": "Bearer " + token["access_token"]})
    assert info.get_json()["sub"] == user_id != other_id
    assert client.get_cookie(name).value == cookie
