"""Login links: an email OOB OTP in Authgear's `link` form (`authenticator.oob_otp.email.email_otp_mode:
login_link`).

The mail carries `/authflow/v2/verify_login_link?code=<32 characters>` instead of a 6-digit code. The
code is stored as OTPService stores codes (SHA-256, per purpose and target, single use, expiring after
`valid_periods.link`, 20 minutes by default) plus an index from the code to its target, since the
person opening the link may be in another browser with nothing but the code. Opening the link shows a
confirmation page; confirming it (`approve`) marks the code as submitted (Authgear's
SetSubmittedCode) and raises the flow's refresh event. The waiting flow then sees `can_check: true`
and moves on with the input `{"check": true}` (`check`), which consumes the code.

Limits are the code's: sending is behind the same cooldowns and messaging limits; approving and
checking are behind the per-IP validate limit of the OOB OTP (`OOBOTPValidateEmailPerIP`); a check
before the link was approved is `Forbidden/InvalidOTPCode` (at login also a failed attempt, as a
wrong code is).
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from app.config import parse_duration
from app.crypto import equal, sha256_hex
from app.errors import Forbidden
from app.realtime import events

if TYPE_CHECKING:
    from app.authenticators.otp import OTPService

LINK_CODE_LENGTH = 32  # Authgear's LinkOTPSecretCode
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # RFC 4648 base32
VERIFY_LOGIN_LINK_PATH = "/authflow/v2/verify_login_link"
RESET_PASSWORD_PATH = "/authflow/v2/reset_password"  # noqa: S105 (a path, not a password)
LINK_TEMPLATE = {"login": "login_link", "setup": "login_link"}
EVENT_TTL_SECONDS = 3600


def new_link_code() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(LINK_CODE_LENGTH))


def new_ws_channel() -> str:
    """A flow's websocket channel name (Authgear's `ws_` + random)."""
    return "ws_" + "".join(secrets.choice(_ALPHABET) for _ in range(32))


def email_otp_form(project: dict[str, Any], purpose: str, channel: str) -> str:
    """Authgear's getOTPForm: `link` for login and setup by email under `email_otp_mode:
    login_link`; verification always uses a code."""
    mode = project["authenticator"]["oob_otp"]["email"].get("email_otp_mode", "code")
    return "link" if channel == "email" and purpose in LINK_TEMPLATE and mode == "login_link" else "code"


def link_policy(base: Any, project: dict[str, Any], purpose: str, channel: str) -> Any:
    """The code policy of (purpose, channel) with the link's message and validity period."""
    if purpose == "account_recovery" and channel in ("email", "sms"):
        # Reset links (app/authenticators/recovery_links.py): `forgot_password.valid_periods.link`.
        fp = project["forgot_password"].get("valid_periods") or {}
        return dataclasses.replace(
            base, template="forgot_password_link", valid_seconds=parse_duration(fp.get("link") or "20m")
        )
    if purpose not in LINK_TEMPLATE or channel != "email":
        raise ValueError(f"no link form for {purpose} by {channel}")
    periods = project["authenticator"]["oob_otp"]["email"].get("valid_periods") or {}
    return dataclasses.replace(
        base, template=LINK_TEMPLATE[purpose], valid_seconds=parse_duration(periods.get("link") or "20m")
    )


def link_url(project: dict[str, Any], purpose: str, code: str) -> str:
    origin = project["http"]["public_origin"].rstrip("/")
    path = RESET_PASSWORD_PATH if purpose == "account_recovery" else VERIFY_LOGIN_LINK_PATH
    return f"{origin}{path}?{urlencode({'code': code})}"


def _index_key(code: str) -> str:
    return f"otp:link:{sha256_hex(code.strip())}"


def index(otp: OTPService, purpose: str, target: str, code: str, ttl: float) -> None:
    otp.store.set(_index_key(code), json.dumps({"purpose": purpose, "target": target}), ttl=ttl)


def lookup(otp: OTPService, code: str) -> tuple[str, str, dict[str, Any]] | None:
    """(purpose, target, record) of a live link code, else None."""
    if not isinstance(code, str) or not code.strip() or len(code) > 128:
        return None
    raw = otp.store.get(_index_key(code))
    if not raw:
        return None
    found = json.loads(raw)
    record = otp._load(found["purpose"], found["target"])
    if (
        record is None
        or record.get("form") != "link"
        or record["expire_at"] <= otp.clock().timestamp()
        or not equal(sha256_hex(code.strip()), record["hash"])
    ):
        return None
    return found["purpose"], found["target"], record


def _validate_limit(otp: OTPService, purpose: str, target: str, ip: str, weight: float = 1.0) -> None:
    if ip:
        policy = otp._policy(purpose, "email", "link")
        otp.rate_limiter.check(policy.validate_group, policy.validate_bucket, ip, policy.validate_rule, weight)


def _invalid() -> Forbidden:
    return Forbidden("InvalidOTPCode", "otp code is expired or invalid")


def peek(otp: OTPService, code: str, ip: str = "") -> bool:
    """Whether `code` is a live link (the verify page's GET), behind the per-IP validate limit."""
    _validate_limit(otp, "login", "", ip)
    return lookup(otp, code) is not None


def approve(otp: OTPService, code: str, ip: str = "") -> None:
    """The link was opened and confirmed: the waiting flow may check it. Forbidden/InvalidOTPCode
    for an unknown, expired or used link."""
    _validate_limit(otp, "login", "", ip)
    found = lookup(otp, code)
    if found is None:
        raise _invalid()
    purpose, target, record = found
    if not record.get("submitted"):
        ttl = max(1.0, record["expire_at"] - otp.clock().timestamp() + 60)
        otp.store.set(otp._code_key(purpose, target), json.dumps({**record, "submitted": True}), ttl=ttl)
    if record.get("ws_channel"):
        publish_refresh(otp.store, record["ws_channel"])


def check(otp: OTPService, purpose: str, target: str, ip: str = "", weight: float = 1.0) -> None:
    """`{"check": true}`: consume the approved link, once. Forbidden/InvalidOTPCode before approval."""
    _validate_limit(otp, purpose, target, ip, weight)
    record = otp._load(purpose, target)
    if (
        record is None
        or record.get("form") != "link"
        or not record.get("submitted")
        or record["expire_at"] <= otp.clock().timestamp()
    ):
        raise _invalid()
    ttl = record["expire_at"] - otp.clock().timestamp() + 60
    if not otp.store.set(f"otp:used:{record['id']}", "1", ttl=max(1.0, ttl), only_new=True):
        raise Forbidden("InvalidOTPCode", "used otp code")
    key = otp._code_key(purpose, target)
    otp.store.delete(key, key + ":failed")


# -- flow events (Authgear's `{"kind": "refresh"}` on the flow's websocket channel) ---------------
def _event_key(channel: str) -> str:
    return f"flowevent:{sha256_hex(channel)}"


def publish_refresh(store: Any, channel: str) -> None:
    """The flow changed: `{"kind": "refresh"}` to the channel's websockets (app/realtime/events.py),
    and a new version for the waiting page's polling fallback."""
    store.set(_event_key(channel), secrets.token_hex(8), ttl=EVENT_TTL_SECONDS)
    events.publish(store, channel)


def event_version(store: Any, channel: str) -> str | None:
    raw = store.get(_event_key(channel))
    return raw.decode() if isinstance(raw, bytes) else raw
