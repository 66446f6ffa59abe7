"""Google reCAPTCHA v2 (`bot_protection.provider.type: recaptchav2`)."""

from __future__ import annotations

from app.botprotection import siteverify

TYPE = "recaptchav2"
VERIFY_ENDPOINT = "https://www.google.com/recaptcha/api/siteverify"
SCRIPT_URL = "https://www.google.com/recaptcha/api.js?render=explicit"
ORIGINS = ("https://www.google.com", "https://www.gstatic.com")
RESPONSE_FIELD = "g-recaptcha-response"


def verify(endpoint: str, secret: str, token: str, remote_ip: str, timeout: float) -> None:
    # reCAPTCHA has no error code for its own trouble: every failure is the token's.
    siteverify.judge(siteverify.post(endpoint, secret, token, remote_ip, timeout))
