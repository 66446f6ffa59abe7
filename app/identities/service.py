"""Users and identities: create, find by login ID, add and remove login IDs.

Uniqueness of login IDs is guaranteed by the database (`identities.dedup_key`), so two concurrent
signups with one email end with one user and a `DuplicatedIdentity` error for the other.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from app import hooks
from app.audit import AuditLogWriter
from app.context import RequestContext
from app.db import CHANGES_USERS, Clock, utcnow
from app.errors import Invalid, NotFound, ValidationFailed, duplicated_identity
from app.extensions import db
from app.identities.models import Identity, User, VerifiedClaim
from app.identities.normalize import NormalizedLoginID, normalize

# A login's record: last_login_at and updated_at are access fields, no cached resolution changes.
_RECORD_LOGIN = (
    update(User.__table__)
    .where(User.__table__.c.id == bindparam("user_id"))
    .values(last_login_at=bindparam("last_login_at"), updated_at=bindparam("updated_at"))
    .execution_options(**{CHANGES_USERS: []})
)

_IDENTITY_WITH_USER = (
    select(Identity, User).join(User, User.id == Identity.user_id).where(Identity.dedup_key == bindparam("dedup_key"))
)

# Standard attribute filled from a login ID of each type.
CLAIM_BY_TYPE = {"email": "email", "phone": "phone_number", "username": "preferred_username"}


@dataclass(frozen=True)
class LoginIDSpec:
    key: str
    type: str
    max_length: int


class UserNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("UserNotFound", "user not found")


class IdentityNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("IdentityNotFound", "identity not found")


@contextmanager
def unique_guard() -> Iterator[None]:
    """Runs inserts in a savepoint; a unique violation becomes `DuplicatedIdentity`."""
    try:
        with db.session.begin_nested():
            yield
    except IntegrityError:
        raise duplicated_identity() from None


class UserService:
    def __init__(
        self,
        identity_config: dict[str, Any],
        audit: AuditLogWriter,
        clock: Clock = utcnow,
        phone_input: dict[str, Any] | None = None,
    ) -> None:
        self.login_id_config = identity_config["login_id"]
        # `ui.phone_input`: Authgear checks phone login IDs with its validation method and allowlist.
        self.phone_input = phone_input or {}
        self.audit = audit
        self.clock = clock

    # -- login ID rules -------------------------------------------------------------------------
    def login_id_specs(self) -> list[LoginIDSpec]:
        return [LoginIDSpec(k["key"], k["type"], k["max_length"]) for k in self.login_id_config["keys"]]

    def spec_for(self, key_or_type: str) -> LoginIDSpec:
        for spec in self.login_id_specs():
            if key_or_type in (spec.key, spec.type):
                return spec
        raise ValidationFailed(
            [{"location": "/identification", "kind": "enum", "details": {"actual": key_or_type}}],
            f"login ID {key_or_type!r} is not enabled",
        )

    def normalize(self, key_or_type: str, raw: Any) -> tuple[LoginIDSpec, NormalizedLoginID]:
        spec = self.spec_for(key_or_type)
        rules = self.phone_input if spec.type == "phone" else self.login_id_config["types"].get(spec.type, {})
        return spec, normalize(spec.type, raw, rules, spec.max_length)

    # -- queries --------------------------------------------------------------------------------
    def get(self, user_id: str) -> User:
        user = db.session.get(User, user_id)
        if user is None:
            raise UserNotFound()
        return user

    def find_identity(self, key_or_type: str, raw: Any) -> Identity | None:
        spec, norm = self.normalize(key_or_type, raw)
        dedup = f"login_id:{spec.key}:{norm.unique_key}"
        return db.session.scalar(select(Identity).where(Identity.dedup_key == dedup))

    def find_identity_with_user(self, key_or_type: str, raw: Any) -> tuple[Identity, User] | None:
        """`find_identity` and its user, in one statement (a login reads both)."""
        spec, norm = self.normalize(key_or_type, raw)
        dedup = f"login_id:{spec.key}:{norm.unique_key}"
        found = db.session.execute(_IDENTITY_WITH_USER, {"dedup_key": dedup}).first()
        return (found[0], found[1]) if found is not None else None

    def find_by_any_login_id(self, raw: Any) -> Identity | None:
        """The login ID `raw` names under any configured key, as Authgear's lookup by value does
        (signup_login): a key whose type refuses the value is skipped, and only exactly one
        identity found is a match, so a username typed in the email box finds its account."""
        found: dict[str, Identity] = {}
        for spec in self.login_id_specs():
            try:
                _, norm = self.normalize(spec.key, raw)
            except Invalid:
                continue
            dedup = f"login_id:{spec.key}:{norm.unique_key}"
            identity = db.session.scalar(select(Identity).where(Identity.dedup_key == dedup))
            if identity is not None:
                found[identity.id] = identity
        return next(iter(found.values())) if len(found) == 1 else None

    def identities_of(self, user_id: str, type_: str | None = None) -> list[Identity]:
        stmt = select(Identity).where(Identity.user_id == user_id).order_by(Identity.created_at)
        if type_:
            stmt = stmt.where(Identity.type == type_)
        return list(db.session.scalars(stmt))

    # -- changes --------------------------------------------------------------------------------
    def create_user(
        self,
        login_ids: list[tuple[str, str]],
        ctx: RequestContext | None = None,
        standard_attributes: dict[str, Any] | None = None,
        user_id: str | None = None,
    ) -> User:
        """A user with one identity per `(key or type, value)`; flushed, not committed. `user_id`:
        an ID chosen earlier (a signup's passkey names its user before the user is written)."""
        now = self.clock()
        user = User(created_at=now, updated_at=now, standard_attributes=dict(standard_attributes or {}))
        if user_id:
            user.id = user_id
        normalized = [self.normalize(k, v) for k, v in login_ids]
        with unique_guard():
            db.session.add(user)
            db.session.flush()
            for spec, norm in normalized:
                self._add_login_id(user, spec, norm, raw=None)
        self.audit.write("user.created", ctx, user.id, {"login_ids": [k for k, _ in login_ids]})
        return user

    def add_login_id(self, user: User, key_or_type: str, raw: str, ctx: RequestContext | None = None) -> Identity:
        spec, norm = self.normalize(key_or_type, raw)
        with unique_guard():
            identity = self._add_login_id(user, spec, norm, raw)
        self.audit.write("identity.login_id.added", ctx, user.id, {"login_id_key": spec.key})
        hooks.emit(f"identity.{spec.type}.added", ctx, user.id, identity_id=identity.id)
        return identity

    def remove_identity(self, identity: Identity, ctx: RequestContext | None = None) -> None:
        user_id = identity.user_id
        hooks.emit(hooks.identity_event(identity, "removed"), ctx, user_id, removed_identity=identity)
        db.session.delete(identity)
        db.session.flush()
        self.audit.write("identity.removed", ctx, user_id, {"identity_type": identity.type})

    def mark_verified(self, user_id: str, claim: str, value: str) -> None:
        exists = db.session.scalar(
            select(VerifiedClaim).where(
                VerifiedClaim.user_id == user_id, VerifiedClaim.name == claim, VerifiedClaim.value == value
            )
        )
        if exists is None:
            db.session.add(VerifiedClaim(user_id=user_id, name=claim, value=value, created_at=self.clock()))
            db.session.flush()

    def is_verified(self, user_id: str, claim: str, value: str) -> bool:
        return (
            db.session.scalar(
                select(VerifiedClaim.id).where(
                    VerifiedClaim.user_id == user_id, VerifiedClaim.name == claim, VerifiedClaim.value == value
                )
            )
            is not None
        )

    def record_login(self, user: User) -> None:
        """One Core UPDATE (every login runs it), not the unit of work's flush; the row in the session
        gets the written values. Recording a login changes no cached resolution: no user's."""
        now, updated = self.clock(), utcnow()  # `updated_at` as its `onupdate` would set it
        db.session.execute(_RECORD_LOGIN, {"user_id": user.id, "last_login_at": now, "updated_at": updated})
        set_committed_value(user, "last_login_at", now)
        set_committed_value(user, "updated_at", updated)

    # -- internals ------------------------------------------------------------------------------
    def _add_login_id(self, user: User, spec: LoginIDSpec, norm: NormalizedLoginID, raw: str | None) -> Identity:
        claim = CLAIM_BY_TYPE[spec.type]
        identity = Identity(
            user_id=user.id,
            type="login_id",
            dedup_key=f"login_id:{spec.key}:{norm.unique_key}",
            login_id_key=spec.key,
            login_id_type=spec.type,
            login_id=norm.value,
            original_login_id=raw if raw is not None else norm.value,
            claims={claim: norm.value},
            created_at=self.clock(),
            updated_at=self.clock(),
        )
        db.session.add(identity)
        db.session.flush()
        attrs = dict(user.standard_attributes or {})
        attrs.setdefault(claim, norm.value)
        user.standard_attributes = attrs
        return identity
