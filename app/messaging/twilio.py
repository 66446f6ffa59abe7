"""Twilio's Messages API (secret `sms.twilio`), as Authgear's client sends to it.

`POST https://api.twilio.com/2010-04-01/Accounts/{account_sid}/Messages.json`, form fields `Body`,
`To` and either `MessagingServiceSid` (the secret's `message_service_sid`) or `From` (the secret's
`from`, else the project's SMS sender). HTTP basic authentication: `account_sid:auth_token`, or with
`credential_type: api_key` `api_key_sid:api_key_secret`
(https://www.twilio.com/docs/usage/api#authenticate-with-http).

A 2xx answer is the created message; an `error_code` in it, or an error answer's `code`
(https://www.twilio.com/docs/usage/twilios-response), maps to Authgear's SMSGateway* reasons by
Twilio's error codes (https://www.twilio.com/docs/api/errors).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from app.config import ConfigError
from app.messaging.providers import (
    AUTHENTICATION_FAILED,
    DELIVERY_REJECTED,
    INVALID_PHONE_NUMBER,
    RATE_LIMITED,
    UNEXPECTED,
    ProviderError,
    ProviderHTTP,
    json_or_none,
)

API_BASE = "https://api.twilio.com/2010-04-01/Accounts"

# Twilio error code -> Authgear's kind (pkg/lib/infra/sms/twilio).
_KINDS = {
    21211: INVALID_PHONE_NUMBER,  # invalid 'To' phone number
    21265: INVALID_PHONE_NUMBER,  # 'To' number cannot be a short code
    **dict.fromkeys((30022, 14107, 51002, 63017, 63018), RATE_LIMITED),
    20003: AUTHENTICATION_FAILED,
    **dict.fromkeys(
        (30002, 21264, 21266, 21267, 21606, 21607, 21659, 21660, 21661, 21910, 63007),
        DELIVERY_REJECTED,
    ),
}


class TwilioSMSTransport:
    provider_type = "twilio"

    def __init__(self, secret: dict[str, Any], http: ProviderHTTP, sender: str) -> None:
        where = "authgear.secrets.yaml sms.twilio"
        self.account_sid = str(secret.get("account_sid") or "")
        if not self.account_sid:
            raise ConfigError(f"{where}/account_sid: required")
        credential_type = secret.get("credential_type") or "auth_token"  # older secrets have none
        if credential_type == "api_key":
            if not secret.get("api_key_sid") or not secret.get("api_key_secret"):
                raise ConfigError(f"{where}: api_key_sid and api_key_secret are required with credential_type api_key")
            self.auth = (str(secret["api_key_sid"]), str(secret["api_key_secret"]))
        elif credential_type == "auth_token":
            if not secret.get("auth_token"):
                raise ConfigError(f"{where}/auth_token: required")
            self.auth = (self.account_sid, str(secret["auth_token"]))
        else:
            raise ConfigError(f"{where}/credential_type: must be api_key or auth_token")
        self.messaging_service_sid = str(secret.get("message_service_sid") or "")
        self.sender = str(secret.get("from") or "") or sender
        self.http = http

    def send(self, to: str, body: str, template: str, locale: str) -> None:
        fields = {"Body": body, "To": to}
        if self.messaging_service_sid:
            fields["MessagingServiceSid"] = self.messaging_service_sid
        else:
            fields["From"] = self.sender
        url = f"{API_BASE}/{quote(self.account_sid, safe='')}/Messages.json"
        resp = self.http.post("twilio", url, data=fields, auth=self.auth)
        answer = json_or_none(resp)
        if not isinstance(answer, dict):
            raise ProviderError(UNEXPECTED, self.provider_type)
        if 200 <= resp.status_code < 300:
            code = answer.get("error_code")
            if code is None:
                return
        else:
            code = answer.get("code")
        if not isinstance(code, int):
            raise ProviderError(UNEXPECTED, self.provider_type)
        raise ProviderError(_KINDS.get(code, UNEXPECTED), self.provider_type, str(code))
