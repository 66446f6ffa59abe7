"""IdP sessions, offline grants (refresh tokens), OAuth authorizations, codes and access tokens.

Every secret (session token, refresh secret, code, access token) is stored as its SHA-256 hex hash.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import ID, new_id, utcnow
from app.extensions import db


class IdPSession(db.Model):
    __tablename__ = "idp_sessions"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    authenticated_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_access_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    amr: Mapped[list[str]] = mapped_column(default=list)
    acr: Mapped[str | None] = mapped_column(String(64))
    created_ip: Mapped[str | None] = mapped_column(String(64))
    created_user_agent: Mapped[str | None] = mapped_column(String(1000))
    last_access_ip: Mapped[str | None] = mapped_column(String(64))
    last_access_user_agent: Mapped[str | None] = mapped_column(String(1000))
    # An app session (app/oidc/app_sessions.py): the offline grant this browser session was opened
    # from, whose life it shares; None for an ordinary IdP session.
    offline_grant_id: Mapped[str | None] = mapped_column(
        ForeignKey("offline_grants.id", ondelete="CASCADE", use_alter=True), index=True, default=None
    )


class OfflineGrant(db.Model):
    """A refresh-token grant; the refresh token is `<id>.<secret>` (contract 0.4)."""

    __tablename__ = "offline_grants"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(String(200))
    idp_session_id: Mapped[str | None] = mapped_column(ForeignKey("idp_sessions.id", ondelete="SET NULL"), index=True)
    refresh_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    previous_token_hashes: Mapped[list[str]] = mapped_column(default=list)
    scopes: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    authenticated_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_access_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    amr: Mapped[list[str]] = mapped_column(default=list)
    acr: Mapped[str | None] = mapped_column(String(64))
    created_ip: Mapped[str | None] = mapped_column(String(64))
    created_user_agent: Mapped[str | None] = mapped_column(String(1000))
    last_access_ip: Mapped[str | None] = mapped_column(String(64))
    last_access_user_agent: Mapped[str | None] = mapped_column(String(1000))
    # App2app (app/oidc/app2app.py): the public JWK of the device key bound to this grant.
    app2app_device_key: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    # Device SSO (app/oidc/device_secrets.py): the SHA-256 hex of the grant's current device secret.
    device_secret_hash: Mapped[str | None] = mapped_column(String(64), default=None)


class OAuthAuthorization(db.Model):
    """A user's consent to a client for a set of scopes."""

    __tablename__ = "oauth_authorizations"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(String(200))
    scopes: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("user_id", "client_id"),)


class OAuthCode(db.Model):
    __tablename__ = "oauth_codes"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    idp_session_id: Mapped[str | None] = mapped_column(ForeignKey("idp_sessions.id", ondelete="CASCADE"))
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    scopes: Mapped[list[str]] = mapped_column(default=list)
    nonce: Mapped[str | None] = mapped_column(String(500))
    code_challenge: Mapped[str | None] = mapped_column(String(200))
    code_challenge_method: Mapped[str | None] = mapped_column(String(16))
    auth_time: Mapped[datetime] = mapped_column(default=utcnow)
    amr: Mapped[list[str]] = mapped_column(default=list)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class AccessToken(db.Model):
    __tablename__ = "access_tokens"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    offline_grant_id: Mapped[str | None] = mapped_column(
        ForeignKey("offline_grants.id", ondelete="CASCADE"), index=True
    )
    idp_session_id: Mapped[str | None] = mapped_column(ForeignKey("idp_sessions.id", ondelete="CASCADE"), index=True)
    scopes: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
