"""Account recovery tells nothing about whether an address has an account: for a known and an
unknown email the flow API answers with the same action data (`can_resend_at` one cooldown away
for both), the same 429 on an early resend and the same refusals of wrong codes, up to the
revocation after 5 of them. Only the known address receives a message."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from app.extensions import db
from tests.factories import random_password

FLOWS = "/api/v1/authentication_flows"
INPUT = FLOWS + "/states/input"


def _known_and_unknown(app) -> tuple[str, str]:
    """Two addresses with the same masked form; only the first has an account."""
    tag = secrets.token_hex(4)
    known, unknown = f"k{tag}@example.com", f"k{tag[::-1]}@example.com"
    with app.app_context():
        svc = app.extensions["gatehouse"]
        user = svc.users.create_user([("email", known)])
        svc.passwords.create(user.id, random_password(), check_policy=False)
        db.session.commit()
    return known, unknown


def _send(client, token, inp, ip):
    return client.post(INPUT, json={"state_token": token, "input": inp}, environ_base={"REMOTE_ADDR": ip})


def _to_code_step(client, email: str, ip: str):
    """Create a recovery flow, identify `email`, choose the destination: the code step's response."""
    created = client.post(FLOWS, json={"type": "account_recovery", "name": "default"}, environ_base={"REMOTE_ADDR": ip})
    token = created.get_json()["result"]["state_token"]
    identified = _send(client, token, {"identification": "email", "login_id": email}, ip)
    assert identified.status_code == 200, identified.get_json()
    token = identified.get_json()["result"]["state_token"]
    return _send(client, token, {"index": 0}, ip)


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _error(resp) -> tuple[int, str, str, dict]:
    error = resp.get_json()["error"]
    return resp.status_code, error["name"], error["reason"], error.get("info") or {}


@pytest.mark.embedded
def test_known_and_unknown_emails_get_the_same_code_step_and_resend_answer(flow_app, smtp_server):
    app = flow_app()
    known, unknown = _known_and_unknown(app)
    client = app.test_client()
    started = datetime.now(UTC)
    steps = {email: _to_code_step(client, email, f"10.44.{i}.1") for i, email in enumerate((known, unknown))}

    bodies = {email: resp.get_json()["result"] for email, resp in steps.items()}
    assert all(resp.status_code == 200 for resp in steps.values())
    data = {email: dict(body["action"]["data"]) for email, body in bodies.items()}
    resend_at = {email: _parse(d.pop("can_resend_at")) for email, d in data.items()}
    assert data[known] == data[unknown]
    assert data[known]["type"] == "account_recovery_verify_code_data"
    assert {k for k in bodies[known]["action"]} == {k for k in bodies[unknown]["action"]}
    for moment in resend_at.values():
        # One cooldown (1 minute by default) from when the code step was reached, for both.
        assert started + timedelta(seconds=55) <= moment <= datetime.now(UTC) + timedelta(seconds=61)
    assert abs((resend_at[known] - resend_at[unknown]).total_seconds()) < 5

    resends = {
        email: _send(client, bodies[email]["state_token"], {"resend": True}, f"10.44.{i}.1")
        for i, email in enumerate((known, unknown))
    }
    assert _error(resends[known]) == _error(resends[unknown])
    status, name, reason, info = _error(resends[unknown])
    assert (status, name, reason) == (429, "TooManyRequest", "RateLimited")
    assert info["bucket_name"] == "ForgotPasswordCooldownEmail"

    assert smtp_server.wait_for(known)
    assert smtp_server.all_for(unknown) == []


# The default sends a reset link by email (its code refused as Authgear's PasswordResetFailed); a flow
# may send a 6-digit code instead.
CODE_BY_EMAIL = {
    "authentication_flow": {
        "account_recovery_flows": [
            {
                "name": "default",
                "steps": [
                    {"type": "identify", "one_of": [{"identification": "email"}]},
                    {"type": "select_destination", "allowed_channels": [{"channel": "email", "otp_form": "code"}]},
                    {"type": "verify_account_recovery_code"},
                    {"type": "reset_password"},
                ],
            }
        ]
    }
}
REFUSAL = {"link": (400, "Invalid", "PasswordResetFailed"), "code": (403, "Forbidden", "InvalidOTPCode")}


@pytest.mark.embedded
@pytest.mark.parametrize("form", ["link", "code"])
def test_wrong_codes_are_refused_alike_up_to_the_revocation(flow_app, form):
    app = flow_app(CODE_BY_EMAIL if form == "code" else None)
    known, unknown = _known_and_unknown(app)
    client = app.test_client()
    answers = {}
    for i, email in enumerate((known, unknown)):
        ip = f"10.45.{i}.1"
        token = _to_code_step(client, email, ip).get_json()["result"]["state_token"]
        answers[email] = [
            _error(_send(client, token, {"account_recovery_code": f"{n:06d}"}, ip)) for n in range(900001, 900007)
        ]
        # The code step now says the code is revoked, for both.
        data = client.post(f"{FLOWS}/states", json={"state_token": token}).get_json()
        answers[email].append(data["result"]["action"]["data"]["failed_attempt_rate_limit_exceeded"])
    assert answers[known] == answers[unknown]
    assert [a[:3] for a in answers[unknown][:6]] == [REFUSAL[form]] * 4 + [(429, "TooManyRequest", "RateLimited")] * 2
    assert answers[unknown][6] is True
