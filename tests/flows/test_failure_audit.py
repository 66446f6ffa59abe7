"""Refused authentication attempts leave audit rows, although the refused input is rolled back:
`authentication.<stage>.<type>.failed`, `authentication.identity.login_id.failed`,
`authentication.blocked` and `rate_limit.blocked`, with the caller's IP and user agent and never
what was submitted."""

from __future__ import annotations

import json

import pyotp
import pytest
from sqlalchemy import select

from app.audit import AuditLog
from app.authenticators import totp
from app.authenticators.recovery_codes import generate
from app.extensions import db
from tests.factories import random_email, random_password

FLOWS = "/api/v1/authentication_flows"
INPUT = FLOWS + "/states/input"
AGENT = {"User-Agent": "failure-audit-test/1.0"}


def _user(app, password, **extra):
    """A committed user with an email login ID and a password; returns (user_id, email, extras)."""
    email = random_email().lower()
    out = {}
    with app.app_context():
        svc = app.extensions["gatehouse"]
        user = svc.users.create_user([("email", email)])
        svc.passwords.create(user.id, password, check_policy=False)
        if extra.get("totp"):
            out["totp"] = totp.new_secret()
            svc.totp.create(user.id, out["totp"], "TOTP")
        if extra.get("recovery_codes"):
            out["recovery_codes"] = generate(16)
            svc.recovery_codes.replace(user.id, out["recovery_codes"])
        if extra.get("oob_email"):
            svc.oob.create(user.id, "email", email, "secondary")
        if extra.get("disabled"):
            user.is_disabled = True
        db.session.commit()
        return user.id, email, out


def _send(client, token, inp):
    return client.post(INPUT, json={"state_token": token, "input": inp}, headers=AGENT)


def _identified(client, email):
    """The state token of a login flow that has identified `email`."""
    token = client.post(FLOWS, json={"type": "login", "name": "default"}, headers=AGENT).get_json()["result"]
    resp = _send(client, token["state_token"], {"identification": "email", "login_id": email})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["result"]["state_token"]


def _rows(app, *, user_id=None, prefix=("authentication.", "rate_limit.")):
    with app.app_context():
        stmt = select(AuditLog).order_by(AuditLog.id)
        if user_id is not None:
            stmt = stmt.where(AuditLog.user_id == user_id)
        rows = [r for r in db.session.scalars(stmt) if r.activity_type.startswith(prefix)]
        db.session.expunge_all()
        return rows


@pytest.mark.embedded
def test_wrong_password_leaves_a_row_without_the_password(flow_app):
    app = flow_app()
    password = random_password()
    user_id, email, _ = _user(app, password)
    client = app.test_client()
    token = _identified(client, email)
    wrong = "Wrong-guess-" + random_password()
    resp = _send(client, token, {"authentication": "primary_password", "password": wrong})
    assert resp.status_code == 401 and resp.get_json()["error"]["reason"] == "InvalidCredentials"

    [row] = _rows(app, user_id=user_id)
    assert row.activity_type == "authentication.primary.password.failed"
    assert row.ip_address == "127.0.0.1" and row.user_agent == AGENT["User-Agent"]
    assert row.data == {"authentication_stage": "primary", "authenticator_type": "password"}
    assert wrong not in json.dumps(row.data) and "password" not in row.data

    # The state is still usable, and the right password signs in without another failure row.
    resp = _send(client, token, {"authentication": "primary_password", "password": password})
    assert resp.status_code == 200 and resp.get_json()["result"]["action"]["type"] == "finished"
    assert [r.activity_type for r in _rows(app, user_id=user_id)] == ["authentication.primary.password.failed"]


def test_a_successful_login_leaves_no_failure_row(flow_app):
    app = flow_app()
    password = random_password()
    user_id, email, _ = _user(app, password)
    client = app.test_client()
    resp = _send(client, _identified(client, email), {"authentication": "primary_password", "password": password})
    assert resp.get_json()["result"]["action"]["type"] == "finished"
    assert _rows(app, user_id=user_id) == []
    assert "user.authenticated" in [r.activity_type for r in _rows(app, user_id=user_id, prefix=("user.",))]


def test_wrong_totp_and_recovery_code_leave_their_rows(flow_app):
    app = flow_app()
    password = random_password()
    user_id, email, extra = _user(app, password, totp=True, recovery_codes=True)
    client = app.test_client()
    token = _send(client, _identified(client, email), {"authentication": "primary_password", "password": password})
    token = token.get_json()["result"]["state_token"]
    right = pyotp.TOTP(extra["totp"]).now()
    wrong_code = f"{(int(right) + 1) % 1_000_000:06d}"
    resp = _send(client, token, {"authentication": "secondary_totp", "code": wrong_code})
    assert resp.status_code == 401
    resp = _send(client, token, {"authentication": "recovery_code", "recovery_code": "NOTACODE00"})
    assert resp.status_code == 401

    rows = _rows(app, user_id=user_id)
    assert [r.activity_type for r in rows] == [
        "authentication.secondary.totp.failed",
        "authentication.secondary.recovery_code.failed",
    ]
    assert rows[0].data == {"authentication_stage": "secondary", "authenticator_type": "totp"}
    assert rows[1].data == {"authentication_stage": "secondary", "authenticator_type": "recovery_code"}
    assert all(r.user_agent == AGENT["User-Agent"] for r in rows)
    assert wrong_code not in json.dumps([r.data for r in rows]) and "NOTACODE00" not in json.dumps(rows[1].data)
    # A right code still works: the failures left only their rows.
    resp = _send(client, token, {"authentication": "recovery_code", "recovery_code": extra["recovery_codes"][0]})
    assert resp.get_json()["result"]["action"]["type"] == "finished"


def test_wrong_email_otp_leaves_its_row(flow_app, smtp_server):
    app = flow_app()
    password = random_password()
    user_id, email, _ = _user(app, password, oob_email=True)
    client = app.test_client()
    token = _send(client, _identified(client, email), {"authentication": "primary_password", "password": password})
    token = _send(
        client, token.get_json()["result"]["state_token"], {"authentication": "secondary_oob_otp_email", "index": 0}
    )
    token = token.get_json()["result"]["state_token"]
    sent = smtp_server.last_code(email)
    wrong = f"{(int(sent) + 1) % 1_000_000:06d}"
    resp = _send(client, token, {"code": wrong})
    assert resp.status_code == 403 and resp.get_json()["error"]["reason"] == "InvalidOTPCode"

    [row] = _rows(app, user_id=user_id)
    assert row.activity_type == "authentication.secondary.oob_otp_email.failed"
    assert row.data == {"authentication_stage": "secondary", "authenticator_type": "oob_otp_email"}
    assert wrong not in json.dumps(row.data)


@pytest.mark.embedded
def test_lockout_leaves_authentication_blocked(flow_app):
    app = flow_app({"authentication": {"lockout": {"max_attempts": 2, "minimum_duration": "5m"}}})
    password = random_password()
    user_id, email, _ = _user(app, password)
    client = app.test_client()
    token = _identified(client, email)
    for i in range(2):
        assert _send(client, token, {"authentication": "primary_password", "password": f"wrong-{i}"}).status_code == 401
    resp = _send(client, token, {"authentication": "primary_password", "password": password})
    assert resp.status_code == 429 and resp.get_json()["error"]["reason"] == "AccountLockout"

    rows = _rows(app, user_id=user_id)
    assert [r.activity_type for r in rows] == ["authentication.primary.password.failed"] * 2 + [
        "authentication.blocked"
    ]
    blocked = rows[-1]
    assert blocked.data["error"]["name"] == "TooManyRequest" and blocked.data["error"]["reason"] == "AccountLockout"
    assert blocked.data["error"]["info"]["until"] == resp.get_json()["error"]["info"]["until"]
    assert blocked.ip_address == "127.0.0.1" and blocked.user_agent == AGENT["User-Agent"]
    assert password not in json.dumps(blocked.data)


def test_disabled_account_leaves_authentication_blocked(flow_app):
    app = flow_app()
    password = random_password()
    user_id, email, _ = _user(app, password, disabled=True)
    client = app.test_client()
    resp = _send(client, _identified(client, email), {"authentication": "primary_password", "password": password})
    assert resp.status_code == 403 and resp.get_json()["error"]["reason"] == "DisabledUser"
    [row] = _rows(app, user_id=user_id)
    assert row.activity_type == "authentication.blocked" and row.data["error"]["reason"] == "DisabledUser"


def test_unknown_login_id_leaves_a_row_without_a_user(flow_app):
    app = flow_app()
    client = app.test_client()
    token = client.post(FLOWS, json={"type": "login", "name": "default"}, headers=AGENT).get_json()["result"]
    unknown = "Nobody-" + random_email()
    resp = _send(client, token["state_token"], {"identification": "email", "login_id": unknown})
    assert resp.status_code == 404 and resp.get_json()["error"]["reason"] == "UserNotFound"
    rows = [r for r in _rows(app) if r.activity_type == "authentication.identity.login_id.failed"]
    [row] = [r for r in rows if r.data.get("login_id") == unknown.lower()]
    assert row.user_id is None and row.user_agent == AGENT["User-Agent"]


def test_rate_limit_leaves_rate_limit_blocked(flow_app):
    app = flow_app(
        {
            "authentication": {
                "rate_limits": {"general": {"per_user_per_ip": {"enabled": True, "period": "1m", "burst": 1}}}
            }
        }
    )
    password = random_password()
    user_id, email, _ = _user(app, password)
    client = app.test_client()
    token = _identified(client, email)
    assert _send(client, token, {"authentication": "primary_password", "password": "wrong-1"}).status_code == 401
    resp = _send(client, token, {"authentication": "primary_password", "password": password})
    assert resp.status_code == 429 and resp.get_json()["error"]["reason"] == "RateLimited"

    assert [r.activity_type for r in _rows(app, user_id=user_id)] == ["authentication.primary.password.failed"]
    [row] = [r for r in _rows(app) if r.activity_type == "rate_limit.blocked"]
    assert row.user_id is None and row.user_agent == AGENT["User-Agent"]
    # Authgear's RateLimitBlockedEventPayload; a password check counts in authentication.password,
    # whose rules fall back to `general`'s.
    assert row.data == {
        "rate_limit": {"name": "authentication.password.per_user_per_ip", "group": "authentication.password"}
    }
