"""Reset links: account recovery's code in Authgear's `link` form (`otp_form: link`, the default for email).

The message carries `/authflow/v2/reset_password?code=<32 characters>`. The code is stored as
OTPService stores codes (SHA-256 per purpose and target, `forgot_password.valid_periods.link`, 20
minutes by default) with the index from code to target of the login links (app/authenticators/
login_links.py), and `meta`: the user (none for an address without an account, whose link is never
sent) and the flow that sent it (type, name, and the steps from its verify step on). With that a
browser holding nothing but the code can go on: the Flow API's input without a state token,
`{"account_recovery_code": code}`, opens a new flow of that type and name at its verify step
(Authgear's resolveStateTokenFromInput).

As in Authgear (forgotpassword's VerifyCode with SkipConsume), checking a link does not use it up:
opening it twice, or a mail scanner fetching it first, leaves it working; setting the new password
does (`consume`), after which the link answers `UsedCode`. Refusals are Authgear's
`Invalid/PasswordResetFailed` with `cause.kind` `InvalidCode` or `UsedCode`. Checks are behind the
per-IP validate limit of forgot_password (`ForgotPasswordValidate<Channel>PerIP`); in a flow that knows
its target, wrong links also count towards the code's revocation, as wrong codes do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.authenticators import login_links
from app.authenticators.otp import _too_many_attempts
from app.crypto import equal, sha256_hex
from app.errors import Invalid

if TYPE_CHECKING:
    from app.authenticators.otp import OTPService

PURPOSE = "account_recovery"


class PasswordResetFailed(Invalid):
    def __init__(self, kind: str) -> None:
        message = "used code" if kind == "UsedCode" else "invalid code"
        super().__init__("PasswordResetFailed", message, {"cause": {"kind": kind}})


def _used_key(record: dict[str, Any]) -> str:
    return f"otp:used:{record['id']}"


def _validate_limit(otp: OTPService, channel: str, ip: str) -> None:
    if ip:
        policy = otp._policy(PURPOSE, channel, "link")
        otp.rate_limiter.check(policy.validate_group, policy.validate_bucket, ip, policy.validate_rule)


def _usable(otp: OTPService, record: dict[str, Any]) -> None:
    if otp.store.get(_used_key(record)) is not None:
        raise PasswordResetFailed("UsedCode")
    if not (record.get("meta") or {}).get("user_id"):
        # An address without an account: its link was never sent, so nobody holds it.
        raise PasswordResetFailed("InvalidCode")


def lookup(otp: OTPService, code: Any, ip: str = "") -> tuple[str, dict[str, Any]]:
    """(target, record) of a live, unused reset link found by its code alone."""
    _validate_limit(otp, "email", ip)
    found = login_links.lookup(otp, code) if isinstance(code, str) else None
    if found is None or found[0] != PURPOSE:
        raise PasswordResetFailed("InvalidCode")
    _, target, record = found
    _usable(otp, record)
    return target, record


def verify(otp: OTPService, target: str, code: str, ip: str = "") -> dict[str, Any]:
    """The record of the reset link `code` sent to `target`, checked without using it up."""
    record = otp._load(PURPOSE, target)
    channel = record["channel"] if record else ("email" if "@" in target else "sms")
    policy = otp._policy(PURPOSE, channel, "link")
    key = otp._code_key(PURPOSE, target)
    failed_key = key + ":failed"
    if policy.max_failed and int(otp.store.get(failed_key) or 0) >= policy.max_failed:
        otp.store.delete(key)
        raise _too_many_attempts(policy)
    _validate_limit(otp, channel, ip)
    if record is None or record.get("form") != "link" or record["expire_at"] <= otp.clock().timestamp():
        raise PasswordResetFailed("InvalidCode")
    tries = otp.store.incr(failed_key, policy.valid_seconds + 60)
    given = code.strip() if isinstance(code, str) else ""
    if not equal(sha256_hex(given), record["hash"]):
        if policy.max_failed and tries >= policy.max_failed:
            otp.store.delete(key)
            raise _too_many_attempts(policy)
        raise PasswordResetFailed("InvalidCode")
    _usable(otp, record)
    otp.store.delete(failed_key)
    return record


def consume(otp: OTPService, target: str, record_id: str) -> None:
    """Use the link up as the new password is set: once, and only while it is still the target's
    live link (a newer one replaces it)."""
    record = otp._load(PURPOSE, target)
    if record is None or record["id"] != record_id or record["expire_at"] <= otp.clock().timestamp():
        raise PasswordResetFailed("InvalidCode")
    ttl = max(1.0, record["expire_at"] - otp.clock().timestamp() + 60)
    if not otp.store.set(_used_key(record), "1", ttl=ttl, only_new=True):
        raise PasswordResetFailed("UsedCode")
