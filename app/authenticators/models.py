"""Authenticators (password, OOB OTP, TOTP, passkey), password history and recovery codes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import ID, new_id, utcnow
from app.extensions import db


class Authenticator(db.Model):
    __tablename__ = "authenticators"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(16))  # password | oob_otp_email | oob_otp_sms | totp | passkey
    kind: Mapped[str] = mapped_column(String(16))  # primary | secondary
    is_default: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    password_hash: Mapped[str | None] = mapped_column(String(300))
    expire_after: Mapped[datetime | None]
    oob_target: Mapped[str | None] = mapped_column(String(400))  # email or E.164 phone
    totp_secret: Mapped[str | None] = mapped_column(String(128))
    totp_display_name: Mapped[str | None] = mapped_column(String(200))
    passkey_credential_id: Mapped[str | None] = mapped_column(String(1400), unique=True)
    passkey_public_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    passkey_sign_count: Mapped[int | None] = mapped_column(Integer)
    passkey_last_used_at: Mapped[datetime | None]  # the settings page's "last used"


class PasswordHistory(db.Model):
    __tablename__ = "password_history"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RecoveryCode(db.Model):
    __tablename__ = "recovery_codes"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 hex of the normalized code
    consumed: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
