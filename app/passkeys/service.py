"""Passkeys as Authgear keeps them: each WebAuthn credential is a `passkey` identity (how the user is
found) and a primary `passkey` authenticator (how they prove it), created and removed together.

The identity's `dedup_key` is `passkey:<credential id>`, so one credential belongs to one user;
the authenticator holds the COSE public key, the sign count and when it was last used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from app.authenticators.models import Authenticator
from app.context import RequestContext
from app.errors import InvariantViolated
from app.extensions import db
from app.identities.models import Identity, User
from app.identities.service import IdentityNotFound, unique_guard
from app.passkeys.relying_party import Registration, RelyingParty, RelyingPartyConfig, invalid_credentials

MAX_PASSKEYS = 100  # a bound on excludeCredentials and on the settings list


@dataclass(frozen=True)
class Passkey:
    """One credential as the settings page and the Admin API see it."""

    identity: Identity
    authenticator: Authenticator | None

    @property
    def display_name(self) -> str:
        return str((self.identity.claims or {}).get("display_name", ""))

    @property
    def credential_id(self) -> str:
        return self.identity.dedup_key.partition(":")[2] if self.identity.dedup_key else ""

    @property
    def created_at(self) -> datetime:
        return self.identity.created_at

    @property
    def last_used_at(self) -> datetime | None:
        return self.authenticator.passkey_last_used_at if self.authenticator else None


def end_user_account_id(attributes: dict[str, Any] | None) -> str:
    """Authgear's endUserAccountID, the name a passkey is saved under: email, username or phone."""
    attrs = attributes or {}
    for key in ("email", "preferred_username", "phone_number"):
        if attrs.get(key):
            return str(attrs[key])
    return ""


class PasskeyService:
    """Built per use from the app's services, so it reads their clock and store as they are now."""

    def __init__(self, svc: Any) -> None:
        self.svc = svc
        self.rp = RelyingParty(
            svc.store, svc.clock, RelyingPartyConfig.of(svc.config.public_origin, svc.config.project)
        )

    # -- queries --------------------------------------------------------------------------------
    def list(self, user_id: str) -> list[Passkey]:
        identities = self.svc.users.identities_of(user_id, "passkey")[:MAX_PASSKEYS]
        by_credential = {a.passkey_credential_id: a for a in self._authenticators(user_id)}
        return [Passkey(i, by_credential.get(i.dedup_key.partition(":")[2] if i.dedup_key else "")) for i in identities]

    def _authenticators(self, user_id: str) -> list[Authenticator]:
        stmt = select(Authenticator).where(Authenticator.user_id == user_id, Authenticator.type == "passkey")
        return list(db.session.scalars(stmt.order_by(Authenticator.created_at)))

    def has_passkey(self, user_id: str) -> bool:
        return bool(self._authenticators(user_id))

    # -- options --------------------------------------------------------------------------------
    def creation_options(self, user_id: str, name: str) -> dict[str, Any]:
        """Creation options for `user_id` (who may not be written yet, during a signup)."""
        exclude = [p.credential_id for p in self.list(user_id)] if db.session.get(User, user_id) else []
        return self.rp.creation_options(user_id, name, exclude)

    def creation_options_for(self, user: User) -> dict[str, Any]:
        return self.creation_options(user.id, end_user_account_id(user.standard_attributes))

    def request_options(self, user_id: str | None = None, conditional: bool = False) -> dict[str, Any]:
        """Any discoverable credential (identify), or only the credentials of `user_id` (authenticate)."""
        allow = [a.passkey_credential_id or "" for a in self._authenticators(user_id)] if user_id else None
        return self.rp.request_options(allow, conditional)

    # -- ceremonies -----------------------------------------------------------------------------
    def verify_creation(self, response: Any) -> tuple[Registration, str]:
        """A checked attestation and its challenge; nothing is written and the challenge stays open."""
        registration, challenge = self.rp.verify_registration(response)
        if self.find_identity(registration.credential_id) is not None:
            raise InvariantViolated("DuplicatedIdentity", "identity already exists")
        return registration, challenge

    def create(
        self, user_id: str, registration: Registration, challenge: str, ctx: RequestContext | None = None
    ) -> Identity:
        """Writes the identity and its authenticator, using up the challenge."""
        self.rp.consume(challenge)
        now = self.svc.clock()
        identity = Identity(
            user_id=user_id,
            type="passkey",
            dedup_key=f"passkey:{registration.credential_id}",
            claims={"display_name": registration.display_name},
            created_at=now,
            updated_at=now,
        )
        auth = Authenticator(
            user_id=user_id,
            type="passkey",
            kind="primary",
            passkey_credential_id=registration.credential_id,
            passkey_public_key=registration.public_key,
            passkey_sign_count=registration.sign_count,
            created_at=now,
            updated_at=now,
        )
        with unique_guard():
            db.session.add_all([identity, auth])
            db.session.flush()
        self.svc.audit.write("identity.passkey.added", ctx, user_id, {"identity_id": identity.id})
        return identity

    def register(self, user_id: str, response: Any, ctx: RequestContext | None = None) -> Identity:
        registration, challenge = self.verify_creation(response)
        if registration.user_handle != user_id:
            # The options were made for someone else: the credential would name the wrong user.
            raise invalid_credentials()
        return self.create(user_id, registration, challenge, ctx)

    def find_identity(self, credential_id: str) -> Identity | None:
        return db.session.scalar(select(Identity).where(Identity.dedup_key == f"passkey:{credential_id}"))

    def credential_user(self, response: Any) -> str | None:
        """The user whose passkey an assertion names (None when no user has it); the session of its
        challenge must be live, but nothing is verified yet."""
        credential_id, _ = self.rp.assertion_credential(response)
        identity = self.find_identity(credential_id)
        return identity.user_id if identity else None

    def authenticate(self, response: Any, user_id: str) -> Authenticator:
        """Verifies an assertion by one of `user_id`'s passkeys and uses up its challenge."""
        credential_id, challenge = self.rp.assertion_credential(response)
        auth = db.session.scalar(
            select(Authenticator).where(
                Authenticator.user_id == user_id,
                Authenticator.type == "passkey",
                Authenticator.passkey_credential_id == credential_id,
            )
        )
        if auth is None or auth.passkey_public_key is None:
            raise invalid_credentials()
        sign_count = self.rp.verify_assertion(
            response, challenge, auth.passkey_public_key, auth.passkey_sign_count or 0
        )
        self.rp.consume(challenge)
        now = self.svc.clock()
        auth.passkey_sign_count = sign_count
        auth.passkey_last_used_at = now
        auth.updated_at = now
        db.session.flush()
        return auth

    # -- removal --------------------------------------------------------------------------------
    def remove(self, user_id: str, identity_id: str, ctx: RequestContext | None = None) -> None:
        """Removes a passkey the user holds, unless it is their last way to sign in."""
        identity = db.session.get(Identity, identity_id)
        if identity is None or identity.user_id != user_id or identity.type != "passkey":
            raise IdentityNotFound()
        self.check_removable(identity)
        self.delete(identity, ctx)

    def check_removable(self, identity: Identity) -> None:
        """Authgear's checks of an identity's removal: another identity remains, and each remaining
        login ID still has a primary authenticator (password, OOB OTP or another passkey)."""
        user_id = identity.user_id
        others = [i for i in self.svc.users.identities_of(user_id) if i.id != identity.id]
        if not others:
            raise InvariantViolated("RemoveLastIdentity", "cannot remove last identity")
        credential_id = identity.dedup_key.partition(":")[2] if identity.dedup_key else ""
        stmt = select(Authenticator).where(Authenticator.user_id == user_id, Authenticator.kind == "primary")
        remaining = [
            a for a in db.session.scalars(stmt) if a.passkey_credential_id != credential_id or a.type != "passkey"
        ]
        primary_oob = set(self.svc.config.project["authentication"]["primary_authenticators"])
        for other in others:
            if other.type != "login_id":
                continue
            oob = {"email": "oob_otp_email", "phone": "oob_otp_sms"}.get(other.login_id_type or "")
            usable = any(a.type in ("password", "passkey") for a in remaining) or (oob in primary_oob)
            if not usable:
                raise InvariantViolated("RemoveLastPrimaryAuthenticator", "cannot remove last primary authenticator")

    def delete(self, identity: Identity, ctx: RequestContext | None = None) -> None:
        """Deletes the identity and its authenticator (Authgear removes the orphaned one)."""
        credential_id = identity.dedup_key.partition(":")[2] if identity.dedup_key else ""
        for auth in self._authenticators(identity.user_id):
            if auth.passkey_credential_id == credential_id:
                db.session.delete(auth)
        user_id = identity.user_id
        db.session.delete(identity)
        db.session.flush()
        self.svc.audit.write("identity.passkey.removed", ctx, user_id, {"identity_id": identity.id})

    def remove_orphans(self, user_id: str) -> None:
        """Deletes the half of a passkey whose other half is gone (after an Admin API deletion of the
        identity or the authenticator), as Authgear's RemoveOrphans does."""
        identities = {p.credential_id: p.identity for p in self.list(user_id)}
        authenticators = {a.passkey_credential_id: a for a in self._authenticators(user_id)}
        for credential_id, auth in authenticators.items():
            if credential_id not in identities:
                db.session.delete(auth)
        for credential_id, identity in identities.items():
            if credential_id not in authenticators:
                db.session.delete(identity)
        db.session.flush()


def passkeys(svc: Any) -> PasskeyService:
    return PasskeyService(svc)
