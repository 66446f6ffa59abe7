"""SMS delivery: a webhook (secret `sms.custom`: `{url, timeout?}`) or the outbox.

The webhook gets `POST <url>` with JSON `{"to", "body", "template", "locale"}`; any 2xx answer
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

from app.config import ConfigError
from app.messaging.email import DeliveryError
from app.messaging.outbox import Outbox

DEFAULT_TIMEOUT_SECONDS = 10.0


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
