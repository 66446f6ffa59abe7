"""WhatsApp delivery of one-time codes, as Authgear sends them: the Cloud API or the on-premises API.

Which API: `messaging.whatsapp.api_type` in authgear.yaml (`cloud-api` or `on-premises`, Authgear's
default without its WHATSAPP_API_TYPE environment being `on-premises`), with that API's secret:

- `whatsapp.cloud-api` `{phone_number_id, access_token, authentication_template: {type:
  copy_code_button, copy_code_button: {name, languages}}, webhook?: {verify_token, app_secret}}`:
  `POST https://graph.facebook.com/v22.0/{phone_number_id}/messages` with the bearer token and an
  authentication template message whose body and URL button carry the code
  (https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-message-templates/auth-otp-template-messages).
  The answer's `messages[0].id` names the message. Without `webhook` the message counts as delivered;
  with it, its status comes from Meta's status webhook (`/whatsapp/webhook`, app/web/whatsapp_webhook.py,
  signed with `app_secret`): `failed` with error 131026 is `WhatsappUndeliverable`, another error
  `UnexpectedWhatsappMessageStatusError`, and no status within `messaging.whatsapp.
  message_sent_callback_timeout` (5 s) `WhatsappMessageStatusCallbackTimeout`.
- `whatsapp.on-premises` `{api_endpoint, username, password, templates: {otp: {name, type:
  authentication, namespace?, languages}}}`: `POST {api_endpoint}/v1/users/login` with basic auth
  gives a bearer token (kept until its `expires_after`, and renewed once when a send answers 401),
  then `POST {api_endpoint}/v1/messages` with the same template message
  (https://developers.facebook.com/docs/whatsapp/on-premises/reference/messages). 2xx is delivered.

A refusal becomes the code's `delivery_error` with Authgear's errors (pkg/lib/infra/whatsapp):
`BadRequest/InvalidWhatsappUser` (on-premises error 1013, Cloud API 131026), `BadRequest/
NoAvailableWhatsappClient` (the chosen API has no secret), else `InternalError/UnexpectedError`
(any other answer, or an API that cannot be reached).

The template's language: the request's locale resolved against `localization.supported_languages`
(as every message is), then against the template's `languages`, else its first language. No text is
rendered: the approved template holds it. Requests go through app/messaging/providers.py (5 s, no
redirects, E2E_HTTP_PROXY / E2E_TLS_CA_CERT_FILE).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from app.config import AppConfig, ConfigError, parse_duration
from app.crypto import sha256_hex
from app.messaging.email import DeliveryError
from app.messaging.providers import ProviderError, ProviderHTTP, json_or_none

CLOUD_API_BASE = "https://graph.facebook.com/v22.0"
DEFAULT_CALLBACK_TIMEOUT = "5s"
STATUS_TTL_SECONDS = 20 * 60  # Authgear's duration.UserInteraction
# Authgear's special message IDs: nothing to look up, the message counts as sent.
UNKNOWN_MESSAGE_ID = "_unknown-message-id"
SUPPRESSED_MESSAGE_ID = "_suppressed-message-id"

ON_PREMISES_INVALID_USER = 1013
CLOUD_API_INVALID_USER = 131026  # also "Message Undeliverable" in a status webhook

# Authgear's API errors, as the JSON the step's `delivery_error` shows.
INVALID_USER = (("BadRequest", "InvalidWhatsappUser"), "invalid whatsapp user")
NO_CLIENT = (("BadRequest", "NoAvailableWhatsappClient"), "no available whatsapp client")
UNEXPECTED = (("InternalError", "UnexpectedError"), "unexpected error occurred")
UNDELIVERABLE = {
    "name": "BadRequest",
    "reason": "WhatsappUndeliverable",
    "message": "whatsapp undeliverable",
    "code": 400,
}
UNEXPECTED_STATUS = {
    "name": "InternalError",
    "reason": "UnexpectedWhatsappMessageStatusError",
    "message": "unexpected whatsapp status error",
    "code": 500,
}
CALLBACK_TIMEOUT = {
    "name": "InternalError",
    "reason": "WhatsappMessageStatusCallbackTimeout",
    "message": "whatsapp message status update not received within configured timeout",
    "code": 500,
}


def whatsapp_error(kind: tuple[tuple[str, str], str]) -> ProviderError:
    """One of Authgear's WhatsApp errors; its JSON has no `info`."""
    return ProviderError(kind[0], "whatsapp", message=kind[1], info={})


def _require(secret: dict[str, Any], where: str, *keys: str) -> None:
    for key in keys:
        if not isinstance(secret.get(key), str) or not secret[key]:
            raise ConfigError(f"authgear.secrets.yaml {where}/{key}: required")


def _languages(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"authgear.secrets.yaml {where}/languages: at least one language is required")
    return list(value)


def template_language(locale: str, languages: list[str]) -> str:
    """The template language for `locale` (already one of the project's languages): the same tag,
    else one of the same language, else the template's first (Authgear's intl.BestMatch fallback)."""
    wanted = locale.replace("-", "_").lower()
    by_key = {lang.lower(): lang for lang in languages}
    if wanted in by_key:
        return by_key[wanted]
    base = wanted.split("_")[0]
    for lang in languages:
        if lang.lower().split("_")[0] == base:
            return lang
    return languages[0]


def _components(code: str, index: Any) -> list[dict[str, Any]]:
    """An authentication template: the body's parameter and the copy-code URL button are the code."""
    return [
        {"type": "body", "parameters": [{"type": "text", "text": code}]},
        {"type": "button", "sub_type": "url", "index": index, "parameters": [{"type": "text", "text": code}]},
    ]


def _post(http: ProviderHTTP, url: str, **kwargs: Any) -> Any:
    try:
        return http.post("whatsapp", url, **kwargs)
    except DeliveryError:
        # Authgear turns a transport failure into UnexpectedError, as every non-API error.
        raise whatsapp_error(UNEXPECTED) from None


class CloudAPIClient:
    api_type = "cloud-api"

    def __init__(self, secret: dict[str, Any], http: ProviderHTTP) -> None:
        where = "whatsapp.cloud-api"
        _require(secret, where, "phone_number_id", "access_token")
        template = secret.get("authentication_template")
        if not isinstance(template, dict) or template.get("type") != "copy_code_button":
            raise ConfigError(f"authgear.secrets.yaml {where}/authentication_template: type copy_code_button required")
        button = template.get("copy_code_button")
        if not isinstance(button, dict):
            raise ConfigError(f"authgear.secrets.yaml {where}/authentication_template/copy_code_button: required")
        _require(button, f"{where}/authentication_template/copy_code_button", "name")
        self.languages = _languages(button.get("languages"), f"{where}/authentication_template/copy_code_button")
        self.template_name = button["name"]
        self.phone_number_id = secret["phone_number_id"]
        self.access_token = secret["access_token"]
        webhook = secret.get("webhook")
        if webhook is not None:
            _require(webhook if isinstance(webhook, dict) else {}, f"{where}/webhook", "verify_token", "app_secret")
        self.webhook: dict[str, str] | None = webhook
        self.http = http

    def send(self, to: str, code: str, locale: str) -> str:
        body = {
            # Authgear's hash of its app host suffixes, which Gatehouse does not have: empty.
            "biz_opaque_callback_data": "",
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "template",
            "template": {
                "name": self.template_name,
                "language": {"policy": "deterministic", "code": template_language(locale, self.languages)},
                "components": _components(code, "0"),
            },
        }
        url = f"{CLOUD_API_BASE}/{quote(self.phone_number_id, safe='')}/messages"
        resp = _post(
            self.http,
            url,
            data=json.dumps(body),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.access_token}"},
        )
        answer = json_or_none(resp)
        if 200 <= resp.status_code < 300 and isinstance(answer, dict):
            messages = answer.get("messages")
            if isinstance(messages, list) and len(messages) == 1 and isinstance(messages[0], dict):
                message_id = messages[0].get("id")
                if isinstance(message_id, str) and message_id:
                    return message_id
        error = answer.get("error") if isinstance(answer, dict) else None
        if isinstance(error, dict) and error.get("code") == CLOUD_API_INVALID_USER:
            raise whatsapp_error(INVALID_USER)
        raise whatsapp_error(UNEXPECTED)


class OnPremisesClient:
    api_type = "on-premises"

    def __init__(self, secret: dict[str, Any], http: ProviderHTTP) -> None:
        where = "whatsapp.on-premises"
        _require(secret, where, "api_endpoint", "username", "password")
        templates = secret.get("templates")
        otp = templates.get("otp") if isinstance(templates, dict) else None
        if not isinstance(otp, dict) or otp.get("type") != "authentication":
            raise ConfigError(f"authgear.secrets.yaml {where}/templates/otp: an authentication template is required")
        _require(otp, f"{where}/templates/otp", "name")
        self.languages = _languages(otp.get("languages"), f"{where}/templates/otp")
        self.template_name = otp["name"]
        self.namespace = otp.get("namespace") or None
        self.endpoint = secret["api_endpoint"].rstrip("/")
        self.auth = (secret["username"], secret["password"])
        self.http = http
        # The login token, until its expiry (Authgear keeps it in Redis per endpoint and user).
        self._token: tuple[str, float] | None = None
        self._lock = threading.Lock()

    def _login(self) -> str:
        resp = _post(self.http, f"{self.endpoint}/v1/users/login", data=b"", auth=self.auth)
        answer = json_or_none(resp)
        users = answer.get("users") if isinstance(answer, dict) else None
        if not 200 <= resp.status_code < 300 or not isinstance(users, list) or not users:
            raise whatsapp_error(UNEXPECTED)
        token = users[0].get("token") if isinstance(users[0], dict) else None
        if not isinstance(token, str) or not token:
            raise whatsapp_error(UNEXPECTED)
        try:
            expires = datetime.strptime(str(users[0].get("expires_after")), "%Y-%m-%d %H:%M:%S%z").timestamp()
        except ValueError:
            expires = 0.0  # used for this send only
        with self._lock:
            self._token = (token, expires)
        return token

    def _cached_token(self) -> str | None:
        with self._lock:
            if self._token and self._token[1] > datetime.now().timestamp():
                return self._token[0]
        return None

    def send(self, to: str, code: str, locale: str) -> str:
        template: dict[str, Any] = {
            "name": self.template_name,
            "language": {"policy": "deterministic", "code": template_language(locale, self.languages)},
            "components": _components(code, 0),
        }
        if self.namespace:
            template["namespace"] = self.namespace
        body = json.dumps({"recipient_type": "individual", "to": to, "type": "template", "template": template})
        token = self._cached_token() or self._login()
        for retry in (True, False):
            resp = _post(
                self.http,
                f"{self.endpoint}/v1/messages",
                data=body,
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            )
            if 200 <= resp.status_code < 300:
                return UNKNOWN_MESSAGE_ID  # delivered, as far as Authgear can tell
            if resp.status_code == 401 and retry:
                token = self._login()
                continue
            answer = json_or_none(resp)
            errors = answer.get("errors") if isinstance(answer, dict) else None
            if isinstance(errors, list) and errors and isinstance(errors[0], dict):
                if errors[0].get("code") == ON_PREMISES_INVALID_USER:
                    raise whatsapp_error(INVALID_USER)
            break
        raise whatsapp_error(UNEXPECTED)


@dataclass
class MessageStatus:
    delivery_status: str  # the step's `delivery_status`: sending, sent or failed
    delivery_error: dict[str, Any] | None = None


class WhatsappService:
    """Sends codes with the configured API and answers a message's delivery status."""

    def __init__(self, config: AppConfig) -> None:
        whatsapp = (config.project.get("messaging") or {}).get("whatsapp") or {}
        self.api_type = whatsapp.get("api_type") or "on-premises"
        self.callback_timeout = parse_duration(
            whatsapp.get("message_sent_callback_timeout") or DEFAULT_CALLBACK_TIMEOUT
        )
        http = ProviderHTTP(config.sso_http_proxy, config.sso_tls_ca_cert_file)
        secret = config.secrets.get(f"whatsapp.{self.api_type}")
        self.client: CloudAPIClient | OnPremisesClient | None = None
        if secret is not None:
            cls = CloudAPIClient if self.api_type == "cloud-api" else OnPremisesClient
            self.client = cls(secret, http)
        self.cloud_api = self.client if isinstance(self.client, CloudAPIClient) else None

    def send(self, store: Any, to: str, code: str, locale: str) -> str:
        """The message ID; a ProviderError with Authgear's error when the API refuses."""
        if self.client is None:
            raise whatsapp_error(NO_CLIENT)
        message_id = self.client.send(to, code, locale)
        if self.cloud_api is not None and not self.cloud_api.webhook:
            # No webhook to report on the message: delivered, as Authgear records it.
            self._set(store, message_id, {"status": "delivered"}, only_new=True)
        return message_id

    # -- message statuses (Authgear's MessageStore) --------------------------------------------
    def _key(self, message_id: str) -> str:
        phone_number_id = self.cloud_api.phone_number_id if self.cloud_api else ""
        return f"whatsapp:status:{sha256_hex(phone_number_id)}:{sha256_hex(message_id)}"

    def _set(self, store: Any, message_id: str, data: dict[str, Any], only_new: bool = False) -> bool:
        return bool(store.set(self._key(message_id), json.dumps(data), ttl=STATUS_TTL_SECONDS, only_new=only_new))

    def status(self, store: Any, message_id: str, sent_at: float, now: float) -> MessageStatus:
        if message_id in (UNKNOWN_MESSAGE_ID, SUPPRESSED_MESSAGE_ID) or self.cloud_api is None:
            return MessageStatus("sent")
        raw = store.get(self._key(message_id))
        if raw is None and now >= sent_at + self.callback_timeout:
            # Authgear marks the message failed once the timeout passes without a webhook.
            self._set(store, message_id, {"status": "failed", "is_timeout": True}, only_new=True)
            raw = store.get(self._key(message_id))
        if raw is None:
            return MessageStatus("sending")
        data = json.loads(raw)
        error: dict[str, Any] | None = None
        if data.get("is_timeout"):
            error = CALLBACK_TIMEOUT
        elif data.get("errors"):
            first = data["errors"][0] if isinstance(data["errors"][0], dict) else {}
            error = UNDELIVERABLE if first.get("code") == CLOUD_API_INVALID_USER else UNEXPECTED_STATUS
        status = data.get("status")
        if status == "accepted":
            delivery = "sending"
        elif status in ("sent", "delivered", "read"):
            delivery = "sent"
        else:
            delivery = "failed"
        return MessageStatus(delivery, dict(error) if error else None)

    # -- the Cloud API's status webhook ---------------------------------------------------------
    def webhook_verify(self, verify_token: str | None, challenge: str | None) -> tuple[int, str]:
        """Meta's subscription check (GET): echo `hub.challenge`, as Authgear does."""
        webhook = self.cloud_api.webhook if self.cloud_api else None
        if not webhook:
            return 404, "not found"
        if challenge:
            return 200, challenge
        if not hmac.compare_digest((verify_token or "").encode(), webhook["verify_token"].encode()):
            return 400, "invalid verify token"
        return 200, ""

    def webhook_receive(self, store: Any, body: bytes, signature: str | None) -> tuple[int, str]:
        """A status notification (POST), signed with HMAC-SHA256 of the body under `app_secret`."""
        webhook = self.cloud_api.webhook if self.cloud_api else None
        if not webhook or self.cloud_api is None:
            return 404, "not found"
        if not signature:
            return 400, "missing signature"
        if not signature.startswith("sha256="):
            return 400, "invalid X-Hub-Signature-256 header format"
        expected = hmac.new(webhook["app_secret"].encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature.removeprefix("sha256=").encode(), expected.encode()):
            return 401, "invalid signature"
        try:
            payload = json.loads(body)
        except ValueError:
            return 400, "invalid request body"
        for entry in _list(payload, "entry"):
            for change in _list(entry, "changes"):
                value = change.get("value") if isinstance(change.get("value"), dict) else {}
                metadata = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
                phone_number_id = str(metadata.get("phone_number_id") or "")
                if change.get("field") != "messages" or not hmac.compare_digest(
                    phone_number_id.encode(), self.cloud_api.phone_number_id.encode()
                ):
                    continue
                for status in _list(value, "statuses"):
                    if isinstance(status.get("id"), str) and isinstance(status.get("status"), str):
                        errors = [e for e in status.get("errors") or [] if isinstance(e, dict)]
                        self._set(store, status["id"], {"status": status["status"], "errors": errors})
        return 200, ""


def _list(obj: Any, key: str) -> list[dict[str, Any]]:
    value = obj.get(key) if isinstance(obj, dict) else None
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
