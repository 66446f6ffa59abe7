"""Admin mutations that message the user: `sendPassword` on createUser / resetPassword, and
sendResetPasswordMessage. Email goes to the real test SMTP server, SMS to the test webhook; the user
then signs in (or completes account recovery) through /api/v1/authentication_flows."""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

import pytest
from flask import Flask

from app.extensions import db
from app.identities.models import Identity
from tests.admin.conftest import error_of, gid, ok
from tests.factories import make_user, random_password

FLOWS = "/api/v1/authentication_flows"
CREATE_USER = "mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } } }"
RESET_PASSWORD = "mutation($input: ResetPasswordInput!) { resetPassword(input: $input) { user { id } } }"
SEND_RESET = "mutation($input: SendResetPasswordMessageInput!) { sendResetPasswordMessage(input: $input) }"
_PASSWORD_LINE = re.compile(r"^    (\S+)\r?$", re.MULTILINE)  # the indented line of the plain-text body


@pytest.fixture
def app(make_app: Any, smtp_server: Any, sms_webhook: Any, secrets_items: list[dict[str, Any]]) -> Flask:
    """The test app with mail going to `smtp_server` and SMS to `sms_webhook`."""
    secrets = smtp_server.secrets({i["key"]: i["data"] for i in secrets_items})
    return make_app(secrets={**secrets, **sms_webhook.secret})


def address() -> str:
    return f"msg-{secrets.token_hex(6)}@example.com"


def mailed_password(smtp_server: Any, to: str) -> str:
    msg = smtp_server.wait_for(to)
    assert "your new password" in msg["Subject"]
    text = msg.get_body(preferencelist=("plain",)).get_content()
    assert "An administrator set a password for your" in text
    found = _PASSWORD_LINE.search(text)
    assert found, text
    password = found.group(1)
    assert password in msg.get_body(preferencelist=("html",)).get_content().replace("&amp;", "&")
    return password


def flow_input(client: Any, token: str, inp: dict[str, Any]) -> Any:
    return client.post(f"{FLOWS}/states/input", json={"state_token": token, "input": inp})


def login(client: Any, identification: str, login_id: str, password: str) -> dict[str, Any]:
    """The last response body of a login flow: `result` (finished) or `error`."""
    created = client.post(FLOWS, json={"type": "login", "name": "default"}).get_json()
    token = created["result"]["state_token"]
    identified = flow_input(client, token, {"identification": identification, "login_id": login_id}).get_json()
    token = identified["result"]["state_token"]
    return flow_input(client, token, {"authentication": "primary_password", "password": password}).get_json()


def signs_in(client: Any, identification: str, login_id: str, password: str) -> bool:
    body = login(client, identification, login_id, password)
    if "error" in body:
        assert body["error"]["reason"] == "InvalidCredentials", body
        return False
    assert body["result"]["action"]["type"] == "finished", body
    return True


def test_create_user_mails_the_generated_password_which_signs_in(gql, client, smtp_server, caplog):
    email = address()
    caplog.set_level(logging.DEBUG)
    body = gql(
        CREATE_USER,
        input={"definition": {"loginID": {"key": "email", "value": email}}, "password": "", "sendPassword": True},
    )
    assert ok(body)["createUser"]["user"]["id"]
    password = mailed_password(smtp_server, email)
    assert len(password) >= 16
    assert password not in caplog.text
    assert signs_in(client, "email", email, password)


def test_create_user_mails_a_given_password(gql, client, smtp_server):
    email, password = address(), random_password()
    body = gql(
        CREATE_USER,
        input={"definition": {"loginID": {"key": "email", "value": email}}, "password": password, "sendPassword": True},
    )
    ok(body)
    assert mailed_password(smtp_server, email) == password
    assert signs_in(client, "email", email, password)


def test_reset_password_mails_the_new_password_and_the_old_one_stops_working(gql, client, svc, smtp_server, caplog):
    email, old = address(), random_password()
    user = make_user(svc, email=email, password=old)
    caplog.set_level(logging.DEBUG)
    ok(gql(RESET_PASSWORD, input={"userID": gid("User", user.id), "sendPassword": True}))
    new = mailed_password(smtp_server, email)
    assert new != old and new not in caplog.text
    assert not signs_in(client, "email", email, old)
    assert signs_in(client, "email", email, new)


def test_a_phone_only_user_gets_the_password_by_sms(gql, client, sms_webhook):
    phone, password = "+85291234567", random_password()
    body = gql(
        CREATE_USER,
        input={"definition": {"loginID": {"key": "phone", "value": phone}}, "password": password, "sendPassword": True},
    )
    ok(body)
    sms = sms_webhook.wait_for(phone)
    assert sms["template"] == "send_password"
    assert password in sms["body"]
    assert signs_in(client, "phone", phone, password)


def test_a_user_without_email_or_phone_gets_an_error_and_nothing_changes(gql, client, svc, smtp_server):
    created = gql(
        CREATE_USER,
        input={
            "definition": {"loginID": {"key": "username", "value": "nomail"}},
            "password": random_password(),
            "sendPassword": True,
        },
    )
    assert error_of(created) == {"errorName": "Invalid", "reason": "SendPasswordNoTarget"}
    assert created["data"] is None
    db.session.remove()
    assert svc.users.find_identity("username", "nomail") is None  # rolled back

    old = random_password()
    user = svc.users.create_user([("username", "onlyname")])
    svc.passwords.create(user.id, old)
    db.session.commit()
    reset = gql(RESET_PASSWORD, input={"userID": gid("User", user.id), "sendPassword": True})
    assert error_of(reset) == {"errorName": "Invalid", "reason": "SendPasswordNoTarget"}
    assert signs_in(client, "username", "onlyname", old)


def recover(client: Any, email: str, code: str, new_password: str) -> dict[str, Any]:
    """account_recovery through the API with `code`; the body after the new password."""
    token = client.post(FLOWS, json={"type": "account_recovery", "name": "default"}).get_json()["result"]["state_token"]
    body = flow_input(client, token, {"identification": "email", "login_id": email}).get_json()
    assert body["result"]["action"]["type"] == "select_destination", body
    body = flow_input(client, body["result"]["state_token"], {"index": 0}).get_json()
    assert body["result"]["action"]["type"] == "verify_account_recovery_code", body
    token = body["result"]["state_token"]
    # Within the cooldown of the administrator's message, a resend is still refused.
    resend = flow_input(client, token, {"resend": True}).get_json()
    assert resend["error"]["reason"] == "RateLimited", resend
    body = flow_input(client, token, {"account_recovery_code": code}).get_json()
    assert body["result"]["action"]["type"] == "reset_password", body
    return flow_input(client, body["result"]["state_token"], {"new_password": new_password}).get_json()


def test_send_reset_password_message_mails_a_code_that_completes_account_recovery(gql, client, svc, smtp_server):
    email, old, new = address(), random_password(), random_password()
    user = make_user(svc, email=email, password=old)
    identity_id = svc.users.identities_of(user.id, "login_id")[0].id
    assert ok(gql(SEND_RESET, input={"loginID": gid("Identity", identity_id)})) == {"sendResetPasswordMessage": True}
    msg = smtp_server.wait_for(email)
    assert "reset your password" in msg["Subject"]
    # A reset link, as Authgear sends (tests/links/test_recovery_links.py opens it without a state token).
    found = re.search(r"/authflow/v2/reset_password\?code=([A-Z2-7]{32})", msg.get_body(("plain",)).get_content())
    assert found
    code = found.group(1)

    # An administrator asking again inside the cooldown gets the rate-limit error; no second mail.
    again = gql(SEND_RESET, input={"loginID": gid("Identity", identity_id)})
    assert error_of(again)["errorName"] == "TooManyRequest" and error_of(again)["reason"] == "RateLimited"

    finished = recover(client, email, code, new)
    assert finished["result"]["action"]["type"] == "finished", finished
    assert len(smtp_server.all_for(email)) == 1  # the flow used the administrator's code, sent nothing more
    assert not signs_in(client, "email", email, old)
    assert signs_in(client, "email", email, new)


def test_send_reset_password_message_to_a_phone_texts_the_code(gql, svc, sms_webhook):
    phone = "+85261234567"
    user = make_user(svc, phone=phone)
    phone_identity = next(i for i in svc.users.identities_of(user.id) if i.login_id_type == "phone")
    assert ok(gql(SEND_RESET, input={"loginID": gid("Identity", phone_identity.id)}))["sendResetPasswordMessage"]
    sms = sms_webhook.wait_for(phone)
    assert sms["template"] == "account_recovery"
    assert re.search(r"\b\d{6}\b", sms["body"])


def test_send_reset_password_message_refuses_what_is_not_an_email_or_phone_login_id(gql, svc, smtp_server):
    email = address()
    user = make_user(svc, email=email, username=f"u{secrets.token_hex(4)}")
    oauth = Identity(
        user_id=user.id,
        type="oauth",
        dedup_key=f"oauth:google:{secrets.token_hex(4)}",
        provider_type="google",
        provider_alias="google",
        provider_subject_id="42",
        claims={"email": "g@example.com"},
    )
    db.session.add(oauth)
    db.session.commit()
    username = next(i for i in svc.users.identities_of(user.id) if i.login_id_type == "username")
    cases = {
        "not-an-id": "Invalid",
        gid("User", user.id): "Invalid",
        gid("Identity", "00000000-0000-4000-8000-000000000000"): "IdentityNotFound",
        gid("Identity", oauth.id): "Invalid",
        gid("Identity", username.id): "Invalid",
    }
    for login_id, reason in cases.items():
        body = gql(SEND_RESET, input={"loginID": login_id})
        assert body["data"] == {"sendResetPasswordMessage": None}, body
        assert error_of(body)["reason"] == reason, (login_id, body)
    assert smtp_server.all_for(email) == []
