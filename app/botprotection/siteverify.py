"""The siteverify call both providers share: a form POST of `secret`, `response` and `remoteip`,
answered by JSON with `success` and, on failure, `error-codes`.

Cloudflare Turnstile: https://developers.cloudflare.com/turnstile/get-started/server-side-validation/
reCAPTCHA v2: https://developers.google.com/recaptcha/docs/verify
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import requests

from app.botprotection.errors import BotProtectionVerificationFailed, BotProtectionVerificationServiceUnavailable

log = logging.getLogger(__name__)


class UnexpectedResponse(Exception):
    """The provider answered something that is neither a success nor a failure with error codes.
    Authgear treats it as an internal error (500); so does Gatehouse."""


@dataclass
class SiteverifyResult:
    success: bool
    error_codes: list[str] = field(default_factory=list)
    hostname: str = ""
    challenge_ts: str = ""


def post(endpoint: str, secret: str, token: str, remote_ip: str, timeout: float) -> SiteverifyResult:
    """Ask the provider; raises BotProtectionVerificationServiceUnavailable when it cannot be
    reached in `timeout` seconds, UnexpectedResponse on an answer that cannot be read."""
    form = {"secret": secret, "response": token}
    if remote_ip:
        form["remoteip"] = remote_ip
    try:
        resp = requests.post(endpoint, data=form, timeout=timeout)
        body = resp.content
    except requests.RequestException as exc:
        raise BotProtectionVerificationServiceUnavailable(type(exc).__name__) from None
    try:
        parsed = resp.json()
    except ValueError:
        raise UnexpectedResponse(f"siteverify answered {resp.status_code} with no JSON ({len(body)} bytes)") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("success"), bool):
        raise UnexpectedResponse(f"siteverify answered {resp.status_code} without success")
    codes = parsed.get("error-codes") or []
    if not isinstance(codes, list):
        codes = []
    return SiteverifyResult(
        success=parsed["success"],
        error_codes=[str(c) for c in codes],
        hostname=str(parsed.get("hostname") or ""),
        challenge_ts=str(parsed.get("challenge_ts") or ""),
    )


def judge(result: SiteverifyResult, unavailable_codes: tuple[str, ...] = ()) -> None:
    """Raise the error a failed answer means; a failure names at least one error code."""
    if result.success:
        return
    if not result.error_codes:
        raise UnexpectedResponse("siteverify answered success: false without error-codes")
    if any(code in unavailable_codes for code in result.error_codes):
        raise BotProtectionVerificationServiceUnavailable(",".join(result.error_codes))
    raise BotProtectionVerificationFailed(result.error_codes)
