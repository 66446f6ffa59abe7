"""OOB OTP authenticators: an email address or phone number that receives one-time codes.

The codes themselves are `app.authenticators.otp.OTPService`'s business; this module keeps the
authenticator rows (`oob_otp_email` / `oob_otp_sms`, primary or secondary).
"""

from __future__ import annotations

from sqlalchemy import select

from app.audit import AuditLogWriter
from app.authenticators.models import Authenticator
from app.context import RequestContext
from app.db import Clock, utcnow
from app.errors import InvariantViolated
from app.extensions import db

CHANNELS = ("email", "sms")
KINDS = ("primary", "secondary")


class OOBAuthenticatorService:
    def __init__(self, audit: AuditLogWriter, clock: Clock = utcnow) -> None:
        self.audit = audit
        self.clock = clock

    def list_for_user(self, user_id: str, kind: str | None = None) -> list[Authenticator]:
        stmt = select(Authenticator).where(
            Authenticator.user_id == user_id, Authenticator.type.in_(("oob_otp_email", "oob_otp_sms"))
        )
        if kind is not None:
            stmt = stmt.where(Authenticator.kind == kind)
        return list(db.session.scalars(stmt.order_by(Authenticator.created_at, Authenticator.id)))

    def create(
        self, user_id: str, channel: str, target: str, kind: str, ctx: RequestContext | None = None
    ) -> Authenticator:
        """`target` is the normalized email address or E.164 phone number."""
        if channel not in CHANNELS:
            raise ValueError(f"unknown OOB channel {channel!r}")
        if kind not in KINDS:
            raise ValueError(f"unknown authenticator kind {kind!r}")
        type_ = f"oob_otp_{channel}"
        existing = self.list_for_user(user_id, kind)
        if any(a.type == type_ and (a.oob_target or "").lower() == target.lower() for a in existing):
            raise InvariantViolated("DuplicatedAuthenticator", "authenticator already exists")
        now = self.clock()
        auth = Authenticator(
            user_id=user_id,
            type=type_,
            kind=kind,
            is_default=kind == "secondary" and not existing,
            oob_target=target,
            created_at=now,
            updated_at=now,
        )
        db.session.add(auth)
        db.session.flush()
        self.audit.write(f"authenticator.{type_}.created", ctx, user_id, {"authenticator_id": auth.id, "kind": kind})
        return auth
