"""Cloudflare Turnstile (`bot_protection.provider.type: cloudflare`)."""

from __future__ import annotations

from app.botprotection import siteverify

TYPE = "cloudflare"
VERIFY_ENDPOINT = "https://challenges.cloudflare.com/turnstile/v0/siteverify"
# Explicit rendering: bot_protection.js calls `turnstile.render` on the widget's element.
SCRIPT_URL = "https://challenges.cloudflare.com/turnstile/v0/api.js?render=explicit"
# Where the widget's script and frame come from (the pages' Content-Security-Policy).
ORIGINS = ("https://challenges.cloudflare.com",)
# The hidden field the widget fills with its token.
RESPONSE_FIELD = "cf-turnstile-response"
# Turnstile's own trouble is not the visitor's: Authgear answers it as the service being unavailable.
UNAVAILABLE_CODES = ("internal-error",)


def verify(endpoint: str, secret: str, token: str, remote_ip: str, timeout: float) -> None:
    siteverify.judge(siteverify.post(endpoint, secret, token, remote_ip, timeout), UNAVAILABLE_CODES)
