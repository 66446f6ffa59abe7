"""What the HTTP message providers (Twilio, Vonage, WhatsApp) share: their error and their transport.

A provider that answers with a refusal raises `ProviderError`, which carries the API error Authgear
reports for it (pkg/lib/infra/sms/smsapi: `SMSGatewayInvalidPhoneNumber`, `SMSGatewayRateLimited`,
`SMSGatewayAuthenticationFailed`, `SMSGatewayDeliveryRejected`, ..., else `UnexpectedError`, with
Authgear's `info` keys). That error becomes the code's `delivery_error`. A provider that cannot be
reached raises the plain `DeliveryError` (`ServiceUnavailable/MessageDeliveryFailed`).

Requests go to the providers' fixed hosts with a 5 s timeout (Authgear's), never follow redirects,
and honour E2E_HTTP_PROXY / E2E_TLS_CA_CERT_FILE as every outgoing provider request does
(app/sso/http.py), which is how the tests reach stand-ins at the real host names.
"""

from __future__ import annotations

from typing import Any

import requests

from app.errors import STATUS_BY_NAME
from app.messaging.email import DeliveryError
from app.sso.http import HTTPClient

PROVIDER_TIMEOUT_SECONDS = 5.0

# Authgear's smsapi kinds: (name, reason).
INVALID_PHONE_NUMBER = ("BadRequest", "SMSGatewayInvalidPhoneNumber")
AUTHENTICATION_FAILED = ("InternalError", "SMSGatewayAuthenticationFailed")
DELIVERY_REJECTED = ("InternalError", "SMSGatewayDeliveryRejected")
TIMEOUT = ("InternalError", "SMSGatewayTimeout")
RATE_LIMITED = ("TooManyRequest", "SMSGatewayRateLimited")
UNSUPPORTED_REQUEST = ("InternalError", "SMSGatewayUnsupportedRequest")
UNEXPECTED = ("InternalError", "UnexpectedError")


class ProviderError(DeliveryError):
    """A provider's refusal, as the API error Authgear's SendError becomes."""

    def __init__(
        self,
        kind: tuple[str, str],
        provider_type: str,
        provider_error_code: str = "",
        message: str = "sms gateway send error",
        info: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{provider_type} refused the message ({kind[1]}, code {provider_error_code or '-'})")
        self.kind = kind
        self.provider_type = provider_type
        self.provider_error_code = provider_error_code
        self.message = message
        self.info = info

    def to_dict(self) -> dict[str, Any]:
        name, reason = self.kind
        info = self.info
        if info is None:
            info = {
                "ProviderErrorCode": self.provider_error_code,
                "ProviderType": self.provider_type,
                "ProviderName": "",
                "Description": "",
            }
        body = {"name": name, "reason": reason, "message": self.message, "code": STATUS_BY_NAME[name]}
        return {**body, "info": info} if info else body


class ProviderHTTP:
    """POSTs to a provider; an unreachable or silent one is a `DeliveryError` naming only the class."""

    def __init__(self, proxy: str | None = None, ca_file: str | None = None) -> None:
        self.client = HTTPClient(proxy, ca_file, PROVIDER_TIMEOUT_SECONDS)

    def post(self, provider: str, url: str, **kwargs: Any) -> requests.Response:
        try:
            with self.client.session() as s:
                return s.post(url, timeout=PROVIDER_TIMEOUT_SECONDS, allow_redirects=False, **kwargs)
        except requests.RequestException as exc:
            # Only the class: an exception text may echo the URL, which can hold credentials.
            raise DeliveryError(f"{provider} unreachable ({exc.__class__.__name__})") from None


def json_or_none(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None
