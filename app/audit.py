"""Audit log: one row per security-relevant event (logins, changes made by users and admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app import hooks
from app.context import RequestContext
from app.db import Clock, utcnow
from app.extensions import db


class AuditLog(db.Model):
    __tablename__ = "audit_logs"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    activity_type: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str | None] = mapped_column(String(36), index=True)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(1000))
    client_id: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


_INSERT = AuditLog.__table__.insert()
# Keys whose values never reach the audit log.
_SECRET_KEYS = frozenset({"password", "new_password", "code", "recovery_code", "token", "secret", "otp"})


def _scrub(data: dict[str, Any]) -> dict[str, Any]:
    return {k: ("REDACTED" if k in _SECRET_KEYS else v) for k, v in data.items()}


class AuditLogWriter:
    def __init__(self, clock: Clock = utcnow) -> None:
        self.clock = clock

    def write(
        self,
        activity_type: str,
        ctx: RequestContext | None = None,
        user_id: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        """Adds the row to the current transaction; it commits with the change it records. A Core
        INSERT on the session's connection: audited requests (logins, tokens) are hot paths, and the
        unit of work with its RETURNING of the ID cost more than the write."""
        ctx = ctx or RequestContext()
        db.session.connection().execute(
            _INSERT,
            {
                "created_at": self.clock(),
                "activity_type": activity_type,
                "user_id": user_id,
                "ip_address": ctx.ip or None,
                "user_agent": ctx.user_agent or None,
                "client_id": ctx.client_id,
                "data": _scrub(data or {}),
            },
        )
        hooks.audited(activity_type, ctx, user_id, data or {})  # the user events among them, for hooks
