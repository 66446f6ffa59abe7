"""Flow declarations are validated at start; default flows follow the project's config."""

from __future__ import annotations

import pytest

from app.config import ConfigError, deep_merge, validate_project
from app.flows.definitions import FlowCatalog
from tests.factories import TEST_PROJECT


def catalog(overrides):
    project, _ = validate_project(deep_merge(TEST_PROJECT, overrides))
    return FlowCatalog(project)


@pytest.mark.embedded
@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"login_flows": [{"name": "x", "steps": [{"type": "verify"}]}]}, "login_flows/0/steps/0/type"),
        ({"signup_flows": [{"name": "bad name!", "steps": [{"type": "identify"}]}]}, "signup_flows/0/name"),
        ({"signup_flows": [{"name": "x", "steps": []}]}, "signup_flows/0/steps"),
        (
            {
                "login_flows": [
                    {"name": "a", "steps": [{"type": "identify"}]},
                    {"name": "a", "steps": [{"type": "identify"}]},
                ]
            },
            "duplicated flow name",
        ),
        (
            {
                "signup_login_flows": [
                    {
                        "name": "x",
                        "steps": [
                            {"type": "identify", "one_of": [{"identification": "email", "signup_flow": "missing"}]}
                        ],
                    }
                ]
            },
            "signup_flow 'missing'",
        ),
        (
            {
                "reauth_flows": [
                    {"name": "r", "steps": [{"type": "authenticate", "one_of": [{"authentication": "magic"}]}]}
                ]
            },
            "authentication",
        ),
    ],
)
def test_invalid_declarations_stop_start_up(section, message):
    with pytest.raises(ConfigError) as err:
        catalog({"authentication_flow": section})
    assert message in str(err.value)


@pytest.mark.embedded
def test_invalid_flow_config_stops_create_app(make_config):
    from app import create_app

    with pytest.raises(ConfigError):
        create_app(make_config({"authentication_flow": {"login_flows": [{"name": "x", "steps": [{"type": "nope"}]}]}}))


@pytest.mark.embedded
def test_default_login_flow_follows_the_config():
    flow = catalog({"authentication": {"primary_authenticators": ["password", "oob_otp_email"]}}).get(
        "login", "default"
    )
    identify = flow["steps"][0]
    # As Authgear: "continue as" first, with no steps; the authentication nested in each login ID.
    assert [b["identification"] for b in identify["one_of"]] == ["select_account", "email", "phone", "username"]
    assert "steps" not in identify["one_of"][0]
    primary, secondary, change_password = identify["one_of"][1]["steps"]
    assert change_password == {"type": "change_password", "target_step": "authenticate_primary"}
    assert [s["type"] for s in flow["steps"][1:]] == ["check_account_status", "terminate_other_sessions"]
    assert [b["authentication"] for b in primary["one_of"]] == ["primary_password", "primary_oob_otp_email"]
    assert secondary["optional"] is True
    assert [b["authentication"] for b in secondary["one_of"]] == [
        "secondary_totp",
        "secondary_oob_otp_email",
        "recovery_code",
        "device_token",
    ]


@pytest.mark.embedded
def test_default_signup_verifies_email_and_phone_but_not_username():
    flow = catalog({}).get("signup", "default")
    nested = {b["identification"]: [s["type"] for s in b["steps"]] for b in flow["steps"][0]["one_of"]}
    assert nested == {
        "email": ["verify", "create_authenticator"],
        "phone": ["verify", "create_authenticator"],
        "username": ["create_authenticator"],
    }


@pytest.mark.embedded
def test_declared_flows_are_found_by_name_and_unknown_names_are_not():
    c = catalog({"authentication_flow": {"login_flows": [{"name": "custom", "steps": [{"type": "identify"}]}]}})
    assert c.get("login", "custom")["steps"] == [{"type": "identify"}]
    assert c.get("login", "other") is None
    assert c.get("nonsense", "default") is None
