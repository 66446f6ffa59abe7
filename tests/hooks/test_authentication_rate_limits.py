"""Authgear's rate limits of the authentication steps over the Flow API: a password check counts in
`authentication.password` (its rules falling back to `general`'s), a login ID lookup in
`authentication.account_enumeration`, and a blocking hook's `rate_limits` answer weighs the
attempts of the rest of the flow (Authgear's e2e tests/hook/authentication.*/rate_limits)."""

from __future__ import annotations

from typing import Any

from app.extensions import db
from tests.hooks.conftest import FLOWS, login, signup

FIVE_PER_10S = {"enabled": True, "period": "10s", "burst": 5}


def _create(client: Any) -> str:
    resp = client.post(FLOWS, json={"type": "login", "name": "default"})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["result"]["state_token"]


def _input(client: Any, token: str, inp: dict[str, Any]) -> Any:
    return client.post(FLOWS + "/states/input", json={"state_token": token, "input": inp})


def _weights(receiver: Any, name: str, weights: dict[str, Any]) -> dict[str, Any]:
    receiver.answers[name] = lambda e: (200, {"is_allowed": True, "rate_limits": weights})
    return {"blocking_handlers": [{"event": "authentication.pre_initialize", "url": receiver.url(name)}]}


def test_a_heavy_weight_blocks_the_password_check(hook_app, receiver):
    """tests/hook/authentication.post_identified/rate_limits.test.yaml: weight 100 on
    authentication.general against a password rule of burst 5."""
    overrides = {"authentication": {"rate_limits": {"password": {"per_ip": FIVE_PER_10S}}}}
    assert signup(hook_app({}, overrides=overrides).test_client(), "heavy1").status_code == 200
    app = hook_app(_weights(receiver, "init", {"authentication.general": {"weight": 100}}), overrides=overrides)
    client = app.test_client()
    token = _create(client)
    resp = _input(client, token, {"identification": "username", "login_id": "heavy1"})
    assert resp.status_code == 200 and resp.get_json()["result"]["action"]["type"] == "authenticate"
    token = resp.get_json()["result"]["state_token"]
    resp = _input(client, token, {"authentication": "primary_password", "password": "Pw-hooks-1234"})
    assert resp.status_code == 429
    assert resp.get_json()["error"] == {
        "name": "TooManyRequest",
        "reason": "RateLimited",
        "message": "request rate limited",
        "code": 429,
        "info": {
            "FlowType": "login",
            "bucket_name": "VerifyPasswordPerIP",
            "rate_limit_name": "authentication.password",
            "rate_limit": {"name": "authentication.password.per_ip", "group": "authentication.password"},
        },
    }


def test_a_heavy_weight_blocks_the_login_id_lookup(hook_app, receiver):
    """tests/hook/authentication.pre_initialize/rate_limits.test.yaml."""
    overrides = {"authentication": {"rate_limits": {"account_enumeration": {"per_ip": FIVE_PER_10S}}}}
    hook = _weights(receiver, "init", {"authentication.account_enumeration": {"weight": 100}})
    client = hook_app(hook, overrides=overrides).test_client()
    resp = _input(client, _create(client), {"identification": "username", "login_id": "someone"})
    assert resp.status_code == 429
    assert resp.get_json()["error"]["info"] == {
        "FlowType": "login",
        "bucket_name": "AccountEnumerationPerIP",
        "rate_limit_name": "authentication.account_enumeration",
        "rate_limit": {
            "name": "authentication.account_enumeration.per_ip",
            "group": "authentication.account_enumeration",
        },
    }


def test_a_zero_weight_counts_nothing_and_no_answer_counts_one(hook_app, receiver):
    one_per_minute = {"enabled": True, "period": "1m", "burst": 1}
    overrides = {"authentication": {"rate_limits": {"password": {"per_ip": one_per_minute}}}}
    assert signup(hook_app({}, overrides=overrides).test_client(), "light1").status_code == 200
    app = hook_app(_weights(receiver, "init", {"authentication.general": {"weight": 0}}), overrides=overrides)
    for _ in range(4):  # wrong passwords, each refused as such, never as rate limited
        resp = login(app.test_client(), "light1", "Wrong-password-1")
        assert (resp.status_code, resp.get_json()["error"]["reason"]) == (401, "InvalidCredentials")
    assert login(app.test_client(), "light1").status_code == 200
    # An answer without rate_limits leaves the weight at 1: the second check is refused.
    receiver.answers["plain"] = lambda e: (200, {"is_allowed": True})
    hook = {"blocking_handlers": [{"event": "authentication.pre_initialize", "url": receiver.url("plain")}]}
    client = hook_app(hook, overrides=overrides).test_client()
    first = login(client, "light1", "Wrong-password-1")
    second = login(client, "light1")
    assert first.status_code == 401
    assert (second.status_code, second.get_json()["error"]["info"]["bucket_name"]) == (429, "VerifyPasswordPerIP")


def test_a_group_rule_that_says_enabled_replaces_general(hook_app):
    """Authgear's resolveConfig: `password.per_ip` with `enabled` set is used as it is (here: off,
    while `general` would refuse the second check); without `enabled` it falls back to `general`."""
    tight = {"enabled": True, "period": "1m", "burst": 1}
    disabled = {"per_ip": {"enabled": False}}
    off = {"authentication": {"rate_limits": {"general": {"per_ip": tight}, "password": disabled}}}
    assert signup(hook_app({}, overrides=off).test_client(), "groups1").status_code == 200
    app = hook_app({}, overrides=off)
    assert [login(app.test_client(), "groups1").status_code for _ in range(3)] == [200, 200, 200]

    unset = {"authentication": {"rate_limits": {"general": {"per_ip": tight}, "password": {"per_ip": {"burst": 99}}}}}
    app = hook_app({}, overrides=unset)
    assert login(app.test_client(), "groups1").status_code == 200
    refused = login(app.test_client(), "groups1")
    assert refused.status_code == 429
    assert refused.get_json()["error"]["info"]["rate_limit"]["name"] == "authentication.password.per_ip"


def test_a_weight_counts_for_an_emailed_login_code_too(make_app, hook_secrets, receiver, smtp_server):
    """An OOB OTP's validate limits (`oob_otp.email.validate_per_ip`, falling back to `general`) take
    authentication.general's weight: weight 3 against a burst of 5 lets one wrong code through."""
    overrides = {
        "authentication": {
            "primary_authenticators": ["oob_otp_email"],
            "identities": ["login_id"],
            "rate_limits": {"oob_otp": {"email": {"validate_per_ip": FIVE_PER_10S}}},
        },
        "identity": {"login_id": {"keys": [{"type": "email"}]}},
    }
    hook = _weights(receiver, "init", {"authentication.general": {"weight": 3}})
    secrets = {**hook_secrets, "mail.smtp": {"host": smtp_server.host, "port": smtp_server.port, "mode": "normal"}}
    app = make_app({**overrides, "hook": hook}, secrets=secrets)
    email = "weighed-code@example.com"
    with app.app_context():
        app.extensions["gatehouse"].users.create_user([("email", email)])
        db.session.commit()
    client = app.test_client()
    token = _create(client)
    resp = _input(client, token, {"identification": "email", "login_id": email})
    token = resp.get_json()["result"]["state_token"]
    resp = _input(client, token, {"authentication": "primary_oob_otp_email", "index": 0})
    assert resp.status_code == 200, resp.get_json()
    token = resp.get_json()["result"]["state_token"]
    assert smtp_server.last_code(email)
    wrong = _input(client, token, {"code": "000000"})
    assert wrong.get_json()["error"]["reason"] == "InvalidOTPCode"
    refused = _input(client, token, {"code": smtp_server.last_code(email)})
    assert refused.status_code == 429
    assert refused.get_json()["error"]["info"]["rate_limit"] == {
        "name": "authentication.oob_otp.email.validate.per_ip",
        "group": "authentication.oob_otp.email.validate",
    }
