"""Error names, reasons and `info` of the Authentication Flow API as Authgear answers them (its
e2e specs: receipe_1, signup_login/id_token, phone_validation/isPossibleNumber): an error of the
flow's reaction to an input carries `info.FlowType`; an input refused by its JSON schema does not."""

from __future__ import annotations

import pytest

FLOWS = "/api/v1/authentication_flows"
INPUT = FLOWS + "/states/input"
PHONE_KEYS = {
    "identity": {"login_id": {"keys": [{"key": "email", "type": "email"}, {"key": "phone", "type": "phone"}]}}
}


def _create(client, flow_type):
    resp = client.post(FLOWS, json={"type": flow_type, "name": "default"})
    return resp.status_code, resp.get_json()


def _input(client, token, inp):
    resp = client.post(INPUT, json={"state_token": token, "input": inp})
    return resp.status_code, resp.get_json()


def _signup_phone(make_app, phone_input, number):
    app = make_app({**PHONE_KEYS, "ui": {"phone_input": phone_input}})
    client = app.test_client()
    _, created = _create(client, "signup")
    return _input(client, created["result"]["state_token"], {"identification": "phone", "login_id": number})


def _invalid_login_id(cause):
    return {
        "name": "Invalid",
        "reason": "ValidationFailed",
        "message": "invalid login ID",
        "code": 400,
        "info": {"FlowType": "signup", "causes": [cause]},
    }


PHONE_FORMAT = {"location": "/login_id", "kind": "format", "details": {"format": "phone"}}
IS_POSSIBLE = {
    "validation": {"implementation": "libphonenumber", "libphonenumber": {"validation_method": "isPossibleNumber"}}
}
IS_VALID = {
    "validation": {"implementation": "libphonenumber", "libphonenumber": {"validation_method": "isValidNumber"}}
}


@pytest.mark.embedded
def test_public_signup_disabled_is_authentication_flow_no_public_signup(make_app):
    client = make_app({"authentication": {"public_signup_disabled": True}}).test_client()
    status, body = _create(client, "signup")
    assert status == 403
    assert body["error"] == {
        "name": "Forbidden",
        "reason": "AuthenticationFlowNoPublicSignup",
        "message": "public signup is disabled",
        "code": 403,
        "info": {"FlowType": "signup"},
    }


@pytest.mark.embedded
def test_a_malformed_id_token_is_a_general_invalid_error(client):
    _, created = _create(client, "reauth")
    status, body = _input(
        client, created["result"]["state_token"], {"identification": "id_token", "id_token": "invalid"}
    )
    assert status == 400
    assert body["error"] == {
        "name": "Invalid",
        "reason": "Invalid",
        "message": "invalid ID token",
        "code": 400,
        "info": {"FlowType": "reauth"},
    }


@pytest.mark.embedded
def test_a_schema_error_carries_no_flow_type(client):
    _, created = _create(client, "login")
    status, body = _input(client, created["result"]["state_token"], {"identification": "email"})
    assert status == 400 and body["error"]["reason"] == "ValidationFailed"
    assert "FlowType" not in body["error"]["info"]


@pytest.mark.embedded
def test_an_unknown_login_id_names_the_flow_type(client):
    _, created = _create(client, "login")
    token = created["result"]["state_token"]
    status, body = _input(client, token, {"identification": "email", "login_id": "nobody@example.com"})
    assert status == 404
    assert (body["error"]["reason"], body["error"]["info"]) == ("UserNotFound", {"FlowType": "login"})


@pytest.mark.embedded
def test_is_possible_number_lets_a_possible_but_unassigned_number_sign_up(make_app):
    status, body = _signup_phone(make_app, IS_POSSIBLE, "+85211111111")
    assert status == 200, body
    assert body["result"]["action"]["type"] != "identify"


@pytest.mark.embedded
def test_is_possible_number_refuses_an_impossible_number(make_app):
    status, body = _signup_phone(make_app, IS_POSSIBLE, "+852111111111111111")
    assert status == 400
    assert body["error"] == _invalid_login_id(PHONE_FORMAT)


@pytest.mark.embedded
@pytest.mark.parametrize("phone_input", [IS_VALID, {}])
def test_is_valid_number_the_default_refuses_a_possible_but_invalid_number(make_app, phone_input):
    status, body = _signup_phone(make_app, phone_input, "+85211111111")
    assert status == 400
    assert body["error"] == _invalid_login_id(PHONE_FORMAT)


@pytest.mark.embedded
def test_the_phone_allowlist_refuses_other_countries_at_signup(make_app):
    phone_input = {"allowlist": ["HK"], "pinned_list": ["HK"], "preselect_by_ip_disabled": True}
    status, body = _signup_phone(make_app, phone_input, "+442079460958")
    assert status == 400
    assert body["error"] == _invalid_login_id(
        {"location": "/login_id", "kind": "blocked", "details": {"reason": "PhoneNumberCountryCodeAllowlist"}}
    )
    status, body = _signup_phone(make_app, phone_input, "+85298765432")
    assert status == 200, body
