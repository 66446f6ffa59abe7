"""Anonymous users (contract 1.9): a user whose only identity is `anonymous`, optionally bound to a
device key, until they promote themselves by signing up (the `promote` flow keeps their user ID).

An anonymous identity's `dedup_key` is `anonymous:<key id>` when it has a device key (one identity
per key) and empty otherwise (the Web SDK's keyless anonymous users); the public JWK is kept in
`provider_profile` (`{"jwk": ...}`), and `claims` hold Authgear's
`https://authgear.com/claims/anonymous/key_id`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from app.audit import AuditLogWriter
from app.context import RequestContext
from app.db import Clock
from app.errors import Forbidden, Invalid, InvariantViolated
from app.extensions import db
from app.identities.models import Identity, User
from app.identities.service import unique_guard
from app.kvstore import KVStore
from app.one_time import OneTimeSecrets

KEY_ID_CLAIM = "https://authgear.com/claims/anonymous/key_id"
PROMOTION_CODE_LIFETIME = timedelta(minutes=5)  # Authgear's PromotionCodeDuration (duration.Short)


def promotion_codes(store: KVStore, clock: Clock) -> OneTimeSecrets:
    """Promotion codes: `{user_id, identity_id}` of an anonymous user, one use (contract 1.9)."""
    return OneTimeSecrets(store, "anonymous_promotion_code", PROMOTION_CODE_LIFETIME, clock)


class AnonymousUserDisallowed(InvariantViolated):
    """`anonymous` is not among `authentication.identities`."""

    def __init__(self) -> None:
        super().__init__("AnonymousUserDisallowed", "anonymous user disallowed")


class LoggedInAsNormalUser(Invalid):
    """Authgear's `ErrLoggedInAsNormalUser`: the session is of a user who is not anonymous."""

    def __init__(self) -> None:
        super().__init__("Invalid", "user logged in as normal user")


class NotAnonymous(Forbidden):
    def __init__(self) -> None:
        super().__init__("Forbidden", "the user is not anonymous")


class AnonymousIdentityService:
    def __init__(self, project: dict[str, Any], audit: AuditLogWriter, clock: Clock) -> None:
        self.enabled = "anonymous" in project["authentication"]["identities"]
        self.audit = audit
        self.clock = clock

    def create_user(
        self, ctx: RequestContext | None, key_id: str | None = None, jwk: dict[str, Any] | None = None
    ) -> tuple[User, Identity]:
        """A new anonymous user, with a device key or without; flushed, not committed."""
        if not self.enabled:
            raise AnonymousUserDisallowed()
        now = self.clock()
        user = User(created_at=now, updated_at=now, standard_attributes={})
        identity = Identity(
            type="anonymous",
            dedup_key=f"anonymous:{key_id}" if key_id else None,
            claims={KEY_ID_CLAIM: key_id} if key_id else {},
            provider_profile={"jwk": jwk} if jwk else None,
            created_at=now,
            updated_at=now,
        )
        with unique_guard():
            db.session.add(user)
            db.session.flush()
            identity.user_id = user.id
            db.session.add(identity)
            db.session.flush()
        self.audit.write("user.created", ctx, user.id, {"anonymous": True})
        return user, identity

    @staticmethod
    def by_key_id(key_id: str) -> Identity | None:
        return db.session.scalar(select(Identity).where(Identity.dedup_key == f"anonymous:{key_id}"))

    @staticmethod
    def of_user(user_id: str) -> Identity | None:
        return db.session.scalar(select(Identity).where(Identity.user_id == user_id, Identity.type == "anonymous"))

    @staticmethod
    def jwk_of(identity: Identity) -> dict[str, Any] | None:
        return (identity.provider_profile or {}).get("jwk")

    def anonymous_identity(self, user_id: str) -> Identity:
        """The anonymous identity of an anonymous user; `LoggedInAsNormalUser` for anyone else."""
        identity = self.of_user(user_id)
        if identity is None:
            raise LoggedInAsNormalUser()
        return identity

    def remove_after_promotion(self, identity: Identity, ctx: RequestContext | None) -> None:
        """The promoted user keeps every other identity; the anonymous one goes (Authgear's promote
        flow deletes it as it commits)."""
        user_id = identity.user_id
        db.session.delete(identity)
        db.session.flush()
        self.audit.write("identity.anonymous.removed", ctx, user_id, {"identity_id": identity.id})
