"""Authgear parity of the flow API: passwordless OTP from login IDs, signup_login switching, OTP channel
selection, the MFA grace period, misconfigured flows and account recovery by username.

Expected bodies follow Authgear's e2e specs (e2e/tests/login/otp, issue_DEV_3005_..., signup_login,
authflow_session_otp_cooldown, mfa_grace_period, authflow_misconfiguration, account_recovery_username).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.config import deep_merge
from app.extensions import db
from tests.admin.conftest import admin_key
from tests.flows.runner import assert_subset

FLOWS = "/api/v1/authentication_flows"
PHONE = "+85251000000"


class Flow:
    """One flow over the API; `send` returns the result or, with `status`, the error."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.token: str | None = None

    def create(self, flow_type: str, name: str = "default") -> dict[str, Any]:
        return self._handle(self.client.post(FLOWS, json={"type": flow_type, "name": name}), 200)

    def send(self, inp: dict[str, Any], status: int = 200) -> dict[str, Any]:
        resp = self.client.post(FLOWS + "/states/input", json={"state_token": self.token, "input": inp})
        return self._handle(resp, status)

    def _handle(self, resp: Any, status: int) -> dict[str, Any]:
        body = resp.get_json()
        assert resp.status_code == status, body
        if status != 200:
            return body["error"]
        self.token = body["result"]["state_token"]
        return body["result"]


def _tag() -> str:
    return secrets.token_hex(4)


def _user(svc_ctx: Any, password: str | None = None, **login_ids: str) -> str:
    with svc_ctx() as svc:
        user = svc.users.create_user(list(login_ids.items()))
        if password:
            svc.passwords.create(user.id, password, check_policy=False)
        db.session.commit()
        return user.id


# -- passwordless OTP derived from login IDs (item 2) ------------------------------------------------
OTP_LOGIN = {"authentication": {"primary_authenticators": ["password", "oob_otp_email", "oob_otp_sms"]}}


@pytest.mark.embedded
def test_a_password_user_logs_in_with_an_emailed_code_and_gets_the_authenticator(flow_app, services_of, smtp_server):
    app = flow_app(OTP_LOGIN)
    email = f"otp-{_tag()}@example.com"
    user_id = _user(services_of(app), "Correct-Horse-1", email=email)
    flow = Flow(app.test_client())
    flow.create("login")
    result = flow.send({"identification": "email", "login_id": email})
    assert result["action"]["data"]["options"] == [
        {"authentication": "primary_password"},
        {
            "authentication": "primary_oob_otp_email",
            "otp_form": "code",
            "masked_display_name": result["action"]["data"]["options"][1]["masked_display_name"],
            "channels": ["email"],
        },
    ]
    # Authgear's e2e sends `channel` along with the index; a single channel needs no choice.
    result = flow.send({"authentication": "primary_oob_otp_email", "index": 1, "channel": "email"})
    assert_subset(
        {"type": "login", "action": {"type": "authenticate", "authentication": "primary_oob_otp_email"}}, result
    )
    assert result["action"]["data"]["type"] == "verify_oob_otp_data"
    result = flow.send({"code": smtp_server.last_code(email)})
    assert result["action"]["type"] == "finished"
    with services_of(app)() as svc:
        auths = svc.oob.list_for_user(user_id, "primary")
        assert [(a.type, a.oob_target) for a in auths] == [("oob_otp_email", email.lower())]
        assert svc.users.is_verified(user_id, "email", email.lower())
    # The second login uses the authenticator now stored: one option, not two.
    flow = Flow(app.test_client())
    flow.create("login")
    result = flow.send({"identification": "email", "login_id": email})
    assert [o["authentication"] for o in result["action"]["data"]["options"]] == [
        "primary_password",
        "primary_oob_otp_email",
    ]


@pytest.mark.embedded
def test_identify_with_phone_authenticate_with_email_otp(flow_app, services_of, smtp_server):
    """Authgear issue DEV-3005: without target_step, every login ID of the type is offered."""
    flows = {
        "login_flows": [
            {
                "name": "default",
                "steps": [
                    {"type": "identify", "one_of": [{"identification": "phone"}, {"identification": "email"}]},
                    {
                        "type": "authenticate",
                        "one_of": [
                            {"authentication": "primary_oob_otp_sms"},
                            {"authentication": "primary_oob_otp_email"},
                        ],
                    },
                ],
            }
        ]
    }
    app = flow_app(deep_merge(OTP_LOGIN, {"authentication_flow": flows}))
    email = f"user-{_tag()}@example.com"
    _user(services_of(app), email=email, phone=PHONE)
    flow = Flow(app.test_client())
    flow.create("login")
    result = flow.send({"identification": "phone", "login_id": PHONE})
    options = result["action"]["data"]["options"]
    assert [(o["authentication"], o["channels"]) for o in options] == [
        ("primary_oob_otp_sms", ["sms"]),
        ("primary_oob_otp_email", ["email"]),
    ]
    assert options[0]["masked_display_name"] == "+8525100****"
    result = flow.send({"authentication": "primary_oob_otp_email", "index": 1})
    assert result["action"]["data"]["channel"] == "email"
    assert flow.send({"code": smtp_server.last_code(email)})["action"]["type"] == "finished"


# -- signup_login (item 3) --------------------------------------------------------------------------
SIGNUP_LOGIN = {
    "authentication_flow": {
        "signup_login_flows": [
            {
                "name": "default",
                "steps": [
                    {
                        "name": "signup_login_identify",
                        "type": "identify",
                        "one_of": [{"identification": "email", "signup_flow": "default", "login_flow": "default"}],
                    }
                ],
            }
        ]
    }
}


@pytest.mark.embedded
def test_signup_login_finds_a_username_typed_as_an_email_and_becomes_login(flow_app, services_of):
    app = flow_app(SIGNUP_LOGIN)
    username = f"e2e_login_{_tag()}"
    _user(services_of(app), "Correct-Horse-1", username=username)
    flow = Flow(app.test_client())
    assert_subset({"type": "signup_login", "name": "default"}, flow.create("signup_login"))
    result = flow.send({"identification": "email", "login_id": username})
    assert_subset({"type": "login", "name": "default", "action": {"type": "authenticate"}}, result)
    # Every later response, errors included, names the login flow.
    error = flow.send({"authentication": "primary_password", "password": "wrong"}, status=401)
    assert error["info"]["FlowType"] == "login"
    reread = app.test_client().post(FLOWS + "/states", json={"state_token": flow.token}).get_json()["result"]
    assert (reread["type"], reread["name"]) == ("login", "default")
    result = flow.send({"authentication": "primary_password", "password": "Correct-Horse-1"})
    assert_subset({"type": "login", "name": "default", "action": {"type": "finished"}}, result)


@pytest.mark.embedded
def test_signup_login_signs_up_a_new_address_and_checks_it_as_an_email(flow_app):
    app = flow_app(SIGNUP_LOGIN)
    flow = Flow(app.test_client())
    flow.create("signup_login")
    error = flow.send({"identification": "email", "login_id": f"nobody_{_tag()}"}, status=400)
    assert (error["name"], error["reason"]) == ("Invalid", "ValidationFailed")
    result = flow.send({"identification": "email", "login_id": f"new-{_tag()}@example.com"})
    assert_subset({"type": "signup", "name": "default"}, result)


# -- OTP channel selection (item 4) -----------------------------------------------------------------
@pytest.mark.embedded
def test_whatsapp_sms_mode_asks_for_the_channel_before_sending(make_app, make_config, services_of, sms_webhook):
    overrides = deep_merge(OTP_LOGIN, {"authenticator": {"oob_otp": {"sms": {"phone_otp_mode": "whatsapp_sms"}}}})
    app = make_app(overrides, secrets={**make_config().secrets, **sms_webhook.secret})
    _user(services_of(app), phone=PHONE)
    flow = Flow(app.test_client())
    flow.create("login")
    result = flow.send({"identification": "phone", "login_id": PHONE})
    option = next(o for o in result["action"]["data"]["options"] if o["authentication"] == "primary_oob_otp_sms")
    assert option["channels"] == ["whatsapp", "sms"]
    index = result["action"]["data"]["options"].index(option)
    result = flow.send({"authentication": "primary_oob_otp_sms", "index": index})
    assert result["action"] == {
        "type": "authenticate",
        "authentication": "primary_oob_otp_sms",
        "data": {
            "type": "select_oob_otp_channels_data",
            "channels": ["whatsapp", "sms"],
            "masked_claim_value": "+8525100****",
        },
    }
    assert sms_webhook.requests == []  # nothing is sent before a channel is chosen
    # Without a WhatsApp secret the code step says so (Authgear's delivery_error); the state before the
    # choice still offers SMS.
    before = flow.token
    result = flow.send({"channel": "whatsapp"})
    assert result["action"]["data"]["delivery_error"]["reason"] == "NoAvailableWhatsappClient"
    flow.token = before
    result = flow.send({"channel": "sms"})
    assert_subset({"action": {"data": {"type": "verify_oob_otp_data", "channel": "sms"}}}, result)
    assert flow.send({"code": sms_webhook.last_code(PHONE)})["action"]["type"] == "finished"


# -- MFA grace period (item 6) ----------------------------------------------------------------------
def _mfa(grace: dict[str, Any] | None) -> dict[str, Any]:
    auth: dict[str, Any] = {"secondary_authentication_mode": "required", "secondary_authenticators": ["password"]}
    if grace is not None:
        auth["secondary_authentication_grace_period"] = grace
    return {"authentication": auth}


def _login_to_second_factor(app: Any, username: str, status: int = 200) -> tuple[Flow, dict[str, Any]]:
    flow = Flow(app.test_client())
    flow.create("login")
    flow.send({"identification": "username", "login_id": username})
    return flow, flow.send({"authentication": "primary_password", "password": "Correct-Horse-1"}, status=status)


@pytest.mark.embedded
@pytest.mark.parametrize("grace", [{"enabled": True}, {"enabled": True, "end_at": "3000-01-01T00:00:00Z"}])
def test_inside_the_grace_period_a_user_enrols_through_authenticate(flow_app, services_of, grace):
    app = flow_app(_mfa(grace))
    username = f"grace_{_tag()}"
    _user(services_of(app), "Correct-Horse-1", username=username)
    flow, result = _login_to_second_factor(app, username)
    assert result["action"]["type"] == "authenticate"
    assert result["action"]["data"]["type"] == "create_authenticator_data"
    assert [o["authentication"] for o in result["action"]["data"]["options"]] == ["secondary_password"]
    result = flow.send({"authentication": "secondary_password", "new_password": "Second-Horse-2"})
    assert result["action"]["type"] == "finished"
    _, result = _login_to_second_factor(app, username)
    assert result["action"]["data"] == {
        "type": "authentication_data",
        "options": [{"authentication": "secondary_password"}],
        "device_token_enabled": True,
    }


NO_AUTHENTICATOR = {
    "name": "Invalid",
    "reason": "InvariantViolated",
    "message": "no authenticator",
    "code": 400,
    "info": {"FlowType": "login", "cause": {"kind": "NoAuthenticator"}},
}


@pytest.mark.embedded
@pytest.mark.parametrize("grace", [None, {"enabled": False}, {"enabled": True, "end_at": "1000-10-10T00:00:00Z"}])
def test_outside_the_grace_period_the_login_is_refused(flow_app, services_of, grace):
    app = flow_app(_mfa(grace))
    username = f"nograce_{_tag()}"
    _user(services_of(app), "Correct-Horse-1", username=username)
    _, error = _login_to_second_factor(app, username, status=400)
    assert error == NO_AUTHENTICATOR


def _gql(app: Any, query: str, **variables: Any) -> dict[str, Any]:
    import time

    from joserfc import jwt

    key = admin_key(app)
    now = int(time.time())
    claims = {"aud": [app.extensions["gatehouse"].config.project["id"]], "iat": now, "exp": now + 300}
    token = jwt.encode({"alg": "RS256", "typ": "JWT", "kid": key.kid}, claims, key)
    resp = app.test_client().post(
        "/_api/admin/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    body = resp.get_json()
    assert "errors" not in body, body
    return body["data"]


@pytest.mark.embedded
def test_a_users_own_grace_period_from_the_admin_api(flow_app, services_of):
    app = flow_app(_mfa({"enabled": False}))
    username = f"peruser_{_tag()}"
    user_id = _user(services_of(app), "Correct-Horse-1", username=username)
    from app.admin.ids import to_global_id

    node = to_global_id("User", user_id)
    end_at = (datetime.now(UTC) + timedelta(days=7)).replace(microsecond=0)
    data = _gql(
        app,
        "mutation($id: ID!, $end: DateTime!) { setMFAGracePeriod(input: {userID: $id, endAt: $end})"
        " { user { mfaGracePeriodEndAt } } }",
        id=node,
        end=end_at.isoformat().replace("+00:00", "Z"),
    )
    assert data["setMFAGracePeriod"]["user"]["mfaGracePeriodEndAt"].startswith(end_at.strftime("%Y-%m-%dT%H:%M:%S"))
    _, result = _login_to_second_factor(app, username)
    assert result["action"]["data"]["type"] == "create_authenticator_data"
    data = _gql(
        app,
        "mutation($id: ID!) { removeMFAGracePeriod(input: {userID: $id}) { user { mfaGracePeriodEndAt } } }",
        id=node,
    )
    assert data["removeMFAGracePeriod"]["user"]["mfaGracePeriodEndAt"] is None
    _, error = _login_to_second_factor(app, username, status=400)
    assert error == NO_AUTHENTICATOR


@pytest.mark.embedded
def test_only_secondary_authenticators_are_offered_for_enrolment(flow_app, services_of):
    flows = {
        "login_flows": [
            {
                "name": "default",
                "steps": [
                    {"type": "identify", "one_of": [{"identification": "username"}]},
                    {"type": "authenticate", "one_of": [{"authentication": "primary_password"}]},
                    {
                        "type": "authenticate",
                        "one_of": [
                            {"authentication": "primary_oob_otp_sms"},
                            {"authentication": "secondary_oob_otp_email"},
                        ],
                    },
                ],
            }
        ]
    }
    config = {
        "authentication": {
            "primary_authenticators": ["oob_otp_sms", "password"],
            "secondary_authentication_mode": "required",
            "secondary_authenticators": ["oob_otp_email"],
            "secondary_authentication_grace_period": {"enabled": True},
        },
        "authentication_flow": flows,
    }
    app = flow_app(config)
    username = f"nosecond_{_tag()}"
    _user(services_of(app), "Correct-Horse-1", username=username)
    _, result = _login_to_second_factor(app, username)
    assert_subset(
        {
            "type": "login",
            "action": {
                "type": "authenticate",
                "data": {
                    "type": "create_authenticator_data",
                    "options": [{"authentication": "secondary_oob_otp_email"}],
                },
            },
        },
        result,
    )


# -- misconfigured flows (item 7) -------------------------------------------------------------------
LOGIN_ID_EMAIL = {"identity": {"login_id": {"keys": [{"key": "email", "type": "email"}]}}}


@pytest.mark.embedded
def test_a_target_step_that_names_no_step_is_step_not_found(flow_app):
    flows = {"signup_flows": [{"name": "default", "steps": [{"type": "verify", "target_step": "nonexistent"}]}]}
    app = flow_app(deep_merge(LOGIN_ID_EMAIL, {"authentication_flow": flows}))
    resp = app.test_client().post(FLOWS, json={"type": "signup", "name": "default"})
    error = resp.get_json()["error"]
    assert (resp.status_code, error["name"], error["reason"]) == (404, "NotFound", "AuthenticationFlowStepNotFound")


@pytest.mark.embedded
def test_a_target_step_of_the_wrong_type_is_invalid_target_step(flow_app):
    flows = {
        "signup_flows": [
            {
                "name": "default",
                "steps": [
                    {"type": "identify", "one_of": [{"identification": "email"}]},
                    {
                        "type": "create_authenticator",
                        "name": "create_auth",
                        "one_of": [{"authentication": "primary_password"}],
                    },
                    {"type": "verify", "target_step": "create_auth"},
                ],
            }
        ]
    }
    app = flow_app(deep_merge(LOGIN_ID_EMAIL, {"authentication_flow": flows}))
    flow = Flow(app.test_client())
    flow.create("signup")
    flow.send({"identification": "email", "login_id": f"bad-target-{_tag()}@example.com"})
    error = flow.send({"authentication": "primary_password", "new_password": "Correct-Horse-1"}, status=500)
    assert_subset(
        {
            "name": "InternalError",
            "reason": "AuthenticationFlowInvalidTargetStep",
            "info": {"target_step": "create_auth"},
        },
        error,
    )


SELECT_DESTINATION_FIRST = {
    "authentication_flow": {
        "account_recovery_flows": [
            {
                "name": "default",
                "steps": [
                    {"type": "select_destination", "enumerate_destinations": True},
                    {"type": "verify_account_recovery_code"},
                    {"type": "reset_password"},
                ],
            }
        ]
    }
}


@pytest.mark.embedded
def test_a_step_before_what_it_depends_on_is_invalid_flow_config(flow_app):
    app = flow_app(deep_merge(LOGIN_ID_EMAIL, SELECT_DESTINATION_FIRST))
    resp = app.test_client().post(FLOWS, json={"type": "account_recovery", "name": "default"})
    error = resp.get_json()["error"]
    assert (resp.status_code, error["name"], error["reason"]) == (
        500,
        "InternalError",
        "AuthenticationFlowInvalidFlowConfig",
    )


@pytest.mark.embedded
def test_the_hosted_pages_say_the_project_is_misconfigured(flow_app):
    app = flow_app(deep_merge(LOGIN_ID_EMAIL, SELECT_DESTINATION_FIRST))
    resp = app.test_client().get("/authflow/v2/forgot_password")
    assert resp.status_code == 500
    assert "misconfigured" in resp.get_data(as_text=True)


# -- account recovery by username (item 8) ----------------------------------------------------------
def _recovery_by_username(allowed: list[dict[str, str]] | None = None) -> dict[str, Any]:
    select: dict[str, Any] = {"type": "select_destination"}
    if allowed is not None:
        select["allowed_channels"] = allowed
    branch = {"identification": "username", "on_failure": "ignore", "steps": [select]}
    steps = [
        {"type": "identify", "one_of": [branch]},
        {"type": "verify_account_recovery_code"},
        {"type": "reset_password"},
    ]
    return {"authentication_flow": {"account_recovery_flows": [{"name": "default", "steps": steps}]}}


@pytest.mark.embedded
def test_account_recovery_by_a_known_username(flow_app, services_of, smtp_server):
    app = flow_app(_recovery_by_username([{"channel": "email", "otp_form": "code"}]))
    username = f"e2e_recovery_{_tag()}"
    email = f"{username}@example.com"
    with services_of(app)() as svc:
        user = svc.users.create_user([("username", username), ("email", email)])
        svc.passwords.create(user.id, "Correct-Horse-1", check_policy=False)
        db.session.commit()
    flow = Flow(app.test_client())
    flow.create("account_recovery")
    result = flow.send({"identification": "username", "login_id": username})
    assert result["action"]["data"] == {
        "type": "account_recovery_select_destination_data",
        "options": [{"masked_display_name": username, "channel": "email", "otp_form": "code"}],
    }
    result = flow.send({"index": 0})
    assert_subset(
        {
            "type": "verify_account_recovery_code",
            "data": {"masked_display_name": username, "channel": "email", "otp_form": "code", "code_length": 6},
        },
        result["action"],
    )
    result = flow.send({"account_recovery_code": smtp_server.last_code(email)})
    assert result["action"]["type"] == "reset_password"
    assert flow.send({"new_password": "Abcd1234Abcd1234!"})["action"]["type"] == "finished"


@pytest.mark.embedded
def test_account_recovery_by_an_unknown_username_answers_the_same(flow_app, smtp_server):
    app = flow_app(_recovery_by_username())
    username = f"nonexistent_{_tag()}"
    flow = Flow(app.test_client())
    flow.create("account_recovery")
    result = flow.send({"identification": "username", "login_id": username})
    # Without allowed_channels: Gatehouse's default channels, a reset link by email, a code by SMS.
    assert result["action"]["data"]["options"] == [
        {"masked_display_name": username, "channel": "email", "otp_form": "link"},
        {"masked_display_name": username, "channel": "sms", "otp_form": "code"},
    ]
    result = flow.send({"index": 0})
    assert_subset(
        {"type": "verify_account_recovery_code", "data": {"masked_display_name": username, "channel": "email"}},
        result["action"],
    )
    error = flow.send({"account_recovery_code": "123456"}, status=400)
    assert error["reason"] == "PasswordResetFailed"
