"""Vonage's (Nexmo's) SMS API (secret `sms.nexmo`: `{api_key, api_secret}`), as Authgear sends to it.

`POST https://rest.nexmo.com/sms/json` with form fields `api_key`, `api_secret`, `from` (the
project's SMS sender), `to` (E.164 without the `+`), `text` and `type`: `text` when the body fits
the GSM 03.38 alphabet (basic and extension tables), else `unicode`
(https://developer.vonage.com/en/api/sms). Success is a `messages` list, not empty, whose every
`status` is `"0"`; anything else is Authgear's `UnexpectedError` with `ProviderType: nexmo`
(Authgear maps no Vonage status to a finer reason).
"""

from __future__ import annotations

from typing import Any

from app.config import ConfigError
from app.messaging.providers import UNEXPECTED, ProviderError, ProviderHTTP, json_or_none

API_URL = "https://rest.nexmo.com/sms/json"

# GSM 03.38: the basic character set and the characters of its extension table.
_GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = "\f^{}\\[~]|€"
_GSM = frozenset(_GSM_BASIC + _GSM_EXTENSION)


def message_type(body: str) -> str:
    return "text" if all(c in _GSM for c in body) else "unicode"


class NexmoSMSTransport:
    provider_type = "nexmo"

    def __init__(self, secret: dict[str, Any], http: ProviderHTTP, sender: str) -> None:
        for key in ("api_key", "api_secret"):
            if not secret.get(key):
                raise ConfigError(f"authgear.secrets.yaml sms.nexmo/{key}: required")
        self.api_key = str(secret["api_key"])
        self.api_secret = str(secret["api_secret"])
        self.sender = sender
        self.http = http

    def send(self, to: str, body: str, template: str, locale: str) -> None:
        fields = {
            "api_key": self.api_key,
            "api_secret": self.api_secret,
            "from": self.sender,
            "to": to.removeprefix("+"),
            "text": body,
            "type": message_type(body),
        }
        answer = json_or_none(self.http.post("nexmo", API_URL, data=fields))
        messages = answer.get("messages") if isinstance(answer, dict) else None
        if not isinstance(messages, list) or not messages:
            raise ProviderError(UNEXPECTED, self.provider_type)
        for message in messages:
            if not isinstance(message, dict) or message.get("status") != "0":
                raise ProviderError(UNEXPECTED, self.provider_type)
