"""One-time codes sent by email or SMS: claim verification, OOB OTP login and setup, account recovery.

A code is 6 digits; the store keeps only its SHA-256 with its expiry, per (purpose, target).
Sending is behind the per-target trigger cooldown, the per-IP trigger limit and the messaging
limits; checking is behind the per-IP validate limit and a failed-attempt counter that revokes
the code after `max_failed_attempts_revoke_otp` (5) wrong tries. As in Authgear, the try that
reaches the limit and every later one get `TooManyRequest/RateLimited`; earlier wrong, expired
or missing codes get `Forbidden/InvalidOTPCode`. A right code works once.

Bucket names and groups are Authgear's (pkg/lib/ratelimit), so `info` reads the same.

Test mode (app/testmode.py) fixes the code of matching targets; the limits above still apply to
it, as in Authgear. A message a project rule suppresses skips the messaging limits as well.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.authenticators import login_links
from app.config import parse_duration
from app.crypto import equal, random_alnum, random_digits, sha256_hex
from app.db import Clock, utcnow
from app.errors import Forbidden, TooManyRequest
from app.kvstore import KVStore
from app.messaging.service import MessageDeliveryFailed, MessageSender, mask_address
from app.ratelimit import RateLimiter, rate_limited
from app.testmode import TestMode

log = logging.getLogger("gatehouse.otp")

CODE_LENGTH = 6
PURPOSES = ("verification", "login", "account_recovery", "setup")
# WhatsApp (app/messaging/whatsapp.py) takes a phone number's code under SMS's limits and validity,
# with a cooldown of its own, as in Authgear (pkg/lib/authn/otp kinds).
CHANNELS = ("email", "sms", "whatsapp")
TEMPLATE = {
    "verification": "otp_verification",
    "setup": "otp_verification",
    "login": "otp_login",
    "account_recovery": "account_recovery",
}
# Authgear's defaults where authgear.yaml may leave a key out (contract section 10).
_DEFAULT_COOLDOWN = "1m"
_DEFAULT_VALIDATE = {"enabled": True, "period": "1m", "burst": 60}
_MESSAGING_DEFAULTS = {
    "email_per_ip": {"enabled": True, "period": "1m", "burst": 200},
    "email_per_target": {"enabled": True, "period": "24h", "burst": 50},
    "sms_per_ip": {"enabled": True, "period": "1m", "burst": 60},
    "sms_per_target": {"enabled": True, "period": "1h", "burst": 10},
}


def mask(target: str) -> str:
    """`masked_display_name` / `masked_claim_value`: `j****@example.com`, `+8529876****`."""
    return mask_address(target)


def channel_of(target: str) -> str:
    return "email" if "@" in target else "sms"


@dataclass(frozen=True)
class _Policy:
    """What one (purpose, channel) pair reads from authgear.yaml."""

    template: str
    valid_seconds: float
    cooldown_seconds: float
    cooldown_bucket: str
    trigger_group: str
    trigger_bucket: str
    trigger_rule: dict[str, Any]
    validate_group: str
    validate_bucket: str
    validate_rule: dict[str, Any]
    max_failed: int


class OTPService:
    def __init__(
        self,
        store: KVStore,
        sender: MessageSender,
        rate_limiter: RateLimiter,
        project: dict[str, Any],
        clock: Clock = utcnow,
        test_mode: TestMode | None = None,
    ) -> None:
        self.store = store
        self.sender = sender
        # The sender's, built from the same config: one reading of test mode for codes and messages.
        self.test_mode = test_mode or sender.test_mode
        self.rate_limiter = rate_limiter
        self.project = project
        self.clock = clock
        self.app_name = project.get("id", "")

    # -- configuration ------------------------------------------------------------------------
    def _policy(self, purpose: str, channel: str, form: str = "code") -> _Policy:
        if form == "link":
            # Login links (app/authenticators/login_links.py): the same limits, the link's validity
            # period and message.
            return login_links.link_policy(self._policy(purpose, channel), self.project, purpose, channel)
        if purpose not in PURPOSES:
            raise ValueError(f"unknown OTP purpose {purpose!r}")
        if channel not in CHANNELS:
            raise ValueError(f"unknown OTP channel {channel!r}")
        if channel == "whatsapp":
            sms = self._policy(purpose, "sms", form)
            return dataclasses.replace(sms, cooldown_bucket=sms.cooldown_bucket.replace("SMS", "Whatsapp"))
        p = self.project
        ch = channel.capitalize() if channel == "email" else "SMS"
        verification = p["verification"]["rate_limits"][channel]
        if purpose == "verification":
            return _Policy(
                template=TEMPLATE[purpose],
                valid_seconds=parse_duration(p["verification"]["code_valid_period"]),
                cooldown_seconds=parse_duration(verification.get("trigger_cooldown", _DEFAULT_COOLDOWN)),
                cooldown_bucket=f"VerificationCooldown{ch}",
                trigger_group=f"verification.{channel}.trigger",
                trigger_bucket=f"VerificationTrigger{ch}PerIP",
                trigger_rule=verification.get("trigger_per_ip") or {},
                validate_group=f"verification.{channel}.validate",
                validate_bucket=f"VerificationValidate{ch}PerIP",
                validate_rule=verification.get("validate_per_ip") or _DEFAULT_VALIDATE,
                max_failed=int(verification.get("max_failed_attempts_revoke_otp", 5)),
            )
        if purpose == "account_recovery":
            fp = p["forgot_password"]
            limits = fp.get("rate_limits", {}).get(channel, {})
            return _Policy(
                template=TEMPLATE[purpose],
                valid_seconds=parse_duration(fp["valid_periods"]["code"]),
                cooldown_seconds=parse_duration(limits.get("trigger_cooldown", _DEFAULT_COOLDOWN)),
                cooldown_bucket=f"ForgotPasswordCooldown{ch}",
                trigger_group=f"forgot_password.{channel}.trigger",
                trigger_bucket=f"ForgotPasswordTrigger{ch}PerIP",
                trigger_rule=limits.get("trigger_per_ip") or verification.get("trigger_per_ip") or {},
                validate_group=f"forgot_password.{channel}.validate",
                validate_bucket=f"ForgotPasswordValidate{ch}PerIP",
                validate_rule=limits.get("validate_per_ip") or _DEFAULT_VALIDATE,
                # Authgear sets no revocation here and relies on the per-IP limit; a 6-digit code
                # that resets a password gets the same 5-try revocation as every other code.
                max_failed=int(
                    limits.get("max_failed_attempts_revoke_otp", verification.get("max_failed_attempts_revoke_otp", 5))
                ),
            )
        # login and setup: the OOB OTP authenticator (Authgear's "oob-otp" kind).
        oob = p["authentication"].get("rate_limits", {}).get("oob_otp", {}).get(channel, {})
        general = p["authentication"]["rate_limits"]["general"]
        return _Policy(
            template=TEMPLATE[purpose],
            valid_seconds=parse_duration(p["authenticator"]["oob_otp"][channel]["valid_periods"]["code"]),
            cooldown_seconds=parse_duration(oob.get("trigger_cooldown", _DEFAULT_COOLDOWN)),
            cooldown_bucket=f"OOBOTPCooldown{ch}",
            trigger_group=f"authentication.oob_otp.{channel}.trigger",
            trigger_bucket=f"OOBOTPTrigger{ch}PerIP",
            trigger_rule=oob.get("trigger_per_ip") or verification.get("trigger_per_ip") or {},
            validate_group=f"authentication.oob_otp.{channel}.validate",
            validate_bucket=f"OOBOTPValidate{ch}PerIP",
            validate_rule=oob.get("validate_per_ip") or general.get("per_ip") or _DEFAULT_VALIDATE,
            max_failed=int(
                oob.get("max_failed_attempts_revoke_otp", verification.get("max_failed_attempts_revoke_otp", 5))
            ),
        )

    def _messaging_rule(self, name: str) -> dict[str, Any]:
        limits = self.project.get("messaging", {}).get("rate_limits", {})
        return limits.get(name) or _MESSAGING_DEFAULTS[name]

    # -- storage -------------------------------------------------------------------------------
    @staticmethod
    def _target_key(target: str) -> str:
        # Addresses are compared case-insensitively and kept out of the store's key names.
        return sha256_hex(target.strip().lower())

    def _code_key(self, purpose: str, target: str) -> str:
        return f"otp:{purpose}:{self._target_key(target)}"

    def _load(self, purpose: str, target: str) -> dict[str, Any] | None:
        raw = self.store.get(self._code_key(purpose, target))
        return json.loads(raw) if raw else None

    # -- API -----------------------------------------------------------------------------------
    def send(
        self,
        purpose: str,
        channel: str,
        target: str,
        locale: str = "en",
        ip: str = "",
        link: str | None = None,
        deliver: bool = True,
        form: str = "code",
        ws_channel: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> datetime:
        """Send a fresh code to `target`; returns `can_resend_at` (aware UTC).

        `deliver=False` does everything but the delivery (cooldown, limits, a stored code): account
        recovery's answer for an unknown address, as Authgear's dummy OTP, so both read the same."""
        policy = self._policy(purpose, channel, form)
        if channel_of(target) != ("sms" if channel == "whatsapp" else channel):
            raise ValueError("target does not match the channel")
        target_key = self._target_key(target)
        can_resend_at = self.rate_limiter.cooldown(policy.cooldown_bucket, target_key, policy.cooldown_seconds)
        # WhatsApp counts the SMS messaging limits (Authgear's checkWhatsapp).
        limit_channel = "sms" if channel == "whatsapp" else channel
        limiter, group, kind = self.rate_limiter, f"messaging.{limit_channel}", "Email" if channel == "email" else "SMS"
        if ip:
            limiter.check(policy.trigger_group, policy.trigger_bucket, ip, policy.trigger_rule)
        # Authgear's sender returns before counting the messaging limits when a project test-mode
        # rule suppresses the target; the plan-wide suppression (features) counts them first.
        if not self.test_mode.suppressed_by_rule(channel, target):
            if ip:
                limiter.check(group, f"Messaging{kind}PerIP", ip, self._messaging_rule(f"{limit_channel}_per_ip"))
            limiter.check(
                group, f"Messaging{kind}PerTarget", target_key, self._messaging_rule(f"{limit_channel}_per_target")
            )

        code = self.issue(purpose, channel, target, form=form, ws_channel=ws_channel, meta=meta)
        if form == "link":
            link = login_links.link_url(self.project, purpose, code)
        if not deliver:
            return can_resend_at
        params = {
            "code": code,
            "app_name": self.app_name,
            "expires_in_minutes": max(1, round(policy.valid_seconds / 60)),
            "link": link,
        }
        try:
            if channel == "email":
                self.sender.send_email(target, policy.template, params, locale)
            elif channel == "whatsapp":
                message_id = self.sender.send_whatsapp(self.store, target, code, locale)
                self._update(purpose, target, whatsapp_message_id=message_id, sent_at=self.clock().timestamp())
            else:
                self.sender.send_sms(target, policy.template, params, locale)
        except MessageDeliveryFailed as exc:
            # The code's state says so (Authgear's `delivery_status: failed` and `delivery_error`).
            self._set_delivery_error(purpose, target, exc.to_dict(), policy.valid_seconds + 60)
            raise
        log.info("otp %s sent by %s to %s", purpose, channel, mask(target))
        return can_resend_at

    def _set_delivery_error(self, purpose: str, target: str, error: dict[str, Any], ttl: float) -> None:
        key = self._code_key(purpose, target)
        record = self._load(purpose, target)
        if record is not None:
            self.store.set(key, json.dumps({**record, "delivery_error": error}), ttl=ttl)

    def _update(self, purpose: str, target: str, **fields: Any) -> None:
        record = self._load(purpose, target)
        if record is not None:
            ttl = max(1.0, record["expire_at"] - self.clock().timestamp() + 60)
            self.store.set(self._code_key(purpose, target), json.dumps({**record, **fields}), ttl=ttl)

    def allow_resend(self, purpose: str, channel: str, target: str) -> None:
        """End the target's resend cooldown now: its message was never delivered."""
        policy = self._policy(purpose, channel)
        self.rate_limiter.end_cooldown(policy.cooldown_bucket, self._target_key(target))

    def issue(
        self,
        purpose: str,
        channel: str,
        target: str,
        form: str = "code",
        ws_channel: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> str:
        """Store a fresh code for `target` and return it, without sending it (the Admin API's
        generateOOBOTPCode hands it to the administrator; `send` mails or texts it). `meta` is kept
        with the code (a reset link's user and flow, app/authenticators/recovery_links.py)."""
        policy = self._policy(purpose, channel, form)
        if form == "link":
            code = login_links.new_link_code()
        else:
            code = self.test_mode.fixed_oob_otp(target) or random_digits(CODE_LENGTH)
        record = {
            "id": random_alnum(16),
            "hash": sha256_hex(code),
            "channel": channel,
            "expire_at": self.clock().timestamp() + policy.valid_seconds,
        }
        if form == "link":
            record.update({"form": "link", "ws_channel": ws_channel, "submitted": False})
        if meta:
            record["meta"] = meta
        key = self._code_key(purpose, target)
        # The store's TTL only cleans up; expiry is decided by `expire_at` against the clock.
        self.store.set(key, json.dumps(record), ttl=policy.valid_seconds + 60)
        self.store.delete(key + ":failed")
        if form == "link":
            login_links.index(self, purpose, target, code, policy.valid_seconds + 60)
        return code

    def is_cooldown(self, error: TooManyRequest, purpose: str, channel: str) -> bool:
        """Whether `error` is the target's trigger cooldown of (purpose, channel) rather than another limit."""
        return error.info.get("bucket_name") == self._policy(purpose, channel).cooldown_bucket

    def verify(self, purpose: str, target: str, code: str, ip: str = "", weight: float = 1.0) -> None:
        """Accept the code once; `Forbidden/InvalidOTPCode` or, once revoked, `TooManyRequest/RateLimited`.
        `weight`: how much the attempt counts in the per-IP validate limit (a hook's answer)."""
        record = self._load(purpose, target)
        channel = record["channel"] if record else channel_of(target)
        policy = self._policy(purpose, channel)
        key = self._code_key(purpose, target)
        failed_key = key + ":failed"
        if policy.max_failed and int(self.store.get(failed_key) or 0) >= policy.max_failed:
            self.store.delete(key)
            raise _too_many_attempts(policy)
        if ip:
            self.rate_limiter.check(policy.validate_group, policy.validate_bucket, ip, policy.validate_rule, weight)
        if record is None or record["expire_at"] <= self.clock().timestamp():
            raise Forbidden("InvalidOTPCode", "otp code is expired or invalid")
        # Reserve the try before comparing: parallel guesses cannot exceed the limit.
        tries = self.store.incr(failed_key, policy.valid_seconds + 60)
        if policy.max_failed and tries > policy.max_failed:
            self.store.delete(key)
            raise _too_many_attempts(policy)
        given = code.strip() if isinstance(code, str) else ""
        if not equal(sha256_hex(given), record["hash"]):
            if policy.max_failed and tries >= policy.max_failed:
                self.store.delete(key)
                raise _too_many_attempts(policy)
            raise Forbidden("InvalidOTPCode", "invalid otp code")
        # Single use even when two requests carry the right code at once: one claim wins.
        if not self.store.set(f"otp:used:{record['id']}", "1", ttl=policy.valid_seconds + 60, only_new=True):
            raise Forbidden("InvalidOTPCode", "used otp code")
        self.store.delete(key, failed_key)

    def status(self, purpose: str, target: str) -> dict[str, Any]:
        """`{"can_resend_at", "failed_attempt_rate_limit_exceeded", "code_length", "delivery_status",
        "delivery_error"}` for the OTP views."""
        record = self._load(purpose, target)
        channel = record["channel"] if record else channel_of(target)
        form = (record or {}).get("form", "code")
        policy = self._policy(purpose, channel, form)
        until = self.rate_limiter.cooldown_until(policy.cooldown_bucket, self._target_key(target))
        key = self._code_key(purpose, target)
        failed = int(self.store.get(key + ":failed") or 0)
        exceeded = bool(policy.max_failed) and failed >= policy.max_failed
        if exceeded:
            self.store.delete(key)
        delivery_error = (record or {}).get("delivery_error")
        delivery_status = "failed" if delivery_error else "sent"
        if record and record.get("whatsapp_message_id") and not delivery_error:
            # Authgear's: a WhatsApp message's status as the Cloud API's webhook reported it.
            found = self.sender.whatsapp.status(
                self.store, record["whatsapp_message_id"], record.get("sent_at", 0.0), self.clock().timestamp()
            )
            delivery_status, delivery_error = found.delivery_status, found.delivery_error
        return {
            "can_resend_at": until or self.clock().astimezone(UTC),
            "failed_attempt_rate_limit_exceeded": exceeded,
            "code_length": login_links.LINK_CODE_LENGTH if form == "link" else CODE_LENGTH,
            "otp_form": form,
            # Whether the link was opened and approved (Authgear's CanCheckSubmittedCode).
            "can_check": bool((record or {}).get("submitted")),
            # Sent synchronously: a code is either delivered or its failure recorded.
            "delivery_status": delivery_status,
            "delivery_error": delivery_error,
        }


def _too_many_attempts(policy: _Policy) -> TooManyRequest:
    return rate_limited(policy.validate_group, "TrackFailedOTPAttemptBucket", "too many verify OTP attempts")
