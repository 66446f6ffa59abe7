"""The seam between the OIDC provider and the flow engine, end to end on a live server: authlib's
client as the relying party, and the login done through /api/v1/authentication_flows with the query
the login UI received (`url_query`), exactly as a custom UI written for Authgear does."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from authlib.integrations.requests_client import OAuth2Session

from tests.factories import random_password
from tests.oidc.helpers import CUSTOM_UI, SPA, SPA_CB, query_of
from tests.oidc.rp import Browser, discover, verify_id_token

FLOWS = "/api/v1/authentication_flows"


def _login_through_flow_api(browser: Browser, url_query: str, email: str, password: str) -> str:
    """Runs the login flow in the browser's cookie jar; returns finish_redirect_uri."""
    base = browser.server.url
    body = {
        "type": "login",
        "name": "default",
        "url_query": url_query,
        "batch_input": [
            {"identification": "email", "login_id": email},
            {"authentication": "primary_password", "password": password},
        ],
    }
    resp = browser.http.post(base + FLOWS, json=body, timeout=10)
    assert resp.status_code == 200, resp.text
    action = resp.json()["result"]["action"]
    assert action["type"] == "finished"
    assert "session" in browser.http.cookies.get_dict()
    return action["data"]["finish_redirect_uri"]


def _user(server, password):
    from app.extensions import db
    from tests.factories import make_user

    with server.app.app_context():
        user = make_user(server.app.extensions["gatehouse"], password=password)
        email = user.identities[0].login_id
        db.session.commit()
        return user.id, email


@pytest.mark.parametrize("client_id", [SPA, CUSTOM_UI])
def test_authorize_login_by_flow_api_then_token(live_server, client_id):
    password = random_password()
    user_id, email = _user(live_server, password)
    meta = discover(live_server)
    browser = Browser(live_server)
    rp = OAuth2Session(client_id, redirect_uri=SPA_CB, scope="openid offline_access", code_challenge_method="S256")
    verifier = "flow-api-verifier-" + "z" * 40
    url, state = rp.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce="n-flow")

    start = browser.start(url)
    assert start.status_code == 302
    login_ui = start.headers["Location"]
    if client_id == CUSTOM_UI:
        assert login_ui.startswith("https://login.example.com/start?")
        assert query_of(login_ui)["theme"] == "blue"
    else:
        assert login_ui.startswith("/login?")
    url_query = urlsplit(login_ui).query
    assert "x_ref" in query_of(login_ui)

    finish = _login_through_flow_api(browser, url_query, email, password)
    assert finish.startswith(live_server.url + "/oauth2/consent?")
    back = browser.http.get(finish, allow_redirects=False)
    assert back.status_code == 302
    callback = back.headers["Location"]
    assert callback.startswith(SPA_CB) and query_of(callback)["state"] == state

    token = rp.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    claims = verify_id_token(live_server, token["id_token"], client_id, nonce="n-flow").claims
    assert claims["sub"] == user_id
    assert "pwd" in claims.get("amr", [])
    assert rp.get(meta["userinfo_endpoint"]).json()["sub"] == user_id


def test_a_finished_flow_cannot_be_replayed_into_a_second_code(live_server):
    password = random_password()
    _, email = _user(live_server, password)
    meta = discover(live_server)
    browser = Browser(live_server)
    rp = OAuth2Session(SPA, redirect_uri=SPA_CB, scope="openid", code_challenge_method="S256")
    url, _ = rp.create_authorization_url(meta["authorization_endpoint"], code_verifier="v" * 50)
    login_ui = browser.start(url).headers["Location"]
    finish = _login_through_flow_api(browser, urlsplit(login_ui).query, email, password)
    first = browser.http.get(finish, allow_redirects=False)
    assert first.status_code == 302 and "code=" in first.headers["Location"]
    second = browser.http.get(finish, allow_redirects=False)
    assert "code=" not in second.headers.get("Location", "")
