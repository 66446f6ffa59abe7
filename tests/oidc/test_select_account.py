"""`identification: select_account` (Authgear's "continue as"): the option of the default login and
signup_login flows over the Authentication Flow API, the hosted /authflow/v2/select_account page that
/oauth2/authorize sends a browser with an IdP session to, and the `x_` parameters of the authorization
request that reach the flow (x_authentication_flow_group)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.sessions.models import IdPSession
from tests.factories import make_user
from tests.oidc.helpers import SPA, SPA_CB, authorize_params, pkce_pair, query_of, x_ref_of

FLOWS = "/api/v1/authentication_flows"
HTML = {"Accept": "text/html"}
pytestmark = pytest.mark.embedded


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def _authorize(client: Any, **extra: str) -> Any:
    _, challenge = pkce_pair()
    return client.get("/oauth2/authorize", query_string=authorize_params(pkce=challenge, **extra))


def _create(client: Any, flow_type: str = "login", url_query: str = "") -> Any:
    return client.post(FLOWS, json={"type": flow_type, "name": "default", "url_query": url_query})


def _sessions(app: Any) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(IdPSession))


def _user_with_email(app: Any, email: str) -> Any:
    with app.app_context():
        return make_user(app.extensions["gatehouse"], email=email, password="a-long-Passw0rd!")


# -- the Authentication Flow API --------------------------------------------------------------------
def test_without_a_session_the_login_flow_offers_no_select_account(oidc_client):
    options = _create(oidc_client).get_json()["result"]["action"]["data"]["options"]
    assert options == [{"identification": "email"}, {"identification": "phone"}, {"identification": "username"}]


def test_with_a_session_select_account_comes_first_with_the_user(oidc_client, oidc_app, login):
    user = _user_with_email(oidc_app, "carol@example.com")
    login(oidc_client, user)
    result = _create(oidc_client).get_json()["result"]
    assert result["action"]["type"] == "identify"
    assert result["action"]["data"] == {
        "type": "identification_data",
        "options": [
            {"identification": "select_account", "display_name": "carol@example.com", "user_id": user.id},
            {"identification": "email"},
            {"identification": "phone"},
            {"identification": "username"},
        ],
    }


def test_choosing_select_account_finishes_and_keeps_the_session(oidc_client, oidc_app, login):
    login(oidc_client)
    before = _sessions(oidc_app)
    token = _create(oidc_client).get_json()["result"]["state_token"]
    resp = oidc_client.post(
        f"{FLOWS}/states/input", json={"state_token": token, "input": {"identification": "select_account", "index": 0}}
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["result"]["action"]["type"] == "finished"
    assert "session=" not in "".join(resp.headers.getlist("Set-Cookie"))  # no new session cookie
    assert _sessions(oidc_app) == before


def test_a_wrong_index_is_a_validation_error(oidc_client, login):
    login(oidc_client)
    token = _create(oidc_client).get_json()["result"]["state_token"]
    resp = oidc_client.post(
        f"{FLOWS}/states/input", json={"state_token": token, "input": {"identification": "select_account", "index": 1}}
    )
    assert resp.status_code == 400
    assert resp.get_json()["error"]["reason"] == "ValidationFailed"


def test_a_changed_session_is_refused(oidc_client, oidc_app, login):
    login(oidc_client)
    token = _create(oidc_client).get_json()["result"]["state_token"]
    login(oidc_client)  # another user signs in in this browser meanwhile
    resp = oidc_client.post(
        f"{FLOWS}/states/input", json={"state_token": token, "input": {"identification": "select_account", "index": 0}}
    )
    assert resp.status_code == 401
    error = resp.get_json()["error"]
    assert (error["name"], error["reason"], error["code"]) == ("Unauthorized", "SelectAccountSessionChanged", 401)
    assert error["message"] == "session no longer matches the selected account"


def test_signup_login_switches_to_login_and_finishes(oidc_client, login):
    login(oidc_client)
    token = _create(oidc_client, "signup_login").get_json()["result"]["state_token"]
    resp = oidc_client.post(
        f"{FLOWS}/states/input", json={"state_token": token, "input": {"identification": "select_account", "index": 0}}
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["result"]["action"]["type"] == "finished"


def test_prompt_login_in_the_authorization_request_hides_the_option(oidc_client, login):
    login(oidc_client)
    location = _authorize(oidc_client, prompt="login").headers["Location"]
    assert location.startswith("/login?")
    query = f"client_id={SPA}&x_ref={x_ref_of(location)}"
    options = _create(oidc_client, url_query=query).get_json()["result"]["action"]["data"]["options"]
    assert [o["identification"] for o in options] == ["email", "phone", "username"]


def test_x_sso_enabled_false_hides_the_option_and_skips_the_page(oidc_client, login):
    login(oidc_client)
    location = _authorize(oidc_client, x_sso_enabled="false").headers["Location"]
    assert location.startswith("/login?")
    query = f"client_id={SPA}&x_ref={x_ref_of(location)}"
    options = _create(oidc_client, url_query=query).get_json()["result"]["action"]["data"]["options"]
    assert [o["identification"] for o in options] == ["email", "phone", "username"]


def test_select_account_is_refused_in_other_flow_types(make_oidc_app):
    from app.config import ConfigError

    flows = {
        "signup_flows": [
            {"name": "s", "steps": [{"type": "identify", "one_of": [{"identification": "select_account"}]}]}
        ]
    }
    with pytest.raises(ConfigError, match="select_account"):
        make_oidc_app({"authentication_flow": flows})


# -- /oauth2/authorize and the hosted "continue as" page ------------------------------------------------
def test_authorize_with_a_session_shows_continue_as(oidc_client, oidc_app, login):
    _user_with_email(oidc_app, "dave@example.com")
    with oidc_app.app_context():
        from app.identities.models import User

        user = db.session.scalar(select(User).order_by(User.created_at.desc()))
    login(oidc_client, user)
    resp = _authorize(oidc_client, state="s1")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/authflow/v2/select_account?x_ref=")
    page = oidc_client.get(resp.headers["Location"], headers=HTML, follow_redirects=True)
    assert page.status_code == 200 and page.request.path == "/authflow/v2/select_account"
    html = page.get_data(as_text=True)
    assert "dave@example.com" in html
    assert 'name="x_action" value="continue"' in html and 'name="x_action" value="login"' in html

    before = _sessions(oidc_app)
    done = oidc_client.post(
        page.request.full_path,
        data={"x_action": "continue", "csrf_token": _csrf(html)},
        headers=HTML,
        follow_redirects=True,
    )
    # The finish page moves on to consent, which answers the client with a code for this user.
    consent = re.search(r'href="(http://localhost:3000/oauth2/consent\?[^"]+)"', done.get_data(as_text=True))
    assert consent, done.get_data(as_text=True)
    back = oidc_client.get(consent.group(1).replace("&amp;", "&"))
    assert back.status_code == 302 and back.headers["Location"].startswith(SPA_CB + "?")
    assert query_of(back.headers["Location"])["state"] == "s1" and "code" in query_of(back.headers["Location"])
    assert _sessions(oidc_app) == before  # the session went on as it was


def test_use_another_account_goes_to_the_login_page_with_the_request(oidc_client, login):
    login(oidc_client)
    page = oidc_client.get(_authorize(oidc_client).headers["Location"], headers=HTML, follow_redirects=True)
    resp = oidc_client.post(
        page.request.full_path,
        data={"x_action": "login", "csrf_token": _csrf(page.get_data(as_text=True))},
        headers=HTML,
    )
    assert resp.status_code == 303 and resp.headers["Location"].startswith("/login?x_ref=")


def test_a_login_hint_of_another_account_goes_straight_to_login(oidc_client, oidc_app, login):
    login(oidc_client)
    _user_with_email(oidc_app, "erin@example.com")
    hint = "https://authgear.com/login_hint?type=login_id&email=" + quote("erin@example.com")
    first = _authorize(oidc_client, login_hint=hint)
    resp = oidc_client.get(first.headers["Location"], headers=HTML)
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login?x_ref=")


def test_a_login_hint_of_the_signed_in_account_shows_continue_as(oidc_client, oidc_app, login):
    user = _user_with_email(oidc_app, "frank@example.com")
    login(oidc_client, user)
    hint = "https://authgear.com/login_hint?type=login_id&email=" + quote("frank@example.com")
    page = oidc_client.get(_authorize(oidc_client, login_hint=hint).headers["Location"], follow_redirects=True)
    assert page.request.path == "/authflow/v2/select_account"


def test_prompt_login_skips_continue_as(oidc_client, login):
    login(oidc_client)
    assert _authorize(oidc_client, prompt="login").headers["Location"].startswith("/login?")


def test_a_flow_without_select_account_goes_to_login(make_oidc_app, login):
    steps = [
        {
            "type": "identify",
            "one_of": [
                {
                    "identification": "email",
                    "steps": [{"type": "authenticate", "one_of": [{"authentication": "primary_password"}]}],
                }
            ],
        }
    ]
    app = make_oidc_app({"authentication_flow": {"login_flows": [{"name": "default", "steps": steps}]}})
    client = app.test_client()
    with app.app_context():
        from tests.oidc.helpers import new_session

        _, token = new_session(app.extensions["gatehouse"])
    from app.transport import session_cookie_name

    client.set_cookie(session_cookie_name(app.extensions["gatehouse"].config), token)
    resp = client.get(_authorize(client).headers["Location"], headers=HTML)
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login?x_ref=")


# -- x_ parameters of the authorization request reach the flow ----------------------------------------
def test_x_authentication_flow_group_sent_to_authorize_picks_the_groups_flow(make_oidc_app):
    steps = [{"type": "identify", "one_of": [{"identification": "email"}]}]
    app = make_oidc_app(
        {
            "authentication_flow": {"login_flows": [{"name": "only_email", "steps": steps}]},
            "ui": {
                "authentication_flow": {"groups": [{"name": "g1", "flows": [{"type": "login", "name": "only_email"}]}]}
            },
        }
    )
    client = app.test_client()
    location = _authorize(client, x_authentication_flow_group="g1").headers["Location"]
    assert location.startswith("/login?x_ref=") and "x_authentication_flow_group" not in location
    page = client.get(location, headers=HTML)
    assert page.status_code == 302
    assert _flow_name_of_page(app, client, page.headers["Location"]) == "only_email"
    # Without the group, the same client runs the default flow.
    other = client.get(_authorize(client).headers["Location"], headers=HTML)
    assert _flow_name_of_page(app, client, other.headers["Location"]) == "default"


def _flow_name_of_page(app: Any, client: Any, location: str) -> str:
    """The name of the flow a hosted page runs (the browser's step holds the state token)."""
    x_step = query_of(location)["x_step"]
    with client.session_transaction() as sess:
        browser_id = sess["wb"]
    with app.app_context():
        from app.web.steps import WebSteps

        step = WebSteps(app.extensions["gatehouse"].store, browser_id).load(x_step)
    resp = client.post(f"{FLOWS}/states", json={"state_token": step.state_token})
    return resp.get_json()["result"]["name"]
