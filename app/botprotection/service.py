"""The bot protection service: which provider, its keys, where its siteverify API is, and the check
of one token (Authgear's pkg/lib/botprotection Provider)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from app.botprotection import cloudflare, recaptchav2
from app.botprotection.errors import BotProtectionVerificationFailed, BotProtectionVerificationServiceUnavailable
from app.botprotection.siteverify import UnexpectedResponse
from app.errors import InternalError

log = logging.getLogger(__name__)

PROVIDERS: dict[str, ModuleType] = {cloudflare.TYPE: cloudflare, recaptchav2.TYPE: recaptchav2}


@dataclass(frozen=True)
class BotProtection:
    provider_type: str  # "" when bot protection is off
    site_key: str = ""
    secret_key: str = ""
    endpoint: str = ""
    script_url: str = ""
    timeout: float = 10.0

    @classmethod
    def from_config(cls, config: Any) -> BotProtection:
        """From `bot_protection` in authgear.yaml, the `bot_protection.provider` secret and the
        endpoints app/config.py read from the environment. Off unless enabled with a provider
        type and site key (Authgear's BotProtectionConfig.IsEnabled)."""
        section = config.project.get("bot_protection") or {}
        provider = section.get("provider") or {}
        kind = provider.get("type") or ""
        if not section.get("enabled") or kind not in PROVIDERS or not provider.get("site_key"):
            return cls("")
        module = PROVIDERS[kind]
        endpoints = {
            "cloudflare": config.bot_protection_cloudflare_endpoint,
            "recaptchav2": config.bot_protection_recaptchav2_endpoint,
        }
        secret = config.secrets.get("bot_protection.provider") or {}
        return cls(
            provider_type=kind,
            site_key=provider["site_key"],
            secret_key=str(secret.get("secret_key") or ""),
            endpoint=endpoints[kind] or module.VERIFY_ENDPOINT,
            script_url=config.bot_protection_script_url or module.SCRIPT_URL,
            timeout=config.bot_protection_timeout,
        )

    @property
    def enabled(self) -> bool:
        return bool(self.provider_type)

    @property
    def script_origin(self) -> str:
        """The origin the widget's script comes from, for the pages' Content-Security-Policy."""
        parts = urlsplit(self.script_url)
        return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""

    @property
    def script_origins(self) -> list[str]:
        """The sources the widget's page allows for script and frames: the provider's, or the origin
        of GATEHOUSE_BOT_PROTECTION_SCRIPT_URL when it serves the script from elsewhere."""
        module = PROVIDERS.get(self.provider_type)
        if module is None:
            return []
        if self.script_url == module.SCRIPT_URL:
            return list(module.ORIGINS)
        return [self.script_origin] if self.script_origin else []

    @property
    def response_field(self) -> str:
        return PROVIDERS[self.provider_type].RESPONSE_FIELD if self.enabled else ""

    def verify(self, token: str, remote_ip: str) -> None:
        """Ask the provider about `token`; returns when it is a human's. Raises
        BotProtectionVerificationFailed, BotProtectionVerificationServiceUnavailable, or
        InternalError when the provider's answer cannot be read (as Authgear does)."""
        if not self.enabled:
            raise InternalError("UnexpectedError", "bot protection is not configured")
        if not token:
            raise BotProtectionVerificationFailed(["missing-input-response"])
        try:
            PROVIDERS[self.provider_type].verify(self.endpoint, self.secret_key, token, remote_ip, self.timeout)
        except BotProtectionVerificationServiceUnavailable as exc:
            # The client learns only that the provider is unavailable; the log says why.
            log.error(
                "bot protection verification service unavailable: provider_type=%s cause=%s",
                self.provider_type,
                exc.cause,
            )
            raise
        except BotProtectionVerificationFailed as exc:
            log.info(
                "bot protection verification failed: provider_type=%s error_codes=%s",
                self.provider_type,
                ",".join(exc.error_codes),
            )
            raise
        except UnexpectedResponse as exc:
            log.error("bot protection: unexpected siteverify answer: provider_type=%s %s", self.provider_type, exc)
            raise InternalError("UnexpectedError", "unexpected error") from None
