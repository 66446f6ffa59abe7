"""Bot protection over the Authentication Flow API, one requirement mode at a time, against the
stand-in siteverify server (Authgear's e2e/tests/bot_protection cases)."""

from __future__ import annotations

import pytest

from tests.botprotection.conftest import bot_protection_config
from tests.factories import make_user, random_email, random_password

FLOWS = "/api/v1/authentication_flows"
INPUT = FLOWS + "/states/input"
CLOUDFLARE = {"enabled": True, "provider": {"type": "cloudflare"}}


def _create(client, flow_type, name="default"):
    resp = client.post(FLOWS, json={"type": flow_type, "name": name})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["result"]


def _input(client, token, inp):
    return client.post(INPUT, json={"state_token": token, "input": inp})


def _options(result):
    return {o.get("identification") or o.get("authentication"): o for o in result["action"]["data"]["options"]}


def _bp(response="pass", kind="cloudflare"):
    return {"type": kind, "response": response}


def _user(app, password):
    """A user with a random email login ID (and the password, if any); returns the login ID as stored."""
    email = random_email()
    with app.app_context():
        make_user(app.extensions["gatehouse"], email=email, password=password)
    return email.lower()


def test_signup_or_login_always_asks_on_identify_and_not_again(bp_app, standin):
    app = bp_app(bot_protection_config(signup_or_login="always", password="always"))
    password = random_password()
    user = _user(app, password)
    client = app.test_client()
    created = _create(client, "login")
    options = _options(created)
    assert options["email"]["bot_protection"] == CLOUDFLARE
    assert options["username"]["bot_protection"] == CLOUDFLARE
    login_id = user
    resp = _input(
        client, created["state_token"], {"identification": "email", "login_id": login_id, "bot_protection": _bp()}
    )
    assert resp.status_code == 200, resp.get_json()
    result = resp.get_json()["result"]
    assert result["action"]["type"] == "authenticate"
    # Verified once: the password step (password: always) no longer asks.
    assert "bot_protection" not in _options(result)["primary_password"]
    resp = _input(client, result["state_token"], {"authentication": "primary_password", "password": password})
    assert resp.get_json()["result"]["action"]["type"] == "finished"
    [req] = standin.requests
    assert req["form"] == {"secret": standin.secret, "response": "pass", "remoteip": "127.0.0.1"}


def test_missing_token_is_validation_failed_and_the_state_stays_usable(bp_app, standin):
    app = bp_app(bot_protection_config(signup_or_login="always"))
    client = app.test_client()
    created = _create(client, "signup")
    resp = _input(client, created["state_token"], {"identification": "email", "login_id": random_email()})
    assert resp.status_code == 400
    error = resp.get_json()["error"]
    assert (error["name"], error["reason"]) == ("Invalid", "ValidationFailed")
    assert {"location": "", "kind": "required", "details": {"missing": ["bot_protection"]}} in error["info"]["causes"]
    incomplete = _input(
        client,
        created["state_token"],
        {"identification": "email", "login_id": random_email(), "bot_protection": {"x": 1}},
    )
    assert incomplete.status_code == 400
    assert standin.requests == []
    ok = _input(
        client, created["state_token"], {"identification": "email", "login_id": random_email(), "bot_protection": _bp()}
    )
    assert ok.status_code == 200
    assert ok.get_json()["result"]["action"]["type"] == "verify"


def test_another_provider_type_is_refused(bp_app):
    app = bp_app(bot_protection_config(signup_or_login="always"))
    client = app.test_client()
    created = _create(client, "signup")
    resp = _input(
        client,
        created["state_token"],
        {"identification": "email", "login_id": random_email(), "bot_protection": _bp(kind="recaptchav2")},
    )
    assert resp.status_code == 400
    causes = resp.get_json()["error"]["info"]["causes"]
    assert any(c["location"] == "/bot_protection/type" and c["kind"] == "const" for c in causes)


def test_a_failed_token_is_forbidden_and_the_flow_stays_failed(bp_app, standin):
    app = bp_app(bot_protection_config(signup_or_login="always"))
    client = app.test_client()
    created = _create(client, "signup")
    inp = {"identification": "email", "login_id": random_email(), "bot_protection": _bp("fail")}
    resp = _input(client, created["state_token"], inp)
    assert resp.status_code == 403
    error = resp.get_json()["error"]
    assert (error["name"], error["reason"], error["message"]) == (
        "Forbidden",
        "BotProtectionVerificationFailed",
        "bot protection verification failed",
    )
    # As in Authgear, a flow that failed its check fails every later one; the provider is not asked again.
    again = _input(client, created["state_token"], {**inp, "bot_protection": _bp("pass")})
    assert again.status_code == 403
    assert len(standin.requests) == 1
    # A new flow starts afresh.
    fresh = _create(client, "signup")
    assert _input(client, fresh["state_token"], {**inp, "bot_protection": _bp()}).status_code == 200


def test_provider_down_is_service_unavailable_and_may_be_retried(bp_app, standin):
    app = bp_app(bot_protection_config(signup_or_login="always"))
    client = app.test_client()
    created = _create(client, "signup")
    inp = {"identification": "email", "login_id": random_email()}
    for token in ("service_unavailable", "slow"):
        resp = _input(client, created["state_token"], {**inp, "bot_protection": _bp(token)})
        assert resp.status_code == 503
        error = resp.get_json()["error"]
        assert (error["name"], error["reason"]) == ("ServiceUnavailable", "BotProtectionVerificationServiceUnavailable")
    ok = _input(client, created["state_token"], {**inp, "bot_protection": _bp()})
    assert ok.status_code == 200


def test_never_and_unset_ask_nothing(bp_app, standin):
    app = bp_app(bot_protection_config(signup_or_login="never", account_recovery="never"))
    client = app.test_client()
    for flow_type in ("signup", "login", "account_recovery"):
        created = _create(client, flow_type)
        assert all("bot_protection" not in o for o in created["action"]["data"]["options"])
    created = _create(client, "signup")
    resp = _input(client, created["state_token"], {"identification": "username", "login_id": "never_bp_user"})
    assert resp.status_code == 200
    # A token sent where none is asked for is ignored, never verified.
    created = _create(client, "signup")
    resp = _input(
        client,
        created["state_token"],
        {"identification": "username", "login_id": "never_bp_2", "bot_protection": _bp()},
    )
    assert resp.status_code == 200
    assert standin.requests == []


def test_flow_level_always_without_the_project_switch_asks_nothing(bp_app):
    flows = {
        "login_flows": [
            {
                "name": "f1",
                "steps": [
                    {"type": "identify", "one_of": [{"identification": "email", "bot_protection": {"mode": "always"}}]}
                ],
            }
        ]
    }
    app = bp_app({"authentication_flow": flows, "bot_protection": {"enabled": False}})
    created = _create(app.test_client(), "login", "f1")
    assert "bot_protection" not in created["action"]["data"]["options"][0]


def test_password_always_asks_on_the_password_step(bp_app, standin):
    app = bp_app(bot_protection_config(password="always"))
    password = random_password()
    user = _user(app, password)
    client = app.test_client()
    created = _create(client, "login")
    assert "bot_protection" not in _options(created)["email"]
    result = _input(client, created["state_token"], {"identification": "email", "login_id": user}).get_json()["result"]
    assert _options(result)["primary_password"]["bot_protection"] == CLOUDFLARE
    missing = _input(client, result["state_token"], {"authentication": "primary_password", "password": password})
    assert missing.status_code == 400
    failed = _input(
        client,
        result["state_token"],
        {"authentication": "primary_password", "password": password, "bot_protection": _bp("nope")},
    )
    assert failed.status_code == 403
    # The token is checked before the password: no failed password attempt was counted.
    created = _create(client, "login")
    result = _input(client, created["state_token"], {"identification": "email", "login_id": user}).get_json()["result"]
    done = _input(
        client,
        result["state_token"],
        {"authentication": "primary_password", "password": password, "bot_protection": _bp()},
    )
    assert done.get_json()["result"]["action"]["type"] == "finished"


def test_a_verified_token_is_kept_when_the_password_is_wrong(bp_app, standin):
    app = bp_app(bot_protection_config(password="always"))
    password = random_password()
    user = _user(app, password)
    client = app.test_client()
    created = _create(client, "login")
    result = _input(client, created["state_token"], {"identification": "email", "login_id": user}).get_json()["result"]
    wrong = _input(
        client,
        result["state_token"],
        {"authentication": "primary_password", "password": "wrong-password", "bot_protection": _bp()},
    )
    assert wrong.get_json()["error"]["reason"] == "InvalidCredentials"
    reread = client.post(FLOWS + "/states", json={"state_token": result["state_token"]}).get_json()["result"]
    assert "bot_protection" not in _options(reread)["primary_password"]
    done = _input(client, result["state_token"], {"authentication": "primary_password", "password": password})
    assert done.get_json()["result"]["action"]["type"] == "finished"
    assert len(standin.requests) == 1


def test_oob_otp_email_always_asks_on_signup_email_branch_only(bp_app):
    app = bp_app(bot_protection_config(oob_otp_email="always"))
    options = _options(_create(app.test_client(), "signup"))
    assert options["email"]["bot_protection"] == CLOUDFLARE  # a code is sent to verify the address
    assert "bot_protection" not in options["phone"]
    assert "bot_protection" not in options["username"]


def test_oob_otp_sms_always_asks_on_signup_phone_branch_only(bp_app):
    app = bp_app(bot_protection_config(oob_otp_sms="always"))
    options = _options(_create(app.test_client(), "signup"))
    assert options["phone"]["bot_protection"] == CLOUDFLARE
    assert "bot_protection" not in options["email"]


def test_oob_otp_email_always_asks_before_a_login_code_is_sent(bp_app, smtp_server):
    project = bot_protection_config(oob_otp_email="always")
    project["authentication"] = {"primary_authenticators": ["oob_otp_email"], "identities": ["login_id"]}
    app = bp_app(project)
    user = _user(app, None)
    email = user
    client = app.test_client()
    created = _create(client, "login")
    result = _input(client, created["state_token"], {"identification": "email", "login_id": email}).get_json()["result"]
    option = _options(result)["primary_oob_otp_email"]
    assert option["bot_protection"] == CLOUDFLARE
    refused = _input(client, result["state_token"], {"authentication": "primary_oob_otp_email", "index": 0})
    assert refused.status_code == 400
    sent = _input(
        client, result["state_token"], {"authentication": "primary_oob_otp_email", "index": 0, "bot_protection": _bp()}
    )
    assert sent.get_json()["result"]["action"]["data"]["type"] == "verify_oob_otp_data"
    code = smtp_server.last_code(email)
    done = _input(client, sent.get_json()["result"]["state_token"], {"code": code})
    assert done.get_json()["result"]["action"]["type"] == "finished"


def test_account_recovery_always_asks_on_identify(bp_app):
    app = bp_app(bot_protection_config(account_recovery="always", signup_or_login="never"))
    client = app.test_client()
    created = _create(client, "account_recovery")
    assert created["action"]["data"]["type"] == "account_recovery_identification_data"
    assert all(o["bot_protection"] == CLOUDFLARE for o in created["action"]["data"]["options"])
    resp = _input(client, created["state_token"], {"identification": "email", "login_id": random_email()})
    assert resp.status_code == 400
    resp = _input(
        client, created["state_token"], {"identification": "email", "login_id": random_email(), "bot_protection": _bp()}
    )
    assert resp.status_code == 200
    assert "bot_protection" not in _create(client, "login")["action"]["data"]["options"][1]


def test_signup_login_switching_to_login_does_not_ask_again(bp_app, standin):
    app = bp_app(bot_protection_config(signup_or_login="always", password="always"))
    password = random_password()
    user = _user(app, password)
    client = app.test_client()
    created = _create(client, "signup_login")
    assert _options(created)["email"]["bot_protection"] == CLOUDFLARE
    resp = _input(
        client,
        created["state_token"],
        {"identification": "email", "login_id": user, "bot_protection": _bp()},
    )
    result = resp.get_json()["result"]
    assert result["type"] == "login"
    assert "bot_protection" not in _options(result)["primary_password"]
    done = _input(client, result["state_token"], {"authentication": "primary_password", "password": password})
    assert done.get_json()["result"]["action"]["type"] == "finished"


def test_declared_flow_branches_and_recaptchav2(bp_app, standin):
    flows = {
        "login_flows": [
            {
                "name": "f1",
                "steps": [
                    {
                        "type": "identify",
                        "one_of": [
                            {"identification": "email", "bot_protection": {"mode": "always"}},
                            {"identification": "username", "bot_protection": {"mode": "never"}},
                        ],
                    }
                ],
            }
        ]
    }
    app = bp_app({**bot_protection_config("recaptchav2"), "authentication_flow": flows}, provider="recaptchav2")
    client = app.test_client()
    created = _create(client, "login", "f1")
    options = _options(created)
    assert options["email"]["bot_protection"] == {"enabled": True, "provider": {"type": "recaptchav2"}}
    assert "bot_protection" not in options["username"]
    user = _user(app, random_password())
    resp = _input(
        client,
        created["state_token"],
        {"identification": "email", "login_id": user, "bot_protection": _bp("no", "recaptchav2")},
    )
    assert resp.status_code == 403
    assert standin.requests[0]["provider"] == "recaptchav2"


def test_a_flow_declaration_with_a_bad_mode_is_refused(make_config):
    from app.config import ConfigError
    from app.flows.definitions import validate_flows

    flows = {
        "login_flows": [
            {
                "name": "f1",
                "steps": [
                    {
                        "type": "identify",
                        "one_of": [{"identification": "email", "bot_protection": {"mode": "sometimes"}}],
                    }
                ],
            }
        ]
    }
    with pytest.raises(ConfigError, match="bot_protection"):
        validate_flows(flows)
