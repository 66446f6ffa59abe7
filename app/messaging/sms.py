"""SMS delivery: the gateway Authgear's configuration chooses, or the outbox.

Which gateway, as Authgear's ClientResolver decides from authgear.yaml: `messaging.sms_gateway`
(`use_config_from: authgear.secrets.yaml` with its `provider`), else `messaging.sms_provider`, else
the only one of the secrets `sms.nexmo` (app/messaging/nexmo.py), `sms.twilio`
(app/messaging/twilio.py) and `sms.custom` (the webhook below) that is present. A provider named
without its secret is Authgear's `InternalError/NoAvailableSMSClient`, several secrets and no choice
`UnexpectedError` ("ambiguous SMS client"), both as the code's `delivery_error`. Without any SMS
configuration (the embedded default) texts go to the outbox. `use_config_from:
environment_variable` (Authgear's SMS_GATEWAY_* variables) is not implemented: nothing is sent, and
the start says so.

The `sms.custom` webhook gets `POST <url>` with JSON `{"to", "body", "template", "locale"}`; any 2xx answer
is success. Redirects are not followed: a POST carrying a one-time code goes only where the
operator configured it.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from app.config import AppConfig, ConfigError
from app.messaging.email import DeliveryError
from app.messaging.nexmo import NexmoSMSTransport
from app.messaging.outbox import Outbox
from app.messaging.providers import UNEXPECTED, ProviderError, ProviderHTTP
from app.messaging.twilio import TwilioSMSTransport

DEFAULT_TIMEOUT_SECONDS = 10.0
# The SMS sender ID when Twilio's secret names no `from` (Authgear's `sms.default.sender` is
# "Authgear"); at most 11 characters, the limit of alphanumeric sender IDs.
DEFAULT_SENDER = "Gatehouse"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


class WebhookSMSTransport:
    def __init__(self, secret: dict[str, Any]) -> None:
        self.url = str(secret.get("url") or "")
        if urlsplit(self.url).scheme not in ("http", "https"):
            raise ConfigError("authgear.secrets.yaml sms.custom/url: must be an http or https URL")
        self.timeout = float(secret.get("timeout") or DEFAULT_TIMEOUT_SECONDS)

    def send(self, to: str, body: str, template: str, locale: str) -> None:
        payload = json.dumps({"to": to, "body": body, "template": template, "locale": locale}).encode()
        request = urllib.request.Request(  # noqa: S310 (scheme checked in __init__: http or https only)
            self.url, data=payload, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with _OPENER.open(request, timeout=self.timeout) as resp:
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
        except (OSError, ValueError) as exc:
            raise DeliveryError(f"SMS webhook unreachable ({exc.__class__.__name__})") from None
        if not 200 <= status < 300:
            raise DeliveryError(f"SMS webhook answered {status}")


class OutboxSMSTransport:
    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    def send(self, to: str, body: str, template: str, locale: str) -> Path:
        text = f"To: {to}\nTemplate: {template}\nLocale: {locale}\n\n{body}\n"
        return self.outbox.write(template, "txt", text.encode())


class UnavailableSMSTransport:
    """The configured gateway cannot be used: every text fails with Authgear's error for it."""

    def __init__(self, kind: tuple[str, str], message: str) -> None:
        self.kind, self.message = kind, message

    def send(self, to: str, body: str, template: str, locale: str) -> None:
        raise ProviderError(self.kind, "", message=self.message, info={})


NO_AVAILABLE_CLIENT = ("InternalError", "NoAvailableSMSClient")


def resolve_sms_transport(config: AppConfig, sender: str = DEFAULT_SENDER) -> Any:
    """The transport texts go to, or None for the outbox (no SMS configuration at all)."""
    messaging = config.project.get("messaging") or {}
    gateway = messaging.get("sms_gateway")
    http = ProviderHTTP(config.sso_http_proxy, config.sso_tls_ca_cert_file)
    builders: dict[str, Any] = {
        "nexmo": lambda secret: NexmoSMSTransport(secret, http, sender),
        "twilio": lambda secret: TwilioSMSTransport(secret, http, sender),
        "custom": WebhookSMSTransport,
    }
    present = {name: config.secrets[f"sms.{name}"] for name in builders if f"sms.{name}" in config.secrets}
    no_client = UnavailableSMSTransport(NO_AVAILABLE_CLIENT, "no available SMS client")
    if gateway:
        if gateway.get("use_config_from") == "environment_variable":
            return no_client
        provider = gateway.get("provider")
    else:
        provider = messaging.get("sms_provider")
    if provider:
        return builders[provider](present[provider]) if provider in present else no_client
    if not present:
        return None
    if len(present) > 1:
        return UnavailableSMSTransport(UNEXPECTED, "ambiguous SMS client")
    ((name, secret),) = present.items()
    return builders[name](secret)
