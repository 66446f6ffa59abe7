"""Account recovery by link, Authgear's default for email: the mail links to
/authflow/v2/reset_password?code=...; the Flow API's input without a state token,
`{"account_recovery_code": code}`, opens a new flow at the new password; opening the link uses
nothing up, setting the password does. Unknown addresses answer as known ones and get no mail."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.factories import make_user, random_email, random_password

FLOWS = "/api/v1/authentication_flows"
INPUT = FLOWS + "/states/input"


def _input(client: Any, state: str, inp: dict[str, Any], ip: str = "10.60.0.1") -> Any:
    return client.post(INPUT, json={"state_token": state, "input": inp}, environ_base={"REMOTE_ADDR": ip})


def _no_token(client: Any, inp: dict[str, Any], ip: str = "10.60.0.1") -> Any:
    return client.post(INPUT, json={"input": inp}, environ_base={"REMOTE_ADDR": ip})


def _to_link_sent(client: Any, email: str, ip: str = "10.60.0.1") -> dict[str, Any]:
    created = client.post(FLOWS, json={"type": "account_recovery", "name": "default"}, environ_base={"REMOTE_ADDR": ip})
    token = created.get_json()["result"]["state_token"]
    identified = _input(client, token, {"identification": "email", "login_id": email}, ip)
    assert identified.status_code == 200, identified.get_json()
    result = identified.get_json()["result"]
    assert result["action"]["type"] == "select_destination"
    option = result["action"]["data"]["options"][0]
    assert (option["channel"], option["otp_form"]) == ("email", "link")
    sent = _input(client, result["state_token"], {"index": 0}, ip)
    assert sent.status_code == 200, sent.get_json()
    return sent.get_json()["result"]


def _link(smtp_server: Any, address: str) -> str:
    msg = smtp_server.wait_for(address)
    assert "reset your password" in msg["Subject"]
    text = msg.get_body(("plain",)).get_content()
    found = re.search(r"https?://\S+/authflow/v2/reset_password\?code=\S+", text)
    assert found, text
    assert found.group(0).replace("&", "&amp;") in msg.get_body(("html",)).get_content()
    return found.group(0)


def _code(link: str) -> str:
    return parse_qs(urlsplit(link).query)["code"][0]


@pytest.fixture
def user(flow_app: Any) -> tuple[Any, str, str]:
    app = flow_app()
    address, password = random_email(), random_password()
    with app.app_context():
        make_user(app.extensions["gatehouse"], email=address, password=password)
    return app, address, password


def _can_sign_in(client: Any, address: str, password: str) -> bool:
    created = client.post(FLOWS, json={"type": "login", "name": "default"}).get_json()["result"]
    identified = _input(client, created["state_token"], {"identification": "email", "login_id": address})
    token = identified.get_json()["result"]["state_token"]
    done = _input(client, token, {"authentication": "primary_password", "password": password})
    return done.status_code == 200 and done.get_json()["result"]["action"]["type"] == "finished"


def test_the_default_recovery_link_resets_the_password_without_a_state_token(user, smtp_server):
    app, address, old = user
    client = app.test_client()
    result = _to_link_sent(client, address)
    data = result["action"]["data"]
    assert result["action"]["type"] == "verify_account_recovery_code"
    assert data["type"] == "account_recovery_verify_code_data"
    assert (data["channel"], data["otp_form"], data["code_length"]) == ("email", "link", 32)
    code = _code(_link(smtp_server, address))
    assert len(code) == 32

    # Opening the link twice (a mail scanner first) leaves it working.
    for _ in range(2):
        opened = _no_token(app.test_client(), {"account_recovery_code": code})
        assert opened.status_code == 200, opened.get_json()
        body = opened.get_json()["result"]
        assert (body["type"], body["name"]) == ("account_recovery", "default")
        assert body["action"]["type"] == "reset_password"
        assert body["action"]["data"]["type"] == "new_password_data"
        assert body["action"]["data"]["masked_target"].endswith("@example.com")

    new = random_password()
    done = _input(client, body["state_token"], {"new_password": new})
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["result"]["action"]["type"] == "finished"
    assert _can_sign_in(client, address, new) and not _can_sign_in(client, address, old)

    # Used: the link answers as Authgear's forgotpassword does.
    used = _no_token(client, {"account_recovery_code": code})
    assert used.status_code == 400
    error = used.get_json()["error"]
    assert (error["name"], error["reason"], error["info"]["cause"]["kind"]) == (
        "Invalid",
        "PasswordResetFailed",
        "UsedCode",
    )


def test_the_link_code_also_works_in_the_flow_that_sent_it(user, smtp_server):
    app, address, _ = user
    client = app.test_client()
    result = _to_link_sent(client, address)
    code = _code(_link(smtp_server, address))
    verified = _input(client, result["state_token"], {"account_recovery_code": code})
    assert verified.status_code == 200, verified.get_json()
    assert verified.get_json()["result"]["action"]["type"] == "reset_password"
    new = random_password()
    done = _input(client, verified.get_json()["result"]["state_token"], {"new_password": new})
    assert done.get_json()["result"]["action"]["type"] == "finished"
    assert _can_sign_in(client, address, new)


def test_a_refused_password_leaves_the_link_working_and_a_new_link_replaces_it(flow_app, smtp_server):
    app = flow_app({"authenticator": {"password": {"policy": {"min_length": 20}}}})
    address = random_email()
    with app.app_context():
        make_user(app.extensions["gatehouse"], email=address, password="Pw-" + "x" * 20)
    client = app.test_client()
    _to_link_sent(client, address)
    code = _code(_link(smtp_server, address))
    opened = _no_token(client, {"account_recovery_code": code}).get_json()["result"]
    short = _input(client, opened["state_token"], {"new_password": "short"})
    assert short.status_code == 400 and short.get_json()["error"]["reason"] == "PasswordPolicyViolated"
    again = _no_token(client, {"account_recovery_code": code})
    assert again.status_code == 200, again.get_json()

    # A second flow's link (after the cooldown) replaces the first.
    with app.app_context():
        svc = app.extensions["gatehouse"]
        svc.otp.allow_resend("account_recovery", "email", address)
    smtp_server.clear()
    _to_link_sent(client, address, ip="10.60.0.2")
    newer = _code(_link(smtp_server, address))
    assert newer != code
    old = _no_token(client, {"account_recovery_code": code})
    assert old.get_json()["error"]["info"]["cause"]["kind"] == "InvalidCode"
    assert _no_token(client, {"account_recovery_code": newer}).status_code == 200


def test_unknown_and_wrong_codes_without_a_state_token(flow_app):
    app = flow_app()
    client = app.test_client()
    for inp in ({"account_recovery_code": "A" * 32}, {"account_recovery_code": ""}):
        resp = _no_token(client, inp)
        assert resp.status_code == 400
        assert resp.get_json()["error"]["reason"] == "PasswordResetFailed"
    # Any other input without a state token finds no flow, as in Authgear.
    other = _no_token(client, {"identification": "email", "login_id": "a@example.com"})
    assert other.status_code == 404 and other.get_json()["error"]["reason"] == "AuthenticationFlowNotFound"


def test_an_unknown_address_reads_as_a_known_one_and_gets_nothing(user, smtp_server):
    app, known, _ = user
    unknown = random_email()
    client = app.test_client()
    answers = {}
    for i, address in enumerate((known, unknown)):
        data = dict(_to_link_sent(client, address, ip=f"10.61.{i}.1")["action"]["data"])
        data.pop("can_resend_at")
        data.pop("masked_display_name")
        answers[address] = data
    assert answers[known] == answers[unknown]
    assert smtp_server.all_for(known) and not smtp_server.all_for(unknown)
    # The unknown address's stored link was never sent, so it cannot be used even if guessed.
    with app.app_context():
        svc = app.extensions["gatehouse"]
        record = svc.otp._load("account_recovery", unknown)
    assert record["form"] == "link" and not record["meta"]["user_id"]


def test_the_mail_uses_the_link_validity_period(flow_app, smtp_server):
    app = flow_app({"forgot_password": {"valid_periods": {"link": "45m"}}})
    address = random_email()
    with app.app_context():
        make_user(app.extensions["gatehouse"], email=address, password=random_password())
    _to_link_sent(app.test_client(), address)
    text = smtp_server.wait_for(address).get_body(("plain",)).get_content()
    assert "45 minutes" in text


def test_the_reset_page_opened_from_the_link(user, smtp_server):
    app, address, _ = user
    client = app.test_client()
    _to_link_sent(client, address)
    link = _link(smtp_server, address)
    parts = urlsplit(link)
    browser = app.test_client()  # another browser, with nothing but the link
    opened = browser.get(f"{parts.path}?{parts.query}")
    assert opened.status_code == 302
    assert opened.headers["Location"].startswith("/authflow/v2/reset_password?x_step=")
    page = browser.get(opened.headers["Location"])
    assert page.status_code == 200 and "Choose a new password" in page.get_data(as_text=True)
    new = random_password()
    done = browser.post(
        opened.headers["Location"],
        data={"x_new_password": new, "x_confirm_password": new},
        headers={"Sec-Fetch-Site": "same-origin"},
    )
    assert done.status_code == 303 and "/authflow/v2/reset_password/success" in done.headers["Location"]
    assert _can_sign_in(client, address, new)
    again = browser.get(f"{parts.path}?{parts.query}")
    assert again.status_code == 400 and "already used" in again.get_data(as_text=True)
    wrong = browser.get("/authflow/v2/reset_password?code=" + "B" * 32)
    assert wrong.status_code == 400 and "incorrect or has expired" in wrong.get_data(as_text=True)
