"""Login links (`email_otp_mode: login_link`) over the Flow API and the verify_login_link page: the mail
links to /authflow/v2/verify_login_link; confirming it there, in another browser, approves the waiting
flow, which then goes on with `{"check": true}`. Single use, expiring, rate limited. Mail goes through
the tests' real SMTP server."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.factories import make_user, random_email

FLOWS = "/api/v1/authentication_flows"
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}
LINK_PROJECT = {
    "authentication": {"primary_authenticators": ["oob_otp_email"]},
    "authenticator": {"oob_otp": {"email": {"email_otp_mode": "login_link"}}},
}


def _input(client: Any, state: str, inp: dict[str, Any]) -> Any:
    return client.post(f"{FLOWS}/states/input", json={"state_token": state, "input": inp})


def _start_login(client: Any, address: str) -> dict[str, Any]:
    created = client.post(FLOWS, json={"type": "login", "name": "default"}).get_json()["result"]
    identified = _input(client, created["state_token"], {"identification": "email", "login_id": address})
    assert identified.status_code == 200, identified.get_json()
    result = identified.get_json()["result"]
    option = result["action"]["data"]["options"][0]
    assert option["authentication"] == "primary_oob_otp_email" and option["otp_form"] == "link"
    sent = _input(client, result["state_token"], {"authentication": "primary_oob_otp_email", "index": 0})
    assert sent.status_code == 200, sent.get_json()
    return sent.get_json()["result"]


def _link(smtp_server: Any, address: str) -> str:
    msg = smtp_server.wait_for(address)
    text = msg.get_body(("plain",)).get_content()
    found = re.search(r"https?://\S+/authflow/v2/verify_login_link\?code=\S+", text)
    assert found, text
    html = msg.get_body(("html",)).get_content()
    assert found.group(0).replace("&", "&amp;") in html
    return found.group(0)


def _path(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


@pytest.fixture
def link_app(flow_app: Any) -> Any:
    return flow_app(LINK_PROJECT)


@pytest.fixture
def user(link_app: Any) -> str:
    address = random_email()
    with link_app.app_context():
        make_user(link_app.extensions["gatehouse"], email=address)
    return address


def test_a_login_link_approved_in_another_browser_signs_in(link_app, user, smtp_server):
    client = link_app.test_client()
    result = _start_login(client, user)
    data = result["action"]["data"]
    assert data["type"] == "verify_oob_otp_data"
    assert (data["otp_form"], data["code_length"], data["can_check"], data["delivery_status"]) == (
        "link",
        32,
        False,
        "sent",
    )
    link = _link(smtp_server, user)
    code = parse_qs(urlsplit(link).query)["code"][0]
    assert len(code) == 32

    # Before the link is opened there is nothing to check.
    early = _input(client, result["state_token"], {"check": True})
    assert early.status_code == 403 and early.get_json()["error"]["reason"] == "InvalidOTPCode"
    # A code is not an input of a link step.
    assert _input(client, result["state_token"], {"code": "123456"}).status_code == 400

    other = link_app.test_client()  # another browser: no cookies of the flow
    page = other.get(_path(link))
    assert page.status_code == 200 and 'name="x_oob_otp_code"' in page.get_data(as_text=True)
    # Fetching the link (a mail scanner) approves nothing.
    state = client.post(f"{FLOWS}/states", json={"state_token": result["state_token"]})
    assert state.get_json()["result"]["action"]["data"]["can_check"] is False

    approved = other.post("/authflow/v2/verify_login_link", data={"x_oob_otp_code": code}, headers=SAME_ORIGIN)
    assert approved.status_code == 303
    assert parse_qs(urlsplit(approved.location).query)["state"] == ["matched"]
    assert "Continue on the page where you asked for the link" in other.get(approved.location).get_data(as_text=True)

    state = client.post(f"{FLOWS}/states", json={"state_token": result["state_token"]}).get_json()["result"]
    assert state["action"]["data"]["can_check"] is True
    done = _input(client, state["state_token"], {"check": True})
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["result"]["action"]["type"] == "finished"

    # Single use: the link is spent.
    again = other.post("/authflow/v2/verify_login_link", data={"x_oob_otp_code": code}, headers=SAME_ORIGIN)
    assert parse_qs(urlsplit(again.location).query)["state"] == ["invalid_code"]


def test_unknown_and_expired_links_are_invalid(flow_app, smtp_server):
    app = flow_app(
        {
            **LINK_PROJECT,
            "authenticator": {"oob_otp": {"email": {"email_otp_mode": "login_link", "valid_periods": {"link": "1s"}}}},
        }
    )
    address = random_email()
    with app.app_context():
        make_user(app.extensions["gatehouse"], email=address)
    client = app.test_client()
    unknown = client.get("/authflow/v2/verify_login_link?code=NOTACODE")
    assert unknown.status_code == 303 and "state=invalid_code" in unknown.location
    page = client.get(unknown.location).get_data(as_text=True)
    assert "This link is invalid, has expired or has already been used." in page

    _start_login(client, address)
    link = _link(smtp_server, address)
    time.sleep(1.2)
    expired = client.get(_path(link))
    assert expired.status_code == 303 and "state=invalid_code" in expired.location


def test_opening_links_is_rate_limited_per_ip(flow_app):
    project = {
        **LINK_PROJECT,
        "authentication": {
            **LINK_PROJECT["authentication"],
            "rate_limits": {"oob_otp": {"email": {"validate_per_ip": {"enabled": True, "period": "1m", "burst": 2}}}},
        },
    }
    client = flow_app(project).test_client()
    for _ in range(2):
        assert client.get("/authflow/v2/verify_login_link?code=GUESS").status_code == 303
    limited = client.get("/authflow/v2/verify_login_link?code=GUESS")
    assert limited.status_code == 200 and "Too many attempts" in limited.get_data(as_text=True)


def test_a_link_resend_waits_for_the_cooldown_as_a_code_does(link_app, user, smtp_server):
    client = link_app.test_client()
    result = _start_login(client, user)
    _link(smtp_server, user)
    # The resend cooldown (1 minute) applies to links as to codes.
    too_soon = _input(client, result["state_token"], {"resend": True})
    assert too_soon.status_code == 429
