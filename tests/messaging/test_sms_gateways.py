"""SMS gateways as Authgear configures them, over the Flow API: a phone signup's verification code goes
to Twilio or Vonage stand-ins at their real hosts, in their real request formats; their refusals become
the step's `delivery_error` with Authgear's SMSGateway* reasons."""

from __future__ import annotations

import re
import secrets
from typing import Any

import pytest

from app.config import ConfigError
from tests.messaging.standins import Standins

FLOWS = "/api/v1/authentication_flows"
ACCOUNT = "AC" + "1" * 32
TOKEN = "twilio-auth-token"


def _phone() -> str:
    return "+8529876" + "".join(secrets.choice("0123456789") for _ in range(4))


def _signup_by_phone(client: Any, phone: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    created = client.post(FLOWS, json={"type": "signup", "name": "default"}).get_json()["result"]
    resp = client.post(
        f"{FLOWS}/states/input",
        json={"state_token": created["state_token"], "input": {"identification": "phone", "login_id": phone}},
        headers=headers or {},
    )
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["result"]


def _code(body: str) -> str:
    found = re.search(r"(?<!\d)\d{6}(?!\d)", body)
    assert found, body
    return found.group(0)


@pytest.fixture
def twilio(standins: Standins) -> Standins:
    standins.twilio_accounts[ACCOUNT] = TOKEN
    return standins


def test_twilio_auth_token_and_from_number(provider_app, twilio):
    app = provider_app({"sms.twilio": {"account_sid": ACCOUNT, "auth_token": TOKEN, "from": "+15005550006"}})
    client, phone = app.test_client(), _phone()
    result = _signup_by_phone(client, phone)
    data = result["action"]["data"]
    assert data["type"] == "verify_oob_otp_data" and data["channel"] == "sms" and data["delivery_status"] == "sent"

    (sent,) = twilio.to("api.twilio.com")
    assert sent.path == f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert sent.basic_auth == (ACCOUNT, TOKEN)
    assert set(sent.form) == {"Body", "To", "From"}
    assert sent.form["To"] == phone and sent.form["From"] == "+15005550006"
    assert any(target.startswith("api.twilio.com:443") for target in twilio.proxy.seen)

    done = client.post(
        f"{FLOWS}/states/input",
        json={"state_token": result["state_token"], "input": {"code": _code(sent.form["Body"])}},
    )
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["result"]["action"]["type"] != "verify"


def test_twilio_api_key_and_messaging_service(provider_app, twilio):
    twilio.twilio_api_keys["SK" + "2" * 32] = (ACCOUNT, "api-key-secret")
    secret = {
        "credential_type": "api_key",
        "account_sid": ACCOUNT,
        "api_key_sid": "SK" + "2" * 32,
        "api_key_secret": "api-key-secret",
        "message_service_sid": "MG" + "3" * 32,
        "from": "+15005550006",  # a messaging service wins over `from`, as in Authgear
    }
    client = provider_app({"sms.twilio": secret}).test_client()
    data = _signup_by_phone(client, _phone())["action"]["data"]
    assert data["delivery_status"] == "sent", data
    (sent,) = twilio.to("api.twilio.com")
    assert sent.basic_auth == ("SK" + "2" * 32, "api-key-secret")
    assert sent.form["MessagingServiceSid"] == "MG" + "3" * 32 and "From" not in sent.form


def test_twilio_refusals_are_authgears_sms_gateway_errors(provider_app, twilio):
    client = provider_app({"sms.twilio": {"account_sid": ACCOUNT, "auth_token": "wrong", "from": "+15005550006"}})
    data = _signup_by_phone(client.test_client(), _phone())["action"]["data"]
    assert data["delivery_status"] == "failed"
    assert data["delivery_error"] == {
        "name": "InternalError",
        "reason": "SMSGatewayAuthenticationFailed",
        "message": "sms gateway send error",
        "code": 500,
        "info": {"ProviderErrorCode": "20003", "ProviderType": "twilio", "ProviderName": "", "Description": ""},
    }


@pytest.mark.parametrize(
    "status,body,name,reason,code",
    [
        (
            400,
            {"code": 21211, "message": "The 'To' number is not a valid phone number.", "status": 400},
            "BadRequest",
            "SMSGatewayInvalidPhoneNumber",
            "21211",
        ),
        (
            429,
            {"code": 63018, "message": "Rate limit exceeded", "status": 429},
            "TooManyRequest",
            "SMSGatewayRateLimited",
            "63018",
        ),
        (
            400,
            {"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400},
            "InternalError",
            "UnexpectedError",
            "21610",
        ),
        (
            201,
            {"sid": "SM1", "status": "failed", "error_code": 21606},
            "InternalError",
            "SMSGatewayDeliveryRejected",
            "21606",
        ),
    ],
)
def test_twilio_error_codes(provider_app, twilio, status, body, name, reason, code):
    client = provider_app({"sms.twilio": {"account_sid": ACCOUNT, "auth_token": TOKEN, "from": "+15005550006"}})
    twilio.script["api.twilio.com"] = (status, body)
    data = _signup_by_phone(client.test_client(), _phone())["action"]["data"]
    assert data["delivery_status"] == "failed"
    error = data["delivery_error"]
    assert (error["name"], error["reason"], error["info"]["ProviderErrorCode"]) == (name, reason, code)


def test_an_unreachable_gateway_is_message_delivery_failed(provider_app, twilio):
    client = provider_app({"sms.twilio": {"account_sid": ACCOUNT, "auth_token": TOKEN, "from": "+1"}})
    twilio.script["api.twilio.com"] = (502, b"<html>Bad Gateway</html>")
    data = _signup_by_phone(client.test_client(), _phone())["action"]["data"]
    assert data["delivery_error"]["reason"] == "UnexpectedError"


def test_vonage_form_fields_and_message_type(provider_app, standins):
    standins.nexmo_keys["vonage-key"] = "vonage-secret"
    app = provider_app(
        {"sms.nexmo": {"api_key": "vonage-key", "api_secret": "vonage-secret"}},
        {"localization": {"fallback_language": "en", "supported_languages": ["en", "zh-HK"]}},
    )
    client, phone = app.test_client(), _phone()
    result = _signup_by_phone(client, phone)
    assert result["action"]["data"]["delivery_status"] == "sent"
    (sent,) = standins.to("rest.nexmo.com")
    assert sent.path == "/sms/json" and "Authorization" not in sent.headers
    form = sent.form
    assert set(form) == {"api_key", "api_secret", "from", "to", "text", "type"}
    assert (form["api_key"], form["api_secret"], form["to"], form["type"]) == (
        "vonage-key",
        "vonage-secret",
        phone.removeprefix("+"),
        "text",
    )
    assert form["from"] == "Gatehouse"
    done = client.post(
        f"{FLOWS}/states/input", json={"state_token": result["state_token"], "input": {"code": _code(form["text"])}}
    )
    assert done.status_code == 200, done.get_json()

    # A text outside the GSM alphabet goes as `unicode`.
    _signup_by_phone(client, _phone(), headers={"Accept-Language": "zh-HK"})
    last = standins.to("rest.nexmo.com")[-1].form
    assert last["type"] == "unicode", last["text"]


def test_vonage_refusal_is_unexpected_error(provider_app, standins):
    client = provider_app({"sms.nexmo": {"api_key": "unknown", "api_secret": "x"}}).test_client()
    data = _signup_by_phone(client, _phone())["action"]["data"]
    assert data["delivery_status"] == "failed"
    assert data["delivery_error"] == {
        "name": "InternalError",
        "reason": "UnexpectedError",
        "message": "sms gateway send error",
        "code": 500,
        "info": {"ProviderErrorCode": "", "ProviderType": "nexmo", "ProviderName": "", "Description": ""},
    }


BOTH = {
    "sms.twilio": {"account_sid": ACCOUNT, "auth_token": TOKEN, "from": "+15005550006"},
    "sms.nexmo": {"api_key": "vonage-key", "api_secret": "vonage-secret"},
}


@pytest.mark.parametrize(
    "messaging,host",
    [
        ({"sms_gateway": {"use_config_from": "authgear.secrets.yaml", "provider": "twilio"}}, "api.twilio.com"),
        ({"sms_gateway": {"use_config_from": "authgear.secrets.yaml", "provider": "nexmo"}}, "rest.nexmo.com"),
        ({"sms_provider": "nexmo"}, "rest.nexmo.com"),
        # sms_gateway wins over the deprecated sms_provider.
        (
            {
                "sms_provider": "nexmo",
                "sms_gateway": {"use_config_from": "authgear.secrets.yaml", "provider": "twilio"},
            },
            "api.twilio.com",
        ),
    ],
)
def test_the_configured_gateway_is_chosen(provider_app, twilio, messaging, host):
    twilio.nexmo_keys["vonage-key"] = "vonage-secret"
    client = provider_app(BOTH, {"messaging": messaging}).test_client()
    assert _signup_by_phone(client, _phone())["action"]["data"]["delivery_status"] == "sent"
    assert [r.host for r in twilio.requests] == [host]


def test_several_gateways_and_no_choice_is_ambiguous(provider_app, twilio):
    client = provider_app(BOTH).test_client()
    data = _signup_by_phone(client, _phone())["action"]["data"]
    assert (data["delivery_error"]["reason"], data["delivery_error"]["message"]) == (
        "UnexpectedError",
        "ambiguous SMS client",
    )
    assert twilio.requests == []


def test_a_gateway_without_its_secret_is_no_available_sms_client(provider_app, twilio):
    client = provider_app({"sms.nexmo": BOTH["sms.nexmo"]}, {"messaging": {"sms_provider": "twilio"}}).test_client()
    data = _signup_by_phone(client, _phone())["action"]["data"]
    assert data["delivery_error"] == {
        "name": "InternalError",
        "reason": "NoAvailableSMSClient",
        "message": "no available SMS client",
        "code": 500,
    }


@pytest.mark.embedded
@pytest.mark.parametrize(
    "secrets_,messaging,match",
    [
        ({"sms.twilio": {"auth_token": "x"}}, {}, "sms.twilio/account_sid"),
        ({"sms.twilio": {"account_sid": ACCOUNT}}, {}, "sms.twilio/auth_token"),
        (
            {"sms.twilio": {"account_sid": ACCOUNT, "credential_type": "api_key", "api_key_sid": "SK"}},
            {},
            "api_key_secret",
        ),
        ({"sms.nexmo": {"api_key": "k"}}, {}, "sms.nexmo/api_secret"),
        ({}, {"sms_gateway": {"use_config_from": "authgear.secrets.yaml"}}, "provider"),
        ({}, {"sms_provider": "sns"}, "sms_provider"),
    ],
)
def test_broken_gateway_configuration_stops_the_start(provider_app, secrets_, messaging, match):
    with pytest.raises(ConfigError, match=match):
        provider_app(secrets_, {"messaging": messaging})
