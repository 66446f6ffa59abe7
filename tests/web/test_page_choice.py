"""Which page shows an engine action, and which choices the pages make by themselves."""

from __future__ import annotations

import pytest

from app.web.inputs import infer_identification
from app.web.pages import auto_select, option_index, pages_for


def authenticate(*options, device=False):
    return {
        "type": "authenticate",
        "data": {"type": "authentication_data", "options": list(options), "device_token_enabled": device},
    }


PASSWORD = {"authentication": "primary_password"}
TOTP = {"authentication": "secondary_totp"}
RECOVERY = {"authentication": "recovery_code"}
EMAIL_OTP = {"authentication": "secondary_oob_otp_email", "otp_form": "code", "channels": ["email"]}


@pytest.mark.embedded
@pytest.mark.parametrize(
    ("flow_type", "action", "pages"),
    [
        ("login", {"type": "identify", "data": {"type": "identification_data"}}, ["login"]),
        ("signup_login", {"type": "identify"}, ["login"]),
        ("signup", {"type": "identify"}, ["signup"]),
        ("account_recovery", {"type": "identify"}, ["forgot_password"]),
        ("reauth", {"type": "identify"}, ["reauth"]),
        ("login", authenticate(PASSWORD), ["enter_password"]),
        ("login", authenticate(TOTP, RECOVERY), ["enter_totp", "enter_recovery_code"]),
        ("login", authenticate(EMAIL_OTP, TOTP), ["enter_oob_otp", "enter_totp"]),
        ("login", {"type": "authenticate", "data": {"type": "verify_oob_otp_data"}}, ["enter_oob_otp"]),
        ("signup", {"type": "verify", "data": {"type": "verify_oob_otp_data"}}, ["enter_oob_otp"]),
        ("signup", {"type": "create_authenticator", "data": {"type": "create_totp_data"}}, ["setup_totp"]),
        (
            "signup",
            {
                "type": "create_authenticator",
                "data": {"type": "create_authenticator_data", "options": [TOTP, EMAIL_OTP]},
            },
            ["setup_totp", "setup_oob_otp"],
        ),
        ("login", {"type": "change_password", "data": {"type": "new_password_data"}}, ["change_password"]),
        ("account_recovery", {"type": "select_destination"}, ["forgot_password/otp"]),
        ("account_recovery", {"type": "verify_account_recovery_code"}, ["forgot_password/otp"]),
        ("account_recovery", {"type": "reset_password"}, ["reset_password"]),
        ("login", {"type": "finished", "data": {}}, ["finish"]),
        ("login", {"type": "prompt_create_passkey"}, ["prompt_create_passkey"]),
        (
            "reauth",
            {
                "type": "authenticate",
                "data": {
                    "type": "authentication_data",
                    "options": [{"authentication": "primary_passkey"}, {"authentication": "primary_password"}],
                },
            },
            ["use_passkey", "enter_password"],
        ),
        ("login", {"type": "authenticate", "data": {"type": "authentication_data", "options": "junk"}}, []),
    ],
)
def test_pages_for(flow_type, action, pages):
    assert pages_for(flow_type, action) == pages


@pytest.mark.embedded
def test_option_index_is_the_position_in_the_full_list():
    action = authenticate(EMAIL_OTP, TOTP, RECOVERY)
    assert option_index(action, "enter_recovery_code") == 2
    assert option_index(action, "enter_password") is None


@pytest.mark.embedded
def test_auto_select():
    assert auto_select({"type": "select_destination", "data": {"options": [{"channel": "email"}]}}) == {"index": 0}
    assert auto_select({"type": "select_destination", "data": {"options": [{}, {}]}}) is None
    # A second-factor code waits for a click while the device can be remembered.
    assert auto_select(authenticate(EMAIL_OTP, device=True)) is None
    assert auto_select(authenticate(EMAIL_OTP)) == {"authentication": "secondary_oob_otp_email", "index": 0}
    assert auto_select(authenticate(PASSWORD, EMAIL_OTP)) is None
    create = {"type": "create_authenticator", "data": {"type": "create_authenticator_data", "options": [TOTP]}}
    assert auto_select(create) == {"authentication": "secondary_totp"}
    unbound = {"authentication": "secondary_oob_otp_email", "channels": ["email"]}
    create["data"]["options"] = [unbound]
    assert auto_select(create) is None
    create["data"]["options"] = [{**unbound, "authentication": "primary_oob_otp_email", "target": {}}]
    assert auto_select(create) == {"authentication": "primary_oob_otp_email"}


@pytest.mark.embedded
@pytest.mark.parametrize(
    ("value", "offered", "expected"),
    [
        ("a@example.com", ["email", "phone", "username"], "email"),
        ("+85298765432", ["email", "phone", "username"], "phone"),
        ("alice", ["email", "phone", "username"], "username"),
        ("98765432", ["email", "phone"], "phone"),
        ("alice", ["email"], "email"),
        ("+85298765432", ["email", "username"], "username"),
        ("x", [], "email"),
    ],
)
def test_infer_identification(value, offered, expected):
    assert infer_identification(value, offered) == expected
