"""Password authenticators: create with policy and history checks, verify with bcrypt upgrade."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from app.audit import AuditLogWriter
from app.authenticators import password as pw
from app.authenticators.models import Authenticator, PasswordHistory
from app.config import parse_duration
from app.context import RequestContext
from app.db import Clock, utcnow
from app.errors import Invalid
from app.extensions import db
from app.ratelimit import RateLimiter


class PasswordService:
    def __init__(
        self,
        password_config: dict[str, Any],
        audit: AuditLogWriter,
        clock: Clock = utcnow,
        rate_limiter: RateLimiter | None = None,
        expensive_per_user: dict[str, Any] | None = None,
    ) -> None:
        self.policy = pw.PasswordPolicy.from_config(password_config["policy"])
        self.expiry = password_config["expiry"]["force_change"]
        self.force_change = password_config.get("force_change", True)
        self.audit = audit
        self.clock = clock
        # authentication.rate_limits.password.x_expensive_hash_per_user (see `password`).
        self.rate_limiter = rate_limiter
        self.expensive_per_user = expensive_per_user

    def get(self, user_id: str, kind: str = "primary") -> Authenticator | None:
        return db.session.scalar(
            select(Authenticator).where(
                Authenticator.user_id == user_id, Authenticator.type == "password", Authenticator.kind == kind
            )
        )

    def create(
        self,
        user_id: str,
        password: str,
        kind: str = "primary",
        ctx: RequestContext | None = None,
        check_policy: bool = True,
    ) -> Authenticator:
        if check_policy:
            self.policy.check(password)
        now = self.clock()
        auth = Authenticator(
            user_id=user_id,
            type="password",
            kind=kind,
            is_default=kind == "secondary",
            password_hash=pw.hash_password(password),
            created_at=now,
            updated_at=now,
        )
        db.session.add(auth)
        self._remember(user_id, auth.password_hash)
        db.session.flush()
        self.audit.write("authenticator.password.created", ctx, user_id, {"kind": kind})
        return auth

    def create_from_hash(self, user_id: str, password_hash: str, kind: str = "primary") -> Authenticator:
        """An imported hash (bcrypt and others) kept as it is until the next login upgrades it."""
        now = self.clock()
        auth = Authenticator(
            user_id=user_id, type="password", kind=kind, password_hash=password_hash, created_at=now, updated_at=now
        )
        db.session.add(auth)
        db.session.flush()
        return auth

    def verify(
        self, user_id: str | None, password: str, kind: str = "primary", loaded: Authenticator | None = None
    ) -> Authenticator | None:
        """The authenticator when the password matches (upgrading an old hash), else None.

        A user without a password still costs one argon2id check. `loaded`: the user's password
        authenticator of `kind` as the caller already read it in this transaction (not read again)."""
        if loaded is not None and (loaded.user_id, loaded.type, loaded.kind) == (user_id, "password", kind):
            auth: Authenticator | None = loaded
        else:
            auth = self.get(user_id, kind) if user_id else None
        limit = None
        if auth is not None and self.rate_limiter is not None:
            limiter, rule = self.rate_limiter, self.expensive_per_user

            def limit() -> None:
                limiter.check(pw.EXPENSIVE_GROUP, pw.EXPENSIVE_PER_USER_BUCKET, auth.user_id, rule)

        if not pw.verify_password(auth.password_hash if auth else None, password, user_id, limit):
            return None
        assert auth is not None and auth.password_hash is not None
        if pw.needs_rehash(auth.password_hash):
            auth.password_hash = pw.hash_password(password)
            db.session.flush()
        return auth

    def change(
        self, auth: Authenticator, new_password: str, ctx: RequestContext | None = None, check_policy: bool = True
    ) -> None:
        if check_policy:
            self.policy.check(new_password)
            self._check_history(auth.user_id, new_password)
        auth.password_hash = pw.hash_password(new_password)
        auth.expire_after = None
        auth.updated_at = self.clock()
        self._remember(auth.user_id, auth.password_hash)
        db.session.flush()
        self.audit.write("authenticator.password.changed", ctx, auth.user_id, {"kind": auth.kind})

    def must_change(self, auth: Authenticator, password: str) -> str | None:
        """Why a user who just logged in must change the password: a reason or None."""
        now = self.clock()
        if auth.expire_after is not None and auth.expire_after <= now:
            return "expiry"
        if self.expiry.get("enabled"):
            limit = timedelta(seconds=parse_duration(self.expiry["duration_since_last_update"]))
            if auth.updated_at + limit <= now:
                return "expiry"
        if self.force_change and self.policy.violations(password):
            return "policy"
        return None

    def _check_history(self, user_id: str, new_password: str) -> None:
        size, days = self.policy.history_size, self.policy.history_days
        if not size and not days:
            return
        stmt = select(PasswordHistory).where(PasswordHistory.user_id == user_id)
        stmt = stmt.order_by(PasswordHistory.created_at.desc())
        rows = list(db.session.scalars(stmt))
        cutoff = self.clock() - timedelta(days=days)
        recent = [r for i, r in enumerate(rows) if (size and i < size) or (days and r.created_at >= cutoff)]
        if any(pw.verify_password(r.password_hash, new_password, user_id) for r in recent):
            raise Invalid(
                "PasswordPolicyViolated",
                "password was used recently",
                {"causes": [{"Name": "PasswordReused", "Info": {"history_size": size, "history_days": days}}]},
            )

    def _remember(self, user_id: str, password_hash: str | None) -> None:
        if password_hash and (self.policy.history_size or self.policy.history_days):
            db.session.add(PasswordHistory(user_id=user_id, password_hash=password_hash, created_at=self.clock()))
