"""Test mode over the Authentication Flow API, as Authgear defines its two layers.

authgear.yaml `test_mode`: `oob_otp` rules fix the code of matching targets, `email` rules with
`suppressed: true` keep their messages from being sent and from the messaging limits.
authgear.features.yaml `test_mode`: `fixed_oob_otp` fixes every code; `email.suppressed` counts the
messaging limits, then sends nothing. The OTP's own limits (cooldown, failed attempts) always apply.
Mail goes to the test SMTP server, which shows what was (not) sent.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from app.extensions import db
from app.features import validate_features
from tests.factories import random_password

FLOWS = "/api/v1/authentication_flows"
INPUT = FLOWS + "/states/input"

# Matches `qa-...@test.example.com`: the project's reserved test accounts.
RULES = {
    "test_mode": {
        "oob_otp": {"enabled": True, "rules": [{"regex": r"^qa-.*@test\.example\.com$", "fixed_code": "000000"}]},
        "email": {"enabled": True, "rules": [{"regex": r"@test\.example\.com$", "suppressed": True}]},
    }
}
# One email per IP per minute, so that a counted message shows as the next one's refusal.
ONE_EMAIL_PER_IP = {
    "messaging": {"rate_limits": {"email_per_ip": {"enabled": True, "period": "1m", "burst": 1}}},
}


def features(doc: dict[str, Any]) -> dict[str, Any]:
    return validate_features(doc)[0]


@pytest.fixture
def test_mode_app(make_app, make_config, smtp_server):
    def build(overrides: dict[str, Any] | None = None, feature_doc: dict[str, Any] | None = None):
        secrets_ = smtp_server.secrets(make_config().secrets)
        return make_app(overrides or {}, secrets=secrets_, features=features(feature_doc or {}))

    return build


def qa_address() -> str:
    return f"qa-{secrets.token_hex(4)}@test.example.com"


def start_signup(client, address: str) -> dict[str, Any]:
    token = client.post(FLOWS, json={"type": "signup", "name": "default"}).get_json()["result"]["state_token"]
    resp = client.post(INPUT, json={"state_token": token, "input": {"identification": "email", "login_id": address}})
    return resp


def send_code(client, state: str, code: str):
    return client.post(INPUT, json={"state_token": state, "input": {"code": code}})


def finish_signup(client, resp) -> dict[str, Any]:
    """After the email is verified: set a password; returns the finished flow's result."""
    result = resp.get_json()["result"]
    assert result["action"]["type"] == "create_authenticator", result
    done = client.post(
        INPUT,
        json={
            "state_token": result["state_token"],
            "input": {"authentication": "primary_password", "new_password": random_password()},
        },
    )
    assert done.status_code == 200, done.get_json()
    return done.get_json()["result"]


@pytest.mark.embedded
def test_project_rule_fixes_the_code_and_suppresses_the_mail(test_mode_app, smtp_server):
    client = test_mode_app(RULES).test_client()
    address = qa_address()
    smtp_server.clear()
    sent = start_signup(client, address)
    assert sent.status_code == 200, sent.get_json()
    result = sent.get_json()["result"]
    assert result["action"]["type"] == "verify"
    assert result["action"]["data"]["delivery_status"] == "sent"
    assert smtp_server.all_for(address) == []  # nothing sent to a suppressed target

    wrong = send_code(client, result["state_token"], "123456")
    assert wrong.status_code == 403 and wrong.get_json()["error"]["reason"] == "InvalidOTPCode"
    assert finish_signup(client, send_code(client, result["state_token"], "000000"))["action"]["type"] == "finished"


@pytest.mark.embedded
def test_a_target_outside_the_rules_gets_a_random_code_by_mail(test_mode_app, smtp_server):
    client = test_mode_app(RULES).test_client()
    address = f"someone-{secrets.token_hex(4)}@example.com"
    result = start_signup(client, address).get_json()["result"]
    code = smtp_server.last_code(address)
    refused = send_code(client, result["state_token"], "000000")
    if code != "000000":  # one in a million
        assert refused.status_code == 403 and refused.get_json()["error"]["reason"] == "InvalidOTPCode"
        resp = send_code(client, result["state_token"], code)
        assert finish_signup(client, resp)["action"]["type"] == "finished"


@pytest.mark.embedded
def test_rule_without_fixed_code_takes_the_feature_code(test_mode_app, smtp_server):
    overrides = {
        "test_mode": {"oob_otp": {"enabled": True, "rules": [{"regex": r"@test\.example\.com$"}]}},
    }
    feature_doc = {"test_mode": {"fixed_oob_otp": {"enabled": True, "code": "424242"}}}
    client = test_mode_app(overrides, feature_doc).test_client()
    address = qa_address()
    result = start_signup(client, address).get_json()["result"]
    # No email rule: the message goes out, carrying the fixed code.
    assert smtp_server.last_code(address) == "424242"
    assert finish_signup(client, send_code(client, result["state_token"], "424242"))["action"]["type"] == "finished"


@pytest.mark.embedded
def test_feature_fixed_code_applies_to_every_target_and_the_mail_is_still_sent(test_mode_app, smtp_server):
    client = test_mode_app(feature_doc={"test_mode": {"fixed_oob_otp": {"enabled": True, "code": "111111"}}})
    client = client.test_client()
    address = f"anyone-{secrets.token_hex(4)}@example.com"
    result = start_signup(client, address).get_json()["result"]
    assert smtp_server.last_code(address) == "111111"
    assert finish_signup(client, send_code(client, result["state_token"], "111111"))["action"]["type"] == "finished"


@pytest.mark.embedded
def test_login_with_email_otp_and_the_feature_fixed_code(test_mode_app, smtp_server):
    overrides = {"authentication": {"primary_authenticators": ["oob_otp_email", "password"]}}
    app = test_mode_app(overrides, {"test_mode": {"fixed_oob_otp": {"enabled": True, "code": "111111"}}})
    address = f"login-{secrets.token_hex(4)}@example.com"
    with app.app_context():
        svc = app.extensions["gatehouse"]
        user = svc.users.create_user([("email", address)])
        svc.oob.create(user.id, "email", address, "primary")
        db.session.commit()
    client = app.test_client()
    token = client.post(FLOWS, json={"type": "login", "name": "default"}).get_json()["result"]["state_token"]
    resp = client.post(INPUT, json={"state_token": token, "input": {"identification": "email", "login_id": address}})
    assert resp.status_code == 200, resp.get_json()
    result = resp.get_json()["result"]
    assert result["action"]["type"] == "authenticate", result
    resp = client.post(
        INPUT,
        json={"state_token": result["state_token"], "input": {"authentication": "primary_oob_otp_email", "index": 0}},
    )
    assert resp.status_code == 200, resp.get_json()
    result = resp.get_json()["result"]
    assert smtp_server.last_code(address) == "111111"
    done = send_code(client, result["state_token"], "111111")
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["result"]["action"]["type"] == "finished"


@pytest.mark.embedded
def test_feature_suppression_sends_nothing_but_counts_the_messaging_limits(test_mode_app, smtp_server):
    app = test_mode_app(ONE_EMAIL_PER_IP, {"test_mode": {"email": {"suppressed": True}}})
    client = app.test_client()
    first, second = qa_address(), f"other-{secrets.token_hex(4)}@example.com"
    smtp_server.clear()
    assert start_signup(client, first).status_code == 200
    refused = start_signup(client, second)
    assert refused.status_code == 429, refused.get_json()
    assert refused.get_json()["error"]["info"]["bucket_name"] == "MessagingEmailPerIP"
    assert smtp_server.all_for(first) == [] and smtp_server.all_for(second) == []


@pytest.mark.embedded
def test_rule_suppression_skips_the_messaging_limits(test_mode_app, smtp_server):
    client = test_mode_app({**RULES, **ONE_EMAIL_PER_IP}).test_client()
    for _ in range(3):  # each would be the second email of the minute from this IP
        assert start_signup(client, qa_address()).status_code == 200
    # A target outside the rules is counted: the first one passes, the next is refused.
    assert start_signup(client, f"real-{secrets.token_hex(4)}@example.com").status_code == 200
    refused = start_signup(client, f"real-{secrets.token_hex(4)}@example.com")
    assert refused.status_code == 429
    assert refused.get_json()["error"]["info"]["bucket_name"] == "MessagingEmailPerIP"


@pytest.mark.embedded
def test_fixed_codes_keep_the_resend_cooldown_and_the_failed_attempt_limit(test_mode_app):
    client = test_mode_app(RULES).test_client()
    result = start_signup(client, qa_address()).get_json()["result"]
    state = result["state_token"]
    resend = client.post(INPUT, json={"state_token": state, "input": {"resend": True}})
    assert resend.status_code == 429, resend.get_json()
    assert resend.get_json()["error"]["info"]["bucket_name"] == "VerificationCooldownEmail"
    for _ in range(4):
        assert send_code(client, state, "999999").get_json()["error"]["reason"] == "InvalidOTPCode"
    fifth = send_code(client, state, "999999")
    assert fifth.status_code == 429 and fifth.get_json()["error"]["reason"] == "RateLimited"
    # The fixed code is revoked like any other once the limit is reached.
    assert send_code(client, state, "000000").status_code == 429
