"""OAuth identities: a user's link to an account at a social or enterprise provider.

The link is unique per provider and subject (`identities.dedup_key`, see IncomingOAuth.dedup_key), so
two concurrent signups with one provider account end with one user. The identity keeps the standard
claims the provider gave (email, name, ...) and its raw profile, refreshed at every login, unless the
provider is configured with `do_not_store_identity_attributes`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app import hooks
from app.audit import AuditLogWriter
from app.context import RequestContext
from app.db import Clock, utcnow
from app.extensions import db
from app.identities.models import Identity, User
from app.identities.service import UserService, unique_guard
from app.sso.service import IncomingOAuth

# Standard attributes a new user takes from the identity (Authgear populates them at signup).
POPULATED = (
    "email",
    "phone_number",
    "preferred_username",
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "picture",
    "profile",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "address",
)


def _stored(spec: IncomingOAuth) -> tuple[dict[str, Any], dict[str, Any] | None]:
    if spec.do_not_store_identity_attributes:
        return {}, None
    return dict(spec.claims), dict(spec.raw_profile)


class OAuthIdentityService:
    def __init__(self, users: UserService, audit: AuditLogWriter, clock: Clock = utcnow) -> None:
        self.users = users
        self.audit = audit
        self.clock = clock

    def find(self, spec: IncomingOAuth) -> Identity | None:
        return db.session.scalar(select(Identity).where(Identity.dedup_key == spec.dedup_key))

    def of_user(self, user_id: str) -> list[Identity]:
        return self.users.identities_of(user_id, "oauth")

    def create(
        self, user: User, spec: IncomingOAuth, ctx: RequestContext | None = None, populate: bool = False
    ) -> Identity:
        """Link `spec` to `user`; `populate` fills the new user's standard attributes from it."""
        claims, profile = _stored(spec)
        now = self.clock()
        identity = Identity(
            user_id=user.id,
            type="oauth",
            dedup_key=spec.dedup_key,
            provider_type=spec.provider_type,
            provider_alias=spec.provider_alias,
            provider_subject_id=spec.subject,
            claims=claims,
            provider_profile=profile,
            created_at=now,
            updated_at=now,
        )
        with unique_guard():
            db.session.add(identity)
            db.session.flush()
        if populate:
            attrs = dict(user.standard_attributes or {})
            for key in POPULATED:
                if key in spec.claims and key not in attrs:
                    attrs[key] = spec.claims[key]
            user.standard_attributes = attrs
        email = spec.claims.get("email")
        if isinstance(email, str) and email and spec.email_assume_verified:
            # The provider vouches for the address (`claims.email.assume_verified`).
            self.users.mark_verified(user.id, "email", email)
        self.audit.write(
            "identity.oauth.connected",
            ctx,
            user.id,
            {"provider_type": spec.provider_type, "alias": spec.provider_alias},
        )
        if not populate:  # as Authgear, a signup's identities are in user.created, not their own events
            hooks.emit("identity.oauth.connected", ctx, user.id, identity_id=identity.id)
        return identity

    def refresh(self, identity: Identity, spec: IncomingOAuth) -> None:
        """At login, the identity takes the provider's current profile. Apple sends the name only on
        the first authorization, so a later one keeps the stored given and family names."""
        claims, profile = _stored(spec)
        if spec.provider_type == "apple" and "given_name" not in spec.raw_profile:
            for key in ("given_name", "family_name"):
                if key in (identity.claims or {}):
                    claims.setdefault(key, identity.claims[key])
                if profile is not None and key in (identity.provider_profile or {}):
                    profile.setdefault(key, (identity.provider_profile or {})[key])
        identity.claims = claims
        identity.provider_profile = profile
        identity.provider_alias = spec.provider_alias
        identity.updated_at = self.clock()
        email = spec.claims.get("email")
        if isinstance(email, str) and email and spec.email_assume_verified:
            self.users.mark_verified(identity.user_id, "email", email)
        db.session.flush()
