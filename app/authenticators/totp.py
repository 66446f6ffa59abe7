"""TOTP authenticators (RFC 6238): secrets, otpauth URIs, code checks with replay protection.

Codes are 6 digits, 30-second steps, HMAC-SHA1 (what every authenticator app supports). A code
is accepted from the previous, current or next step (RFC 6238 section 5.2 allows one step of
drift each way), and never twice: once a step was used for an authenticator, that step and
earlier ones are refused for it (section 5.2: "the verifier MUST NOT accept the second attempt").
"""

from __future__ import annotations

import base64
import binascii
import hmac
from urllib.parse import quote, urlencode

import pyotp
from sqlalchemy import select

from app.audit import AuditLogWriter
from app.authenticators.models import Authenticator
from app.context import RequestContext
from app.crypto import random_base32
from app.db import Clock, utcnow
from app.errors import Invalid
from app.extensions import db
from app.kvstore import KVStore

DIGITS = 6
PERIOD = 30
WINDOW = 1
SECRET_LENGTH = 32


def new_secret() -> str:
    """160 random bits as 32 base32 characters (RFC 4226 section 4 recommends 160)."""
    return random_base32(SECRET_LENGTH)


def otpauth_uri(secret: str, account_name: str, issuer: str) -> str:
    """The Key URI Format of Google Authenticator, which authenticator apps read from the QR code."""
    label = f"{quote(issuer, safe='')}:{quote(account_name, safe='')}"
    query = urlencode(
        {"secret": secret, "issuer": issuer, "algorithm": "SHA1", "digits": DIGITS, "period": PERIOD},
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"


def _valid_secret(secret: str) -> bool:
    """Base32 of at least 128 bits (RFC 4226 section 4, requirement R6)."""
    if not isinstance(secret, str) or len(secret) > 128:
        return False
    try:
        return len(base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))) >= 16
    except (binascii.Error, ValueError):
        return False


def _normalize(code: str) -> str | None:
    code = "".join(code.split()) if isinstance(code, str) else ""
    return code if len(code) == DIGITS and code.isascii() and code.isdigit() else None


class TOTPService:
    def __init__(self, store: KVStore, audit: AuditLogWriter, clock: Clock = utcnow) -> None:
        self.store = store
        self.audit = audit
        self.clock = clock

    def _matching_step(self, secret: str, code: str) -> int | None:
        """The time step whose code equals `code`, checking every step of the window (no early exit)."""
        given = _normalize(code)
        if given is None or not _valid_secret(secret):
            return None
        totp = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD)
        current = int(self.clock().timestamp()) // PERIOD
        found = None
        for step in range(current - WINDOW, current + WINDOW + 1):
            if hmac.compare_digest(totp.generate_otp(step), given) and found is None:
                found = step
        return found

    def verify_code(self, secret: str, code: str) -> bool:
        """Whether `code` is right for `secret` now (enrolment; no replay bookkeeping)."""
        return self._matching_step(secret, code) is not None

    def list_for_user(self, user_id: str) -> list[Authenticator]:
        stmt = select(Authenticator).where(Authenticator.user_id == user_id, Authenticator.type == "totp")
        return list(db.session.scalars(stmt.order_by(Authenticator.created_at, Authenticator.id)))

    def create(self, user_id: str, secret: str, display_name: str, ctx: RequestContext | None = None) -> Authenticator:
        if not _valid_secret(secret):
            raise Invalid("InvalidTOTPSecret", "invalid TOTP secret")
        now = self.clock()
        auth = Authenticator(
            user_id=user_id,
            type="totp",
            kind="secondary",
            is_default=not self.list_for_user(user_id),
            totp_secret=secret.upper(),
            totp_display_name=display_name[:200],
            created_at=now,
            updated_at=now,
        )
        db.session.add(auth)
        db.session.flush()
        self.audit.write("authenticator.totp.created", ctx, user_id, {"authenticator_id": auth.id})
        return auth

    def verify_user(self, user_id: str, code: str) -> Authenticator | None:
        """The user's TOTP authenticator that accepts `code`, or None (wrong, or already used)."""
        for auth in self.list_for_user(user_id):
            step = self._matching_step(auth.totp_secret or "", code)
            if step is None:
                continue
            last_key = f"totp:last:{auth.id}"
            last = self.store.get(last_key)
            if last is not None and step <= int(last):
                return None
            # SET NX on the step: of two requests with the same code, exactly one wins.
            if not self.store.set(f"totp:used:{auth.id}:{step}", "1", ttl=(2 * WINDOW + 2) * PERIOD, only_new=True):
                return None
            self.store.set(last_key, str(step), ttl=(2 * WINDOW + 2) * PERIOD)
            return auth
        return None
