"""MessageSender: renders a localized message and hands it to the configured provider.

Email goes over SMTP when the secret `mail.smtp` is set, SMS to the gateway Authgear's configuration
chooses (app/messaging/sms.py: Twilio, Vonage or the `sms.custom` webhook); without them (the
embedded default) both land in the outbox folder and the log gets one line naming the file, never
the code. Log lines mask the recipient. A message that test mode suppresses
(app/testmode.py) goes nowhere; the log says so.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlsplit

from app.config import AppConfig
from app.db import Clock, utcnow
from app.errors import ServiceUnavailable
from app.messaging.email import DeliveryError, OutboxTransport, SMTPTransport, build_email
from app.messaging.outbox import Outbox
from app.messaging.providers import ProviderError
from app.messaging.sms import OutboxSMSTransport, resolve_sms_transport
from app.messaging.templates import MessageRenderer, normalize_locale
from app.messaging.whatsapp import SUPPRESSED_MESSAGE_ID, WhatsappService
from app.testmode import TestMode

log = logging.getLogger("gatehouse.messaging")

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class MessageDeliveryFailed(ServiceUnavailable):
    """The message was not delivered. `cause`, when a provider refused it, is the API error Authgear
    reports for that refusal (e.g. `SMSGatewayInvalidPhoneNumber`); it is what `to_dict` gives."""

    def __init__(self, cause: ProviderError | None = None) -> None:
        super().__init__("MessageDeliveryFailed", "the message could not be delivered; try again later")
        self.cause = cause

    def to_dict(self) -> dict[str, Any]:
        return self.cause.to_dict() if self.cause is not None else super().to_dict()


def mask_address(target: str) -> str:
    """`john@example.com` -> `j****@example.com`; `+85298765432` -> `+8529876****`."""
    if "@" in target:
        local, domain = target.rsplit("@", 1)
        return f"{local[:1]}****@{domain}"
    if len(target) <= 4:
        return "*" * len(target)
    return target[:-4] + "****"


class MessageSender:
    def __init__(self, config: AppConfig, clock: Clock = utcnow, renderer: MessageRenderer | None = None) -> None:
        self.clock = clock
        localization = config.project.get("localization", {})
        self.fallback_language = localization.get("fallback_language", "en")
        self.supported_languages = list(localization.get("supported_languages", [self.fallback_language]))
        self.renderer = renderer or MessageRenderer(fallback_language=self.fallback_language)
        host = urlsplit(config.public_origin).hostname or "localhost"
        self.message_id_domain = host
        email_config = config.project.get("messaging", {}).get("email", {})
        self.email_sender = email_config.get("sender") or f"no-reply@{host}"
        outbox = Outbox(config.config_dir / "outbox" if config.config_dir else None)
        self.outbox = outbox
        smtp = config.secrets.get("mail.smtp")
        self.smtp = SMTPTransport(smtp) if smtp is not None else None
        self.email_outbox = OutboxTransport(outbox)
        self.sms_webhook = resolve_sms_transport(config)
        if ((config.project.get("messaging") or {}).get("sms_gateway") or {}).get(
            "use_config_from"
        ) == "environment_variable":
            log.warning("messaging.sms_gateway use_config_from environment_variable is not implemented: no SMS is sent")
        self.sms_outbox = OutboxSMSTransport(outbox)
        self.whatsapp = WhatsappService(config)  # app/messaging/whatsapp.py
        self.test_mode = TestMode(config.project, config.features)

    def suppressed(self, channel: str, to: str) -> bool:
        """Whether test mode keeps a message of `channel` ("email" or "sms") to `to` from being sent."""
        return self.test_mode.suppressed_by_rule(channel, to) or self.test_mode.suppressed_by_feature(channel)

    def resolve_locale(self, locale: str | None) -> str:
        """The best of `localization.supported_languages` for `locale`, else the fallback language."""
        wanted = (normalize_locale(locale) or "").lower()
        supported = {s.replace("-", "_").lower(): s for s in self.supported_languages}
        while wanted:
            if wanted in supported:
                return supported[wanted]
            wanted = wanted.rpartition("_")[0]
        return self.fallback_language

    def send_email(self, to: str, template: str, params: dict[str, Any], locale: str) -> None:
        _check_recipient(to)
        if self.suppressed("email", to):
            log.info("email %s to %s is suppressed by test mode", template, mask_address(to))
            return
        rendered = self.renderer.render_email(template, params, self.resolve_locale(locale))
        msg = build_email(self.email_sender, to, rendered, self.message_id_domain, self.clock())
        if self.smtp is None:
            path = self.email_outbox.send(msg, template)
            log.info("email %s to %s written to the outbox: %s", template, mask_address(to), path)
            return
        try:
            self.smtp.send(msg)
        except DeliveryError as exc:
            log.error("email %s to %s not delivered: %s", template, mask_address(to), exc)
            raise MessageDeliveryFailed() from None
        log.info("email %s sent to %s", template, mask_address(to))

    def send_sms(self, to: str, template: str, params: dict[str, Any], locale: str) -> None:
        _check_recipient(to)
        if self.suppressed("sms", to):
            log.info("sms %s to %s is suppressed by test mode", template, mask_address(to))
            return
        used = self.resolve_locale(locale)
        body = self.renderer.render_sms(template, params, used)
        if self.sms_webhook is None:
            path = self.sms_outbox.send(to, body, template, used)
            log.info("sms %s to %s written to the outbox: %s", template, mask_address(to), path)
            return
        try:
            self.sms_webhook.send(to, body, template, used)
        except DeliveryError as exc:
            log.error("sms %s to %s not delivered: %s", template, mask_address(to), exc)
            raise MessageDeliveryFailed(exc if isinstance(exc, ProviderError) else None) from None
        log.info("sms %s sent to %s", template, mask_address(to))

    def send_whatsapp(self, store: Any, to: str, code: str, locale: str) -> str:
        """Send `code` in the configured WhatsApp authentication template; returns the message ID."""
        _check_recipient(to)
        if self.test_mode.suppressed_by_feature("whatsapp"):
            log.info("whatsapp code to %s is suppressed by test mode", mask_address(to))
            return SUPPRESSED_MESSAGE_ID
        try:
            message_id = self.whatsapp.send(store, to, code, self.resolve_locale(locale))
        except DeliveryError as exc:
            log.error("whatsapp code to %s not delivered: %s", mask_address(to), exc)
            raise MessageDeliveryFailed(exc if isinstance(exc, ProviderError) else None) from None
        log.info("whatsapp code sent to %s", mask_address(to))
        return message_id


def _check_recipient(to: str) -> None:
    if not to or len(to) > 320 or _CONTROL.search(to):
        raise ValueError("invalid recipient")
